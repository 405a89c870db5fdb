package host_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pyhost/pyhost/host"
)

func TestItemsLenTruth(t *testing.T) {
	do(t, func(py *host.Py) error {
		d, err := py.Eval("{'a': 1, 'b': [2, 3]}")
		if err != nil {
			return err
		}
		defer d.Close()
		v, err := d.GetItem("b")
		if err != nil {
			return err
		}
		if n, err := v.Len(); n != 2 || err != nil {
			t.Errorf("Len = %d, %v", n, err)
		}
		e, err := v.GetItem(-1)
		if err != nil {
			return err
		}
		if n, _ := e.AsInt(); n != 3 {
			t.Errorf("b[-1] = %v", e)
		}
		e.Close()
		v.Close()
		if err := d.SetItem("c", []int{4}); err != nil {
			return err
		}
		if err := d.SetItem(d, 1); host.ExceptionType(err) != "TypeError" {
			t.Errorf("unhashable key: %v", err)
		}
		if _, err := d.GetItem("zz"); host.ExceptionType(err) != "KeyError" {
			t.Errorf("missing key: %v", err)
		}
		if err := d.DelItem("a"); err != nil {
			return err
		}
		if got := d.Repr(); got != "{'b': [2, 3], 'c': [4]}" {
			t.Errorf("Repr = %s", got)
		}
		var keys []string
		for it, err := range d.Items() {
			if err != nil {
				return err
			}
			k, _ := it.Key.AsString()
			keys = append(keys, k+"="+it.Value.Repr())
		}
		if strings.Join(keys, " ") != "b=[2, 3] c=[4]" {
			t.Errorf("Items: %v", keys)
		}
		var sum int64
		r, _ := py.Eval("range(5)")
		defer r.Close()
		for it, err := range r.Iter() {
			if err != nil {
				return err
			}
			n, _ := it.AsInt()
			sum += n
			if n == 3 {
				break
			}
		}
		if sum != 6 {
			t.Errorf("sum over Iter with break = %d", sum)
		}
		seven, _ := py.FromGo(7)
		defer seven.Close()
		for _, err := range seven.Iter() {
			if host.ExceptionType(err) != "TypeError" {
				t.Errorf("Iter of an int: %v", err)
			}
		}
		gen, _ := py.Eval("(1 // (2 - i) for i in range(3))")
		defer gen.Close()
		var got []string
		for it, err := range gen.Iter() {
			if err != nil {
				got = append(got, host.ExceptionType(err))
				continue
			}
			got = append(got, it.Repr())
		}
		if strings.Join(got, " ") != "0 1 ZeroDivisionError" {
			t.Errorf("Iter of a failing generator: %v", got)
		}
		for expr, want := range map[string]bool{"[]": false, "[0]": true, "0.0": false, "'x'": true, "None": false} {
			o, _ := py.Eval(expr)
			if b, err := o.Truth(); b != want || err != nil {
				t.Errorf("Truth(%s) = %v, %v", expr, b, err)
			}
			o.Close()
		}
		bad, _ := py.Eval("type('Bad', (), {'__bool__': lambda s: 1/0})()")
		defer bad.Close()
		if _, err := bad.Truth(); host.ExceptionType(err) != "ZeroDivisionError" {
			t.Errorf("Truth raising: %v", err)
		}
		intCls, _ := py.Eval("(int, float)")
		defer intCls.Close()
		if ok, err := seven.IsInstance(intCls); !ok || err != nil {
			t.Errorf("IsInstance = %v, %v", ok, err)
		}
		if ok, _ := d.IsInstance(intCls); ok {
			t.Errorf("a dict is an int")
		}
		if _, err := d.IsInstance(seven); host.ExceptionType(err) != "TypeError" {
			t.Errorf("IsInstance with a non-class: %v", err)
		}
		return nil
	})
	if n := settle(t); n != 0 {
		t.Errorf("LiveObjects = %d", n)
	}
}

