package host_test

import (
	"testing"

	"github.com/pyhost/pyhost/host"
)

// A Go → Python call of a no-op Python function, inside one Do.
func BenchmarkCallPython(b *testing.B) {
	b.ReportAllocs()
	do(b, func(py *host.Py) error {
		execSrc(b, py, "def noop(*args):\n    pass\n")
		f, err := py.Eval("noop")
		if err != nil {
			return err
		}
		defer f.Close()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r, err := f.Call()
			if err != nil {
				return err
			}
			r.Close()
		}
		b.StopTimer()
		return nil
	})
}

// The same with two arguments converted from Go.
func BenchmarkCallPythonArgs(b *testing.B) {
	b.ReportAllocs()
	do(b, func(py *host.Py) error {
		execSrc(b, py, "def noop(*args):\n    pass\n")
		f, err := py.Eval("noop")
		if err != nil {
			return err
		}
		defer f.Close()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r, err := f.Call(i, "s")
			if err != nil {
				return err
			}
			r.Close()
		}
		b.StopTimer()
		return nil
	})
}

// A Python → Go call of a no-op Go function: a Python loop makes b.N of
// them.
func BenchmarkCallGo(b *testing.B) {
	b.ReportAllocs()
	do(b, func(py *host.Py) error {
		execSrc(b, py, "import gotest\ndef calls(n, f=gotest.nop):\n    for _ in range(n):\n        f()\n")
		loop, err := py.Eval("calls")
		if err != nil {
			return err
		}
		defer loop.Close()
		b.ResetTimer()
		r, err := loop.Call(b.N)
		b.StopTimer()
		if err != nil {
			return err
		}
		r.Close()
		return nil
	})
}

// The Python loop alone, to subtract from BenchmarkCallGo.
func BenchmarkCallGoLoopOnly(b *testing.B) {
	do(b, func(py *host.Py) error {
		execSrc(b, py, "def pynop():\n    pass\ndef pycalls(n, f=pynop):\n    for _ in range(n):\n        f()\n")
		loop, _ := py.Eval("pycalls")
		defer loop.Close()
		b.ResetTimer()
		r, err := loop.Call(b.N)
		b.StopTimer()
		r.Close()
		return err
	})
}

// A GIL round trip from a goroutine: Do with nothing to do.
func BenchmarkDo(b *testing.B) {
	b.ReportAllocs()
	nop := func(py *host.Py) error { return nil }
	for i := 0; i < b.N; i++ {
		if err := interp.Do(nop); err != nil {
			b.Fatal(err)
		}
	}
}

// Do from every P at once: the GIL is contended.
func BenchmarkDoParallel(b *testing.B) {
	b.ReportAllocs()
	nop := func(py *host.Py) error { return nil }
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := interp.Do(nop); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkToGo(b *testing.B) {
	b.ReportAllocs()
	do(b, func(py *host.Py) error {
		o, _ := py.Eval("{'a': [1, 2.5, 'x'], 'b': None}")
		defer o.Close()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := o.ToGo(); err != nil {
				return err
			}
		}
		return nil
	})
}

// 1e6 float64 from Go to a numpy array (no copy: a GoBuffer under
// numpy.frombuffer) and from a numpy array to a Go slice (one copy).
func BenchmarkBufferToNumpy(b *testing.B) {
	b.ReportAllocs()
	s := make([]float64, 1e6)
	do(b, func(py *host.Py) error {
		needNumpy(b, py)
		frombuffer, err := py.Eval("lambda b: np.frombuffer(b, dtype=np.float64)")
		if err != nil {
			return err
		}
		defer frombuffer.Close()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			buf, err := host.NewBuffer(py, s)
			if err != nil {
				return err
			}
			a, err := frombuffer.Call(buf)
			if err != nil {
				return err
			}
			a.Close()
			buf.Close()
		}
		return nil
	})
}

func BenchmarkBufferFromNumpy(b *testing.B) {
	b.ReportAllocs()
	do(b, func(py *host.Py) error {
		needNumpy(b, py)
		a, err := py.Eval("np.arange(1e6)")
		if err != nil {
			return err
		}
		defer a.Close()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			s, err := host.As[[]float64](a)
			if err != nil || len(s) != 1e6 {
				return err
			}
		}
		return nil
	})
}

// The same into a slice that is reused: the copy alone.
func BenchmarkBufferFromNumpyAppend(b *testing.B) {
	b.ReportAllocs()
	do(b, func(py *host.Py) error {
		needNumpy(b, py)
		a, err := py.Eval("np.arange(1e6)")
		if err != nil {
			return err
		}
		defer a.Close()
		var s []float64
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if s, err = host.AppendBuffer(s[:0], a); err != nil {
				return err
			}
		}
		return nil
	})
}
