package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the command: re-executed with
// SLOWFS_TEST_MAIN=1 it runs main with the remaining arguments.
func TestMain(m *testing.M) {
	if os.Getenv("SLOWFS_TEST_MAIN") == "1" {
		os.Args = append([]string{"slowfs"}, strings.Fields(os.Getenv("SLOWFS_TEST_ARGS"))...)
		os.Exit(run())
	}
	os.Exit(m.Run())
}

func command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SLOWFS_TEST_MAIN=1", "SLOWFS_TEST_ARGS="+strings.Join(args, " "))
	return cmd
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestBadInputExitStatus(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "f")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", nil, 2, "usage"},
		{"missing source", []string{"-src", filepath.Join(tmp, "nope"), "-mnt", tmp}, 1, "source"},
		{"mount point not a dir", []string{"-src", tmp, "-mnt", file}, 1, "not a directory"},
		{"negative latency", []string{"-src", tmp, "-mnt", tmp, "-latency", "-1ms"}, 2, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := command(tc.args...)
			cmd.Stderr = &stderr
			err := cmd.Run()
			if got := exitCode(err); got != tc.code {
				t.Errorf("exit status %d, want %d; stderr: %s", got, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tc.want)
			}
		})
	}
}

// SIGUSR1 dumps stats while mounted; SIGINT unmounts and writes them.
func TestSignals(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("FUSE unavailable: %v", err)
	}
	src, mnt := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "x.py"), []byte("x = 1\n"), 0o644)
	statsPath := filepath.Join(t.TempDir(), "stats.json")

	var stderr bytes.Buffer
	cmd := command("-src", src, "-mnt", mnt, "-latency", "100us", "-stats", statsPath)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	target := filepath.Join(mnt, "x.py")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(target); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
			if strings.Contains(stderr.String(), "FUSE unavailable") {
				t.Skipf("FUSE unavailable: %s", stderr.String())
			}
			t.Fatalf("mount never appeared; stderr: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; i < 5; i++ {
		os.Stat(target)
	}

	readStats := func() map[string]any {
		t.Helper()
		var s map[string]any
		b, err := os.ReadFile(statsPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("stats file: %v: %s", err, b)
		}
		return s
	}
	before, _ := os.ReadFile(statsPath)
	cmd.Process.Signal(syscall.SIGUSR1)
	for time.Now().Before(deadline) {
		if now, _ := os.ReadFile(statsPath); !bytes.Equal(now, before) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m, _ := readStats()["metadata"].(float64); m < 5 {
		t.Errorf("SIGUSR1 stats: metadata = %v, want >= 5", m)
	}

	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("slowfs after SIGINT: %v; stderr: %s", err, stderr.String())
	}
	if _, err := os.Stat(target); err == nil {
		t.Errorf("%s still visible after SIGINT: not unmounted", target)
	}
	reqs, _ := readStats()["requests"].(map[string]any)
	if reqs["LOOKUP"] == nil {
		t.Errorf("final stats have no LOOKUP: %v", reqs)
	}
}
