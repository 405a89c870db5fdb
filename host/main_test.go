package host_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/pyhost/pyhost/host"
)

// interp is the one interpreter of the test process, shared by every
// test and example: CPython cannot be started twice in a process.
var interp *host.Interpreter

// release is what gotest.wait blocks on (with the GIL released); it
// sends on waiting once it has given up the GIL.
var (
	release = make(chan struct{})
	waiting = make(chan struct{}, 1)
)

// testModule is importable as gotest from the tests' Python code.
var testModule = &host.Module{
	Name:   "gotest",
	Doc:    "Go functions for host's tests.",
	Errors: []host.ErrorClass{{Name: "NotFound", Base: "KeyError", Doc: "Not found, in Go."}, {Name: "Gone", Base: "NotFound"}},
	Funcs: []host.Func{
		{Name: "scaled", Doc: "x * factor + offset", Sig: "(x, /, factor=2, *, offset=0)", Fn: func(py *host.Py, a host.Args) (any, error) {
			x, err := host.Arg[float64](a, 0)
			if err != nil {
				return nil, err
			}
			f, err := host.Param(a, "factor", 2.0)
			if err != nil {
				return nil, err
			}
			off, err := host.Param(a, "offset", 0.0)
			if err != nil {
				return nil, err
			}
			return x*f + off, nil
		}},
		{Name: "fail_sentinel", Fn: func(py *host.Py, a host.Args) (any, error) { return nil, fmt.Errorf("wrapped: %w", errSentinel) }},
		{Name: "fail_typed", Fn: func(py *host.Py, a host.Args) (any, error) { return nil, &codeError{Code: 7} }},
		{Name: "raise_unknown", Fn: func(py *host.Py, a host.Args) (any, error) { return nil, host.Raise("NoSuchError", "x") }},
		{Name: "raise_custom", Fn: func(py *host.Py, a host.Args) (any, error) {
			return nil, host.Raise("gotest.NotFound", "missing %s", "k")
		}},
		{Name: "raise_qualified", Fn: func(py *host.Py, a host.Args) (any, error) {
			return nil, host.Raise("http.client.HTTPException", "bad gateway")
		}},
		{Name: "nop", Fn: func(py *host.Py, a host.Args) (any, error) { return nil, nil }},
		{Name: "add", Doc: "add(a, b) -> int", Fn: func(py *host.Py, a host.Args) (any, error) {
			x, err := host.Arg[int64](a, 0)
			if err != nil {
				return nil, err
			}
			y, err := host.Arg[int64](a, 1)
			if err != nil {
				return nil, err
			}
			return x + y, nil
		}},
		{Name: "echo", Fn: func(py *host.Py, a host.Args) (any, error) { return a.Value(0) }},
		{Name: "hold", Doc: "hold(x): takes and releases a reference", Fn: func(py *host.Py, a host.Args) (any, error) {
			o, err := a.Object(0)
			if err != nil {
				return nil, err
			}
			defer o.Close()
			return o.ToGo()
		}},
		{Name: "kw", Fn: func(py *host.Py, a host.Args) (any, error) {
			o := a.Kw("name")
			if o == nil {
				return a.KwNames(), nil
			}
			defer o.Close()
			return o.AsString()
		}},
		{Name: "fail", Fn: func(py *host.Py, a host.Args) (any, error) { return nil, errors.New("boom") }},
		{Name: "raise_value", Fn: func(py *host.Py, a host.Args) (any, error) { return nil, host.Raise("ValueError", "bad value %d", 3) }},
		{Name: "panic", Fn: func(py *host.Py, a host.Args) (any, error) { panic("kaboom") }},
		{Name: "unconvertible", Fn: func(py *host.Py, a host.Args) (any, error) { return make(chan int), nil }},
		{Name: "call", Doc: "call(f, *args): f(*args) through Go", Fn: func(py *host.Py, a host.Args) (any, error) {
			f, err := a.Object(0)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			var args []any
			for i := 1; i < a.Len(); i++ {
				v, err := a.Object(i)
				if err != nil {
					return nil, err
				}
				defer v.Close()
				args = append(args, v)
			}
			r, err := f.Call(args...)
			if err != nil {
				return nil, err // re-raises the original exception
			}
			defer r.Close()
			return r.ToGo()
		}},
		{Name: "nested_do", Doc: "nested_do(expr): evaluates expr in a Do nested in this call", Fn: func(py *host.Py, a host.Args) (any, error) {
			expr, err := a.String(0)
			if err != nil {
				return nil, err
			}
			var v any
			err = interp.Do(func(py *host.Py) error {
				o, err := py.Eval(expr)
				if err != nil {
					return err
				}
				defer o.Close()
				v, err = o.ToGo()
				return err
			})
			return v, err
		}},
		{Name: "wait", Doc: "wait(): blocks, without the GIL, until the test releases it", Fn: func(py *host.Py, a host.Args) (any, error) {
			py.AllowThreads(func() {
				waiting <- struct{}{}
				<-release
			})
			return "released", nil
		}},
		{Name: "sleep", Doc: "sleep(ms): sleeps in Go, without the GIL", Fn: func(py *host.Py, a host.Args) (any, error) {
			ms, err := a.Int(0)
			if err != nil {
				return nil, err
			}
			py.AllowThreads(func() { time.Sleep(time.Duration(ms) * time.Millisecond) })
			return nil, nil
		}},
	},
}

