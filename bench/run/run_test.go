package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	for d, want := range map[time.Duration]string{200 * time.Microsecond: "0.2ms", time.Millisecond: "1ms", 2 * time.Millisecond: "2ms"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSummaryRatios(t *testing.T) {
	res := &Results{
		Interpreters: []Interpreter{{Name: "python3"}, {Name: "pyhost"}, {Name: "pyhost-off", Skip: "missing"}},
		Measurements: []Measurement{
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 4, Interpreter: "python3", WallSeconds: 10, Metadata: 1000, Requests: map[string]uint64{}},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 4, Interpreter: "python3", WallSeconds: 12, Metadata: 1000, Requests: map[string]uint64{}},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 4, Interpreter: "python3", WallSeconds: 30, Metadata: 1000, Requests: map[string]uint64{}},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 4, Interpreter: "pyhost", WallSeconds: 3, Metadata: 250, Requests: map[string]uint64{}},
			{Workload: "sci", Env: "slowfs-1ms", Ranks: 4, Interpreter: "pyhost", Error: "boom"},
		},
	}
	res.summarize(res.Interpreters)
	if len(res.Summary) != 1 {
		t.Fatalf("%d cells, want 1", len(res.Summary))
	}
	py, ph := res.Summary[0].By["python3"], res.Summary[0].By["pyhost"]
	if py.WallSeconds != 12 || py.MinWall != 10 || ph.WallRatio != 0.25 || ph.MetadataRatio != 0.25 || ph.Failed != 1 {
		t.Errorf("python3 %+v, pyhost %+v", py, ph)
	}
	table := res.table()
	for _, want := range []string{"pyhost time", "0.25", "12.000", "failures:", "boom"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "pyhost-off time") {
		t.Errorf("table shows a skipped interpreter:\n%s", table)
	}
	plots, err := res.plot(t.TempDir())
	if err != nil || len(plots) != 2 {
		t.Errorf("plot: %v, %v; want time and requests plots", plots, err)
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

func TestMain(m *testing.M) {
	if os.Getenv("RUN_TEST_MAIN") == "1" {
		os.Args = append([]string{"run"}, strings.Fields(os.Getenv("RUN_TEST_ARGS"))...)
		os.Exit(run())
	}
	os.Exit(m.Run())
}