func TestEvalExecIn(t *testing.T) {
	do(t, func(py *host.Py) error {
		g, err := py.FromGo(map[string]any{"x": 20})
		if err != nil {
			return err
		}
		defer g.Close()
		if err := py.ExecIn(g, "y = x + 1\ndef f():\n    return y * 2\n", "config.py"); err != nil {
			return err
		}
		r, err := py.EvalIn(g, "f()", "<expr>")
		if err != nil {
			return err
		}
		if n, _ := r.AsInt(); n != 42 {
			t.Errorf("f() = %v", r)
		}
		r.Close()
		err = py.ExecIn(g, "\n\nraise ValueError('in config')", "config.py")
		var e *host.Exception
		if !errors.As(err, &e) || !strings.Contains(e.Traceback, `File "config.py", line 3`) {
			t.Errorf("traceback does not name the file: %v", err)
		}
		// __main__ is untouched.
		if v := eval(t, py, "'y' in globals()"); v != false {
			t.Errorf("ExecIn wrote to __main__")
		}
		seven, _ := py.FromGo(7)
		defer seven.Close()
		if _, err := py.EvalIn(seven, "1", "<x>"); err == nil {
			t.Error("EvalIn with an int for globals")
		}
		return nil
	})
	if n := settle(t); n != 0 {
		t.Errorf("LiveObjects = %d", n)
	}
}

func TestRaiseNames(t *testing.T) {
	do(t, func(py *host.Py) error {
		execSrc(t, py, `import gotest
def catch(f):
    try:
        f()
    except BaseException as e:
        return (type(e).__module__ + '.' + type(e).__qualname__, str(e))
`)
		for call, want := range map[string]string{
			"gotest.raise_unknown":   `[builtins.TypeError gotest.raise_unknown(): host.Raise: no builtin exception class "NoSuchError" (raising "x")]`,
			"gotest.raise_custom":    "[gotest.NotFound 'missing k']",
			"gotest.raise_qualified": "[http.client.HTTPException bad gateway]",
		} {
			if got := fmt.Sprint(eval(t, py, "catch("+call+")")); got != want {
				t.Errorf("%s raised %s, want %s", call, got, want)
			}
		}
		if v := eval(t, py, "issubclass(gotest.Gone, gotest.NotFound) and issubclass(gotest.NotFound, KeyError) and gotest.NotFound.__doc__"); v != "Not found, in Go." {
			t.Errorf("declared exception classes: %v", v)
		}
		// A class made at run time, raised by a closure.
		cls, err := py.NewExceptionClass("app.Quota", "Over quota.", nil)
		if err != nil {
			return err
		}
		defer cls.Close()
		f, err := py.NewFunc("app", host.Func{Name: "charge", Fn: func(py *host.Py, a host.Args) (any, error) {
			return nil, host.RaiseClass(cls, "over by %d", 3)
		}})
		if err != nil {
			return err
		}
		defer f.Close()
		catch, _ := py.Eval("catch")
		defer catch.Close()
		r, err := catch.Call(f)
		if err != nil {
			return err
		}
		defer r.Close()
		if got := fmt.Sprint(must(r.ToGo())); got != "[app.Quota over by 3]" {
			t.Errorf("RaiseClass: %s", got)
		}
		return nil
	})
}

func must(v any, err error) any {
	if err != nil {
		return err
	}
	return v
}

