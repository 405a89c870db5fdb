// Command run measures pyhost against what HPC users run instead, side by
// side in the same run, interleaved:
//
//	bash scripts/build.sh                       # bin/pyhost (a missing one is skipped)
//	go run ./bench/run -plan quick              # < 5 minutes: every interpreter and model at small N
//	go run ./bench/run -plan medium -out bench/results -markdown BENCHMARKS.md
//	go run ./bench/run -plan demo               # the README's demo: mpirun on slowfs, one plot
//
// Interpreters (-interpreters picks a subset):
//
//   - python3: Debian's python3.11, the environment's own trees;
//   - python3+mpi4py: python3.11 with `from mpi4py import MPI` before the
//     workload (MPI initialised, as pyhost does; mpi4pyBoot): the fair
//     baseline under mpirun;
//   - container: python3.11 + mpi4py the same way, with its stdlib, dist-packages and
//     the app from a squashfs image mounted with squashfuse, the image file
//     on the store (on slowfs); see peers.go;
//   - staged: the same from a copy untarred into /dev/shm before the job;
//   - pyhost-cold: pyhost with no persistent cache (a user's first job);
//   - pyhost-warm: pyhost with the cache one untimed run of the same cell
//     left (a user's second job);
//   - pyhost-off: pyhost with its importer off (the stock importer).
//
// Workloads: sci (import numpy, scipy.stats, pandas, sympy), pynamic (a
// Pynamic-like tree from bench/gen: C extension modules linking utility
// libraries through an absolute RUNPATH), pass (-c pass), synth (the
// bench/gen package tree), demo (demo/demo.py).
//
// Environments: local disk, and slowfs at each -latency under each of
// -models (queue: one queue for every rank's metadata requests; cache: the
// same with the kernel's dentry and attribute caches on; perclient: each
// request waits on its own). On slowfs /usr, the app trees and the store
// (image and tarball) are FUSE mounts sharing the model; every interpreter
// runs with PYTHONHOME=<its root>/usr, and strace verifies, before
// anything is measured, that each one reads json and numpy from where its
// cell claims (a squashfuse mount for the container, tmpfs for staged).
// A cell whose interpreter cannot run (FUSE missing, /dev/shm full, an
// image that fails to build, a failed verification, a crash) is reported
// failed with the reason; the others go on.
//
// Cleanup: every mount, daemon and scratch directory is recorded in a
// ledger file before it exists; the runner undoes them on exit, Ctrl-C or
// SIGTERM, and every start first undoes what a killed runner left (see
// ledger.go).
//
// Output (-out, default bench/out/): results.json, results.txt, plots;
// with -markdown also a BENCHMARKS.md-style report. One progress line per
// measurement goes to stderr.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
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
	squashfuse, mksquashfs string
	envTrees               []string // what the image and the tarball hold, relative to /
	tmp, workDir           string
	root                   string // <tmp>/root: app/ (generated trees, the demo) on local disk
	viewLink               string // <tmp>/view: symlink to the root the current measurement sees
	stageDir               string // where staged copies go (/dev/shm)
	cacheRoot              string // pyhost's PYHOST_CACHEDIRs: never the user's ~/.cache
	timeout                time.Duration
	tree                   *synth.Tree
	pynamic                *synth.PynamicTree
	store                  *store
	ledger                 *ledger
	log                    io.Writer
}

// plan is a preset of the flags below.
type plan struct {
	workloads, np, latency, models string
	repeat, repeatFS               int
	timeout                        time.Duration
	pynamic                        string
	local                          bool
	interpreters                   string
	// more are further stages of the plan, each its own matrix, run after
	// this one when no matrix flag (-np, -latency, -models, -workloads,
	// -interpreters, -no-local) is given.
	more []plan
}

