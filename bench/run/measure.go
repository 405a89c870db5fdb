package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pyhost/pyhost/bench/slowfs/latencyfs"
)

// Measurement is one run of one workload by one interpreter.
type Measurement struct {
	Workload    string `json:"workload"`
	Interpreter string `json:"interpreter"`
	Env         string `json:"env"`
	// Ranks is 0 for a single process started directly, else mpirun -np.
	Ranks  int `json:"ranks"`
	Repeat int `json:"repeat"`
	// WallSeconds is the whole command, mpirun included: the time until
	// the slowest rank has exited.
	WallSeconds float64 `json:"wall_seconds"`
	// RankSeconds are the import times the ranks printed (BENCH_IMPORT),
	// slowest first; SlowestRankSeconds is the first.
	RankSeconds        []float64 `json:"rank_seconds,omitempty"`
	SlowestRankSeconds float64   `json:"slowest_rank_seconds,omitempty"`
	Modules            int       `json:"modules,omitempty"`
	// Requests are the slowfs requests served during the run, by type;
	// Metadata is the number that waited in the queue.
	Requests map[string]uint64 `json:"requests,omitempty"`
	Metadata uint64            `json:"metadata,omitempty"`
	// Callers are the same requests by the caller's command name: a
	// name other than the interpreter's (or mpirun's) is a stray process.
	Callers map[string]uint64 `json:"callers,omitempty"`
	// Stray counts the requests of other processes (a find, a test
	// walking /tmp) that happened to touch the mounts during the run:
	// they inflate Metadata and, through the queue, the time.
	Stray uint64 `json:"stray,omitempty"`
	// Syscalls, from strace -f -c, per rank (slowest-counting first).
	Syscalls []SyscallCount `json:"syscalls,omitempty"`
	Error    string         `json:"error,omitempty"`
}

// SyscallCount sums strace's counts of path-resolving file-system calls
// (stat family with a path, open, access, readlink, getdents64).
type SyscallCount struct {
	Path   int            `json:"path_calls"`
	Errors int            `json:"path_errors"`
	ByName map[string]int `json:"by_name"`
}

// pathSyscalls are the calls FACTS.md counts: fd-based fstat excluded.
var pathSyscalls = map[string]bool{
	"stat": true, "lstat": true, "newfstatat": true, "statx": true, "fstatat64": true,
	"open": true, "openat": true, "openat2": true, "access": true, "faccessat": true, "faccessat2": true,
	"readlink": true, "readlinkat": true, "getdents64": true, "getdents": true,
}

func (p *place) stats() latencyfs.Stats {
	var sum latencyfs.Stats
	sum.Requests = map[string]uint64{}
	sum.ByCommand = map[string]uint64{}
	for _, m := range p.mounts {
		s := m.Stats()
		for k, v := range s.Requests {
			sum.Requests[k] += v
		}
		for k, v := range s.ByCommand {
			sum.ByCommand[k] += v
		}
		sum.Metadata += s.Metadata
		sum.Data += s.Data
	}
	return sum
}

