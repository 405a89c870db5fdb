package host_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/pyhost/pyhost/host"
)

// numpy is imported by the buffer tests; without it they are skipped.
func needNumpy(t testing.TB, py *host.Py) {
	t.Helper()
	if err := py.Exec("import numpy as np, array"); err != nil {
		t.Skipf("numpy cannot be imported (Debian's python3-numpy is what these tests use): %v", err)
	}
}

func TestNewBufferShares(t *testing.T) {
	s := []float64{1, 2, 3, 4}
	do(t, func(py *host.Py) error {
		needNumpy(t, py)
		b, err := host.NewBuffer(py, s)
		if err != nil {
			return err
		}
		defer b.Close()
		f, _ := py.Eval("lambda b: np.frombuffer(b, dtype=np.float64)")
		defer f.Close()
		a, err := f.Call(b)
		if err != nil {
			return err
		}
		defer a.Close()
		if got := a.String(); got != "[1. 2. 3. 4.]" {
			t.Errorf("ndarray over the Go slice: %s", got)
		}
		// Python writes into Go memory, and Go's writes show in Python.
		set, _ := py.Eval("lambda a: a.__setitem__(0, 10.5)")
		defer set.Close()
		r, err := set.Call(a)
		if err != nil {
			return err
		}
		r.Close()
		if s[0] != 10.5 {
			t.Errorf("s[0] = %v after Python's write", s[0])
		}
		s[3] = -1
		sum, _ := a.CallMethod("sum")
		defer sum.Close()
		if v, _ := host.As[float64](sum); v != 10.5+2+3-1 {
			t.Errorf("sum %v", v)
		}
		// Its format is what numpy.asarray needs to take the type.
		for _, c := range []struct {
			mk   func() (*host.Object, error)
			want string
		}{
			{func() (*host.Object, error) { return host.NewBuffer(py, []int64{1, -2}) }, "int64 [ 1 -2]"},
			{func() (*host.Object, error) { return host.NewBuffer(py, []byte("hi")) }, "uint8 [104 105]"},
			{func() (*host.Object, error) { return host.NewBuffer(py, []float32{0.5}) }, "float32 [0.5]"},
			{func() (*host.Object, error) { return host.NewBuffer(py, []int32{}) }, "int32 []"},
		} {
			b, err := c.mk()
			if err != nil {
				return err
			}
			g, _ := py.Eval("lambda b: (lambda a: f'{a.dtype} {a}')(np.asarray(memoryview(b)))")
			r, err := g.Call(b)
			g.Close()
			b.Close()
			if err != nil {
				return err
			}
			if got, _ := r.AsString(); got != c.want {
				t.Errorf("asarray: %q, want %q", got, c.want)
			}
			r.Close()
		}
		return nil
	})
	if n := settle(t); n != 0 {
		t.Errorf("LiveObjects = %d", n)
	}
	runtime.GC()
	if n := host.PinnedBuffers(); n != 0 {
		t.Errorf("%d buffers still pinned", n)
	}
}

// The GoBuffer keeps the slice alive after Go drops it; a released one
// refuses to be read; release is refused while an array uses it.
func TestBufferLifetime(t *testing.T) {
	do(t, func(py *host.Py) error {
		needNumpy(t, py)
		s := make([]int64, 1000)
		for i := range s {
			s[i] = int64(i)
		}
		b, err := host.NewBuffer(py, s)
		if err != nil {
			return err
		}
		main, _ := py.Import("__main__")
		defer main.Close()
		main.SetAttr("gb", b)
		s = nil
		b.Close()
		runtime.GC()
		runtime.GC()
		execSrc(t, py, "arr = np.frombuffer(gb, dtype=np.int64)\njunk = [bytes(8000) for _ in range(1000)]")
		if v := eval(t, py, "int(arr.sum())"); v != int64(999*1000/2) {
			t.Errorf("sum after Go dropped the slice: %v", v)
		}
		gb, _ := main.Attr("gb")
		defer gb.Close()
		err = gb.ReleaseBuffer()
		if host.ExceptionType(err) != "BufferError" {
			t.Errorf("release while an array uses it: %v", err)
		}
		execSrc(t, py, "del arr")
		if err := gb.ReleaseBuffer(); err != nil {
			t.Errorf("release: %v", err)
		}
		if n := host.PinnedBuffers(); n != 0 {
			t.Errorf("%d buffers pinned after release", n)
		}
		err = py.Exec("np.frombuffer(gb, dtype=np.int64)")
		if host.ExceptionType(err) != "ValueError" || !strings.Contains(err.Error(), "released") {
			t.Errorf("reading a released buffer: %v", err)
		}
		if got := eval(t, py, "(repr(gb), gb.released, len(gb))"); !strings.Contains(strings.Join(strs(got), " "), "released Go buffer") {
			t.Errorf("repr of a released buffer: %v", got)
		}
		execSrc(t, py, "del gb")
		list, _ := py.Eval("[1]")
		defer list.Close()
		if err := list.ReleaseBuffer(); err == nil {
			t.Error("ReleaseBuffer of a list")
		}
		return nil
	})
}

