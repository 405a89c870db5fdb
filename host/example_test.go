package host_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pyhost/pyhost/host"
)

// The examples share the interpreter the tests' TestMain starts with
//
//	interp, err := host.Start(host.Options{Isolated: true, Modules: []*host.Module{mathModule, ...}})
//
// and closes at the end: a process has one interpreter.

// Embed a script: run it, then read what it computed.
func Example() {
	err := interp.Do(func(py *host.Py) error {
		err := py.Exec(`
import statistics
samples = [2.5, 3.5, 4.0, 6.0]
summary = {"mean": statistics.mean(samples), "n": len(samples)}
`)
		if err != nil {
			return err
		}
		summary, err := py.Eval("summary")
		if err != nil {
			return err
		}
		defer summary.Close()
		v, err := host.As[map[string]float64](summary)
		if err != nil {
			return err
		}
		fmt.Println("mean", v["mean"], "of", v["n"])
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: mean 4 of 4
}

// Call one Python function from 100 goroutines: each Do takes the GIL
// on its goroutine's OS thread, so they take turns.
func ExampleInterpreter_Do_goroutines() {
	var square *host.Object
	interp.Do(func(py *host.Py) error {
		var err error
		square, err = py.Eval("lambda x: x * x")
		return err
	})
	var wg sync.WaitGroup
	results := make([]int64, 100)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := interp.Do(func(py *host.Py) error {
				r, err := square.Call(i)
				if err != nil {
					return err
				}
				defer r.Close()
				results[i], err = r.AsInt()
				return err
			})
			if err != nil {
				fmt.Println(err)
			}
		}()
	}
	wg.Wait()
	interp.Do(func(py *host.Py) error { square.Close(); return nil })
	var sum int64
	for _, r := range results {
		sum += r
	}
	fmt.Println("sum of squares below 100:", sum)
	// Output: sum of squares below 100: 328350
}

// mathModule is registered in Options.Modules (see the top of this file).
var mathModule = &host.Module{
	Name:   "gomath",
	Doc:    "Go functions for Python.",
	Errors: []host.ErrorClass{{Name: "Empty", Base: "ValueError", Doc: "No data."}},
	Funcs: []host.Func{{
		Name: "scale",
		Doc:  "Multiplies and shifts each number.",
		Sig:  "(xs, /, factor=1.0, *, offset=0.0)",
		Fn: func(py *host.Py, args host.Args) (any, error) {
			xs, err := host.Arg[[]float64](args, 0) // a list, a tuple or any float64 buffer
			if err != nil {
				return nil, err
			}
			if len(xs) == 0 {
				return nil, host.Raise("gomath.Empty", "nothing to scale")
			}
			factor, err := host.Param(args, "factor", 1.0)
			if err != nil {
				return nil, err
			}
			offset, err := host.Param(args, "offset", 0.0)
			if err != nil {
				return nil, err
			}
			for i := range xs {
				xs[i] = xs[i]*factor + offset
			}
			return xs, nil
		},
	}, {
		Name: "hypot",
		Doc:  "hypot(xs) -> float: the Euclidean norm of a list of numbers.",
		Fn: func(py *host.Py, args host.Args) (any, error) {
			xs, err := host.Arg[[]float64](args, 0)
			if err != nil {
				return nil, err // raised as TypeError
			}
			if len(xs) == 0 {
				return nil, host.Raise("ValueError", "hypot of nothing")
			}
			var s float64
			for _, x := range xs {
				s += x * x
			}
			return sqrt(s), nil
		},
	}},
}

func sqrt(x float64) float64 { // Newton, to keep the example's imports short
	z := x
	for i := 0; i < 50; i++ {
		z -= (z*z - x) / (2 * z)
	}
	return z
}

// Expose a Go function to Python and call it from Python.
func ExampleModule() {
	interp.Do(func(py *host.Py) error {
		err := py.Exec(`
import gomath
norm = gomath.hypot([3, 4.0])
try:
    gomath.hypot([])
except ValueError as e:
    problem = str(e)
`)
		if err != nil {
			fmt.Println(err)
			return nil
		}
		norm, _ := py.Eval("norm")
		defer norm.Close()
		problem, _ := py.Eval("problem")
		defer problem.Close()
		f, _ := norm.AsFloat()
		s, _ := problem.AsString()
		fmt.Println(f, "/", s)
		return nil
	})
	// Output: 5 / hypot of nothing
}

// Cancel a long-running Python loop with a context: the call returns
// ctx.Err() and the interpreter goes on.
func ExampleInterpreter_DoContext() {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := interp.DoContext(ctx, func(py *host.Py) error {
		return py.Exec("n = 0\nwhile True:\n    n += 1\n")
	})
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	interp.Do(func(py *host.Py) error {
		n, _ := py.Eval("n > 0")
		defer n.Close()
		fmt.Println(n)
		return nil
	})
	// Output:
	// true
	// True
}

