// Command run compares Debian's python3.11 with pyhost (and pyhost with
// its importer off) on the same workloads, in the same run:
//
//	go build -o bin/pyhost ./cmd/pyhost   # optional: a missing pyhost is skipped
//	go run ./bench/run -quick             # < 5 minutes: -np 0,2, 0.2 ms, 1 repeat on slowfs
//	go run ./bench/run                    # the full matrix (long: hours at 1 ms)
//
// Workloads: sci (import numpy, scipy.stats, pandas, sympy), synth (the
// bench/gen tree) and pass (-c pass); each as a single process and under
// mpirun -np N; on local disk and on slowfs, where /usr and the tree are
// FUSE mounts whose metadata requests wait in one queue. On slowfs every
// interpreter runs with PYTHONHOME=<mount>/usr, so sys.prefix, the stdlib,
// lib-dynload and dist-packages all resolve through the mount (checked
// before measuring), while the executables and the shared libraries that
// ld.so finds stay on local disk for all of them alike.
//
// Interpreters: python3 (Debian's python3.11); pyhost-cold (-X
// pyhost.cache=off: a first job, no persistent cache); pyhost-warm (a
// cache directory filled by one untimed run of the same workload and rank
// count: what a user's second job sees); pyhost-off (-X
// pyhost.importer=off, the stock importer). pyhost runs get
// PYHOST_CACHEDIR under the run's temporary directory, never ~/.cache;
// -interpreters picks a subset.
//
// Output (default bench/out/): results.json (every measurement and the
// summary), results.txt (the table printed at the end), time-*.png and
// requests-*.png. One progress line per measurement goes to stderr.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pyhost/pyhost/bench/gen/synth"
	"github.com/pyhost/pyhost/bench/slowfs/latencyfs"
)

type runner struct {
	python, mpirun, strace string
	tmp, workDir           string
	// cacheRoot holds pyhost's persistent caches (PYHOST_CACHEDIR), one
	// directory per cell for pyhost-warm: never the user's ~/.cache.
	cacheRoot string
	timeout   time.Duration
	tree      *synth.Tree
	log       io.Writer
}

func main() {
	os.Exit(run())
}

