package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Machine is what a reader needs to weigh the figures.
type Machine struct {
	CPUModel   string `json:"cpu_model"`
	CPUs       int    `json:"cpus"`
	MemoryGiB  int    `json:"memory_gib"`
	Kernel     string `json:"kernel"`
	LoadAvg    string `json:"load_average_at_start"`
	OpenMPI    string `json:"open_mpi,omitempty"`
	Squashfuse string `json:"squashfuse,omitempty"`
	Mksquashfs string `json:"mksquashfs,omitempty"`
	GitHead    string `json:"git_head,omitempty"` // the working tree's commit, "+dirty" when it has changes
}

func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		m.MemoryGiB = (kb + 1<<19) >> 20
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	first := func(name string, args ...string) string {
		out, _ := exec.Command(name, args...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	m.OpenMPI = first("mpirun", "--version")
	m.Squashfuse = first("squashfuse", "--version")
	m.Mksquashfs = first("mksquashfs", "-version")
	if head := first("git", "rev-parse", "--short=12", "HEAD"); head != "" && !strings.Contains(head, " ") {
		m.GitHead = head
		if out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
			m.GitHead += "+dirty"
		}
	}
	return m
}

// printDemo prints the demo's verdict: pyhost against python3 and the
// best peer, as ratios, and draws one plot.
func (res *Results) printDemo(w io.Writer, dir string) {
	var c *Cell
	for i := range res.Summary {
		if res.Summary[i].Workload == "demo" {
			c = &res.Summary[i]
		}
	}
	if c == nil {
		fmt.Fprintln(w, "demo: nothing was measured")
		return
	}
	get := func(n string) float64 {
		if s := c.By[n]; s != nil && s.Runs > 0 {
			return s.WallSeconds
		}
		return 0
	}
	first := 0.0
	for _, m := range res.WarmUps {
		if m.Workload == "demo" && m.Error == "" {
			first = m.WallSeconds
		}
	}
	py, warm := get("python3"), get("pyhost-warm")
	fmt.Fprintf(w, "\n== demo: %s ranks of demo/demo.py on %s (2 shared cores: noisy) ==\n", Ranks(c.Ranks), c.Env)
	type bar struct {
		name string
		sec  float64
	}
	var bars []bar
	add := func(short, label string, sec float64) {
		if sec > 0 {
			bars = append(bars, bar{short, sec})
			fmt.Fprintf(w, "  %-46s %8.2f s\n", label, sec)
		}
	}
	add("python3", "python3 (mpi4py)", py)
	best, bestName := 0.0, ""
	for _, peer := range []string{"container", "staged"} {
		t := get(peer)
		if t == 0 {
			if s := c.By[peer]; s != nil {
				fmt.Fprintf(w, "  %-46s   failed: %s\n", peer, tail(s.Error, 160))
			}
			continue
		}
		setup, _ := res.setupFor(c.Env, peer)
		label := map[string]string{"container": "container (squashfs image) + %.1f s mount", "staged": "staged copy in /dev/shm + %.1f s staging"}[peer]
		add(fmt.Sprintf("%s (+setup)", peer), fmt.Sprintf(label, setup), t+setup)
		if best == 0 || t+setup < best {
			best, bestName = t+setup, peer
		}
	}
	add("pyhost 1st job", "pyhost, first job (no cache yet)", first)
	add("pyhost 2nd job", "pyhost, second job (cache warm)", warm)
	if py > 0 && warm > 0 {
		fmt.Fprintf(w, "pyhost's second job takes %.2fx python3's time", warm/py)
		if best > 0 {
			fmt.Fprintf(w, " and %.2fx the best peer's (%s, setup included)", warm/best, bestName)
		}
		fmt.Fprintln(w)
	}
	if first > 0 && py > 0 {
		fmt.Fprintf(w, "pyhost's first job takes %.2fx python3's time\n", first/py)
	}
	for _, s := range res.Setup {
		if s.Env == "" && s.Error == "" {
			fmt.Fprintf(w, "the %s peer's price outside the job: %s, %.1f s for %s MB, again for every change of the environment\n", s.Peer, s.What, s.Seconds, mb(s.Bytes))
		}
	}
	fmt.Fprintln(w, "pyhost needs neither: it reads the environment where it is installed, and sees a change at the next job")
	for _, n := range res.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	if len(bars) == 0 {
		return
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("demo/demo.py, mpirun %s, %s", Ranks(c.Ranks), c.Env)
	p.Y.Label.Text = "wall time of the job (s)"
	var vals plotter.Values
	var names []string
	for _, b := range bars {
		vals = append(vals, b.sec)
		names = append(names, b.name)
	}
	ch, err := plotter.NewBarChart(vals, vg.Points(28))
	if err != nil {
		return
	}
	p.Add(ch)
	p.NominalX(names...)
	out := filepath.Join(dir, "demo.png")
	if err := p.Save(20*vg.Centimeter, 10*vg.Centimeter, out); err == nil {
		fmt.Fprintf(w, "plot: %s\n", out)
	}
}

// writeMarkdown writes the report BENCHMARKS.md is: how it was made, on
// what, the tables, the plots and an assessment computed from the cells.
func (res *Results) writeMarkdown(path, outDir string) error {
	var b strings.Builder
	m := res.Machine
	fmt.Fprintf(&b, "# pyhost benchmarks\n\n")
	fmt.Fprintf(&b, "Generated by `go run ./bench/run %s` (plan `%s`), %s to %s UTC (%s). "+
		"Do not edit by hand: rerun the command.\n\n", strings.Join(res.Args, " "), res.Plan,
		res.Started.UTC().Format("2006-01-02 15:04"), res.Finished.UTC().Format("15:04"), res.Finished.Sub(res.Started).Round(time.Second))
	b.WriteString("pyhost against what HPC users run instead when Python's start-up hurts, all measured in the same run, " +
		"interleaved (each repeat runs every interpreter once before the next repeat), on the same machine:\n\n")
	b.WriteString("| interpreter | what it is |\n|---|---|\n" +
		"| `python3` | Debian's `/usr/bin/python3.11` |\n" +
		"| `python3+mpi4py` | `python3.11 -c 'from mpi4py import MPI; …'` then the workload as `-m mpi4py` runs it: MPI initialised before the workload, as pyhost does (`-m mpi4py` alone does not initialise MPI); **the baseline under mpirun** (`x` columns) |\n" +
		"| `container` | the same python3.11 + mpi4py, its stdlib, dist-packages and the app from a squashfs image (`mksquashfs -comp lz4`) mounted once per job with `squashfuse`; the image file lives on the slowfs store (Shifter, podman-hpc, Apptainer) |\n" +
		"| `staged` | the same tree as a tarball on the slowfs store, untarred into `/dev/shm` before the job (python-mpi-bcast, sbcast, `$SLURM_TMPDIR` copies) |\n" +
		"| `pyhost-cold` | pyhost with no persistent cache: a user's **first job** |\n" +
		"| `pyhost-warm` | pyhost with the cache one untimed run of the same cell left: a user's **second job** |\n" +
		"| `pyhost-off` | pyhost with its importer off (local disk only) |\n\n")
	b.WriteString("Environments: `local` (the real /usr, page cache warm); `slowfs-L` (FUSE pass-through of /usr, the app and the " +
		"store, `bench/slowfs`), whose metadata requests wait L in **one queue** for all ranks (one busy metadata server, kernel " +
		"caches off); `slowfs-L-cache`: the same queue with the kernel's dentry and attribute caches on (`slowfs -cache`, closer " +
		"to a Lustre client holding locks); `slowfs-L-perclient`: each request waits L on its own, no queue (each rank's latency " +
		"is its own). Every interpreter runs with `PYTHONHOME=<its root>/usr`; before anything is measured, strace shows where " +
		"each one reads `json` and `numpy` from (the slowfs mount; a `fuse.squashfuse` mount for the container; tmpfs for staged), " +
		"and a cell whose check fails is not measured. The executables and the shared libraries ld.so finds in system " +
		"directories stay on local disk for every interpreter alike.\n\n")
	b.WriteString("Workloads: `sci` = `import numpy, scipy.stats, pandas, sympy`; `pynamic` = a Pynamic-like tree from `bench/gen` " +
		"(C extension modules in the script's directory, each linking utility libraries that ld.so finds through an absolute " +
		"RUNPATH of several directories: the dynamic loader's share); `pass` = `-c pass` (start-up, and MPI's under mpirun).\n\n")

	b.WriteString(res.headline())
	b.WriteString("## Machine and build\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| CPU | %s, %d CPUs, **shared with other users' jobs during the run: noisy** (load average at start: %s) |\n", m.CPUModel, m.CPUs, m.LoadAvg)
	fmt.Fprintf(&b, "| memory | %d GiB |\n| kernel | %s |\n| MPI | %s (`mpirun --oversubscribe --bind-to none`; N > %d oversubscribes the CPUs) |\n", m.MemoryGiB, m.Kernel, m.OpenMPI, m.CPUs)
	fmt.Fprintf(&b, "| peers' tools | %s; %s |\n", m.Squashfuse, m.Mksquashfs)
	fmt.Fprintf(&b, "| interpreters | %s |\n", strings.Join(res.Versions, "; "))
	fmt.Fprintf(&b, "| pyhost build | commit %s, binary sha256 %.16s… (snapshotted at start) |\n", orDash(res.PyhostCommit), res.PyhostSHA256)
	fmt.Fprintf(&b, "| runner | commit %s |\n", orDash(m.GitHead))
	fmt.Fprintf(&b, "| Go | %s |\n\n", res.GoVersion)
	if t := res.PynamicSpec; t != nil {
		fmt.Fprintf(&b, "Pynamic-like tree: %d extension modules, %d utility libraries in %d RUNPATH directories, %d linked by each extension.\n\n",
			t.Extensions, t.Libraries, t.LibDirs, t.LibsPerExt)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "- note: %s\n", n)
	}
	if len(res.Notes) > 0 {
		b.WriteString("\n")
	}

	b.WriteString("## Assessment\n\n")
	b.WriteString(res.assessment())

	b.WriteString("What the model leaves out, and whom that favours:\n\n" +
		"- slowfs delays metadata only: file data (the image's blocks, the tarball, every `.pyc`) crosses the mount " +
		"undelayed, so the peers' bulk reads are free here. On a real parallel file system a 500 MB staging copy per " +
		"node costs bandwidth (python-mpi-bcast: 57 s of staging at 262,144 ranks); this favours `staged` and `container`.\n" +
		"- One node: the peers' per-node costs (a mount, a copy) are paid once per job here, and all ranks share one " +
		"page cache; the one-queue model charges every rank's requests to one server, which is what many nodes do to a " +
		"metadata server.\n" +
		"- The peers run a snapshot: the image must be rebuilt, the tarball remade, for every change of the environment " +
		"(its cost is in the table below, not in any ratio), and a module written during the job is not in it. pyhost " +
		"reads the live tree.\n" +
		"- `pyhost-cold` under mpirun pays rank 0's listing of the trees before the first import; that is its cost in " +
		"the `pass` rows.\n\n" +
		"Earlier figures (pyhost against python3 only; slowfs at 1 ms, N = 16, sci: pyhost-warm 0.08x the time and " +
		"0.07x the requests) are in this file's history (commit 246049a).\n")
	b.WriteString("\n## What the peers cost besides the job\n\n")
	b.WriteString("| env | peer | what | seconds | MB | metadata requests | error |\n|---|---|---|---|---|---|---|\n")
	for _, s := range res.Setup {
		env := s.Env
		if env == "" {
			env = "once per change"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %s | %s | %s |\n", env, s.Peer, s.What, s.Seconds, mb(s.Bytes), count(float64(s.Metadata)), s.Error)
	}

	b.WriteString("\n## Results\n\n")
	b.WriteString("`time` = median wall seconds of the whole command, mpirun included (until the slowest rank exits); " +
		"`x` = ratio to the cell's baseline (python3+mpi4py under mpirun, python3 single); `+setup` = the peer's per-job " +
		"setup in that environment, not included in `time`; `rank` = the slowest rank's own import time; `req` = slowfs " +
		"metadata requests of all ranks.\n\n")
	envs := []string{}
	seen := map[string]bool{}
	for _, c := range res.Summary {
		if !seen[c.Env] {
			seen[c.Env] = true
			envs = append(envs, c.Env)
		}
	}
	mdDir := filepath.Dir(path)
	for _, e := range envs {
		fmt.Fprintf(&b, "### %s\n\n```\n%s```\n\n", e, res.cellTable(e))
		for _, p := range res.plotFiles {
			if strings.HasSuffix(p, "-"+e+".png") {
				rel, err := filepath.Rel(mdDir, p)
				if err != nil {
					rel = p
				}
				fmt.Fprintf(&b, "![%s](%s)\n", strings.TrimSuffix(filepath.Base(p), ".png"), filepath.ToSlash(rel))
			}
		}
		b.WriteString("\n")
	}
	if len(res.Slopes) > 0 {
		b.WriteString("### Slope per extra rank\n\nLeast squares over the mpirun cells of each workload and environment.\n\n")
		b.WriteString("| workload | env | interpreter | s/rank | requests/rank |\n|---|---|---|---|---|\n")
		for _, s := range res.Slopes {
			fmt.Fprintf(&b, "| %s | %s | %s | %.3f | %.0f |\n", s.Workload, s.Env, s.Interpreter, s.SecondsPerRank, s.RequestsPerRank)
		}
		b.WriteString("\n")
	}
	if f := res.failures(); f != "" {
		b.WriteString("### Failed cells\n\n```" + f + "```\n\n")
	}
	if len(res.Verifications) > 0 {
		b.WriteString("### Verified before measuring\n\n")
		for _, v := range res.Verifications {
			status := "ok"
			if !v.OK {
				status = "**FAILED**"
			}
			fmt.Fprintf(&b, "- %s %s: %s: %s\n", v.Env, v.Interpreter, status, v.Detail)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Plans\n\n"+
		"```sh\nbash scripts/build.sh\n"+
		"go run ./bench/run -plan quick     # every interpreter and model: pass and a small pynamic, single and N = 2, 0.2 ms (2m15s on 2026-12-06; longer when the machine is loaded)\n"+
		"go run ./bench/run -plan medium -out bench/results -markdown BENCHMARKS.md    # this file: stage 1 at 0.2 ms, stage 2 at 1 ms (%s this time, see the notes)\n"+
		"go run ./bench/run -plan full      # sci, pynamic, pass; N = 1..32; 0.2 and 1 ms; every model (not run: estimated 4-6 hours)\n"+
		"go run ./bench/run -report bench/results -markdown BENCHMARKS.md   # rewrite this file from results.json, measuring nothing\n"+
		"go run ./bench/run -cleanup        # only undo what a killed runner left (every start does it first)\n```\n\n"+
		"The full plan's cost is dominated by python3 at 1 ms: sci makes 51,780 metadata requests per rank, so N = 16 "+
		"through one queue takes about 14 minutes and N = 32 about 28, per interpreter that does not cut them; N = 32 on "+
		"2 cores also measures CPU oversubscription as much as imports. Raw data: `results.json` next to the plots.\n",
		res.Finished.Sub(res.Started).Round(time.Minute))
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// assessment compares pyhost's first and second job with the baseline
// and each peer, cell by cell, and says where pyhost is ahead and where
// not. Ratios are pyhost's time over the other's, from the same run.
func (res *Results) assessment() string {
	var b strings.Builder
	b.WriteString("Ratios are pyhost's wall time over the other's, in the same cell of the same run (< 1: pyhost ahead). " +
		"`+setup` includes the peer's per-job mount or staging; the image build (or tarball) is paid again for every change " +
		"of the environment and is not included anywhere. The machine has 2 cores shared with other jobs, so single ratios " +
		"can be off by 10-20 %; every mpirun cell with N > 2 oversubscribes the CPUs.\n\n")
	// The staged copy never touches slowfs: its spread across the
	// environments at one N is this run's noise.
	spread := map[[2]string][2]float64{}
	var spreadKeys [][2]string
	for _, c := range res.Summary {
		if s := c.By["staged"]; s != nil && s.Runs > 0 && c.Ranks > 0 {
			k := [2]string{c.Workload, Ranks(c.Ranks).String()}
			v, ok := spread[k]
			if !ok {
				spreadKeys = append(spreadKeys, k)
				v = [2]float64{s.WallSeconds, s.WallSeconds}
			}
			spread[k] = [2]float64{min(v[0], s.WallSeconds), max(v[1], s.WallSeconds)}
		}
	}
	if len(spreadKeys) > 0 {
		b.WriteString("Noise gauge: the staged copy never touches slowfs, so its time should not depend on the environment; " +
			"across this run's environments it ranged")
		for i, k := range spreadKeys {
			if i > 0 {
				b.WriteString(";")
			}
			v := spread[k]
			fmt.Fprintf(&b, " %s %s: %.2f-%.2f s", k[0], k[1], v[0], v[1])
		}
		b.WriteString(". Differences smaller than that spread are not findings.\n\n")
	}
	type key struct{ w, e string }
	var order []key
	cells := map[key][]Cell{}
	for _, c := range res.Summary {
		k := key{c.Workload, c.Env}
		if cells[k] == nil {
			order = append(order, k)
		}
		cells[k] = append(cells[k], c)
	}
	ahead := map[string][2]int{} // peer -> {ahead, behind} for pyhost-warm
	for _, k := range order {
		cs := cells[k]
		sort.Slice(cs, func(i, j int) bool { return cs[i].Ranks < cs[j].Ranks })
		fmt.Fprintf(&b, "**%s, %s**\n\n| N | baseline s | pyhost-warm vs baseline | vs container | vs container +setup | vs staged | vs staged +setup | pyhost-cold vs baseline | vs container +setup | vs staged +setup |\n|---|---|---|---|---|---|---|---|---|---|\n", k.w, k.e)
		for _, c := range cs {
			get := func(n string) float64 {
				if s := c.By[n]; s != nil && s.Runs > 0 {
					return s.WallSeconds
				}
				return 0
			}
			base := get(c.Baseline)
			r := func(a, b float64) string {
				if a == 0 || b == 0 {
					return "-"
				}
				return fmt.Sprintf("%.2f", a/b)
			}
			cs, _ := res.setupFor(c.Env, "container")
			ss, _ := res.setupFor(c.Env, "staged")
			ct, st := get("container"), get("staged")
			ctS, stS := 0.0, 0.0
			if ct > 0 {
				ctS = ct + cs
			}
			if st > 0 {
				stS = st + ss
			}
			warm, cold := get("pyhost-warm"), get("pyhost-cold")
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", Ranks(c.Ranks), secs(base),
				r(warm, base), r(warm, ct), r(warm, ctS), r(warm, st), r(warm, stS), r(cold, base), r(cold, ctS), r(cold, stS))
			for peer, t := range map[string]float64{"baseline": base, "container (+setup)": ctS, "staged (+setup)": stS} {
				if warm > 0 && t > 0 {
					a := ahead[peer]
					if warm < t {
						a[0]++
					} else {
						a[1]++
					}
					ahead[peer] = a
				}
			}
		}
		b.WriteString("\n")
	}
	if len(ahead) > 0 {
		b.WriteString("Counting cells (pyhost-warm, a second job, against each; setup included for the peers):\n\n")
		var peers []string
		for p := range ahead {
			peers = append(peers, p)
		}
		sort.Strings(peers)
		for _, p := range peers {
			fmt.Fprintf(&b, "- vs %s: ahead in %d cells, not ahead in %d\n", p, ahead[p][0], ahead[p][1])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// headline is the summary table: for each workload and environment, the
// largest N measured, every interpreter's time (the peers' per-job setup
// added after a plus) and pyhost's ratios.
func (res *Results) headline() string {
	var b strings.Builder
	b.WriteString("## Summary\n\nThe largest N of each workload and environment (wall seconds of the job, median; " +
		"`+` the peer's per-job setup; `x` pyhost's ratio to the baseline):\n\n" +
		"| workload | env | N | baseline | container | staged | pyhost-cold (1st job) | pyhost-warm (2nd job) |\n" +
		"|---|---|---|---|---|---|---|---|\n")
	last := map[[2]string]Cell{}
	var order [][2]string
	for _, c := range res.Summary {
		k := [2]string{c.Workload, c.Env}
		prev, seen := last[k]
		if !seen {
			order = append(order, k)
		}
		if !seen || c.Ranks > prev.Ranks {
			last[k] = c
		}
	}
	for _, k := range order {
		c := last[k]
		get := func(n string) float64 {
			if s := c.By[n]; s != nil && s.Runs > 0 {
				return s.WallSeconds
			}
			return 0
		}
		base := get(c.Baseline)
		cell := func(n string) string {
			t := get(n)
			if t == 0 {
				if s := c.By[n]; s != nil {
					return "failed"
				}
				return "-"
			}
			out := fmt.Sprintf("%.2f", t)
			if setup, ok := res.setupFor(c.Env, n); ok {
				out += fmt.Sprintf(" + %.2f", setup)
			}
			if strings.HasPrefix(n, "pyhost") && base > 0 {
				out += fmt.Sprintf(" (%.2fx)", t/base)
			}
			return out
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s %s | %s | %s | %s | %s |\n", c.Workload, c.Env, Ranks(c.Ranks),
			c.Baseline, secs(base), cell("container"), cell("staged"), cell("pyhost-cold"), cell("pyhost-warm"))
	}
	b.WriteString("\n")
	return b.String()
}
