package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pyhost/pyhost/bench/gen/synth"
)

// Results is everything a run writes to results.json.
type Results struct {
	Started      time.Time          `json:"started"`
	Finished     time.Time          `json:"finished"`
	Plan         string             `json:"plan"`
	Quick        bool               `json:"quick"`
	Machine      Machine            `json:"machine"`
	Args         []string           `json:"args"`
	GoVersion    string             `json:"go_version"`
	Kernel       string             `json:"kernel,omitempty"`
	CPUs         int                `json:"cpus"`
	Versions     []string           `json:"versions"`
	PyhostSource string             `json:"pyhost_source,omitempty"`
	PyhostSHA256 string             `json:"pyhost_sha256,omitempty"`
	PyhostCommit string             `json:"pyhost_commit,omitempty"`
	Interpreters []Interpreter      `json:"interpreters"`
	Workloads    []Workload         `json:"workloads"`
	TreeSpec     *synth.Spec        `json:"tree_spec,omitempty"`
	PynamicSpec  *synth.PynamicSpec `json:"pynamic_spec,omitempty"`
	// Setup is what the peers' users pay besides the job: building the
	// image or tarball, mounting or staging per job and node.
	Setup         []setupRow     `json:"setup,omitempty"`
	Verifications []verification `json:"verifications,omitempty"`
	Notes         []string       `json:"notes,omitempty"`
	Measurements  []Measurement  `json:"measurements"`
	// WarmUps are pyhost-warm's untimed runs that filled each cell's cache.
	WarmUps  []Measurement `json:"warm_ups,omitempty"`
	Syscalls []SyscallRow  `json:"syscalls,omitempty"`
	Summary  []Cell        `json:"summary"`
	Slopes   []Slope       `json:"slopes,omitempty"`

	plotFiles []string
}

// SyscallRow is one strace run: counts per rank, busiest first.
type SyscallRow struct {
	Workload    string         `json:"workload"`
	Interpreter string         `json:"interpreter"`
	Env         string         `json:"env"`
	Ranks       int            `json:"ranks"`
	PerRank     []SyscallCount `json:"per_rank"`
}

// Cell summarizes the repeats of one (workload, env, ranks) for every
// interpreter: medians, and ratios to the baseline from the same run.
type Cell struct {
	Workload string `json:"workload"`
	Env      string `json:"env"`
	Ranks    int    `json:"ranks"`
	// Baseline is python3+mpi4py under mpirun (MPI initialised, as
	// pyhost does), python3 as a single process.
	Baseline string           `json:"baseline"`
	By       map[string]*Stat `json:"by_interpreter"`
}

// Stat is the median over the successful repeats.
type Stat struct {
	Runs        int     `json:"runs"`
	Failed      int     `json:"failed"`
	WallSeconds float64 `json:"wall_seconds"`
	MinWall     float64 `json:"min_wall_seconds"`
	SlowestRank float64 `json:"slowest_rank_seconds,omitempty"`
	Metadata    float64 `json:"metadata_requests,omitempty"`
	// OnSlowFS: Metadata was counted (0 is then a figure, not a blank).
	OnSlowFS bool `json:"on_slowfs,omitempty"`
	// Ratios to the cell's baseline (0 when not measured).
	WallRatio     float64 `json:"wall_ratio,omitempty"`
	MetadataRatio float64 `json:"metadata_ratio,omitempty"`
	Syscalls      int     `json:"busiest_rank_path_syscalls,omitempty"`
	Error         string  `json:"first_error,omitempty"`
}

