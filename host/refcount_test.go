package host_test

import (
	"testing"

	"github.com/pyhost/pyhost/host"
)

// Every conversion and call leaves the reference counts of the objects
// it touched as it found them.
func TestRefcounts(t *testing.T) {
	do(t, func(py *host.Py) error {
		execSrc(t, py, `
import sys, gotest
x = [1, 'two', 3.0]
s = 'a string that is not interned ' + str(id(x))
def f(*args, **kwargs):
    return args[0] if args else None
def boom(v):
    raise ValueError(v)
`)
		return nil
	})
	refcount := func(py *host.Py, name string) int64 {
		return eval(t, py, "sys.getrefcount("+name+")").(int64)
	}
	ops := []struct {
		name string
		op   func(py *host.Py) error
	}{
		{"Eval and Close", func(py *host.Py) error {
			o, err := py.Eval("x")
			o.Close()
			return err
		}},
		{"ToGo", func(py *host.Py) error {
			o, _ := py.Eval("x")
			defer o.Close()
			_, err := o.ToGo()
			return err
		}},
		{"As", func(py *host.Py) error {
			o, _ := py.Eval("x")
			defer o.Close()
			_, err := host.As[[]any](o)
			return err
		}},
		{"As *Object", func(py *host.Py) error {
			o, _ := py.Eval("x")
			defer o.Close()
			p, err := host.As[*host.Object](o)
			p.Close()
			return err
		}},
		{"FromGo of an Object", func(py *host.Py) error {
			o, _ := py.Eval("x")
			defer o.Close()
			p, err := py.FromGo(o)
			p.Close()
			return err
		}},
		{"FromGo in a container", func(py *host.Py) error {
			o, _ := py.Eval("x")
			defer o.Close()
			p, err := py.FromGo(map[string]any{"k": []any{o, host.Tuple{o}}})
			p.Close()
			return err
		}},
		{"Call with it as argument and result", func(py *host.Py) error {
			o, _ := py.Eval("x")
			defer o.Close()
			f, _ := py.Eval("f")
			defer f.Close()
			r, err := f.Call(o, "other", 1)
			r.Close()
			return err
		}},
		{"CallKw", func(py *host.Py) error {
			o, _ := py.Eval("x")
			defer o.Close()
			f, _ := py.Eval("f")
			defer f.Close()
			r, err := f.CallKw([]any{o}, map[string]any{"k": o})
			r.Close()
			return err
		}},
		{"Call failing in conversion", func(py *host.Py) error {
			o, _ := py.Eval("x")
			defer o.Close()
			f, _ := py.Eval("f")
			defer f.Close()
			if _, err := f.Call(o, make(chan int)); err == nil {
				t.Error("no conversion error")
			}
			return nil
		}},
		{"Attr and SetAttr", func(py *host.Py) error {
			m, _ := py.Import("gotest")
			defer m.Close()
			o, _ := py.Eval("x")
			defer o.Close()
			if err := m.SetAttr("tmp", o); err != nil {
				return err
			}
			a, err := m.Attr("tmp")
			a.Close()
			py.Exec("del gotest.tmp")
			return err
		}},
		{"Go function from Python", func(py *host.Py) error {
			return py.Exec("gotest.hold(x); gotest.echo(x); gotest.call(f, x); gotest.kw(name=s)")
		}},
		{"str conversions", func(py *host.Py) error {
			o, _ := py.Eval("s")
			defer o.Close()
			_, err := o.AsString()
			return err
		}},
	}
	for _, name := range []string{"x", "s", "f"} {
		for _, op := range ops {
			t.Run(name+"/"+op.name, func(t *testing.T) {
				do(t, func(py *host.Py) error {
					before := refcount(py, name)
					for i := 0; i < 10; i++ {
						if err := op.op(py); err != nil {
							t.Fatal(err)
						}
					}
					if after := refcount(py, name); after != before {
						t.Errorf("refcount of %s %d → %d", name, before, after)
					}
					return nil
				})
			})
		}
	}
	// An exception holds its value, and its traceback the frames, until
	// the error is dropped: then they are released.
	t.Run("exception", func(t *testing.T) {
		var before int64
		do(t, func(py *host.Py) error {
			before = refcount(py, "x")
			for i := 0; i < 10; i++ {
				if err := py.Exec("boom(x)"); host.ExceptionType(err) != "ValueError" {
					t.Fatal(err)
				}
			}
			return nil
		})
		if n := settle(t); n != 0 {
			t.Errorf("LiveObjects = %d", n)
		}
		do(t, func(py *host.Py) error {
			if after := refcount(py, "x"); after != before {
				t.Errorf("refcount of x %d → %d after dropping exceptions", before, after)
			}
			return nil
		})
	})
	if n := settle(t); n != 0 {
		t.Errorf("LiveObjects = %d at the end", n)
	}
}

// The finalizer of an Object dropped without Close only queues its
// reference; the next holder of the GIL releases it.
func TestFinalizerQueue(t *testing.T) {
	settle(t)
	var before int64
	do(t, func(py *host.Py) error {
		execSrc(t, py, "import sys\nfq = object()")
		before = eval(t, py, "sys.getrefcount(fq)").(int64)
		for i := 0; i < 100; i++ {
			if _, err := py.Eval("fq"); err != nil { // dropped: never closed
				return err
			}
		}
		if now := eval(t, py, "sys.getrefcount(fq)").(int64); now != before+100 {
			t.Errorf("refcount %d, want %d", now, before+100)
		}
		return nil
	})
	for i := 0; i < 100 && host.QueuedReleases() < 100; i++ {
		runtimeGC()
	}
	if q := host.QueuedReleases(); q < 100 {
		t.Fatalf("%d references queued by finalizers, want 100", q)
	}
	if n := host.LiveObjects(); n < 100 {
		t.Errorf("LiveObjects = %d while queued: released without the GIL?", n)
	}
	do(t, func(py *host.Py) error {
		// Taking the GIL released them.
		if q := host.QueuedReleases(); q != 0 {
			t.Errorf("%d still queued", q)
		}
		if now := eval(t, py, "sys.getrefcount(fq)").(int64); now != before {
			t.Errorf("refcount %d after the drain, want %d", now, before)
		}
		return nil
	})
	if n := host.LiveObjects(); n != 0 {
		t.Errorf("LiveObjects = %d", n)
	}
}
