package host_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pyhost/pyhost/host"
)

func TestExceptionFields(t *testing.T) {
	do(t, func(py *host.Py) error {
		err := py.Exec("def inner():\n    raise ValueError('bad input')\ndef outer():\n    inner()\nouter()\n")
		wrapped := fmt.Errorf("running: %w", err)
		var e *host.Exception
		if !errors.As(wrapped, &e) {
			t.Fatalf("errors.As failed on %v", wrapped)
		}
		if e.Type != "ValueError" || e.Msg != "bad input" || e.Error() != "python: ValueError: bad input" {
			t.Errorf("Type %q Msg %q Error %q", e.Type, e.Msg, e.Error())
		}
		for _, want := range []string{
			"Traceback (most recent call last):\n",
			`File "<string>", line 5, in <module>`,
			`File "<string>", line 4, in outer`,
			`File "<string>", line 2, in inner`,
			"ValueError: bad input\n",
		} {
			if !strings.Contains(e.Traceback, want) {
				t.Errorf("traceback lacks %q:\n%s", want, e.Traceback)
			}
		}
		if host.ExceptionType(wrapped) != "ValueError" || host.ExceptionType(errors.New("x")) != "" {
			t.Errorf("ExceptionType")
		}

		_, err = py.Eval("__import__('json').loads('{')")
		if host.ExceptionType(err) != "json.decoder.JSONDecodeError" {
			t.Errorf("qualified name: %v", host.ExceptionType(err))
		}
		return nil
	})
}

// Go errors and panics in Go functions become Python exceptions, and a
// Python exception passing through Go comes out as itself.
func TestGoErrorsInPython(t *testing.T) {
	cases := []struct {
		call, typ, msg string
	}{
		{"gotest.fail()", "RuntimeError", "gotest.fail(): boom"},
		{"gotest.raise_value()", "ValueError", "bad value 3"},
		{"gotest.panic()", "RuntimeError", "gotest.panic(): host: Go panic: kaboom"},
		{"gotest.add('a', 1)", "TypeError", "gotest.add(): argument 1: host: cannot convert Python str to Go int64"},
		{"gotest.add(2**70, 1)", "OverflowError", "gotest.add(): argument 1: host: cannot convert Python int to Go int64: out of range"},
		{"gotest.add(1)", "TypeError", "gotest.add(): missing positional argument 2 (got 1)"},
		{"gotest.unconvertible()", "TypeError", "gotest.unconvertible(): host: cannot convert Go chan int to Python"},
		{"gotest.call(lambda: 1/0)", "ZeroDivisionError", "division by zero"},
		{"gotest.call(gotest.raise_value)", "ValueError", "bad value 3"},
		{"gotest.echo(object())", "TypeError", "gotest.echo(): host: cannot convert Python object to Go value"},
	}
	for _, c := range cases {
		t.Run(c.call, func(t *testing.T) {
			do(t, func(py *host.Py) error {
				src := fmt.Sprintf("import gotest\ntry:\n    %s\nexcept BaseException as e:\n    caught = (type(e).__name__, str(e))\nelse:\n    caught = None\n", c.call)
				execSrc(t, py, src)
				got := fmt.Sprint(eval(t, py, "caught"))
				if want := fmt.Sprint([]any{c.typ, c.msg}); got != want {
					t.Errorf("caught %s, want %s", got, want)
				}
				return nil
			})
		})
	}
	// The original exception object travels through Go: same identity.
	do(t, func(py *host.Py) error {
		execSrc(t, py, "import gotest\nboom = KeyError('k')\ndef raiser():\n    raise boom\ntry:\n    gotest.call(raiser)\nexcept KeyError as e:\n    same = e is boom\n")
		if eval(t, py, "same") != true {
			t.Errorf("the exception re-raised through Go is another object")
		}
		return nil
	})
}

// An Exception keeps the exception object (without its traceback) until
// Close; afterwards it is text only, and re-raising it raises a
// RuntimeError with that text.
func TestExceptionObjectAndClose(t *testing.T) {
	do(t, func(py *host.Py) error {
		_, err := py.Eval("{}['missing']")
		var e *host.Exception
		if !errors.As(err, &e) {
			t.Fatalf("not an Exception: %v", err)
		}
		o, err := e.Object()
		if err != nil {
			return err
		}
		tb, _ := o.Attr("__traceback__")
		args, _ := o.Attr("args")
		if !tb.IsNone() || args.Repr() != "('missing',)" {
			t.Errorf("exception object: traceback %v, args %v", tb, args)
		}
		tb.Close()
		args.Close()
		o.Close()
		e.Close()
		e.Close()
		if _, err := e.Object(); !errors.Is(err, host.ErrNilObject) {
			t.Errorf("Object after Close: %v", err)
		}
		if e.Type != "KeyError" || !strings.Contains(e.Traceback, "KeyError: 'missing'") {
			t.Errorf("text lost on Close: %q %q", e.Type, e.Traceback)
		}
		f, _ := py.NewFunc("t", host.Func{Name: "reraise", Fn: func(*host.Py, host.Args) (any, error) { return nil, e }})
		defer f.Close()
		_, err = f.Call()
		if host.ExceptionType(err) != "RuntimeError" || !strings.Contains(err.Error(), "KeyError: 'missing'") {
			t.Errorf("re-raising a closed Exception: %v", err)
		}
		return nil
	})
	if n := settle(t); n != 0 {
		t.Errorf("LiveObjects = %d", n)
	}
}