// Hand Go data to numpy without copying it, and read numpy's result
// back with one copy.
func ExampleNewBuffer() {
	samples := []float64{2.5, 3.5, 4.0, 6.0}
	err := interp.Do(func(py *host.Py) error {
		np, err := py.Import("numpy")
		if err != nil {
			return err
		}
		defer np.Close()
		buf, err := host.NewBuffer(py, samples) // shares samples' memory
		if err != nil {
			return err
		}
		defer buf.Close()
		a, err := np.CallMethod("frombuffer", buf)
		if err != nil {
			return err
		}
		defer a.Close()
		mean, err := a.CallMethod("mean")
		if err != nil {
			return err
		}
		defer mean.Close()
		m, err := host.As[float64](mean) // a numpy.float64
		if err != nil {
			return err
		}
		centred, err := a.CallMethod("__sub__", m)
		if err != nil {
			return err
		}
		defer centred.Close()
		out, err := host.As[[]float64](centred) // any buffer: one copy
		fmt.Println(m, out)
		return err
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: 4 [-1.5 -0.5 0 2]
}

// Keyword arguments both ways: Python calling a Go function with a
// declared signature, and Go calling Python with CallKw.
func ExampleParam() {
	interp.Do(func(py *host.Py) error {
		v, err := py.Eval("__import__('gomath').scale([1, 2], 10, offset=0.5)")
		if err != nil {
			return err
		}
		defer v.Close()
		fmt.Println(v)
		_, err = py.Eval("__import__('gomath').scale([1], scale=2)")
		fmt.Println(err)
		sig, _ := py.Eval("str(__import__('inspect').signature(__import__('gomath').scale))")
		defer sig.Close()
		fmt.Println(sig)

		sorted, _ := py.Eval("sorted")
		defer sorted.Close()
		r, err := sorted.CallKw([]any{[]string{"b", "A", "c"}}, map[string]any{"key": nil, "reverse": true})
		if err != nil {
			return err
		}
		defer r.Close()
		fmt.Println(r)
		return nil
	})
	// Output:
	// [10.5, 20.5]
	// python: TypeError: gomath.scale() got an unexpected keyword argument 'scale'
	// (xs, /, factor=1.0, *, offset=0.0)
	// ['c', 'b', 'A']
}

// Wait for another goroutine's Do without holding the GIL: without
// AllowThreads the two would deadlock.
func ExamplePy_AllowThreads() {
	interp.Do(func(py *host.Py) error {
		result := make(chan string)
		go func() {
			interp.Do(func(py *host.Py) error {
				v, _ := py.Eval("'computed elsewhere'.title()")
				defer v.Close()
				s, _ := v.AsString()
				result <- s
				return nil
			})
		}()
		var s string
		py.AllowThreads(func() { s = <-result })
		fmt.Println(s)
		return nil
	})
	// Output: Computed Elsewhere
}

// Python exceptions are *host.Exception values; a Go error raised
// through Python comes back as itself.
func ExampleException() {
	errNotReady := errors.New("not ready")
	interp.Do(func(py *host.Py) error {
		_, err := py.Eval("int('x')")
		var e *host.Exception
		if errors.As(err, &e) {
			fmt.Println(e.Type, "|", e.Msg)
		}

		check, _ := py.NewFunc("app", host.Func{Name: "check", Fn: func(*host.Py, host.Args) (any, error) {
			return nil, errNotReady
		}})
		defer check.Close()
		relay, _ := py.Eval("lambda f: f()") // Python code in between
		defer relay.Close()
		_, err = relay.Call(check)
		fmt.Println(errors.Is(err, errNotReady), host.ExceptionType(err))

		_, err = py.Eval("__import__('gomath').scale([])")
		fmt.Println(host.ExceptionType(err), err)
		return nil
	})
	// Output:
	// ValueError | invalid literal for int() with base 10: 'x'
	// true RuntimeError
	// gomath.Empty python: gomath.Empty: nothing to scale
}

// Iterate over a Python iterable and a dict's items.
func ExampleObject_Iter() {
	interp.Do(func(py *host.Py) error {
		counts, _ := py.Eval("__import__('collections').Counter('abracadabra')")
		defer counts.Close()
		common, _ := counts.CallMethod("most_common", 2)
		defer common.Close()
		var top, once []string
		for pair, err := range common.Iter() { // each pair is closed after the body
			if err != nil {
				return err
			}
			letter, _ := pair.GetItem(0)
			n, _ := pair.GetItem(1)
			top = append(top, letter.String()+"="+n.String())
			letter.Close()
			n.Close()
		}
		for it, err := range counts.Items() {
			if err != nil {
				return err
			}
			if n, _ := it.Value.AsInt(); n == 1 {
				once = append(once, it.Key.String())
			}
		}
		fmt.Println(top, once)
		return nil
	})
	// Output: [a=5 b=2] [c d]
}