func run() int {
	var (
		outDir    = flag.String("out", "bench/out", "output directory")
		quick     = flag.Bool("quick", false, "small matrix that finishes in under 5 minutes (pyhost-off on local disk only)")
		python    = flag.String("python", synth.DefaultPython, "the reference interpreter (Debian's python3.11)")
		pyhost    = flag.String("pyhost", "bin/pyhost", "the pyhost binary (skipped if missing)")
		mpirun    = flag.String("mpirun", "mpirun", "mpirun (Open MPI); rows under mpirun are skipped if missing")
		npList    = flag.String("np", "", "comma-separated mpirun rank counts; 0 = single process (default 0,1,2,4,8,16; quick 0,2)")
		latList   = flag.String("latency", "", "comma-separated slowfs latencies (default 0.2ms,1ms; quick 0.2ms)")
		noLocal   = flag.Bool("no-local", false, "skip the local-disk rows")
		cached    = flag.Bool("cache", false, "also run slowfs with the kernel dentry/attribute cache on")
		wlList    = flag.String("workloads", "sci,synth,pass", "workloads to run")
		repeat    = flag.Int("repeat", 0, "repeats on local disk (default 5; quick 2)")
		repeatFS  = flag.Int("repeat-slowfs", 0, "repeats on slowfs (default 2; quick 1)")
		timeout   = flag.Duration("timeout", 0, "limit per measurement (default 30m; quick 2m)")
		useStrace = flag.Bool("strace", false, "also count path syscalls per rank with strace -f -c (local disk, one extra run per cell)")
		interpSel = flag.String("interpreters", "", "comma-separated interpreters to measure (default all: python3,pyhost-cold,pyhost-warm,pyhost-off)")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		return 2
	}
	def := func(s *string, full, q string) {
		if *s == "" {
			*s = full
			if *quick {
				*s = q
			}
		}
	}
	defInt := func(n *int, full, q int) {
		if *n <= 0 {
			*n = full
			if *quick {
				*n = q
			}
		}
	}
	def(npList, "0,1,2,4,8,16", "0,2")
	def(latList, "0.2ms,1ms", "0.2ms")
	defInt(repeat, 5, 2)
	defInt(repeatFS, 2, 1)
	if *timeout <= 0 {
		*timeout = 30 * time.Minute
		if *quick {
			*timeout = 2 * time.Minute
		}
	}
	ranks, err := parseRanks(*npList)
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 2
	}
	latencies, err := parseLatencies(*latList)
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 2
	}
	var wls []Workload
	for _, name := range strings.Split(*wlList, ",") {
		found := false
		for _, w := range workloads() {
			if w.Name == strings.TrimSpace(name) {
				wls, found = append(wls, w), true
			}
		}
		if !found {
			fmt.Fprintf(os.Stderr, "run: unknown workload %q (have sci, synth, pass)\n", name)
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "pyhost-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	defer removeUnlessMounted(tmp) // after every mount is gone (deferred later, run earlier)
	r := &runner{python: *python, tmp: tmp, workDir: filepath.Join(tmp, "cwd"), cacheRoot: filepath.Join(tmp, "cache"),
		timeout: *timeout, log: os.Stderr}
	os.Mkdir(r.workDir, 0o755)
	os.Mkdir(r.cacheRoot, 0o700)

	res := &Results{Started: time.Now(), Quick: *quick, GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		Args: os.Args[1:], Workloads: wls}
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		res.Kernel = strings.TrimSpace(string(k))
	}

	interps := r.interpreters(ctx, *python, *pyhost, *interpSel, res)
	if len(active(interps)) == 0 {
		fmt.Fprintln(os.Stderr, "run: no interpreter can run; nothing to measure")
		return 1
	}
	if p, err := exec.LookPath(*mpirun); err != nil {
		r.logf("mpirun: %q not found: rows under mpirun are skipped", *mpirun)
		res.Notes = append(res.Notes, fmt.Sprintf("mpirun %q not found: mpirun rows skipped", *mpirun))
	} else {
		r.mpirun = p
	}
	if *useStrace {
		if p, err := exec.LookPath("strace"); err != nil {
			r.logf("strace not found: syscall counts skipped")
		} else {
			r.strace = p
		}
	}
	for _, w := range wls {
		if w.Tree {
			r.buildTree(res)
			break
		}
	}

	environments := envs(latencies, !*noLocal, *cached)
	total := 0
	for _, e := range environments {
		reps := *repeat
		if e.SlowFS {
			reps = *repeatFS
		}
		for _, w := range wls {
			for _, n := range ranks {
				if n > 0 && r.mpirun == "" || w.Tree && r.tree == nil {
					continue
				}
				total += reps * len(envInterps(e, interps, *quick))
			}
		}
	}
	r.logf("%d measurements: %d workloads x %d environments x ranks %s x %d interpreters; output in %s",
		total, len(wls), len(environments), *npList, len(active(interps)), *outDir)

	done := 0
	for _, e := range environments {
		if ctx.Err() != nil {
			break
		}
		p, cleanup, err := r.prepare(ctx, e)
		if err != nil {
			r.logf("%s: skipped: %v", e.Name, err)
			res.Notes = append(res.Notes, fmt.Sprintf("%s skipped: %v", e.Name, err))
			continue
		}
		ins := envInterps(e, interps, *quick)
		res.Checks = append(res.Checks, r.checkPaths(ctx, p, ins)...)
		reps := *repeat
		if e.SlowFS {
			reps = *repeatFS
		}
		for _, w := range wls {
			if w.Tree && r.tree == nil {
				continue
			}
			if !e.SlowFS {
				r.warm(ctx, p, ins, w)
			}
			for _, n := range ranks {
				if n > 0 && r.mpirun == "" {
					continue
				}
				// pyhost-warm: a fresh cache directory for this cell,
				// filled by one untimed run of the same workload and rank
				// count, as a user's first job fills it for the second.
				for _, in := range ins {
					if in.Warm && ctx.Err() == nil {
						res.WarmUps = append(res.WarmUps, r.warmCache(ctx, p, in, w, n))
					}
				}
				for rep := 0; rep < reps && ctx.Err() == nil; rep++ {
					// Interleave interpreters so that drift in the
					// machine's state touches all of them alike.
					for _, in := range ins {
						if ctx.Err() != nil {
							break
						}
						m := r.measure(ctx, p, in, w, n, rep)
						done++
						r.progress(done, total, m)
						res.Measurements = append(res.Measurements, m)
					}
				}
				if r.strace != "" && !e.SlowFS && ctx.Err() == nil {
					for _, in := range ins {
						counts, err := r.straceRun(ctx, p, in, w, n)
						if err != nil {
							r.logf("strace %s %s %s %s: %v", e.Name, w.Name, n, in.Name, err)
							continue
						}
						res.Syscalls = append(res.Syscalls, SyscallRow{Workload: w.Name, Interpreter: in.Name, Env: e.Name, Ranks: int(n), PerRank: counts})
						if len(counts) > 0 {
							r.logf("strace %s %s %s %s: %d path syscalls (%d failed) in the busiest rank", e.Name, w.Name, n, in.Name, counts[0].Path, counts[0].Errors)
						}
					}
				}
			}
		}
		if err := cleanup(); err != nil {
			r.logf("%s: %v", e.Name, err)
		}
	}
	if ctx.Err() != nil {
		r.logf("interrupted: writing the %d measurements taken so far", len(res.Measurements))
		res.Notes = append(res.Notes, "interrupted before the end")
	}
	res.Finished = time.Now()
	res.summarize(interps)
	if err := res.write(*outDir); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	if ctx.Err() != nil {
		return 130
	}
	return 0
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "bench: "+format+"\n", args...)
}

