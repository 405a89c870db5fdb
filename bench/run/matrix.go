package main

import (
	"fmt"
	"strings"
	"time"
)

// Interpreter is one of the programs compared. Args go before the
// workload's own arguments.
type Interpreter struct {
	Name string   `json:"name"`
	Path string   `json:"path"`
	Args []string `json:"args,omitempty"`
	// Pyhost runs get PYHOST_CACHEDIR, a private directory of the run.
	Pyhost bool `json:"pyhost,omitempty"`
	// Warm: the cache directory is filled by one untimed run of the same
	// workload and rank count before the timed runs.
	Warm bool `json:"warm_cache,omitempty"`
	// Skip, when not empty, says why this interpreter is not measured.
	Skip string `json:"skip,omitempty"`
}

// Workload is what each interpreter process runs.
type Workload struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Args follow the interpreter's; a script path may start with
	// {tree}, the synthetic tree's root as the interpreter sees it.
	Args []string `json:"args"`
	// Tree is set for workloads that need the synthetic tree.
	Tree bool `json:"tree,omitempty"`
	// Reports says the workload prints BENCH_IMPORT lines.
	Reports bool `json:"reports,omitempty"`
}

// reportLine prints the BENCH_IMPORT line the synthetic driver prints,
// for workloads given with -c.
const reportLine = `import os as _os, sys as _sys, json as _json; ` +
	`print("BENCH_IMPORT " + _json.dumps({"seconds": _time.perf_counter() - _t0, "modules": len(_sys.modules), ` +
	`"rank": _os.environ.get("OMPI_COMM_WORLD_RANK")}), flush=True)`

func workloads() []Workload {
	return []Workload{
		{
			Name:        "sci",
			Description: "import numpy, scipy.stats, pandas, sympy",
			Args: []string{"-c", "import time as _time; _t0 = _time.perf_counter()\n" +
				"import numpy, scipy.stats, pandas, sympy\n" + reportLine},
			Reports: true,
		},
		{
			Name:        "synth",
			Description: "synthetic tree (bench/gen): import_all.py",
			Args:        []string{"{tree}/import_all.py"},
			Tree:        true,
			Reports:     true,
		},
		{
			Name:        "pass",
			Description: "-c pass (interpreter start-up)",
			Args:        []string{"-c", "pass"},
		},
	}
}

// Env is where the interpreters' trees live: local disk, or slowfs
// mounts of /usr and of the synthetic tree sharing one queue.
type Env struct {
	Name    string        `json:"name"`
	Latency time.Duration `json:"latency_ns"`
	SlowFS  bool          `json:"slowfs"`
	// Cache turns the kernel's dentry and attribute cache on, as on a
	// client that may keep what it has looked up (Lustre with locks):
	// then only first lookups and listings reach the server.
	Cache bool `json:"kernel_cache,omitempty"`
}

func (e Env) String() string { return e.Name }

func envs(latencies []time.Duration, local, cached bool) []Env {
	var out []Env
	if local {
		out = append(out, Env{Name: "local"})
	}
	for _, l := range latencies {
		out = append(out, Env{Name: "slowfs-" + shortDuration(l), Latency: l, SlowFS: true})
		if cached {
			out = append(out, Env{Name: "slowfs-" + shortDuration(l) + "-cached", Latency: l, SlowFS: true, Cache: true})
		}
	}
	return out
}

func shortDuration(d time.Duration) string {
	if d < time.Millisecond {
		return strings.TrimSuffix(fmt.Sprintf("%.3g", float64(d)/float64(time.Millisecond)), ".0") + "ms"
	}
	return d.String()
}

// Ranks is the process count of a measurement: 0 means one process
// started directly, N > 0 means mpirun -np N.
type Ranks int

func (r Ranks) String() string {
	if r == 0 {
		return "single"
	}
	return fmt.Sprintf("np=%d", int(r))
}