var plans = map[string]plan{
	// quick: every interpreter and every model at N = 2 (and single), at
	// 0.2 ms; the sci workload takes too long on slowfs for 5 minutes.
	"quick": {workloads: "pass,pynamic", np: "0,2", latency: "0.2ms", models: "queue,cache,perclient",
		repeat: 1, repeatFS: 1, timeout: 2 * time.Minute, pynamic: "60,40,10,4", local: true},
	// medium: what fits in about 40 minutes on the 2-core machine.
	"medium": {workloads: "sci,pynamic,pass", np: "0,1,2,4,8", latency: "0.2ms", models: "queue,cache,perclient",
		repeat: 1, repeatFS: 1, timeout: 20 * time.Minute, pynamic: "200,100,20,4", local: true,
		// 1 ms: sci only, N <= 4, the two models without a kernel cache,
		// every interpreter but plain python3 and pyhost-off (25 minutes).
		more: []plan{{workloads: "sci", np: "1,2,4", latency: "1ms", models: "queue,perclient",
			interpreters: "python3+mpi4py,container,staged,pyhost-cold,pyhost-warm"}}},
	// full: the matrix (many hours at 1 ms).
	"full": {workloads: "sci,pynamic,pass", np: "1,2,4,8,16,32", latency: "0.2ms,1ms", models: "queue,cache,perclient",
		repeat: 3, repeatFS: 1, timeout: 60 * time.Minute, pynamic: "200,100,20,4", local: true},
	// demo: the README's main job (scripts/demo.sh).
	"demo": {workloads: "demo", np: "4", latency: "0.2ms", models: "queue", repeat: 1, repeatFS: 1,
		timeout: 10 * time.Minute, pynamic: "", local: false, interpreters: "python3,container,staged,pyhost-warm"},
}

func main() {
	os.Exit(run())
}

