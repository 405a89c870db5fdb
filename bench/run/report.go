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
	Started      time.Time     `json:"started"`
	Finished     time.Time     `json:"finished"`
	Quick        bool          `json:"quick"`
	Args         []string      `json:"args"`
	GoVersion    string        `json:"go_version"`
	Kernel       string        `json:"kernel,omitempty"`
	CPUs         int           `json:"cpus"`
	Versions     []string      `json:"versions"`
	PyhostSource string        `json:"pyhost_source,omitempty"`
	PyhostSHA256 string        `json:"pyhost_sha256,omitempty"`
	Interpreters []Interpreter `json:"interpreters"`
	Workloads    []Workload    `json:"workloads"`
	TreeSpec     *synth.Spec   `json:"tree_spec,omitempty"`
	Checks       []PathCheck   `json:"path_checks,omitempty"`
	Notes        []string      `json:"notes,omitempty"`
	Measurements []Measurement `json:"measurements"`
	// WarmUps are pyhost-warm's untimed runs that filled each cell's cache.
	WarmUps  []Measurement `json:"warm_ups,omitempty"`
	Syscalls []SyscallRow  `json:"syscalls,omitempty"`
	Summary  []Cell        `json:"summary"`
}

// PathCheck records where an interpreter's sys.path resolved on slowfs.
type PathCheck struct {
	Env         string   `json:"env"`
	Interpreter string   `json:"interpreter"`
	MountPoint  string   `json:"mount_point"`
	OK          bool     `json:"ok"`
	Paths       []string `json:"paths"`
	Outside     []string `json:"outside,omitempty"`
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
// interpreter: medians, and ratios to python3 from the same run.
type Cell struct {
	Workload string           `json:"workload"`
	Env      string           `json:"env"`
	Ranks    int              `json:"ranks"`
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
	// Ratios to python3 in the same cell (0 when not measured).
	WallRatio     float64 `json:"wall_ratio,omitempty"`
	MetadataRatio float64 `json:"metadata_ratio,omitempty"`
	Syscalls      int     `json:"busiest_rank_path_syscalls,omitempty"`
	Error         string  `json:"first_error,omitempty"`
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

func (res *Results) summarize(interps []Interpreter) {
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
		if m.Requests != nil {
			a.md = append(a.md, float64(m.Metadata))
		}
	}
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
		}
		if base := c.By["python3"]; base != nil && base.Runs > 0 {
			for name, s := range c.By {
				if s.Runs == 0 || name == "python3" {
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
}

// table renders the summary: one row per cell, python3 first, then each
// other interpreter's time and its ratio to python3.
func (res *Results) table() string {
	var names []string
	for _, in := range res.Interpreters {
		if in.Skip == "" {
			names = append(names, in.Name)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pyhost bench (%s): %s, %d CPUs, kernel %s, %s\n", mode(res.Quick),
		res.Started.UTC().Format(time.RFC3339), res.CPUs, res.Kernel, strings.Join(res.Versions, "; "))
	b.WriteString("time = median wall seconds of the whole command (mpirun included: until the slowest rank exits);\n" +
		"rank = median slowest rank's own import time; req = slowfs metadata requests (all ranks); x = ratio to python3 in the same run\n")
	if res.TreeSpec != nil {
		t := res.TreeSpec
		fmt.Fprintf(&b, "synth tree: %d packages x %d modules, depth %d, %d C extensions, %d extra sys.path entries (%d decoys each), %d failing imports\n",
			t.Packages, t.Modules, t.Depth, t.Extensions, t.ExtraPaths, t.DecoysPerPath, t.FailedImports)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	hdr := []string{"workload", "env", "ranks"}
	for _, n := range names {
		if n == "python3" {
			hdr = append(hdr, n+" time", "rank", "req")
		} else {
			hdr = append(hdr, n+" time", "x", "rank", "req", "x")
		}
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t")+"\t")
	for _, c := range res.Summary {
		row := []string{c.Workload, c.Env, Ranks(c.Ranks).String()}
		for _, n := range names {
			s := c.By[n]
			switch {
			case s == nil:
				row = append(row, "-", "-", "-")
			case s.Runs == 0:
				row = append(row, "FAILED", "-", "-")
			default:
				row = append(row, fmt.Sprintf("%.3f", s.WallSeconds))
				if n != "python3" {
					row = append(row, ratio(s.WallRatio))
				}
				row = append(row, secs(s.SlowestRank), count(s.Metadata))
				if n != "python3" {
					row = append(row, ratio(s.MetadataRatio))
				}
				continue
			}
			if n != "python3" {
				row = append(row, "-", "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()

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
	var failures []string
	for _, c := range res.Summary {
		for n, s := range c.By {
			if s.Failed > 0 {
				failures = append(failures, fmt.Sprintf("%s %s %s %s: %d failed: %s", c.Workload, c.Env, Ranks(c.Ranks), n, s.Failed, tail(s.Error, 300)))
			}
		}
	}
	if len(failures) > 0 {
		sort.Strings(failures)
		b.WriteString("\nfailures:\n" + strings.Join(failures, "\n") + "\n")
	}
	stray := 0
	for _, m := range res.Measurements {
		if m.Stray > 0 && m.Stray*100 > m.Metadata {
			stray++
		}
	}
	if stray > 0 {
		fmt.Fprintf(&b, "WARNING: %d measurements had > 1%% of their slowfs requests from other processes (see \"stray\" in results.json): their times are inflated\n", stray)
	}
	for _, c := range res.Checks {
		if !c.OK {
			fmt.Fprintf(&b, "WARNING: %s %s: not under %s: %v\n", c.Env, c.Interpreter, c.MountPoint, c.Outside)
		}
	}
	return b.String()
}

func mode(quick bool) string {
	if quick {
		return "quick mode"
	}
	return "full mode"
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
	fmt.Printf("\nwrote %s, %s and %d plots\n", filepath.Join(dir, "results.json"), filepath.Join(dir, "results.txt"), len(plots))
	return nil
}
