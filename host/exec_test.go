package host_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pyhost/pyhost/host"
)

func TestExecEvalImportCall(t *testing.T) {
	do(t, func(py *host.Py) error {
		execSrc(t, py, "def greet(name, punct='!'):\n    return 'hello ' + name + punct\n")
		if got := eval(t, py, "greet('go')"); got != "hello go!" {
			t.Errorf("eval: %v", got)
		}
		greet, err := py.Eval("greet")
		if err != nil {
			return err
		}
		defer greet.Close()
		r, err := greet.Call("world")
		if err != nil {
			return err
		}
		if s, err := r.AsString(); s != "hello world!" || err != nil {
			t.Errorf("Call: %q, %v", s, err)
		}
		r.Close()
		r, err = greet.CallKw([]any{"kw"}, map[string]any{"punct": "?"})
		if err != nil {
			return err
		}
		if s, _ := r.AsString(); s != "hello kw?" {
			t.Errorf("CallKw: %q", s)
		}
		r.Close()

		json, err := py.Import("json")
		if err != nil {
			return err
		}
		defer json.Close()
		r, err = json.CallMethod("dumps", map[string]any{"b": []any{1, 2.5, nil, true}, "a": "x"})
		if err != nil {
			return err
		}
		defer r.Close()
		if s, _ := r.AsString(); s != `{"b": [1, 2.5, null, true], "a": "x"}` && s != `{"a": "x", "b": [1, 2.5, null, true]}` {
			t.Errorf("json.dumps: %s", s)
		}

		if err := json.SetAttr("host_test_attr", []int{1, 2}); err != nil {
			return err
		}
		a, err := json.Attr("host_test_attr")
		if err != nil {
			return err
		}
		defer a.Close()
		if got, err := host.As[[]int](a); err != nil || len(got) != 2 || got[1] != 2 {
			t.Errorf("SetAttr/Attr: %v, %v", got, err)
		}
		if a.TypeName() != "list" {
			t.Errorf("TypeName = %s", a.TypeName())
		}

		if _, err := json.Attr("no_such_attr"); host.ExceptionType(err) != "AttributeError" {
			t.Errorf("missing attribute: %v", err)
		}
		if _, err := py.Import("no_such_module_xyz"); host.ExceptionType(err) != "ModuleNotFoundError" {
			t.Errorf("missing module: %v", err)
		}
		if _, err := py.Import("bad\x00name"); err == nil {
			t.Errorf("a NUL in a module name is not an error")
		}
		if err := py.Exec("x = 1\x00"); err == nil {
			t.Errorf("a NUL in source is not an error")
		}
		if err := py.Exec("def ("); host.ExceptionType(err) != "SyntaxError" {
			t.Errorf("syntax error: %v", err)
		}
		mod, err := py.Import("gotest")
		if err != nil {
			return err
		}
		defer mod.Close()
		if err := py.ExecIn(mod, "INJECTED = 7", "<test>"); err != nil {
			return err
		}
		if got := eval(t, py, "__import__('gotest').INJECTED"); got != int64(7) {
			t.Errorf("ExecIn: %v", got)
		}
		return nil
	})
}

func TestExecFile(t *testing.T) {
	path, _ := filepath.Abs("testdata/script.py")
	do(t, func(py *host.Py) error {
		if err := py.ExecFile(path); err != nil {
			return err
		}
		if got := eval(t, py, "RESULT"); got != int64(45) {
			t.Errorf("RESULT = %v", got)
		}
		if got := eval(t, py, "SCRIPT_NAME"); got != "script.py" {
			t.Errorf("__file__ gave %v", got)
		}
		err := py.Exec("fail()")
		var e *host.Exception
		if !errors.As(err, &e) || e.Type != "LookupError" || !strings.Contains(e.Traceback, `script.py", line 9, in fail`) {
			t.Errorf("traceback does not name the script: %v\n%s", err, tracebackOf(err))
		}
		if err := py.ExecFile("testdata/no-such-file.py"); err == nil || host.ExceptionType(err) != "" {
			t.Errorf("missing file: %v", err)
		}
		return nil
	})
}

func tracebackOf(err error) string {
	var e *host.Exception
	if errors.As(err, &e) {
		return e.Traceback
	}
	return ""
}

// SystemExit and KeyboardInterrupt are errors like any other: the
// process goes on.
func TestSystemExitAndKeyboardInterrupt(t *testing.T) {
	cases := []struct {
		src, typ, msg string
	}{
		{"import sys; sys.exit(3)", "SystemExit", "3"},
		{"raise SystemExit('bye')", "SystemExit", "bye"},
		{"exit()", "SystemExit", "None"},
		{"raise KeyboardInterrupt", "KeyboardInterrupt", ""},
		{"import gotest; gotest.call(__import__('sys').exit, 5)", "SystemExit", "5"},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			do(t, func(py *host.Py) error {
				err := py.Exec(c.src)
				var e *host.Exception
				if !errors.As(err, &e) || e.Type != c.typ || e.Msg != c.msg {
					t.Fatalf("got %#v, want %s(%q)", err, c.typ, c.msg)
				}
				if !strings.Contains(e.Traceback, c.typ) {
					t.Errorf("traceback: %s", e.Traceback)
				}
				return nil
			})
		})
	}
	do(t, func(py *host.Py) error { // still running
		if got := eval(t, py, "'alive'"); got != "alive" {
			t.Errorf("got %v", got)
		}
		return nil
	})
}

func TestModuleFunctionsAreTheModules(t *testing.T) {
	// A Go module's functions are what a C module's are: bound to the
	// module, named by it, picklable by reference, each equal only to
	// itself, and each call (however CPython makes it, the specialising
	// interpreter's included) reaching its own Go function.
	do(t, func(py *host.Py) error {
		execSrc(t, py, `import gotest, pickle
f = gotest.add
checks = [repr(f) == '<built-in function add>', f.__self__ is gotest, f.__module__ == 'gotest',
          pickle.loads(pickle.dumps(f)) is f, f != gotest.echo, f == gotest.add,
          all(gotest.add(i, 1) == i + 1 and gotest.echo(i) == i and gotest.add(*(i, 2), **{}) == i + 2
              for i in range(200))]
`)
		if got := eval(t, py, "checks"); fmt.Sprint(got) != "[true true true true true true true]" {
			t.Errorf("checks = %v, want all true", got)
		}
		return nil
	})
}

func TestMoreModuleFunctionsThanThePool(t *testing.T) {
	// Past the pool every function still reaches its own Go function,
	// in calls the specialising interpreter takes over.
	do(t, func(py *host.Py) error {
		execSrc(t, py, `import gomany
fs = [getattr(gomany, 'f%d' % i) for i in range(300)]
many_ok = all(f() == i for _ in range(3) for i, f in enumerate(fs)) and len(set(fs)) == 300
pooled = sum(f.__self__ is gomany for f in fs)
`)
		if got := eval(t, py, "many_ok"); got != true {
			t.Errorf("a function past the pool called another")
		}
		if got := eval(t, py, "pooled"); got.(int64) <= 0 || got.(int64) >= 300 {
			t.Errorf("%v of 300 functions bound to their module: want some, not all (the pool has 256 entries)", got)
		}
		return nil
	})
}