func (r *runner) progress(done, total int, m Measurement) {
	var b strings.Builder
	fmt.Fprintf(&b, "[%d/%d] %-13s %-5s %-6s %-10s #%d  wall %7.3fs", done, total, m.Env, m.Workload, Ranks(m.Ranks), m.Interpreter, m.Repeat, m.WallSeconds)
	if m.SlowestRankSeconds > 0 {
		fmt.Fprintf(&b, "  slowest rank %7.3fs", m.SlowestRankSeconds)
	}
	if m.Metadata > 0 {
		fmt.Fprintf(&b, "  %7d metadata req", m.Metadata)
	}
	if m.Stray > 0 {
		fmt.Fprintf(&b, "  (%d requests from other processes: %v)", m.Stray, m.Callers)
	}
	if m.Error != "" {
		fmt.Fprintf(&b, "  FAILED: %s", tail(m.Error, 300))
	}
	fmt.Fprintln(r.log, b.String())
}

// envInterps are the interpreters measured in an environment: in quick
// mode pyhost-off, a control that matches python3's slowfs requests
// exactly, is measured on local disk only, to keep the run under 5 minutes.
func envInterps(e Env, in []Interpreter, quick bool) []Interpreter {
	var out []Interpreter
	for _, i := range active(in) {
		if !(quick && e.SlowFS && i.Name == "pyhost-off") {
			out = append(out, i)
		}
	}
	return out
}

func active(in []Interpreter) []Interpreter {
	var out []Interpreter
	for _, i := range in {
		if i.Skip == "" {
			out = append(out, i)
		}
	}
	return out
}

