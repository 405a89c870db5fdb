package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The test binary doubles as the command (GEN_TEST_MAIN=1).
func TestMain(m *testing.M) {
	if os.Getenv("GEN_TEST_MAIN") == "1" {
		os.Args = append([]string{"gen"}, strings.Fields(os.Getenv("GEN_TEST_ARGS"))...)
		os.Exit(run())
	}
	os.Exit(m.Run())
}

func gen(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GEN_TEST_MAIN=1", "GEN_TEST_ARGS="+strings.Join(args, " "))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestForceOnlyReplacesGeneratedTrees(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	args := []string{"-o", dir, "-packages", "1", "-modules", "2", "-ext", "0", "-paths", "1", "-compile=false"}
	if out, err := gen(t, args...); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	if out, err := gen(t, args...); err == nil || !strings.Contains(out, "not empty") {
		t.Errorf("second gen without -force: %v\n%s", err, out)
	}
	if out, err := gen(t, append(args, "-force")...); err != nil {
		t.Errorf("gen -force over a generated tree: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "pythonpath")); err != nil || !strings.HasSuffix(strings.TrimSpace(string(b)), "/lib") {
		t.Errorf("pythonpath file: %q %v", b, err)
	}

	other := t.TempDir()
	keep := filepath.Join(other, "precious")
	os.WriteFile(keep, []byte("x"), 0o644)
	if out, err := gen(t, "-o", other, "-force", "-ext", "0"); err == nil || !strings.Contains(out, "not a tree written by gen") {
		t.Errorf("gen -force over a foreign dir: %v\n%s", err, out)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("foreign file removed: %v", err)
	}
}

func TestPynamicFlag(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed")
	}
	if _, err := os.Stat("/usr/bin/python3.11-config"); err != nil {
		t.Skip("python3.11-config not installed")
	}
	dir := filepath.Join(t.TempDir(), "pyn")
	out, err := gen(t, "-o", dir, "-pynamic", "3,2,1,1")
	if err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	if !strings.Contains(out, "3 extension modules") {
		t.Errorf("gen said %q", out)
	}
	b, err := exec.Command("/usr/bin/python3.11", filepath.Join(dir, "pynamic_driver.py")).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "BENCH_IMPORT") {
		t.Errorf("driver: %v\n%s", err, b)
	}
	if out, err := gen(t, "-o", t.TempDir(), "-pynamic", "x"); err == nil {
		t.Errorf("bad -pynamic accepted: %s", out)
	}
}