func strs(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// As reads any buffer exporter into a slice with one copy, and says why
// it cannot.
func TestAsFromBuffer(t *testing.T) {
	do(t, func(py *host.Py) error {
		needNumpy(t, py)
		f64 := []struct{ expr, want string }{
			{"np.arange(4, dtype=np.float64)", "[0 1 2 3]"},
			{"array.array('d', [1.5, 2])", "[1.5 2]"},
			{"memoryview(array.array('d', [7]))", "[7]"},
			{"np.zeros(0)", "[]"},
		}
		for _, c := range f64 {
			o, err := py.Eval(c.expr)
			if err != nil {
				return err
			}
			v, err := host.As[[]float64](o)
			o.Close()
			if err != nil || fmtSlice(v) != c.want {
				t.Errorf("As[[]float64](%s) = %v, %v; want %s", c.expr, v, err, c.want)
			}
		}
		for _, c := range []struct{ expr, want string }{
			{"np.arange(3)", "[0 1 2]"},
			{"array.array('q', [-5])", "[-5]"},
		} {
			o, _ := py.Eval(c.expr)
			v, err := host.As[[]int64](o)
			o.Close()
			if err != nil || fmtSlice(v) != c.want {
				t.Errorf("As[[]int64](%s) = %v, %v", c.expr, v, err)
			}
		}
		arr, _ := py.Eval("np.arange(3.0)")
		dst := make([]float64, 1, 10)
		got, err := host.AppendBuffer(dst, arr)
		if err != nil || fmtSlice(got) != "[0 0 1 2]" || &got[0] != &dst[0] {
			t.Errorf("AppendBuffer = %v, %v (same array %v)", got, err, err == nil && &got[0] == &dst[0])
		}
		arr.Close()
		list, _ := py.Eval("[1.0]")
		if _, err := host.AppendBuffer([]float64(nil), list); err == nil {
			t.Error("AppendBuffer of a list")
		}
		list.Close()
		o, _ := py.Eval("np.array([1, 2], dtype=np.uint8)")
		if v, err := host.As[[]byte](o); err != nil || string(v) != "\x01\x02" {
			t.Errorf("As[[]byte](uint8 array) = %v, %v", v, err)
		}
		o.Close()
		// An exporter released while a memoryview of it is kept.
		mv, _ := py.Eval("(lambda m: (m.release(), m)[1])(memoryview(array.array('d', [1])))")
		if _, err := host.As[[]float64](mv); host.ExceptionType(err) != "ValueError" {
			t.Errorf("As of a released memoryview: %v", err)
		}
		mv.Close()
		bad := []struct{ expr, want string }{
			{"np.arange(10.0)[::2]", "non-contiguous"},
			{"np.zeros((2, 2))", "2-dimensional"},
			{"np.zeros(2, dtype=np.float32)", `format "f"`},
			{"np.zeros(2, dtype=np.int64)", `format "l"`},
			{"np.zeros(2, dtype='>f8')", `format ">d"`},
		}
		for _, c := range bad {
			o, _ := py.Eval(c.expr)
			_, err := host.As[[]float64](o)
			o.Close()
			var ce *host.ConversionError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("As[[]float64](%s) = %v; want a ConversionError saying %s", c.expr, err, c.want)
			}
		}
		return nil
	})
	if n := settle(t); n != 0 {
		t.Errorf("LiveObjects = %d", n)
	}
}

func fmtSlice[T any](s []T) string { return fmt.Sprint(s) }
