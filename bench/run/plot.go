package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plot draws, for each workload and environment, wall time against the
// number of mpirun ranks and, on slowfs, metadata requests against it;
// one line per interpreter. Single-process rows are in the table only.
func (res *Results) plot(dir string) ([]string, error) {
	type key struct{ w, e string }
	var keys []key
	seen := map[key]bool{}
	for _, c := range res.Summary {
		k := key{c.Workload, c.Env}
		if c.Ranks > 0 && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	var written []string
	for _, k := range keys {
		for _, metric := range []string{"time", "requests"} {
			lines := map[string]plotter.XYs{}
			var ticks []plot.Tick
			tickSeen := map[int]bool{}
			for _, c := range res.Summary {
				if c.Workload != k.w || c.Env != k.e || c.Ranks == 0 {
					continue
				}
				if !tickSeen[c.Ranks] {
					tickSeen[c.Ranks] = true
					ticks = append(ticks, plot.Tick{Value: float64(c.Ranks), Label: strconv.Itoa(c.Ranks)})
				}
				for name, s := range c.By {
					if s.Runs == 0 {
						continue
					}
					y := s.WallSeconds
					if metric == "requests" {
						y = s.Metadata
					}
					if y > 0 {
						lines[name] = append(lines[name], plotter.XY{X: float64(c.Ranks), Y: y})
					}
				}
			}
			if len(lines) == 0 {
				continue
			}
			p := plot.New()
			p.Title.Text = fmt.Sprintf("%s on %s", k.w, envTitle(k.e))
			p.X.Label.Text = "mpirun ranks"
			p.X.Tick.Marker = plot.ConstantTicks(ticks)
			if metric == "time" {
				p.Y.Label.Text = "wall time until the slowest rank exits (s)"
			} else {
				p.Y.Label.Text = "slowfs metadata requests (all ranks)"
			}
			p.Y.Min = 0
			p.Legend.Top = true
			p.Legend.Left = true
			var names []string
			for n := range lines {
				names = append(names, n)
			}
			sort.Strings(names)
			var args []any
			for _, n := range names {
				xy := lines[n]
				sort.Slice(xy, func(i, j int) bool { return xy[i].X < xy[j].X })
				args = append(args, legend(n), xy)
			}
			if err := plotutil.AddLinePoints(p, args...); err != nil {
				return written, fmt.Errorf("bench: plot: %w", err)
			}
			name := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.png", metric, k.w, k.e))
			if err := p.Save(16*vg.Centimeter, 11*vg.Centimeter, name); err != nil {
				return written, fmt.Errorf("bench: plot: %w", err)
			}
			written = append(written, name)
		}
	}
	return written, nil
}

// envTitle says which latency model an environment's name stands for.
func envTitle(env string) string {
	switch {
	case env == "local":
		return "local disk"
	case strings.HasSuffix(env, "-cache"):
		return env + " (one queue, kernel cache on)"
	case strings.HasSuffix(env, "-perclient"):
		return env + " (per-client latency)"
	}
	return env + " (one queue, no kernel cache)"
}

func legend(name string) string {
	switch name {
	case "pyhost-cold":
		return "pyhost-cold (first job)"
	case "pyhost-warm":
		return "pyhost-warm (second job)"
	case "container", "staged":
		return name + " (setup not included)"
	}
	return name
}