// A Go error raised into Python and caught back in Go is itself again.
func TestGoErrorIdentity(t *testing.T) {
	do(t, func(py *host.Py) error {
		_, err := py.Eval("__import__('gotest').fail_sentinel()")
		if !errors.Is(err, errSentinel) || host.ExceptionType(err) != "RuntimeError" {
			t.Errorf("errors.Is(%v, errSentinel) false", err)
		}
		// Through Python code that lets it pass, and a second Go hop.
		execSrc(t, py, "import gotest\ndef relay():\n    try:\n        gotest.fail_typed()\n    finally:\n        pass\n")
		_, err = py.Eval("gotest.call(relay)")
		var ce *codeError
		if !errors.As(err, &ce) || ce.Code != 7 {
			t.Errorf("errors.As(%v, *codeError) = %v", err, ce)
		}
		_, err = py.Eval("1/0")
		if errors.Unwrap(err) != nil {
			t.Errorf("a Python exception unwraps to %v", errors.Unwrap(err))
		}
		return nil
	})
	if n := settle(t); n != 0 {
		t.Errorf("LiveObjects = %d", n)
	}
	do(t, func(py *host.Py) error { return py.Exec("import gc; gc.collect()") })
	if n := host.AttachedValues(); n != 0 {
		t.Errorf("%d Go errors still attached to exceptions", n)
	}
}

func TestSignature(t *testing.T) {
	do(t, func(py *host.Py) error {
		execSrc(t, py, `import gotest, inspect
def catch(src):
    try:
        return eval(src)
    except TypeError as e:
        return str(e)
`)
		for src, want := range map[string]any{
			"gotest.scaled(3)":                      6.0,
			"gotest.scaled(3, 10)":                  30.0,
			"gotest.scaled(3, factor=10, offset=1)": 31.0,
			"gotest.scaled(3, 1, 2)":                "gotest.scaled() takes 2 positional arguments but 3 were given",
			"gotest.scaled(3, scale=1)":             "gotest.scaled() got an unexpected keyword argument 'scale'",
			"gotest.scaled(x=3)":                    "gotest.scaled() got an unexpected keyword argument 'x'",
			"gotest.scaled()":                       "gotest.scaled() missing 1 required argument: 'x'",
			"gotest.scaled(3, 4, factor=5)":         "gotest.scaled() got multiple values for argument 'factor'",
			"gotest.scaled(3, factor='a')":          "gotest.scaled(): argument 'factor': host: cannot convert Python str to Go float64",
			"str(inspect.signature(gotest.scaled))": "(x, /, factor=2, *, offset=0)",
			"gotest.scaled.__doc__":                 "x * factor + offset",
		} {
			if got := eval(t, py, "catch("+fmt.Sprintf("%q", src)+")"); got != want {
				t.Errorf("%s = %v, want %v", src, got, want)
			}
		}
		return nil
	})
}

// A Go closure handed to Python is callable as long as Python holds it,
// and forgotten afterwards.
func TestClosures(t *testing.T) {
	before := host.LiveClosures()
	do(t, func(py *host.Py) error {
		total := 0
		f, err := py.NewFunc("app", host.Func{Name: "add", Sig: "(n)", Fn: func(py *host.Py, a host.Args) (any, error) {
			n, err := host.Param(a, "n", 0)
			total += n
			return total, err
		}})
		if err != nil {
			return err
		}
		main, _ := py.Import("__main__")
		defer main.Close()
		main.SetAttr("add", f)
		f.Close()
		if v := eval(t, py, "[add(1), add(n=2), add.__name__, add.__module__, str(__import__('inspect').signature(add))]"); fmt.Sprint(v) != "[1 3 add app (n)]" {
			t.Errorf("closure: %v", v)
		}
		if total != 3 {
			t.Errorf("total %d", total)
		}
		if _, err := py.NewFunc("app", host.Func{Name: "bad name", Fn: func(*host.Py, host.Args) (any, error) { return nil, nil }}); err == nil {
			t.Error("NewFunc with a bad name")
		}
		if _, err := py.NewFunc("app", host.Func{Name: "x", Sig: "(a, a)", Fn: func(*host.Py, host.Args) (any, error) { return nil, nil }}); err == nil {
			t.Error("NewFunc with a bad signature")
		}
		execSrc(t, py, "del add")
		return nil
	})
	if n := host.LiveClosures(); n != before {
		t.Errorf("%d closures live after Python dropped them, want %d", n, before)
	}
	if n := settle(t); n != 0 {
		t.Errorf("LiveObjects = %d", n)
	}
}
