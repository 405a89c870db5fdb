package host_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pyhost/pyhost/host"
)

func TestManyGoroutines(t *testing.T) {
	var f *host.Object
	do(t, func(py *host.Py) error {
		var err error
		f, err = py.Eval("lambda a, b: a * b")
		return err
	})
	const goroutines, calls = 100, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				err := interp.Do(func(py *host.Py) error {
					r, err := f.Call(g, i)
					if err != nil {
						return err
					}
					defer r.Close()
					n, err := r.AsInt()
					if err == nil && n != int64(g*i) {
						t.Errorf("%d*%d = %d", g, i, n)
					}
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				if i%10 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	do(t, func(py *host.Py) error { f.Close(); return nil })
}

// Python threads call Go functions while goroutines call Python.
func TestPythonThreads(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		done <- interp.Do(func(py *host.Py) error {
			return py.Exec(`
import threading, gotest
totals = []
def work():
    s = 0
    for i in range(2000):
        s = gotest.add(s, 1)
    s += gotest.nested_do('1')
    totals.append(s)
threads = [threading.Thread(target=work) for _ in range(4)]
for th in threads: th.start()
for th in threads: th.join()
`)
		})
	}()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				do(t, func(py *host.Py) error {
					o, err := py.Eval("sum(range(10))")
					o.Close()
					return err
				})
			}
		}()
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	do(t, func(py *host.Py) error {
		if got := eval(t, py, "totals"); len(got.([]any)) != 4 || got.([]any)[0] != int64(2001) {
			t.Errorf("totals = %v", got)
		}
		return nil
	})
}

// A Go function that waits releases the GIL: the goroutine it waits for
// can take it.
func TestAllowThreads(t *testing.T) {
	result := make(chan error, 1)
	go func() {
		result <- interp.Do(func(py *host.Py) error {
			return py.Exec("import gotest\nwaited = gotest.wait()")
		})
	}()
	// gotest.wait says when it has given up the GIL: from then on, until
	// release, a Do can only run if AllowThreads really released it.
	select {
	case <-waiting:
	case err := <-result:
		t.Fatalf("gotest.wait returned before release: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("gotest.wait was not reached")
	}
	ran := make(chan struct{})
	go func() {
		// Would deadlock if gotest.wait held the GIL.
		do(t, func(py *host.Py) error { close(ran); return nil })
	}()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("a Do could not run while a Go function waited")
	}
	release <- struct{}{}
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	do(t, func(py *host.Py) error {
		if got := eval(t, py, "waited"); got != "released" {
			t.Errorf("waited = %v", got)
		}
		return nil
	})
	// With a stale token (no GIL), AllowThreads just runs the function.
	var stale *host.Py
	do(t, func(py *host.Py) error { stale = py; return nil })
	ran2 := false
	stale.AllowThreads(func() { ran2 = true })
	if !ran2 {
		t.Error("AllowThreads without the GIL did not run the function")
	}
}

func TestNestedDo(t *testing.T) {
	do(t, func(py *host.Py) error {
		return interp.Do(func(py2 *host.Py) error {
			if got := eval(t, py2, "'inner'"); got != "inner" {
				t.Errorf("got %v", got)
			}
			py2.AllowThreads(func() {
				// Without the GIL, a Do takes it again on this thread.
				do(t, func(py3 *host.Py) error {
					if got := eval(t, py3, "'inside AllowThreads'"); got != "inside AllowThreads" {
						t.Errorf("got %v", got)
					}
					return nil
				})
			})
			return nil
		})
	})
}