// errSentinel and codeError are Go errors that must come back from
// Python as themselves.
var errSentinel = errors.New("sentinel")

type codeError struct{ Code int }

func (e *codeError) Error() string { return fmt.Sprintf("code %d", e.Code) }

func TestMain(m *testing.M) {
	if scenario := os.Getenv(childEnv); scenario != "" {
		os.Exit(runChild(scenario))
	}
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	interp, err = host.Start(host.Options{
		Isolated: true,
		Args:     []string{"hosttest", "arg1"},
		Paths:    []string{testdata},
		Modules:  []*host.Module{testModule, mathModule, manyModule()},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := interp.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		code = 1
	}
	os.Exit(code)
}

// do runs fn in a Do and fails the test on its error.
func do(t testing.TB, fn func(py *host.Py) error) {
	t.Helper()
	if err := interp.Do(fn); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates expr in __main__ and converts it as ToGo does.
func eval(t testing.TB, py *host.Py, expr string) any {
	t.Helper()
	o, err := py.Eval(expr)
	if err != nil {
		t.Fatalf("eval %s: %v", expr, err)
	}
	defer o.Close()
	v, err := o.ToGo()
	if err != nil {
		t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

func execSrc(t testing.TB, py *host.Py, src string) {
	t.Helper()
	if err := py.Exec(src); err != nil {
		t.Fatalf("exec %q: %v", src, err)
	}
}

// settle collects garbage until the finalizers of dropped Objects have
// queued their references and a Do has released them, or a second
// passes; it returns LiveObjects then.
func settle(t testing.TB) int64 {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		runtime.GC()
		do(t, func(py *host.Py) error { return nil }) // drains the queue
		if n := host.LiveObjects(); n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runtimeGC() {
	runtime.GC()
	time.Sleep(time.Millisecond) // finalizers run on their own goroutine
}

// manyModule is importable as gomany: f0 ... f299, each returning its
// number, more functions than cpython's pool of C entries has (256), so
// that some are made the other way.
func manyModule() *host.Module {
	m := &host.Module{Name: "gomany", Doc: "More functions than the pool of C entries."}
	for i := range 300 {
		m.Funcs = append(m.Funcs, host.Func{Name: fmt.Sprintf("f%d", i), Fn: func(py *host.Py, a host.Args) (any, error) { return i, nil }})
	}
	return m
}
