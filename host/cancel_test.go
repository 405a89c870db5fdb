package host_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/pyhost/pyhost/host"
)

func TestDoContextInterruptsLoop(t *testing.T) {
	cases := map[string]string{
		"while":            "while True:\n    pass\n",
		"except Exception": "while True:\n    try:\n        sum(range(100))\n    except Exception:\n        pass\n",
		"Go calls":         "import gotest\nwhile True:\n    gotest.nop()\n",
		"Go sleeps":        "import gotest\nwhile True:\n    gotest.sleep(5)\n",
		"finally":          "try:\n    while True:\n        pass\nfinally:\n    cleaned = True\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			t0 := time.Now()
			err := interp.DoContext(ctx, func(py *host.Py) error { return py.Exec(src) })
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("DoContext = %v, want DeadlineExceeded", err)
			}
			if d := time.Since(t0); d > 2*time.Second {
				t.Errorf("took %v to cancel", d)
			}
		})
	}
	do(t, func(py *host.Py) error {
		if got := eval(t, py, "cleaned"); got != true {
			t.Errorf("finally did not run: %v", got)
		}
		return nil
	})
}

func TestDoContextNotCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 100; i++ {
		err := interp.DoContext(ctx, func(py *host.Py) error {
			o, err := py.Eval("sum(range(1000))")
			o.Close()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	ran := false
	err := interp.DoContext(ctx, func(py *host.Py) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Errorf("a done context: %v, ran %v", err, ran)
	}
	if err := interp.DoContext(context.Background(), func(py *host.Py) error { return py.Exec("pass") }); err != nil {
		t.Error(err)
	}
}

// A cancellation that comes while no bytecode runs must not go off in
// the thread's next call.
func TestDoContextNoStaleException(t *testing.T) {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the next Do runs on the same thread
		defer runtime.UnlockOSThread()
		ctx, cancel := context.WithCancel(context.Background())
		err := interp.DoContext(ctx, func(py *host.Py) error {
			py.AllowThreads(func() {
				cancel()
				time.Sleep(50 * time.Millisecond) // the watcher fires meanwhile
			})
			return nil // returns with no bytecode run since
		})
		if !errors.Is(err, context.Canceled) {
			errc <- err
			return
		}
		errc <- interp.Do(func(py *host.Py) error {
			return py.Exec("for i in range(200000):\n    pass\n")
		})
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// More endless calls than the gate has tokens, and more waiting behind
// them: every one is cancelled when its context is done, whether it runs
// or waits for its turn.
func TestCancelManyEndless(t *testing.T) {
	const n = 16
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			errs <- interp.DoContext(ctx, func(py *host.Py) error {
				return py.Exec("while True:\n    pass\n")
			})
		}()
	}
	deadline := time.After(20 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("call %d: %v", i, err)
			}
		case <-deadline:
			t.Fatalf("%d of %d endless calls were not cancelled", n-i, n)
		}
	}
	do(t, func(py *host.Py) error { return nil }) // the interpreter goes on
}
