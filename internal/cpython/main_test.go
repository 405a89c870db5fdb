package cpython_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/pyhost/pyhost/internal/cpython"
)

const (
	childEnv    = "CPYTHON_TEST_CHILD"
	mainArgsEnv = "CPYTHON_TEST_MAIN_ARGS"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "main" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// rawModule is a module made with the raw API, as the pyhost command's
// are: rawtest.twice(s) -> s+s, rawtest.fail() raises ValueError,
// rawtest.setup() says what Setup saw.
var setupSaw string

var rawModule = &cpython.Module{
	Name: "rawtest",
	Doc:  "cpython's test module.",
	Funcs: []cpython.Func{
		{Name: "twice", Call: func(a cpython.Args) cpython.Owned {
			if len(a.Pos) != 1 || !a.Pos[0].IsStr() {
				return cpython.SetError("TypeError", "twice(s): s must be str")
			}
			s, ok := a.Pos[0].GoString()
			if !ok {
				return cpython.Owned{}
			}
			return cpython.NewStr(s + s)
		}},
		{Name: "fail", Call: func(a cpython.Args) cpython.Owned { return cpython.SetError("ValueError", "raw failure") }},
		{Name: "panic", Call: cpython.Recover(func(a cpython.Args) cpython.Owned { panic("raw panic") })},
		{Name: "setup", Call: func(a cpython.Args) cpython.Owned { return cpython.NewStr(setupSaw) }},
		// A call whose second argument's constructor failed (out of
		// memory): no call, that exception, the first argument released.
		{Name: "callnull", Call: func(a cpython.Args) cpython.Owned {
			builtins := cpython.Import("builtins")
			if builtins.IsNull() {
				return builtins
			}
			defer builtins.Decref()
			max := builtins.Attr("max")
			if max.IsNull() {
				return max
			}
			defer max.Decref()
			return max.CallSteal([]cpython.Owned{cpython.NewStr("ab"), cpython.SetError("MemoryError", "no memory for the argument")})
		}},
	},
}

// childMain runs cpython.Main as the pyhost command does, with the
// command line in mainArgsEnv, and exits as Main says.
func childMain() int {
	runtime.LockOSThread()
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(mainArgsEnv)), &args); err != nil {
		fmt.Fprintln(os.Stderr, "bad args:", err)
		return 2
	}
	cpython.Exit(cpython.Main(cpython.MainOptions{
		Args:    append([]string{"python3"}, args...),
		Modules: []*cpython.Module{rawModule},
		Setup: func() error {
			// Between the phases: the configuration is readable, sys.path
			// does not exist yet.
			xopts, err := cpython.XOptions()
			if err != nil {
				return err
			}
			cfg, err := cpython.ReadConfig()
			if err != nil {
				return err
			}
			if len(xopts) > 0 && xopts[0] == "fail_setup" {
				return errors.New("setup refused")
			}
			setupSaw = fmt.Sprintf("xopts=%v site=%v syspath=%v", xopts, cfg.SiteImport, !cpython.SysPath().IsNull())
			return nil
		},
	}))
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
		// The raw module API and Setup.
		{args: []string{"-X", "a=1", "-c", "import rawtest; print(rawtest.twice('ab'), rawtest.setup())"}, stdout: "abab xopts=[a=1] site=true syspath=false"},
		{args: []string{"-c", "import rawtest; rawtest.fail()"}, status: 1, stderr: "ValueError: raw failure"},
		{args: []string{"-c", "import rawtest; rawtest.twice(1)"}, status: 1, stderr: "TypeError: twice(s): s must be str"},
		{args: []string{"-c", "import rawtest\ntry:\n rawtest.panic()\nexcept RuntimeError as e: print('caught', e)"}, stdout: "caught Go panic: raw panic"},
		{args: []string{"-c", "import rawtest\ntry:\n rawtest.callnull()\nexcept MemoryError as e: print('caught', e)"}, stdout: "caught no memory for the argument"},
		{args: []string{"-X", "fail_setup", "-c", "pass"}, status: 1, stderr: "pyhost: setup: setup refused"},
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

// Without the GIL (no interpreter here), the configuration reads say so
// instead of crashing.
func TestNoGILErrors(t *testing.T) {
	if _, err := cpython.ReadConfig(); !errors.Is(err, cpython.ErrNotRunning) {
		t.Errorf("ReadConfig without Python: %v, want ErrNotRunning", err)
	}
	if _, err := cpython.XOptions(); !errors.Is(err, cpython.ErrNotRunning) {
		t.Errorf("XOptions without Python: %v, want ErrNotRunning", err)
	}
	if err := cpython.WithGIL(func() error { return nil }); !errors.Is(err, cpython.ErrNotRunning) {
		t.Errorf("WithGIL without Python: %v, want ErrNotRunning", err)
	}
}
