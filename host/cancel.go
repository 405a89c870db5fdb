package host

import (
	"context"
	"errors"
	"sync"

	"github.com/pyhost/pyhost/internal/cpython"
)

// DoContext is Do with cancellation: when ctx is done while fn runs
// Python code, that code is interrupted by a private exception (a
// BaseException, so `except Exception` does not catch it; `finally`
// blocks and context managers run), and DoContext returns ctx.Err()
// once fn has returned. The interpreter and the application keep
// running.
//
// The exception is raised between two bytecodes of the Python code
// running on fn's thread: Go code in fn, and a blocking call into C
// (time.sleep, a socket read), are not interrupted; they see it when
// they return to Python. A context already done returns ctx.Err()
// without running fn, and so does one done while the call waits for its
// turn behind other calls.
func (in *Interpreter) DoContext(ctx context.Context, fn func(py *Py) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := in.enter(); err != nil {
		return err
	}
	defer in.leave()
	if ctx.Done() == nil {
		return withGIL(fn)
	}
	c := &cancellation{exited: make(chan struct{})}
	var stop func() bool
	// Deferred, so that a Goexit in fn (t.Fatal) leaves no watcher to
	// cancel some later call on this thread.
	defer func() {
		if stop != nil && !stop() {
			// fire has started: it takes the GIL, which this call has
			// given back; wait for it so that it never outlives the call.
			<-c.exited
		}
	}()
	err := withGILDone(ctx.Done(), func(py *Py) error {
		if ctx.Err() != nil {
			return errGaveUp // done while it waited for the GIL
		}
		c.tid = cpython.ThreadIdent()
		stop = context.AfterFunc(ctx, c.fire)
		defer func() {
			c.mu.Lock()
			c.done = true
			fired := c.fired
			c.mu.Unlock()
			if fired {
				// Not raised yet if no bytecode ran since: it must not
				// go off in the thread's next, unrelated call.
				cpython.AsyncCancel(c.tid, false)
			}
		}()
		return callSafely(fn)
	})
	if stop != nil && !stop() {
		<-c.exited
	}
	stop = nil
	c.mu.Lock()
	fired := c.fired
	c.mu.Unlock()
	if fired || err == errGaveUp {
		return ctx.Err()
	}
	return err
}

// cancellation is one DoContext call's link to its watcher. The GIL
// orders fire against the end of the call: both hold it when they look
// at done; mu is for Go's memory model (and the race detector).
type cancellation struct {
	tid    uint64
	exited chan struct{}

	mu    sync.Mutex
	done  bool // the call's fn has returned
	fired bool // the exception was scheduled
}

// fire runs on its own goroutine once the context is done. The eval
// loop of the thread running Python gives up the GIL within the switch
// interval (5 ms) when another thread asks for it.
func (c *cancellation) fire() {
	defer close(c.exited)
	// The DoContext call is still counted in: Python cannot be
	// finalised under this goroutine. Ungated: the call to cancel, and
	// others like it, may hold every token of the gate.
	cpython.WithGILUngated(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.done {
			cpython.AsyncCancel(c.tid, true)
			c.fired = true
		}
		return nil
	})
}

// ErrCancelled is what a call interrupted by cancellation returns (it
// matches with errors.Is): Python code stopped by [Interpreter.CloseContext]
// or a Python exception of the private cancellation class that escaped
// its DoContext. A DoContext whose own context is done returns ctx.Err()
// instead.
var ErrCancelled = errors.New("host: Python code cancelled")

// cancelError is the cancellation exception reaching Go: ErrCancelled,
// and the *Exception for its traceback.
type cancelError struct{ exc *Exception }

func (e *cancelError) Error() string   { return ErrCancelled.Error() }
func (e *cancelError) Unwrap() []error { return []error{ErrCancelled, e.exc} }
