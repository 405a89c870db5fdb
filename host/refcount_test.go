package host_test

import (
	"fmt"
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
	var name string // the object under test, for the ops that take it by name
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
		{"GetItem SetItem DelItem", func(py *host.Py) error {
			o, _ := py.Eval(name)
			defer o.Close()
			d, _ := py.FromGo(map[string]any{})
			defer d.Close()
			if err := d.SetItem(o, o); err != nil && host.ExceptionType(err) != "TypeError" { // a list is unhashable
				return err
			}
			if err := d.SetItem("k", o); err != nil {
				return err
			}
			v, err := d.GetItem("k")
			v.Close()
			if err != nil {
				return err
			}
			return d.DelItem("k")
		}},
		{"Len Truth Repr IsInstance NewRef", func(py *host.Py) error {
			o, _ := py.Eval(name)
			defer o.Close()
			o.Len()
			o.Truth()
			o.Repr()
			cls, _ := py.Eval("(list, str)")
			defer cls.Close()
			if _, err := o.IsInstance(cls); err != nil {
				return err
			}
			r, err := o.NewRef()
			r.Close()
			return err
		}},
		{"Iter Items", func(py *host.Py) error {
			o, _ := py.Eval(name)
			defer o.Close()
			l, _ := py.FromGo([]any{o, o})
			defer l.Close()
			for it, err := range l.Iter() {
				if err != nil {
					return err
				}
				it.Repr()
			}
			d, _ := py.FromGo(map[string]any{"a": o})
			defer d.Close()
			for it, err := range d.Items() {
				if err != nil {
					return err
				}
				k, _ := it.Value.NewRef() // kept past the body
				defer k.Close()
			}
			for range o.Iter() {
				break
			}
			return nil
		}},
		{"EvalIn ExecIn", func(py *host.Py) error {
			o, _ := py.Eval(name)
			defer o.Close()
			g, _ := py.FromGo(map[string]any{"v": o})
			defer g.Close()
			if err := py.ExecIn(g, "w = [v]", "<t>"); err != nil {
				return err
			}
			r, err := py.EvalIn(g, "v", "<t>")
			r.Close()
			return err
		}},
		{"closure with a signature", func(py *host.Py) error {
			o, _ := py.Eval(name)
			defer o.Close()
			f, err := py.NewFunc("t", host.Func{Name: "g", Sig: "(a, *, b=None)", Fn: func(py *host.Py, a host.Args) (any, error) {
				b, err := host.Param[*host.Object](a, "b", nil)
				if b != nil {
					defer b.Close()
				}
				return b.Repr(), err
			}})
			if err != nil {
				return err
			}
			defer f.Close()
			r, err := f.CallKw([]any{o}, map[string]any{"b": o})
			r.Close()
			if err != nil {
				return err
			}
			_, err = f.Call(o, o) // too many: a TypeError naming g
			if host.ExceptionType(err) != "TypeError" {
				return fmt.Errorf("want a TypeError, got %v", err)
			}
			return nil
		}},
		{"As through the buffer path", func(py *host.Py) error {
			o, _ := py.Eval(name)
			defer o.Close()
			host.As[[]float64](o)
			host.AppendBuffer([]byte(nil), o)
			return nil
		}},
		{"str conversions", func(py *host.Py) error {
			o, _ := py.Eval("s")
			defer o.Close()
			_, err := o.AsString()
			return err
		}},
	}
	for _, name = range []string{"x", "s", "f"} {
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