// Slope is the least-squares growth of one interpreter's time and
// requests per extra mpirun rank in one workload and environment.
type Slope struct {
	Workload        string  `json:"workload"`
	Env             string  `json:"env"`
	Interpreter     string  `json:"interpreter"`
	SecondsPerRank  float64 `json:"seconds_per_rank"`
	RequestsPerRank float64 `json:"requests_per_rank"`
	Points          int     `json:"points"`
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// interpreterOrder is the order of the table's rows within a cell.
func interpreterOrder(name string) int {
	for i, n := range interpreterNames {
		if n == name {
			return i
		}
	}
	return len(interpreterNames)
}

func (res *Results) summarize() {
	type key struct {
		w, e string
		n    int
	}
	var order []key
	cells := map[key]*Cell{}
	type acc struct{ wall, rank, md []float64 }
	accs := map[key]map[string]*acc{}
	for _, m := range res.Measurements {
		k := key{m.Workload, m.Env, m.Ranks}
		c := cells[k]
		if c == nil {
			c = &Cell{Workload: m.Workload, Env: m.Env, Ranks: m.Ranks, By: map[string]*Stat{}}
			cells[k] = c
			accs[k] = map[string]*acc{}
			order = append(order, k)
		}
		s := c.By[m.Interpreter]
		if s == nil {
			s = &Stat{}
			c.By[m.Interpreter] = s
			accs[k][m.Interpreter] = &acc{}
		}
		if m.Error != "" {
			s.Failed++
			if s.Error == "" {
				s.Error = m.Error
			}
			continue
		}
		s.Runs++
		a := accs[k][m.Interpreter]
		a.wall = append(a.wall, m.WallSeconds)
		if m.SlowestRankSeconds > 0 {
			a.rank = append(a.rank, m.SlowestRankSeconds)
		}
		// On slowfs every run has a count, zero included (an empty
		// Requests map does not survive results.json).
		if m.Requests != nil || strings.HasPrefix(m.Env, "slowfs") {
			a.md = append(a.md, float64(m.Metadata))
		}
	}
	res.Summary = nil
	for _, k := range order {
		c := cells[k]
		for name, s := range c.By {
			a := accs[k][name]
			s.WallSeconds = median(a.wall)
			if len(a.wall) > 0 {
				s.MinWall = a.wall[0]
				for _, w := range a.wall {
					s.MinWall = min(s.MinWall, w)
				}
			}
			s.SlowestRank = median(a.rank)
			s.Metadata = median(a.md)
			s.OnSlowFS = len(a.md) > 0
		}
		c.Baseline = "python3"
		if b := c.By["python3+mpi4py"]; c.Ranks > 0 && b != nil && b.Runs > 0 {
			c.Baseline = "python3+mpi4py"
		}
		if base := c.By[c.Baseline]; base != nil && base.Runs > 0 {
			for name, s := range c.By {
				if s.Runs == 0 || name == c.Baseline {
					continue
				}
				if base.WallSeconds > 0 {
					s.WallRatio = s.WallSeconds / base.WallSeconds
				}
				if base.Metadata > 0 {
					s.MetadataRatio = s.Metadata / base.Metadata
				}
			}
		}
		for _, row := range res.Syscalls {
			if row.Workload == k.w && row.Env == k.e && row.Ranks == k.n && len(row.PerRank) > 0 {
				if s := c.By[row.Interpreter]; s != nil {
					s.Syscalls = row.PerRank[0].Path
				}
			}
		}
		res.Summary = append(res.Summary, *c)
	}
	res.slopes()
}

// slopes fits time and requests against N (mpirun cells only, N >= 1).
func (res *Results) slopes() {
	type key struct{ w, e, in string }
	xs := map[key][][3]float64{}
	var order []key
	for _, c := range res.Summary {
		if c.Ranks < 1 {
			continue
		}
		for name, s := range c.By {
			if s.Runs == 0 {
				continue
			}
			k := key{c.Workload, c.Env, name}
			if xs[k] == nil {
				order = append(order, k)
			}
			xs[k] = append(xs[k], [3]float64{float64(c.Ranks), s.WallSeconds, s.Metadata})
		}
	}
	res.Slopes = nil
	for _, k := range order {
		pts := xs[k]
		if len(pts) < 2 {
			continue
		}
		res.Slopes = append(res.Slopes, Slope{Workload: k.w, Env: k.e, Interpreter: k.in, Points: len(pts),
			SecondsPerRank: fit(pts, 1), RequestsPerRank: fit(pts, 2)})
	}
	sort.SliceStable(res.Slopes, func(i, j int) bool {
		a, b := res.Slopes[i], res.Slopes[j]
		if a.Workload != b.Workload {
			return a.Workload < b.Workload
		}
		if a.Env != b.Env {
			return a.Env < b.Env
		}
		return interpreterOrder(a.Interpreter) < interpreterOrder(b.Interpreter)
	})
}

// fit is the least-squares slope of column y against column 0.
func fit(pts [][3]float64, y int) float64 {
	var sx, sy, sxx, sxy float64
	n := float64(len(pts))
	for _, p := range pts {
		sx += p[0]
		sy += p[y]
		sxx += p[0] * p[0]
		sxy += p[0] * p[y]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// names returns a cell's interpreters in table order.
func (c Cell) names() []string {
	var out []string
	for n := range c.By {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return interpreterOrder(out[i]) < interpreterOrder(out[j]) })
	return out
}

// setupFor is the per-job setup (mount, staging) a peer paid in an env.
func (res *Results) setupFor(env, interp string) (float64, bool) {
	for _, s := range res.Setup {
		if s.Env == env && s.Peer == interp && s.Error == "" {
			return s.Seconds, true
		}
	}
	return 0, false
}

// table renders the summary: per cell, one row per interpreter with its
// time and requests and their ratios to the cell's baseline.
func (res *Results) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pyhost bench (plan %s): %s, %d CPUs (shared with other users: noisy), kernel %s, %s\n", res.Plan,
		res.Started.UTC().Format(time.RFC3339), res.CPUs, res.Machine.Kernel, strings.Join(res.Versions, "; "))
	b.WriteString("time = median wall seconds of the whole command (mpirun included: until the slowest rank exits);\n" +
		"rank = the slowest rank's own import time (median); req = slowfs metadata requests of all ranks;\n" +
		"x = ratio to the cell's baseline in the same run (python3+mpi4py under mpirun, python3 single);\n" +
		"+setup = the peer's per-job setup in this environment (image mount, staging), see the setup table\n")
	if t := res.TreeSpec; t != nil {
		fmt.Fprintf(&b, "synth tree: %d packages x %d modules, depth %d, %d C extensions, %d extra sys.path entries\n",
			t.Packages, t.Modules, t.Depth, t.Extensions, t.ExtraPaths)
	}
	if t := res.PynamicSpec; t != nil {
		fmt.Fprintf(&b, "pynamic tree: %d extension modules, %d utility libraries in %d RUNPATH directories, %d linked per extension\n",
			t.Extensions, t.Libraries, t.LibDirs, t.LibsPerExt)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	b.WriteString("\n")
	b.WriteString(res.cellTable(""))

	if len(res.Setup) > 0 {
		b.WriteString("\nsetup (the peers' price besides the job):\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "env\tpeer\twhat\tseconds\tMB\tmetadata req\terror")
		for _, s := range res.Setup {
			env := s.Env
			if env == "" {
				env = "(once)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%s\t%s\n", env, s.Peer, s.What, s.Seconds, mb(s.Bytes), count(float64(s.Metadata)), s.Error)
		}
		tw.Flush()
	}
	if len(res.Slopes) > 0 {
		b.WriteString("\nslope per extra rank (least squares over the mpirun cells):\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "workload\tenv\tinterpreter\ts/rank\treq/rank\tpoints\t")
		for _, s := range res.Slopes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%.0f\t%d\t\n", s.Workload, s.Env, s.Interpreter, s.SecondsPerRank, s.RequestsPerRank, s.Points)
		}
		tw.Flush()
	}
	if len(res.Syscalls) > 0 {
		b.WriteString("\npath syscalls (strace -f -c, busiest rank; local disk):\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "workload\tranks\tinterpreter\tcalls\tfailed\t")
		for _, s := range res.Syscalls {
			if len(s.PerRank) > 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t\n", s.Workload, Ranks(s.Ranks), s.Interpreter, s.PerRank[0].Path, s.PerRank[0].Errors)
			}
		}
		tw.Flush()
	}
	if len(res.Verifications) > 0 {
		b.WriteString("\nverified before measuring (strace: where json and numpy were read from):\n")
		for _, v := range res.Verifications {
			status := "ok"
			if !v.OK {
				status = "FAILED"
			}
			fmt.Fprintf(&b, "  %s %s: %s: %s\n", v.Env, v.Interpreter, status, v.Detail)
		}
	}
	b.WriteString(res.failures())
	stray := 0
	for _, m := range res.Measurements {
		if m.Stray > 0 && m.Stray*100 > m.Metadata {
			stray++
		}
	}
	if stray > 0 {
		fmt.Fprintf(&b, "WARNING: %d measurements had > 1%% of their slowfs requests from other processes (see \"stray\" in results.json): their times are inflated\n", stray)
	}
	return b.String()
}

// cellTable renders the cells of one environment ("" = all).
func (res *Results) cellTable(env string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tenv\tranks\tinterpreter\ttime\tx\t+setup\trank\treq\tx\t")
	for _, c := range res.Summary {
		if env != "" && c.Env != env {
			continue
		}
		for i, n := range c.names() {
			s := c.By[n]
			lead := []string{"", "", ""}
			if i == 0 {
				lead = []string{c.Workload, c.Env, Ranks(c.Ranks).String()}
			}
			name := n
			if n == c.Baseline {
				name += " (base)"
			}
			row := append(lead, name)
			if s.Runs == 0 {
				row = append(row, "FAILED", "-", "-", "-", "-", "-")
			} else {
				setup := "-"
				if sec, ok := res.setupFor(c.Env, n); ok {
					setup = fmt.Sprintf("%.2f", sec)
				}
				req, reqRatio := count(s.Metadata), ratio(s.MetadataRatio)
				if s.OnSlowFS && s.Metadata == 0 {
					req = "0"
					if b := c.By[c.Baseline]; b != nil && b.Metadata > 0 && n != c.Baseline {
						reqRatio = "0.00"
					}
				}
				row = append(row, fmt.Sprintf("%.3f", s.WallSeconds), ratio(s.WallRatio), setup, secs(s.SlowestRank), req, reqRatio)
			}
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
	}
	tw.Flush()
	return b.String()
}

func (res *Results) failures() string {
	var failures []string
	for _, c := range res.Summary {
		for n, s := range c.By {
			if s.Failed > 0 {
				failures = append(failures, fmt.Sprintf("%s %s %s %s: %d failed: %s", c.Workload, c.Env, Ranks(c.Ranks), n, s.Failed, tail(s.Error, 300)))
			}
		}
	}
	for _, s := range res.Setup {
		if s.Error != "" {
			failures = append(failures, fmt.Sprintf("setup %s %s %s: %s", s.Env, s.Peer, s.What, s.Error))
		}
	}
	if len(failures) == 0 {
		return ""
	}
	sort.Strings(failures)
	return "\nfailed cells (the others were measured):\n" + strings.Join(failures, "\n") + "\n"
}

func mb(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(n)/1e6)
}

func ratio(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}

func secs(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", x)
}

func count(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", x)
}

// write saves results.json, results.txt and the plots, and prints the
// table on stdout.
func (res *Results) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	text := res.table()
	fmt.Print(text)
	if err := os.WriteFile(filepath.Join(dir, "results.txt"), []byte(text), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	plots, err := res.plot(dir)
	if err != nil {
		return err
	}
	res.plotFiles = plots
	fmt.Printf("\nwrote %s, %s and %d plots\n", filepath.Join(dir, "results.json"), filepath.Join(dir, "results.txt"), len(plots))
	return nil
}