// interpreters finds the programs to compare and checks that each runs;
// one that does not is skipped with the reason, not fatal.
func (r *runner) interpreters(ctx context.Context, python, pyhost, sel string, res *Results) []Interpreter {
	in := []Interpreter{
		{Name: "python3", Path: python},
		// cold: no persistent cache read or written (a first job).
		{Name: "pyhost-cold", Path: pyhost, Pyhost: true, Args: []string{"-X", "pyhost.cache=off"}},
		// warm: the cache one untimed run of the same cell left (a second job).
		{Name: "pyhost-warm", Path: pyhost, Pyhost: true, Warm: true},
		{Name: "pyhost-off", Path: pyhost, Pyhost: true, Args: []string{"-X", "pyhost.importer=off"}},
	}
	if sel != "" {
		want := map[string]bool{}
		for _, n := range strings.Split(sel, ",") {
			want[strings.TrimSpace(n)] = true
		}
		for i := range in {
			if !want[in[i].Name] {
				in[i].Skip = "not selected (-interpreters " + sel + ")"
			}
		}
	}
	// Snapshot pyhost: it may be rebuilt while the benchmark runs.
	if src, err := filepath.Abs(pyhost); err == nil {
		if b, err := os.ReadFile(src); err == nil {
			dst := filepath.Join(r.tmp, "bin", "pyhost")
			os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.WriteFile(dst, b, 0o755); err == nil {
				for i := range in {
					if in[i].Pyhost {
						in[i].Path = dst
					}
				}
				res.PyhostSHA256 = fmt.Sprintf("%x", sha256.Sum256(b))
				res.PyhostSource = src
			}
		}
	}
	for i := range in {
		if in[i].Skip != "" {
			continue
		} else if _, err := os.Stat(in[i].Path); err != nil {
			in[i].Skip = fmt.Sprintf("%s not found (build it with: go build -o bin/pyhost ./cmd/pyhost)", in[i].Path)
			if i == 0 {
				in[i].Skip = fmt.Sprintf("%s not found (apt-get install python3.11)", in[i].Path)
			}
		} else {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			args := append(append([]string{}, in[i].Args...), "-c", "import sys; print(sys.version.split()[0])")
			cmd := exec.CommandContext(ctx, in[i].Path, args...)
			cmd.Env, cmd.Dir = cleanEnv(), r.workDir
			if in[i].Pyhost {
				cmd.Env = append(cmd.Env, "PYHOST_CACHEDIR="+filepath.Join(r.cacheRoot, "version-check"))
			}
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				in[i].Skip = fmt.Sprintf("%s does not run: %v: %s", in[i].Path, err, tail(string(out), 200))
			} else {
				res.Versions = append(res.Versions, in[i].Name+" "+strings.TrimSpace(string(out)))
			}
		}
		if in[i].Skip != "" {
			r.logf("%s: skipped: %s", in[i].Name, in[i].Skip)
			res.Notes = append(res.Notes, in[i].Name+" skipped: "+in[i].Skip)
		}
	}
	res.Interpreters = in
	return in
}

func (r *runner) buildTree(res *Results) {
	spec := synth.DefaultSpec()
	spec.Python = r.python
	if _, err := os.Stat(r.python + "-config"); err != nil {
		spec.Extensions = 0
	} else if _, err := exec.LookPath("gcc"); err != nil {
		spec.Extensions = 0
	}
	start := time.Now()
	t, err := synth.Generate(filepath.Join(r.tmp, "tree"), spec)
	if err != nil {
		r.logf("synthetic tree: %v: synth rows skipped", err)
		res.Notes = append(res.Notes, "synth skipped: "+err.Error())
		return
	}
	r.tree = t
	res.TreeSpec = &t.Spec
	r.logf("synthetic tree: %d modules in %d packages, %d C extensions, %d extra sys.path entries (%.1fs)",
		len(t.Modules), len(t.Packages), len(t.Extensions), spec.ExtraPaths, time.Since(start).Seconds())
}

// prepare mounts what an environment needs; cleanup unmounts it.
func (r *runner) prepare(ctx context.Context, e Env) (*place, func() error, error) {
	p := &place{env: e, tree: r.tree}
	if !e.SlowFS {
		return p, func() error { return nil }, nil
	}
	base, err := os.MkdirTemp(r.tmp, "mnt-")
	if err != nil {
		return nil, nil, err
	}
	q := latencyfs.NewQueue(e.Latency) // one metadata server for both mounts
	usr := filepath.Join(base, "usr")
	os.Mkdir(usr, 0o755)
	m, err := latencyfs.New("/usr", usr, latencyfs.Options{Queue: q, Cache: e.Cache, ReadOnly: true})
	if err != nil {
		return nil, nil, err
	}
	p.mounts = append(p.mounts, m)
	p.home = usr
	if r.tree != nil {
		tdir := filepath.Join(base, "tree")
		os.Mkdir(tdir, 0o755)
		mt, err := latencyfs.New(r.tree.Root, tdir, latencyfs.Options{Queue: q, Cache: e.Cache, ReadOnly: true})
		if err != nil {
			m.Unmount()
			return nil, nil, err
		}
		p.mounts = append(p.mounts, mt)
		p.tree = r.tree.Relocate(tdir)
	}
	// Unmount on a signal too: the deferred cleanup in run is reached
	// only if the loop finishes, and a dead mount confuses the next run.
	stop := context.AfterFunc(ctx, func() {
		for _, m := range p.mounts {
			m.Unmount()
		}
	})
	return p, func() error {
		stop()
		var errs []error
		for _, m := range p.mounts {
			errs = append(errs, m.Unmount())
		}
		return errors.Join(errs...)
	}, nil
}