func run() int {
	var (
		outDir    = flag.String("out", "", "output directory (default bench/out/<plan>)")
		planName  = flag.String("plan", "quick", "preset: quick (< 5 min), medium (~40 min), full (hours), demo")
		quick     = flag.Bool("quick", false, "same as -plan quick")
		python    = flag.String("python", synth.DefaultPython, "the reference interpreter (Debian's python3.11)")
		pyhost    = flag.String("pyhost", "bin/pyhost", "the pyhost binary (skipped if missing)")
		mpirun    = flag.String("mpirun", "mpirun", "mpirun (Open MPI); rows under mpirun are skipped if missing")
		npList    = flag.String("np", "", "comma-separated mpirun rank counts; 0 = single process (default: the plan's)")
		latList   = flag.String("latency", "", "comma-separated slowfs latencies, or none (default: the plan's)")
		modelList = flag.String("models", "", "slowfs latency models: queue, cache, perclient (default: the plan's)")
		noLocal   = flag.Bool("no-local", false, "skip the local-disk rows")
		wlList    = flag.String("workloads", "", "workloads: sci, pynamic, pass, synth, demo (default: the plan's)")
		repeat    = flag.Int("repeat", 0, "repeats on local disk (default: the plan's)")
		repeatFS  = flag.Int("repeat-slowfs", 0, "repeats on slowfs (default: the plan's)")
		timeout   = flag.Duration("timeout", 0, "limit per measurement (default: the plan's)")
		useStrace = flag.Bool("strace", false, "also count path syscalls per rank with strace -f -c (local disk, one extra run per cell)")
		interpSel = flag.String("interpreters", "", "comma-separated interpreters (default all: "+strings.Join(interpreterNames, ",")+")")
		pynSpec   = flag.String("pynamic", "", "Pynamic-like tree: extensions,libraries,libs-per-extension,runpath-dirs (default: the plan's)")
		markdown  = flag.String("markdown", "", "also write a BENCHMARKS.md-style report to this file (plots copied next to it under bench/results)")
		ledgerDir = flag.String("ledger", defaultLedgerDir(), "directory of the cleanup ledgers")
		stageDir  = flag.String("stage-dir", "/dev/shm", "node-local directory for the staged copies")
		demoPath  = flag.String("demo-script", "demo/demo.py", "the demo workload's script")
		cleanOnly = flag.Bool("cleanup", false, "only clean up after killed runners, then exit")
		phCommit  = flag.String("pyhost-commit", "", "the commit -pyhost was built from, for the report (default: this tree's HEAD when -pyhost is bin/pyhost)")
		stageSel  = flag.Int("stage", 0, "run only this stage of the plan (1 = the first; 0 = all)")
		reportDir = flag.String("report", "", "measure nothing: rewrite the tables, plots and -markdown from DIR/results.json of an earlier run (DIR1,DIR2: runs merged, into DIR1)")
		noFUSE    = flag.Bool("assume-no-fuse", false, "behave as if FUSE were unavailable (to test the demo's fallback)")
		envTrees  = flag.String("env-trees", defaultEnvTrees, "what the peers' image and tarball hold, relative to / (comma-separated)")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		return 2
	}
	if *quick {
		*planName = "quick"
	}
	pl, ok := plans[*planName]
	if !ok {
		fmt.Fprintf(os.Stderr, "run: unknown plan %q (have quick, medium, full, demo)\n", *planName)
		return 2
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(npList, pl.np)
	def(latList, pl.latency)
	def(modelList, pl.models)
	def(wlList, pl.workloads)
	def(pynSpec, pl.pynamic)
	def(interpSel, pl.interpreters)
	def(outDir, filepath.Join("bench", "out", *planName))
	if *repeat <= 0 {
		*repeat = pl.repeat
	}
	if *repeatFS <= 0 {
		*repeatFS = pl.repeatFS
	}
	if *timeout <= 0 {
		*timeout = pl.timeout
	}
	local := pl.local && !*noLocal

	if *reportDir != "" {
		return rereport(*reportDir, *markdown)
	}

	// Undo what a killed runner left before anything else.
	sweep(*ledgerDir, os.Stderr)
	if *cleanOnly {
		return 0
	}

	// The matrix flags replace the plan's first stage and drop the others.
	matrixFlags := false
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "np", "latency", "models", "workloads", "interpreters", "no-local":
			matrixFlags = true
		}
	})
	specs := []plan{{workloads: *wlList, np: *npList, latency: *latList, models: *modelList, local: local, interpreters: *interpSel}}
	if !matrixFlags {
		specs = append(specs, pl.more...)
	}
	var stages []stage
	for i, sp := range specs {
		if *stageSel != 0 && *stageSel != i+1 {
			continue
		}
		st, err := parseStage(sp)
		if err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
			return 2
		}
		stages = append(stages, st)
	}
	if len(stages) == 0 {
		fmt.Fprintf(os.Stderr, "run: the plan has no stage %d\n", *stageSel)
		return 2
	}
	var wls []Workload // every stage's, for building the app and the report
	for _, st := range stages {
		for _, w := range st.wls {
			if !needs(wls, func(x Workload) bool { return x.Name == w.Name }) {
				wls = append(wls, w)
			}
		}
	}
	var pspec synth.PynamicSpec
	var err error
	if needs(wls, func(w Workload) bool { return w.Pynamic }) {
		if pspec, err = parsePynamic(*pynSpec); err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	l, err := newLedger(*ledgerDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	defer l.release(os.Stderr)
	tmp, err := os.MkdirTemp("", "pyhost-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	l.addDir(tmp)
	r := &runner{python: *python, tmp: tmp, workDir: filepath.Join(tmp, "cwd"), cacheRoot: filepath.Join(tmp, "cache"),
		root: filepath.Join(tmp, "root"), viewLink: filepath.Join(tmp, "view"), stageDir: *stageDir,
		timeout: *timeout, ledger: l, log: os.Stderr, envTrees: strings.Split(*envTrees, ",")}
	for _, d := range []string{r.workDir, r.cacheRoot, filepath.Join(r.root, "app")} {
		os.MkdirAll(d, 0o755)
	}
	os.Chmod(r.cacheRoot, 0o700)
	r.pointView(r.root)

	res := &Results{Started: time.Now(), Plan: *planName, Quick: *planName == "quick", GoVersion: runtime.Version(),
		CPUs: runtime.NumCPU(), Args: os.Args[1:], Workloads: wls}
	res.Machine = describeMachine()
	res.PyhostCommit = *phCommit
	if res.PyhostCommit == "" && *pyhost == "bin/pyhost" {
		res.PyhostCommit = res.Machine.GitHead + " (bin/pyhost, assumed built from it)"
	}

	r.strace, _ = exec.LookPath("strace")
	r.squashfuse, _ = exec.LookPath("squashfuse")
	r.mksquashfs, _ = exec.LookPath("mksquashfs")
	if r.strace == "" {
		res.Notes = append(res.Notes, "strace not found: interpreters cannot be verified, so none is measured on slowfs or as a peer")
	}
	if p, err := exec.LookPath(*mpirun); err != nil {
		r.logf("mpirun: %q not found: rows under mpirun are skipped", *mpirun)
		res.Notes = append(res.Notes, fmt.Sprintf("mpirun %q not found: mpirun rows skipped", *mpirun))
	} else {
		r.mpirun = p
	}

	interps := r.interpreters(ctx, *python, *pyhost, unionSelection(stages), res)
	if len(active(interps)) == 0 {
		fmt.Fprintln(os.Stderr, "run: no interpreter can run; nothing to measure")
		return 1
	}
	if *useStrace && r.strace == "" {
		r.logf("strace not found: syscall counts skipped")
		*useStrace = false
	}

	// The app: generated trees and the demo, under <root>/app, before the
	// store is built from it.
	if needs(wls, func(w Workload) bool { return w.Tree }) {
		r.buildTree(res)
	}
	if needs(wls, func(w Workload) bool { return w.Pynamic }) {
		r.buildPynamic(res, pspec)
	}
	if needs(wls, func(w Workload) bool { return w.Name == "demo" }) {
		if err := copyFile(*demoPath, filepath.Join(r.root, "app", "demo", "demo.py")); err != nil {
			r.logf("demo: %v", err)
			res.Notes = append(res.Notes, "demo skipped: "+err.Error())
		}
	}
	if peersWanted(interps) {
		var rows []setupRow
		r.store, rows = r.buildStore(ctx)
		res.Setup = append(res.Setup, rows...)
	}

	// The demo falls back to local disk when FUSE cannot mount, and says so.
	if *planName == "demo" {
		err := fuseWorks(tmp)
		if *noFUSE {
			err = errors.New("-assume-no-fuse")
		}
		if err != nil {
			msg := fmt.Sprintf("FUSE unavailable (%v): running the comparison on local disk instead of slowfs", err)
			r.logf("%s", msg)
			res.Notes = append(res.Notes, msg)
			for i := range stages {
				stages[i].envs = envs(nil, true, nil)
			}
		}
	}
	total := 0
	for _, st := range stages {
		for _, e := range st.envs {
			for _, w := range st.wls {
				for _, n := range st.ranks {
					for _, in := range active(st.filter(interps)) {
						if runs(e, in, w, n, r, *planName) {
							total += reps(e, *repeat, *repeatFS)
						}
					}
				}
			}
		}
	}
	r.logf("%d measurements in %d stage(s); output in %s", total, len(stages), *outDir)

	done := 0
	for _, st := range stages {
		for _, e := range st.envs {
			if ctx.Err() != nil {
				break
			}
			done = r.runEnv(ctx, e, st.filter(interps), st.wls, st.ranks, reps(e, *repeat, *repeatFS), res, done, total, *planName, *useStrace)
		}
	}
	if ctx.Err() != nil {
		r.logf("interrupted: writing the %d measurements taken so far", len(res.Measurements))
		res.Notes = append(res.Notes, "interrupted before the end")
	}
	res.Finished = time.Now()
	res.summarize()
	if err := res.write(*outDir); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	if *planName == "demo" {
		res.printDemo(os.Stdout, *outDir)
	}
	if *markdown != "" {
		if err := res.writeMarkdown(*markdown, *outDir); err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
			return 1
		}
		fmt.Printf("wrote %s\n", *markdown)
	}
	if ctx.Err() != nil {
		return 130
	}
	return 0
}

// stage is one matrix of a plan.
type stage struct {
	envs  []Env
	wls   []Workload
	ranks []Ranks
	only  map[string]bool // interpreters measured; nil = all
}

func parseStage(p plan) (stage, error) {
	var st stage
	var err error
	if st.ranks, err = parseRanks(p.np); err != nil {
		return st, err
	}
	lat, err := parseLatencies(p.latency)
	if err != nil {
		return st, err
	}
	ms, err := parseModels(p.models)
	if err != nil {
		return st, err
	}
	st.envs = envs(lat, p.local, ms)
	for _, name := range strings.Split(p.workloads, ",") {
		found := false
		for _, w := range workloads() {
			if w.Name == strings.TrimSpace(name) {
				st.wls, found = append(st.wls, w), true
			}
		}
		if !found {
			return st, fmt.Errorf("unknown workload %q (have sci, pynamic, pass, synth, demo)", name)
		}
	}
	if p.interpreters != "" {
		st.only = map[string]bool{}
		for _, n := range strings.Split(p.interpreters, ",") {
			n = strings.TrimSpace(n)
			known := false
			for _, k := range interpreterNames {
				known = known || k == n
			}
			if !known {
				return st, fmt.Errorf("unknown interpreter %q (have %s)", n, strings.Join(interpreterNames, ", "))
			}
			st.only[n] = true
		}
	}
	return st, nil
}

// filter marks the interpreters this stage does not measure as skipped.
func (st stage) filter(in []Interpreter) []Interpreter {
	out := append([]Interpreter{}, in...)
	for i := range out {
		if st.only != nil && !st.only[out[i].Name] && out[i].Skip == "" {
			out[i].Skip = "not in this stage"
		}
	}
	return out
}

// unionSelection is every interpreter some stage measures ("" = all).
func unionSelection(stages []stage) string {
	want := map[string]bool{}
	for _, st := range stages {
		if st.only == nil {
			return ""
		}
		for n := range st.only {
			want[n] = true
		}
	}
	var names []string
	for _, n := range interpreterNames {
		if want[n] {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

// rereport rewrites an earlier run's report from its results.json; with
// several directories (comma-separated), from their runs merged, as the
// stages of one plan run separately (-stage) would have written it.
func rereport(dirs, markdown string) int {
	var res *Results
	list := strings.Split(dirs, ",")
	for _, dir := range list {
		b, err := os.ReadFile(filepath.Join(dir, "results.json"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
			return 1
		}
		var r Results
		if err := json.Unmarshal(b, &r); err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
			return 1
		}
		if res == nil {
			res = &r
			continue
		}
		res.merge(&r)
	}
	res.summarize()
	if err := res.write(list[0]); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	if markdown != "" {
		if err := res.writeMarkdown(markdown, list[0]); err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
			return 1
		}
		fmt.Printf("wrote %s\n", markdown)
	}
	return 0
}

// merge adds another run's measurements to res, keeping res's machine
// and build facts and noting the other run's command, time and build.
func (res *Results) merge(o *Results) {
	res.Measurements = append(res.Measurements, o.Measurements...)
	res.WarmUps = append(res.WarmUps, o.WarmUps...)
	res.Setup = append(res.Setup, o.Setup...)
	res.Verifications = append(res.Verifications, o.Verifications...)
	res.Syscalls = append(res.Syscalls, o.Syscalls...)
	res.Notes = append(res.Notes, o.Notes...)
	note := fmt.Sprintf("merged with the run of `go run ./bench/run %s`, %s to %s UTC (%s), pyhost sha256 %.16s…",
		strings.Join(o.Args, " "), o.Started.UTC().Format("15:04"), o.Finished.UTC().Format("15:04"),
		o.Finished.Sub(o.Started).Round(time.Second), o.PyhostSHA256)
	if o.PyhostSHA256 != res.PyhostSHA256 {
		note += " (a different pyhost build)"
	}
	res.Notes = append(res.Notes, note)
	if o.Finished.After(res.Finished) {
		res.Finished = o.Finished
	}
}

func reps(e Env, local, slowfs int) int {
	if e.SlowFS {
		return slowfs
	}
	return local
}

// runs says whether a cell is measured at all (not: whether it succeeds).
func runs(e Env, in Interpreter, w Workload, n Ranks, r *runner, planName string) bool {
	switch {
	case n > 0 && r.mpirun == "":
		return false
	case n == 0 && in.MPIOnly:
		return false
	case w.Tree && r.tree == nil, w.Pynamic && r.pynamic == nil:
		return false
	// pyhost-off matched python3's slowfs requests exactly in every run so
	// far: measured on local disk only, except in the full plan.
	case in.Name == "pyhost-off" && e.SlowFS && planName != "full":
		return false
	// Under mpirun the baseline is python3+mpi4py; plain python3 there
	// (no MPI_Init) is measured in the quick and full plans only, to save
	// the medium plan's time for the peers.
	case in.Name == "python3" && n > 0 && planName == "medium":
		return false
	}
	return true
}

// runEnv prepares one environment (mounts, container, staged copy),
// verifies every interpreter, measures every cell and cleans up.
func (r *runner) runEnv(ctx context.Context, e Env, interps []Interpreter, wls []Workload, ranks []Ranks, reps int,
	res *Results, done, total int, planName string, useStrace bool) int {
	p, err := r.prepare(ctx, e)
	if err != nil {
		r.logf("%s: skipped: %v", e.Name, err)
		res.Notes = append(res.Notes, fmt.Sprintf("%s skipped: %v", e.Name, err))
		return done
	}
	defer func() {
		if err := p.cleanup(); err != nil {
			r.logf("%s: cleanup: %v", e.Name, err)
		}
	}()
	storeDir := ""
	if r.store != nil {
		storeDir = r.store.dir
		if e.SlowFS {
			storeDir = filepath.Join(p.base, "store")
		}
	}
	// The peers' views, made once per environment: a job on a node.
	for _, in := range active(interps) {
		if in.Peer == "" || p.views[in.Peer] != nil {
			continue
		}
		var v *view
		if in.Peer == "container" {
			v = r.mountContainer(ctx, p, storeDir)
		} else {
			v = r.stage(ctx, p, storeDir)
		}
		p.views[in.Peer] = v
		if v.setup.What != "" {
			v.setup.Error = errString(v.err)
			res.Setup = append(res.Setup, v.setup)
		}
		if v.err != nil {
			r.logf("%s %s: unavailable: %v", e.Name, in.Peer, v.err)
		} else {
			r.logf("%s %s: %s in %.2fs (%d metadata requests)", e.Name, in.Peer, v.setup.What, v.setup.Seconds, v.setup.Metadata)
		}
	}
	// Verify before measuring: a failed check fails that interpreter's
	// cells in this environment, with the reason.
	failed := map[string]string{}
	for _, in := range active(interps) {
		v := p.viewFor(in)
		if v.err != nil {
			failed[in.Name] = v.err.Error()
			continue
		}
		if !e.SlowFS && in.Peer == "" {
			continue // the system's own /usr: nothing to prove
		}
		c := r.verifyPeer(ctx, p, in, v)
		res.Verifications = append(res.Verifications, c)
		if !c.OK {
			failed[in.Name] = "verification failed: " + c.Detail
			r.logf("%s %s: NOT MEASURED: %s", e.Name, in.Name, c.Detail)
		} else {
			r.logf("%s %s: verified: %s", e.Name, in.Name, c.Detail)
		}
	}

	for _, w := range wls {
		if w.Tree && r.tree == nil || w.Pynamic && r.pynamic == nil {
			continue
		}
		var ins []Interpreter
		for _, in := range active(interps) {
			ins = append(ins, in)
		}
		if !e.SlowFS {
			r.warm(ctx, p, ins, w, failed)
		}
		for _, n := range ranks {
			var cell []Interpreter
			for _, in := range ins {
				if runs(e, in, w, n, r, planName) {
					cell = append(cell, in)
				}
			}
			for _, in := range cell {
				if in.Warm && failed[in.Name] == "" && ctx.Err() == nil {
					res.WarmUps = append(res.WarmUps, r.warmCache(ctx, p, in, w, n))
				}
			}
			for rep := 0; rep < reps && ctx.Err() == nil; rep++ {
				// Interleaved, so that drift in the machine's state
				// touches every interpreter alike, and rotated, so that
				// none always runs first (after the previous cell's
				// last run, or a warm-up) or right after the same one.
				for k := range cell {
					in := cell[(k+rep)%len(cell)]
					if ctx.Err() != nil {
						break
					}
					var m Measurement
					if why := failed[in.Name]; why != "" {
						m = Measurement{Workload: w.Name, Interpreter: in.Name, Env: e.Name, Ranks: int(n), Repeat: rep,
							Error: "not run: " + why}
					} else {
						m = r.measure(ctx, p, in, w, n, rep)
					}
					done++
					r.progress(done, total, m)
					res.Measurements = append(res.Measurements, m)
				}
			}
			if useStrace && !e.SlowFS && ctx.Err() == nil {
				for _, in := range cell {
					if failed[in.Name] != "" {
						continue
					}
					counts, err := r.straceRun(ctx, p, in, w, n)
					if err != nil {
						r.logf("strace %s %s %s %s: %v", e.Name, w.Name, n, in.Name, err)
						continue
					}
					res.Syscalls = append(res.Syscalls, SyscallRow{Workload: w.Name, Interpreter: in.Name, Env: e.Name, Ranks: int(n), PerRank: counts})
				}
			}
		}
	}
	return done
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func needs(wls []Workload, f func(Workload) bool) bool {
	for _, w := range wls {
		if f(w) {
			return true
		}
	}
	return false
}

func peersWanted(in []Interpreter) bool {
	for _, i := range active(in) {
		if i.Peer != "" {
			return true
		}
	}
	return false
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "bench: "+format+"\n", args...)
}

func (r *runner) progress(done, total int, m Measurement) {
	var b strings.Builder
	fmt.Fprintf(&b, "[%d/%d] %-22s %-7s %-6s %-14s #%d  wall %7.3fs", done, total, m.Env, m.Workload, Ranks(m.Ranks), m.Interpreter, m.Repeat, m.WallSeconds)
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

func active(in []Interpreter) []Interpreter {
	var out []Interpreter
	for _, i := range in {
		if i.Skip == "" {
			out = append(out, i)
		}
	}
	return out
}

// mpi4pyBoot initialises MPI, then runs the command line that follows
// (`-c cmd`, `-m mod`, a script) as `python3 -m mpi4py` would.
const mpi4pyBoot = "from mpi4py import MPI; import sys; from mpi4py.run import run_command_line; run_command_line(sys.argv[1:])"

var interpreterNames = []string{"python3", "python3+mpi4py", "container", "staged", "pyhost-cold", "pyhost-warm", "pyhost-off"}

// interpreters finds the programs to compare and checks that each runs;
// one that does not is skipped with the reason, not fatal.
func (r *runner) interpreters(ctx context.Context, python, pyhost, sel string, res *Results) []Interpreter {
	// python3 + mpi4py as its users start it under mpirun: MPI initialised
	// (`from mpi4py import MPI`, MPI_Init_thread) before the workload, which
	// then runs as `python3 -m mpi4py` runs it. (`-m mpi4py` alone does
	// not initialise MPI: mpi4py imports mpi4py.MPI only when the program
	// does.)
	mpi4py := []string{"-c", mpi4pyBoot}
	in := []Interpreter{
		{Name: "python3", Path: python},
		{Name: "python3+mpi4py", Path: python, MPIArgs: mpi4py, MPIOnly: true},
		{Name: "container", Path: python, MPIArgs: mpi4py, Peer: "container"},
		{Name: "staged", Path: python, MPIArgs: mpi4py, Peer: "staged"},
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
			in[i].Skip = fmt.Sprintf("%s not found (build it with: bash scripts/build.sh)", in[i].Path)
			if !in[i].Pyhost {
				in[i].Skip = fmt.Sprintf("%s not found (apt-get install python3.11)", in[i].Path)
			}
		} else if in[i].MPIOnly && r.mpirun == "" {
			in[i].Skip = "runs under mpirun only, and mpirun is missing"
		} else {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			args := append(append([]string{}, in[i].Args...), "-c", "import sys; print(sys.version.split()[0])")
			if in[i].Pyhost {
				args = append(append([]string{}, in[i].Args...), "-X", "pyhost.version")
			}
			cmd := exec.CommandContext(ctx, in[i].Path, args...)
			cmd.Env, cmd.Dir = cleanEnv(), r.workDir
			if in[i].Pyhost {
				cmd.Env = append(cmd.Env, "PYHOST_CACHEDIR="+filepath.Join(r.cacheRoot, "version-check"))
			}
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				in[i].Skip = fmt.Sprintf("%s does not run: %v: %s", in[i].Path, err, tail(string(out), 200))
			} else if in[i].Name == "python3" {
				res.Versions = append(res.Versions, "python3 "+strings.TrimSpace(string(out)))
			} else if in[i].Name == "pyhost-cold" {
				res.Versions = append(res.Versions, strings.Join(strings.Fields(string(out)), " "))
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
	t, err := synth.Generate(filepath.Join(r.root, "app", "synth"), spec)
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

func (r *runner) buildPynamic(res *Results, spec synth.PynamicSpec) {
	spec.Python = r.python
	// The RUNPATH goes through the view symlink, which each measurement
	// points at the root its interpreter sees (the slowfs mount, the
	// container, the staged copy), as an absolute RUNPATH into a shared
	// file system would be seen from every node.
	spec.RunpathRoot = filepath.Join(r.viewLink, "app", "pynamic")
	start := time.Now()
	t, err := synth.GeneratePynamic(filepath.Join(r.root, "app", "pynamic"), spec)
	if err != nil {
		r.logf("pynamic tree: %v: pynamic rows skipped", err)
		res.Notes = append(res.Notes, "pynamic skipped: "+err.Error())
		return
	}
	r.pynamic = t
	res.PynamicSpec = &t.Spec
	r.logf("pynamic tree: %d extension modules, %d utility libraries in %d RUNPATH directories, %d per extension (%.1fs)",
		spec.Extensions, spec.Libraries, spec.LibDirs, spec.LibsPerExt, time.Since(start).Seconds())
}

// pointView makes the view symlink point at root (atomically: a new link
// renamed over the old one).
func (r *runner) pointView(root string) error {
	tmp := r.viewLink + ".new"
	os.Remove(tmp)
	if err := os.Symlink(root, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, r.viewLink)
}

// place is an environment as prepared: its mounts and the views of the
// trees the interpreters run from.
type place struct {
	env    Env
	base   string // slowfs: the directory holding the mounts usr/, app/, store/
	mounts []*latencyfs.Mount
	views  map[string]*view // by Interpreter.Peer; "" is the environment's own
	stop   func() bool
}

// view is one root an interpreter runs from: <root>/app holds the app,
// <home> is its PYTHONHOME ("" for the system's own).
type view struct {
	kind       string
	root, home string
	setup      setupRow
	err        error // why this view is unusable: its cells fail with it
	daemon     int   // the container's squashfuse process
	cleanup    func() error
}

func (p *place) viewFor(in Interpreter) *view {
	if v := p.views[in.Peer]; v != nil {
		return v
	}
	return &view{kind: in.Peer, err: fmt.Errorf("no %s view", in.Peer)}
}

func (p *place) cleanup() error {
	var errs []error
	for _, v := range p.views {
		if v.cleanup != nil {
			errs = append(errs, v.cleanup())
		}
	}
	if p.stop != nil {
		p.stop()
	}
	for _, m := range p.mounts {
		errs = append(errs, m.Unmount())
	}
	return errors.Join(errs...)
}

// prepare mounts what an environment needs.
func (r *runner) prepare(ctx context.Context, e Env) (*place, error) {
	p := &place{env: e, views: map[string]*view{}}
	if !e.SlowFS {
		p.views[""] = &view{root: r.root}
		return p, nil
	}
	base, err := os.MkdirTemp(r.tmp, "mnt-"+e.Name+"-")
	if err != nil {
		return nil, err
	}
	p.base = base
	q := latencyfs.NewQueue(e.Latency) // one metadata server for every mount
	if e.PerClient {
		q = latencyfs.NewPerClient(e.Latency)
	}
	srcs := [][2]string{{"/usr", "usr"}, {filepath.Join(r.root, "app"), "app"}}
	if r.store != nil {
		srcs = append(srcs, [2]string{r.store.dir, "store"})
	}
	for _, s := range srcs {
		dir := filepath.Join(base, s[1])
		os.Mkdir(dir, 0o755)
		r.ledger.addMount(dir)
		// The store keeps the kernel's attribute cache in every model: with
		// it off, the kernel asks for a file's attributes before every
		// read(2), so each block squashfuse or tar reads from the image or
		// tarball would cost a metadata request, which a parallel file
		// system's client reading an open file does not pay. Its lookups
		// and opens still wait in the model's queue; its block reads cross
		// the mount as data (counted, not delayed), as every interpreter's
		// file contents do.
		cache := e.Cache || s[1] == "store"
		m, err := latencyfs.New(s[0], dir, latencyfs.Options{Queue: q, Cache: cache, ReadOnly: true})
		if err != nil {
			r.ledger.dropMount(dir)
			p.cleanup()
			return nil, err
		}
		p.mounts = append(p.mounts, m)
	}
	// Unmount on a signal too, before the processes inside are killed.
	p.stop = context.AfterFunc(ctx, func() {
		for _, m := range p.mounts {
			m.Unmount()
		}
	})
	p.views[""] = &view{root: base, home: filepath.Join(base, "usr")}
	return p, nil
}

// fuseWorks mounts and unmounts a tiny slowfs to find out whether FUSE
// can be used here.
func fuseWorks(tmp string) error {
	src, dir := filepath.Join(tmp, "fuse-probe-src"), filepath.Join(tmp, "fuse-probe")
	os.Mkdir(src, 0o755)
	os.Mkdir(dir, 0o755)
	defer os.Remove(src)
	defer os.Remove(dir)
	m, err := latencyfs.New(src, dir, latencyfs.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	return m.Unmount()
}

// warm runs each workload once per interpreter, unrecorded, so that the
// page cache holds the files before local-disk measurements.
func (r *runner) warm(ctx context.Context, p *place, interps []Interpreter, w Workload, failed map[string]string) {
	for _, in := range interps {
		if failed[in.Name] == "" {
			r.measure(ctx, p, in, w, 0, -1)
		}
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
	r.logf("warm-up (first job) %s %s %s %s: wall %.3fs, %d metadata req, cache %d files %d bytes%s", p.env.Name, w.Name, n, in.Name,
		m.WallSeconds, m.Metadata, len(files), size, map[bool]string{true: "  WARNING: no cache written", false: ""}[len(files) == 0])
	if m.Error != "" {
		r.logf("warm-up %s %s %s %s FAILED: %s", p.env.Name, w.Name, n, in.Name, tail(m.Error, 300))
	}
	return m
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
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

func parseModels(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		ok := false
		for _, m := range models {
			ok = ok || m == f
		}
		if !ok {
			return nil, fmt.Errorf("bad -models value %q (have %s)", f, strings.Join(models, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

func parsePynamic(s string) (synth.PynamicSpec, error) {
	spec := synth.DefaultPynamicSpec()
	if s == "" {
		return spec, nil
	}
	f := strings.Split(s, ",")
	var v [4]int
	if len(f) != 4 {
		return spec, fmt.Errorf("bad -pynamic value %q: want extensions,libraries,libs-per-extension,runpath-dirs", s)
	}
	for i := range f {
		n, err := strconv.Atoi(strings.TrimSpace(f[i]))
		if err != nil || n < 0 {
			return spec, fmt.Errorf("bad -pynamic value %q", s)
		}
		v[i] = n
	}
	spec.Extensions, spec.Libraries, spec.LibsPerExt, spec.LibDirs = v[0], v[1], v[2], v[3]
	return spec, nil
}
