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
	Name: "gomath",
	Doc:  "Go functions for Python.",
	Funcs: []host.Func{{
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
