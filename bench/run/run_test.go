package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pyhost/pyhost/bench/gen/synth"
)

func TestParseStraceSummary(t *testing.T) {
	const out = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 30.00    0.000300           1       200        20 newfstatat
 20.00    0.000200           1       100         5 openat
 10.00    0.000100           1        50           read
  5.00    0.000050           1        10           getdents64
  1.00    0.000010           1         7           fstat
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000           1       367        25 total
`
	c := parseStraceSummary(out)
	if c.Path != 310 || c.Errors != 25 || c.ByName["openat"] != 100 || c.ByName["fstat"] != 0 {
		t.Errorf("parseStraceSummary = %+v, want 310 path calls, 25 errors", c)
	}
}

func TestParseReports(t *testing.T) {
	out := "noise\nBENCH_IMPORT {\"seconds\": 0.5, \"modules\": 10, \"rank\": \"1\"}\n" +
		"BENCH_IMPORT {\"seconds\": 1.5, \"modules\": 12, \"rank\": \"0\"}\nBENCH_IMPORT {bad\n"
	secs, mods := parseReports(out)
	if len(secs) != 2 || secs[0] != 1.5 || mods != 12 {
		t.Errorf("parseReports = %v, %d; want [1.5 0.5], 12", secs, mods)
	}
}

func TestFlagsParsing(t *testing.T) {
	r, err := parseRanks("0, 1,16")
	if err != nil || len(r) != 3 || r[2] != 16 || r[0].String() != "single" || r[1].String() != "np=1" {
		t.Errorf("parseRanks = %v, %v", r, err)
	}
	if _, err := parseRanks("x"); err == nil {
		t.Error("parseRanks(x) succeeded")
	}
	l, err := parseLatencies("0.2ms,1ms")
	if err != nil || len(l) != 2 || l[0] != 200*time.Microsecond {
		t.Errorf("parseLatencies = %v, %v", l, err)
	}
	if m, err := parseModels("queue,perclient"); err != nil || len(m) != 2 {
		t.Errorf("parseModels = %v, %v", m, err)
	}
	if _, err := parseModels("fast"); err == nil {
		t.Error("parseModels(fast) succeeded")
	}
	if s, err := parsePynamic("3,4,2,1"); err != nil || s.Extensions != 3 || s.LibDirs != 1 {
		t.Errorf("parsePynamic = %+v, %v", s, err)
	}
	e := envs([]time.Duration{time.Millisecond}, true, []string{"queue", "cache", "perclient"})
	if len(e) != 4 || e[1].Name != "slowfs-1ms-cache" || !e[1].Cache || !e[2].PerClient || e[0].Cache || e[0].PerClient || e[3].Name != "local" {
		t.Errorf("envs = %+v", e)
	}
	for d, want := range map[time.Duration]string{200 * time.Microsecond: "0.2ms", time.Millisecond: "1ms", 2 * time.Millisecond: "2ms"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSummaryRatiosAndSlopes(t *testing.T) {
	md := func(n uint64) map[string]uint64 { return map[string]uint64{"LOOKUP": n} }
	res := &Results{
		Interpreters: []Interpreter{{Name: "python3"}, {Name: "python3+mpi4py"}, {Name: "pyhost-warm"}, {Name: "pyhost-off", Skip: "missing"}},
		Setup:        []setupRow{{Env: "slowfs-1ms", Peer: "staged", Seconds: 7.5}},
		Measurements: []Measurement{
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 4, Interpreter: "python3", WallSeconds: 100, Metadata: 4000, Requests: md(1)},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 4, Interpreter: "python3+mpi4py", WallSeconds: 10, Metadata: 1000, Requests: md(1)},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 4, Interpreter: "python3+mpi4py", WallSeconds: 12, Metadata: 1000, Requests: md(1)},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 4, Interpreter: "python3+mpi4py", WallSeconds: 30, Metadata: 1000, Requests: md(1)},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 4, Interpreter: "pyhost-warm", WallSeconds: 3, Metadata: 250, Requests: md(1)},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 4, Interpreter: "pyhost-warm", Error: "boom"},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 4, Interpreter: "staged", WallSeconds: 2},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 2, Interpreter: "python3+mpi4py", WallSeconds: 6, Metadata: 500, Requests: md(1)},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 2, Interpreter: "pyhost-warm", WallSeconds: 2, Metadata: 150, Requests: md(1)},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 0, Interpreter: "python3", WallSeconds: 5, Metadata: 250, Requests: md(1)},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 0, Interpreter: "pyhost-warm", WallSeconds: 2.5, Metadata: 125, Requests: md(1)},
		},
	}
	res.summarize()
	if len(res.Summary) != 3 {
		t.Fatalf("%d cells, want 3", len(res.Summary))
	}
	c := res.Summary[0]
	base, ph := c.By["python3+mpi4py"], c.By["pyhost-warm"]
	// Under mpirun the baseline is python3+mpi4py (median 12), not python3.
	if c.Baseline != "python3+mpi4py" || base.WallSeconds != 12 || base.MinWall != 10 || ph.WallRatio != 0.25 || ph.MetadataRatio != 0.25 || ph.Failed != 1 {
		t.Errorf("baseline %s %+v, pyhost %+v", c.Baseline, base, ph)
	}
	if single := res.Summary[2]; single.Baseline != "python3" || single.By["pyhost-warm"].WallRatio != 0.5 {
		t.Errorf("single-process cell: baseline %s, pyhost %+v", single.Baseline, single.By["pyhost-warm"])
	}
	var slope *Slope
	for i := range res.Slopes {
		if res.Slopes[i].Interpreter == "pyhost-warm" {
			slope = &res.Slopes[i]
		}
	}
	if slope == nil || slope.Points != 2 || slope.SecondsPerRank != 0.5 || slope.RequestsPerRank != 50 {
		t.Errorf("pyhost-warm slope = %+v, want 0.5 s and 50 requests per rank over 2 points", slope)
	}
	table := res.table()
	for _, want := range []string{"python3+mpi4py (base)", "0.25", "12.000", "7.50", "failed cells", "boom"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "pyhost-off") {
		t.Errorf("table shows a skipped interpreter:\n%s", table)
	}
	dir := t.TempDir()
	plots, err := res.plot(dir)
	if err != nil || len(plots) != 2 {
		t.Errorf("plot: %v, %v; want time and requests plots", plots, err)
	}
	res.plotFiles = plots
	md2 := filepath.Join(dir, "B.md")
	if err := res.writeMarkdown(md2, dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(md2)
	for _, want := range []string{"## Assessment", "shared", "| np=4 | 12.000 | 0.25 |", "vs staged (+setup): ahead in 1 cells, not ahead in 0", "](time-sci-slowfs-1ms.png)"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b)
		}
	}
}

func TestOpenRe(t *testing.T) {
	for line, want := range map[string]string{
		`123  openat(AT_FDCWD, "/m/usr/lib/python3.11/json/__init__.py", O_RDONLY|O_CLOEXEC) = 3`: "/m/usr/lib/python3.11/json/__init__.py",
		`openat(5, "x.pyc", O_RDONLY) = 7`:                                                 "x.pyc",
		`123  openat(AT_FDCWD, "/nope", O_RDONLY) = -1 ENOENT (No such file or directory)`: "",
	} {
		got := ""
		if m := openRe.FindStringSubmatch(line); m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("openRe(%q) = %q, want %q", line, got, want)
		}
	}
}

// End to end on local disk: -c pass, single process, a missing pyhost
// and a missing mpirun skipped with a message, not a crash.
func TestRunSkipsMissing(t *testing.T) {
	if _, err := os.Stat(synth.DefaultPython); err != nil {
		t.Skipf("%s not installed", synth.DefaultPython)
	}
	out := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RUN_TEST_MAIN=1", "RUN_TEST_ARGS="+strings.Join([]string{
		"-out", out, "-workloads", "pass", "-np", "0,2", "-latency", "none", "-repeat", "1",
		"-pyhost", filepath.Join(t.TempDir(), "no-pyhost"), "-mpirun", "no-such-mpirun",
		"-interpreters", "python3,pyhost-cold", "-ledger", t.TempDir(),
	}, " "))
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, b)
	}
	for _, want := range []string{"pyhost-cold: skipped", "mpirun", "[1/1]"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("output lacks %q:\n%s", want, b)
		}
	}
	var res Results
	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Measurements) != 1 || res.Measurements[0].Error != "" || res.Measurements[0].Interpreter != "python3" {
		t.Errorf("measurements = %+v", res.Measurements)
	}
	if _, err := os.Stat(filepath.Join(out, "results.txt")); err != nil {
		t.Error(err)
	}
}

// runMain runs the runner in a child process (the test binary in
// RUN_TEST_MAIN mode) and returns its combined output.
func runMain(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RUN_TEST_MAIN=1", "RUN_TEST_ARGS="+strings.Join(args, " "))
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
		}
	}()
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// tinyPeers needs what the container and staged peers are built with.
func tinyPeers(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(synth.DefaultPython); err != nil {
		t.Skipf("%s not installed", synth.DefaultPython)
	}
	for _, tool := range []string{"squashfuse", "mksquashfs", "strace", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/install-deps.sh installs it)", tool)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("FUSE unavailable: %v", err)
	}
}

// A peer that cannot run its workload (here: an image and a staged copy
// without the stdlib, a small fake of the environment) is reported as a
// failed cell with the reason; python3's cell is still measured; nothing
// is left mounted, staged or in the ledger.
func TestFailedPeerCellsAreReported(t *testing.T) {
	tinyPeers(t)
	out, ledgerDir, stage := t.TempDir(), t.TempDir(), t.TempDir()
	b, err := runMain(t, "-out", out, "-workloads", "pass", "-np", "0", "-latency", "none", "-repeat", "1",
		"-interpreters", "python3,container,staged", "-ledger", ledgerDir, "-stage-dir", stage,
		"-env-trees", "usr/lib/python3.11/json")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, b)
	}
	var res Results
	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range res.Measurements {
		got[m.Interpreter] = m.Error
	}
	if e, ok := got["python3"]; !ok || e != "" {
		t.Errorf("python3 not measured: %q", e)
	}
	for _, peer := range []string{"container", "staged"} {
		if !strings.Contains(got[peer], "verification failed") {
			t.Errorf("%s: error %q, want a failed verification", peer, got[peer])
		}
	}
	if !strings.Contains(b, "failed cells") || !strings.Contains(b, "mount image") {
		t.Errorf("output lacks the failed cells or the setup table:\n%s", b)
	}
	left, _ := filepath.Glob(filepath.Join(ledgerDir, "*"))
	staged, _ := filepath.Glob(filepath.Join(stage, "*"))
	if len(left) > 0 || len(staged) > 0 {
		t.Errorf("left behind: ledger %v, staged %v", left, staged)
	}
	for _, m := range mountPoints() {
		if strings.Contains(m, "pyhost-bench-") && strings.Contains(m, "container-local") {
			t.Errorf("still mounted: %s", m)
		}
	}
}

// The demo without FUSE says so and compares on local disk.
func TestDemoFallsBackWithoutFUSE(t *testing.T) {
	if _, err := os.Stat(synth.DefaultPython); err != nil {
		t.Skipf("%s not installed", synth.DefaultPython)
	}
	if _, err := exec.LookPath("mpirun"); err != nil {
		t.Skip("mpirun not installed")
	}
	script := filepath.Join(t.TempDir(), "demo.py")
	os.WriteFile(script, []byte("print('demo ran')\n"), 0o644)
	out := t.TempDir()
	b, err := runMain(t, "-plan", "demo", "-np", "1", "-interpreters", "python3", "-assume-no-fuse",
		"-demo-script", script, "-out", out, "-ledger", t.TempDir())
	if err != nil {
		t.Fatalf("run: %v\n%s", err, b)
	}
	for _, want := range []string{"FUSE unavailable", "on local disk instead", "demo: np=1 ranks of demo/demo.py on local", "python3 (mpi4py)"} {
		if !strings.Contains(b, want) {
			t.Errorf("output lacks %q:\n%s", want, b)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "demo.png")); err != nil {
		t.Errorf("no plot: %v", err)
	}
}

// A runner killed by SIGKILL with slowfs mounts, a squashfuse mount, a
// daemon and a staged copy in place: the next start cleans all of it up.
func TestKilledRunnerIsCleanedUp(t *testing.T) {
	tinyPeers(t)
	ledgerDir, stage := t.TempDir(), t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RUN_TEST_HELPER=hold", "HELPER_LEDGER="+ledgerDir, "HELPER_STAGE="+stage)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ready helperState
	if err := json.NewDecoder(stdout).Decode(&ready); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %v\n%s", err, stderr.String())
	}
	cmd.Process.Kill()
	cmd.Wait()

	// Killed: its FUSE mounts are dead but still there, the daemon it
	// started on its own lives on, the staged copy holds memory.
	for _, m := range ready.Mounts {
		if !isMounted(m) && m != ready.Container {
			t.Errorf("%s not mounted after the kill: the test proves nothing", m)
		}
	}
	if !alive(ready.Daemon, 0) {
		t.Errorf("daemon %d gone after the kill: the test proves nothing", ready.Daemon)
	}
	if _, err := os.Stat(ready.Staged); err != nil {
		t.Errorf("staged copy gone after the kill: %v", err)
	}

	b, err := runMain(t, "-cleanup", "-ledger", ledgerDir)
	if err != nil {
		t.Fatalf("cleanup: %v\n%s", err, b)
	}
	if !strings.Contains(b, "is gone: cleaning up") {
		t.Errorf("cleanup said:\n%s", b)
	}
	for _, m := range append(ready.Mounts, ready.Container) {
		if isMounted(m) {
			t.Errorf("%s still mounted", m)
		}
	}
	// Neither daemon may be left, nor stuck in uninterruptible sleep on
	// a dead mount (alive counts zombies as gone: init reaps them).
	for _, pid := range []int{ready.Daemon, ready.Squashfuse} {
		for i := 0; i < 40 && alive(pid, 0); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid, 0) {
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			t.Errorf("process %d still running:\n%s", pid, st)
		}
	}
	for _, d := range []string{ready.Staged, ready.Tmp} {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s still there", d)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(ledgerDir, "*")); len(left) > 0 {
		t.Errorf("ledger left: %v", left)
	}
}

type helperState struct {
	Mounts    []string `json:"mounts"`
	Container string   `json:"container"`
	Staged    string   `json:"staged"`
	Tmp       string   `json:"tmp"`
	Daemon    int      `json:"daemon"`
	// Squashfuse is the container's daemon.
	Squashfuse int `json:"squashfuse"`
}

// holdResources is the killed runner: it sets up a slowfs environment
// with both peers the way run does, starts a stand-alone daemon, prints
// what it holds and waits to be killed.
func holdResources() int {
	ledgerDir, stage := os.Getenv("HELPER_LEDGER"), os.Getenv("HELPER_STAGE")
	l, err := newLedger(ledgerDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp, _ := os.MkdirTemp("", "pyhost-bench-")
	l.addDir(tmp)
	r := &runner{tmp: tmp, root: filepath.Join(tmp, "root"), viewLink: filepath.Join(tmp, "view"), stageDir: stage,
		ledger: l, log: os.Stderr, envTrees: []string{"usr/lib/python3.11/json"}}
	r.squashfuse, _ = exec.LookPath("squashfuse")
	r.mksquashfs, _ = exec.LookPath("mksquashfs")
	os.MkdirAll(filepath.Join(r.root, "app"), 0o755)
	ctx := context.Background()
	r.store, _ = r.buildStore(ctx)
	p, err := r.prepare(ctx, Env{Name: "slowfs-0ms", SlowFS: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c := r.mountContainer(ctx, p, filepath.Join(p.base, "store"))
	s := r.stage(ctx, p, filepath.Join(p.base, "store"))
	if c.err != nil || s.err != nil {
		fmt.Fprintln(os.Stderr, c.err, s.err)
		return 1
	}
	d := exec.Command("sleep", "600")
	d.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	l.addDaemon(0, "placeholder") // recorded before it starts, as run does
	if err := d.Start(); err != nil {
		return 1
	}
	l.dropDaemon(0)
	l.addDaemon(d.Process.Pid, "test daemon")
	st := helperState{Container: c.root, Staged: s.root, Tmp: tmp, Daemon: d.Process.Pid, Squashfuse: c.daemon}
	for _, m := range p.mounts {
		st.Mounts = append(st.Mounts, m.Dir())
	}
	json.NewEncoder(os.Stdout).Encode(st)
	select {}
}

func TestMain(m *testing.M) {
	if os.Getenv("RUN_TEST_HELPER") == "hold" {
		os.Exit(holdResources())
	}
	if os.Getenv("RUN_TEST_MAIN") == "1" {
		os.Args = append([]string{"run"}, strings.Fields(os.Getenv("RUN_TEST_ARGS"))...)
		os.Exit(run())
	}
	os.Exit(m.Run())
}

// -report rewrites the report of an earlier run without measuring.
func TestReportFromResults(t *testing.T) {
	dir := t.TempDir()
	res := Results{Plan: "medium", Args: []string{"-plan", "medium"}, Measurements: []Measurement{
		{Workload: "pass", Env: "local", Ranks: 2, Interpreter: "python3+mpi4py", WallSeconds: 2},
		{Workload: "pass", Env: "local", Ranks: 2, Interpreter: "pyhost-warm", WallSeconds: 3},
	}}
	b, _ := json.Marshal(res)
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	dir2 := t.TempDir()
	res2 := Results{Plan: "medium", Args: []string{"-stage", "2"}, Measurements: []Measurement{
		{Workload: "sci", Env: "slowfs-1ms", Ranks: 1, Interpreter: "python3+mpi4py", WallSeconds: 10},
		{Workload: "sci", Env: "slowfs-1ms", Ranks: 1, Interpreter: "pyhost-warm", WallSeconds: 4},
	}}
	b, _ = json.Marshal(res2)
	if err := os.WriteFile(filepath.Join(dir2, "results.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "B.md")
	out, err := runMain(t, "-report", dir+","+dir2, "-markdown", md)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(md)
	for _, want := range []string{"| np=2 | 2.000 | 1.50 |", "| np=1 | 10.000 | 0.40 |", "merged with the run of `go run ./bench/run -stage 2`"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

func TestStages(t *testing.T) {
	m := plans["medium"]
	if len(m.more) != 1 {
		t.Fatalf("medium has %d extra stages, want 1", len(m.more))
	}
	st, err := parseStage(m.more[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(st.envs) != 2 || st.envs[0].Name != "slowfs-1ms" || !st.envs[1].PerClient || len(st.ranks) != 3 || st.wls[0].Name != "sci" {
		t.Errorf("1 ms stage = %+v", st)
	}
	in := []Interpreter{{Name: "python3"}, {Name: "pyhost-warm"}, {Name: "container", Skip: "missing"}}
	got := active(st.filter(in))
	if len(got) != 1 || got[0].Name != "pyhost-warm" || in[0].Skip != "" {
		t.Errorf("filter = %+v (input changed: %+v)", got, in)
	}
	all, _ := parseStage(plan{workloads: "pass", np: "0", latency: "none", models: "queue"})
	if unionSelection([]stage{st, all}) != "" || unionSelection([]stage{st}) != "python3+mpi4py,container,staged,pyhost-cold,pyhost-warm" {
		t.Errorf("unionSelection wrong")
	}
	if _, err := parseStage(plan{workloads: "pass", np: "0", latency: "none", models: "queue", interpreters: "python4"}); err == nil {
		t.Error("unknown interpreter accepted")
	}
}
