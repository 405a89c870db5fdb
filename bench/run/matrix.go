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
	// MPIArgs go first under mpirun only (python3 + mpi4py: MPI
	// initialised before the workload, as pyhost does; see mpi4pyBoot).
	MPIArgs []string `json:"mpi_args,omitempty"`
	// MPIOnly interpreters are not run as a single process (there they
	// would be python3 again).
	MPIOnly bool `json:"mpi_only,omitempty"`
	// Peer is where the interpreter's trees come from: "" the
	// environment's own (local disk or the slowfs mount), "container" a
	// squashfs image mounted with squashfuse, "staged" a copy in
	// node-local memory (/dev/shm) made before the job.
	Peer string `json:"peer,omitempty"`
	// Skip, when not empty, says why this interpreter is not measured.
	Skip string `json:"skip,omitempty"`
}

// Workload is what each interpreter process runs.
type Workload struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Args follow the interpreter's; {app} is the app directory (the
	// generated trees, the demo) as the interpreter sees it, {tree} the
	// synthetic tree's root.
	Args []string `json:"args"`
	// Tree is set for workloads that need the synthetic tree.
	Tree bool `json:"tree,omitempty"`
	// Pynamic is set for workloads that need the Pynamic-like tree.
	Pynamic bool `json:"pynamic,omitempty"`
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
			Name:        "pynamic",
			Description: "Pynamic-like tree (bench/gen): C extension modules in the script's directory linking utility libraries through an absolute RUNPATH",
			Args:        []string{"{app}/pynamic/pynamic_driver.py"},
			Pynamic:     true,
			Reports:     true,
		},
		{
			Name:        "demo",
			Description: "demo/demo.py: import numpy, scipy.stats, pandas, sympy, mpi4py; one allreduce",
			Args:        []string{"{app}/demo/demo.py"},
		},
		{
			Name:        "pass",
			Description: "-c pass (interpreter start-up)",
			Args:        []string{"-c", "pass"},
		},
	}
}

// Env is where the interpreters' trees live: local disk, or slowfs
// mounts of /usr, of the app trees and of the store (the container image
// and the staging tarball) under one latency model.
type Env struct {
	Name    string        `json:"name"`
	Latency time.Duration `json:"latency_ns"`
	SlowFS  bool          `json:"slowfs"`
	// Model is the latency model on slowfs (see models).
	Model string `json:"model,omitempty"`
	// Cache turns the kernel's dentry and attribute cache on, as on a
	// client that may keep what it has looked up (Lustre with locks):
	// then only first lookups and listings reach the server.
	Cache bool `json:"kernel_cache,omitempty"`
	// PerClient: each request waits Latency on its own (no shared queue).
	PerClient bool `json:"per_client,omitempty"`
}

func (e Env) String() string { return e.Name }

// models are slowfs's latency models, by the name -models takes:
//   - queue: every metadata request of every rank waits in one queue
//     (one busy metadata server), kernel caches off;
//   - cache: the same queue with the kernel's dentry and attribute cache
//     on (slowfs -cache), as a Lustre client that holds locks;
//   - perclient: each request waits the latency on its own, no queue
//     (each rank's latency is its own: a network round trip to an
//     unloaded server), kernel caches off.
var models = []string{"queue", "cache", "perclient"}

// envs lists the environments in the order they are measured: slowfs
// first, local disk last, so that an interrupted run (its results are
// written on Ctrl-C) has the cells pyhost exists for.
func envs(latencies []time.Duration, local bool, ms []string) []Env {
	var out []Env
	for _, l := range latencies {
		for _, m := range ms {
			e := Env{Name: "slowfs-" + shortDuration(l), Latency: l, SlowFS: true, Model: m}
			switch m {
			case "cache":
				e.Name += "-cache"
				e.Cache = true
			case "perclient":
				e.Name += "-perclient"
				e.PerClient = true
			}
			out = append(out, e)
		}
	}
	if local {
		out = append(out, Env{Name: "local"})
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