// warm runs each workload once per interpreter, unrecorded, so that the
// page cache holds the files before local-disk measurements.
func (r *runner) warm(ctx context.Context, p *place, interps []Interpreter, w Workload) {
	for _, in := range active(interps) {
		r.measure(ctx, p, in, w, 0, -1)
	}
}

// cacheDir is the PYHOST_CACHEDIR of a run: one per cell for pyhost-warm,
// one per interpreter otherwise (pyhost-cold reads and writes none).
func (r *runner) cacheDir(p *place, in Interpreter, w Workload, n Ranks) string {
	if !in.Warm {
		return filepath.Join(r.cacheRoot, in.Name)
	}
	return filepath.Join(r.cacheRoot, fmt.Sprintf("%s-%s-%s-%d", in.Name, p.env.Name, w.Name, int(n)))
}

// warmCache empties the cell's cache directory and runs the workload once,
// unrecorded in the summary, so that the timed runs find the cache that
// run left; a run that leaves no cache file is reported.
func (r *runner) warmCache(ctx context.Context, p *place, in Interpreter, w Workload, n Ranks) Measurement {
	dir := r.cacheDir(p, in, w, n)
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o700)
	m := r.measure(ctx, p, in, w, n, -1)
	files, _ := os.ReadDir(dir)
	var size int64
	for _, f := range files {
		if fi, err := f.Info(); err == nil {
			size += fi.Size()
		}
	}
	r.logf("warm-up %s %s %s %s: wall %.3fs, %d metadata req, cache %d files %d bytes%s", p.env.Name, w.Name, n, in.Name,
		m.WallSeconds, m.Metadata, len(files), size, map[bool]string{true: "  WARNING: no cache written", false: ""}[len(files) == 0])
	if m.Error != "" {
		r.logf("warm-up %s %s %s %s FAILED: %s", p.env.Name, w.Name, n, in.Name, tail(m.Error, 300))
	}
	return m
}

// checkPaths verifies that on slowfs each interpreter's sys.path lies
// under the mount (else the measurement would be of local disk).
func (r *runner) checkPaths(ctx context.Context, p *place, interps []Interpreter) []PathCheck {
	if p.home == "" {
		return nil
	}
	var out []PathCheck
	code := `import sys, numpy; print(sys.prefix); print(numpy.__file__); print("\n".join(p for p in sys.path if p))`
	for _, in := range active(interps) {
		c := PathCheck{Env: p.env.Name, Interpreter: in.Name, MountPoint: p.home}
		w := Workload{Name: "check", Args: []string{"-c", code}}
		cmd, err := r.command(ctx, p, in, w, 0, nil)
		if err == nil {
			var b []byte
			b, err = cmd.CombinedOutput()
			c.Paths = strings.Split(strings.TrimSpace(string(b)), "\n")
		}
		c.OK = err == nil
		for _, path := range c.Paths {
			if !strings.HasPrefix(path, p.home) {
				c.OK = false
				c.Outside = append(c.Outside, path)
			}
		}
		if err != nil {
			c.Outside = append(c.Outside, err.Error())
		}
		if !c.OK {
			r.logf("%s %s: WARNING: not everything resolves through slowfs: %v", p.env.Name, in.Name, c.Outside)
		} else {
			r.logf("%s %s: sys.prefix, sys.path and numpy are under %s", p.env.Name, in.Name, p.home)
		}
		out = append(out, c)
	}
	return out
}

// removeUnlessMounted removes the run's temporary directory, unless a
// mount is still inside it: removing through a passthrough of /usr would
// delete the system's files.
func removeUnlessMounted(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			fmt.Fprintf(os.Stderr, "bench: %s is still mounted; leaving %s in place (fusermount3 -u %s)\n", f[4], dir, f[4])
			return
		}
	}
	os.RemoveAll(dir)
}

func parseRanks(s string) ([]Ranks, error) {
	var out []Ranks
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > 1024 {
			return nil, fmt.Errorf("bad -np value %q", f)
		}
		out = append(out, Ranks(n))
	}
	return out, nil
}

func parseLatencies(s string) ([]time.Duration, error) {
	var out []time.Duration
	if strings.TrimSpace(s) == "" || s == "none" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad -latency value %q", f)
		}
		out = append(out, d)
	}
	return out, nil
}