// command builds the command line and environment of one run, and points
// the view symlink at the root the interpreter runs from.
func (r *runner) command(ctx context.Context, p *place, in Interpreter, w Workload, ranks Ranks, wrap []string) (*exec.Cmd, error) {
	v := p.viewFor(in)
	if v.err != nil {
		return nil, v.err
	}
	if err := r.pointView(v.root); err != nil {
		return nil, err
	}
	args := append([]string{}, in.Args...)
	if ranks > 0 {
		args = append(args, in.MPIArgs...)
	}
	app := filepath.Join(v.root, "app")
	for _, a := range w.Args {
		if strings.Contains(a, "{tree}") {
			if r.tree == nil {
				return nil, errors.New("no synthetic tree")
			}
			a = strings.ReplaceAll(a, "{tree}", filepath.Join(app, "synth"))
		}
		args = append(args, strings.ReplaceAll(a, "{app}", app))
	}
	argv := append(append(append([]string{}, wrap...), in.Path), args...)

	env := cleanEnv()
	var exported []string
	if v.home != "" {
		env = append(env, "PYTHONHOME="+v.home)
		exported = append(exported, "PYTHONHOME")
	}
	if w.Tree && r.tree != nil {
		env = append(env, "PYTHONPATH="+r.tree.Relocate(filepath.Join(app, "synth")).PythonPath())
		exported = append(exported, "PYTHONPATH")
	}
	if in.Pyhost {
		env = append(env, "PYHOST_CACHEDIR="+r.cacheDir(p, in, w, ranks))
		exported = append(exported, "PYHOST_CACHEDIR")
	}
	if ranks > 0 {
		mpi := []string{r.mpirun, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", strconv.Itoa(int(ranks))}
		for _, v := range exported {
			mpi = append(mpi, "-x", v)
		}
		argv = append(mpi, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = r.workDir
	// A process group of its own, so that a timeout or Ctrl-C ends
	// mpirun's ranks too; SIGTERM if the runner dies (mpirun passes it to
	// the ranks), so that a killed runner leaves no job running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd, nil
}

// cleanEnv is the runner's environment without Python variables that
// would change what the interpreters import.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PYTHON") || strings.HasPrefix(k, "PYHOST_") || strings.HasPrefix(k, "OMPI_") || strings.HasPrefix(k, "PMIX_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "OMPI_MCA_btl_base_warn_component_unused=0")
}

// measure runs one measurement; failures are recorded, not returned.
func (r *runner) measure(ctx context.Context, p *place, in Interpreter, w Workload, ranks Ranks, rep int) Measurement {
	m := Measurement{Workload: w.Name, Interpreter: in.Name, Env: p.env.Name, Ranks: int(ranks), Repeat: rep}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	cmd, err := r.command(ctx, p, in, w, ranks, nil)
	if err != nil {
		m.Error = err.Error()
		return m
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr

	before := p.stats()
	start := time.Now()
	err = cmd.Run()
	m.WallSeconds = time.Since(start).Seconds()
	d := p.stats().Sub(before)
	if len(p.mounts) > 0 {
		m.Requests, m.Metadata, m.Callers = d.Requests, d.Metadata, d.ByCommand
		own := map[string]bool{"kernel": true, "?": true, "mpirun": true, "orterun": true, "orted": true, "sh": true,
			"squashfuse": true} // the container's image reads: data, never delayed
		own[comm(in.Path)] = true
		for name, n := range d.ByCommand {
			if !own[name] {
				m.Stray += n
			}
		}
	}
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("timed out after %v", r.timeout)
		}
		m.Error = fmt.Sprintf("%v: %s", err, tail(stderr.String(), 400))
		return m
	}
	m.RankSeconds, m.Modules = parseReports(stdout.String())
	if len(m.RankSeconds) > 0 {
		m.SlowestRankSeconds = m.RankSeconds[0]
	}
	if w.Reports {
		want := int(ranks)
		if want == 0 {
			want = 1
		}
		if len(m.RankSeconds) != want {
			m.Error = fmt.Sprintf("%d of %d ranks reported; stdout: %s stderr: %s", len(m.RankSeconds), want,
				tail(stdout.String(), 200), tail(stderr.String(), 300))
		}
	}
	return m
}

// parseReports reads the BENCH_IMPORT lines of every rank.
func parseReports(out string) (seconds []float64, modules int) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "BENCH_IMPORT ")
		if !ok {
			continue
		}
		var rep struct {
			Seconds float64 `json:"seconds"`
			Modules int     `json:"modules"`
		}
		if json.Unmarshal([]byte(line), &rep) == nil {
			seconds = append(seconds, rep.Seconds)
			modules = max(modules, rep.Modules)
		}
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(seconds)))
	return seconds, modules
}

// straceRun counts each rank's path syscalls with strace -f -c.
func (r *runner) straceRun(ctx context.Context, p *place, in Interpreter, w Workload, ranks Ranks) ([]SyscallCount, error) {
	dir, err := os.MkdirTemp(r.tmp, "strace-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "rank")
	// Each rank writes its own file; under mpirun the rank number comes
	// from the environment, so a shell picks the name.
	wrap := []string{"/bin/sh", "-c", `s="$1"; o="$2"; shift 2; exec "$s" -f -c -o "$o.${OMPI_COMM_WORLD_RANK:-0}" "$@"`, "strace-wrap", r.strace, out}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	cmd, err := r.command(ctx, p, in, w, ranks, wrap)
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("strace run: %v: %s", err, tail(stderr.String(), 300))
	}
	files, _ := filepath.Glob(out + ".*")
	var counts []SyscallCount
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		counts = append(counts, parseStraceSummary(string(b)))
	}
	sort.Slice(counts, func(i, j int) bool { return counts[i].Path > counts[j].Path })
	return counts, nil
}

// parseStraceSummary reads strace -c's table:
//
//	% time     seconds  usecs/call     calls    errors syscall
//	  0.00    0.000000           0       123        45 openat
func parseStraceSummary(s string) SyscallCount {
	c := SyscallCount{ByName: map[string]int{}}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !pathSyscalls[f[len(f)-1]] {
			continue
		}
		name := f[len(f)-1]
		calls, err := strconv.Atoi(f[3])
		if err != nil {
			continue
		}
		errs := 0
		if len(f) == 6 {
			errs, _ = strconv.Atoi(f[4])
		}
		c.ByName[name] += calls
		c.Path += calls
		c.Errors += errs
	}
	return c
}

// comm is the kernel's command name for a program: its base name,
// truncated to 15 bytes.
func comm(path string) string {
	c := filepath.Base(path)
	if len(c) > 15 {
		c = c[:15]
	}
	return c
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return strings.ReplaceAll(s, "\n", " | ")
}
