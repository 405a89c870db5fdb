package host_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/pyhost/pyhost/host"
)

const mainArgsEnv = "HOST_TEST_MAIN_ARGS"

// childMain runs host.Main as the pyhost command does, with the command
// line in mainArgsEnv, and exits as Main says.
func childMain() int {
	runtime.LockOSThread()
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(mainArgsEnv)), &args); err != nil {
		fmt.Fprintln(os.Stderr, "bad args:", err)
		return 2
	}
	host.Exit(host.Main(host.Options{Args: append([]string{"python3"}, args...)}))
	return 0
}

// childStartError starts an interpreter that cannot find its standard
// library and prints the error Start returns.
func childStartError() int {
	_, err := host.Start(host.Options{Args: []string{"python3"}})
	var se *host.StartError
	fmt.Println("start error:", errors.As(err, &se), err != nil)
	return 0
}

// Main gives python3's exit statuses and messages: CPython parses the
// command line and ends the process itself where python3 does.
func TestMainExitStatus(t *testing.T) {
	tests := []struct {
		args   []string
		status int
		stderr string
		stdout string
	}{
		{args: []string{"-c", "pass"}, status: 0},
		{args: []string{"-c", "raise SystemExit(3)"}, status: 3},
		{args: []string{"-c", "import sys; sys.exit('bye')"}, status: 1, stderr: "bye"},
		{args: []string{"-c", "1/0"}, status: 1, stderr: "ZeroDivisionError: division by zero"},
		{args: []string{"-c", "import os; os._exit(7)"}, status: 7},
		{args: []string{"--version"}, status: 0, stdout: "Python 3.11"},
		{args: []string{"-Z"}, status: 2, stderr: "Unknown option: -Z"},
		{args: []string{"no-such-script.py"}, status: 2, stderr: "can't open file"},
		{args: []string{"-X", "int_max_str_digits=abc", "-c", "pass"}, status: 1, stderr: "int_max_str_digits"},
		{args: []string{"-m", "no_such_module_x"}, status: 1, stderr: "No module named no_such_module_x"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			a, _ := json.Marshal(tt.args)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=main", mainArgsEnv+"="+string(a))
			var out, errb strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			status := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tt.status {
				t.Errorf("status %d, want %d; stderr:\n%s", status, tt.status, errb.String())
			}
			if !strings.Contains(errb.String(), tt.stderr) || !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout %q stderr %q, want them to contain %q and %q", out.String(), errb.String(), tt.stdout, tt.stderr)
			}
		})
	}
}

func TestStartErrorIsReported(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=start-error", "PYTHONHOME=/nonexistent-python-home")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "start error: true true") {
		t.Errorf("child printed %q; want a *host.StartError from Start", out)
	}
}
