package host

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/pyhost/pyhost/internal/cpython"
)

// Options configure an interpreter. The zero value starts an interpreter
// configured as python3 would be with no arguments.
type Options struct {
	// Args is the command line, Args[0] the program name. With
	// ParseArgv it is parsed exactly as python3 parses its command line
	// (every option and PYTHON* variable); otherwise it only sets
	// sys.argv.
	Args      []string
	ParseArgv bool

	// Isolated starts from CPython's isolated configuration: environment
	// variables and the user site directory are ignored, signal
	// handlers are not installed. Embedding applications usually want it.
	Isolated bool

	// NoSignalHandlers keeps CPython from installing its signal handlers
	// (it always keeps them with Isolated). In a program that calls
	// Start, either way the signals are Go's: CPython installs its
	// handlers only when the process's main thread runs Python, and
	// Python's main thread here is the interpreter's own, which runs no
	// Do call, so a SIGINT raises no KeyboardInterrupt (Go's default
	// ends the process unless the program handles it with os/signal),
	// signal.getsignal reports None, and signal.signal raises ValueError
	// in a Do call, as in any thread but CPython's main one.
	NoSignalHandlers bool

	// NoSite skips the import of the site module.
	NoSite bool

	// Paths are appended to sys.path before site runs (they are not in
	// sys.path yet during Setup: it does not exist before the main phase).
	Paths []string

	// Modules are Go modules importable from Python by name.
	Modules []*Module

	// Setup runs once the core of the interpreter is up (builtins, sys,
	// the frozen importlib) and before the main phase: before PathFinder
	// is installed, before any import that searches sys.path and before
	// site: where a meta path finder that must precede PathFinder is
	// installed (the pyhost command's importer is, at the same point).
	Setup func(py *Py) error
}

// Interpreter is the one CPython interpreter of the process. CPython
// cannot be initialised twice in a process (extension modules such as
// numpy crash on a second start), so Start succeeds once.
//
// Its methods are safe for concurrent use by any goroutine.
type Interpreter struct {
	// calls counts the Do calls under way; Close sets closingBit and
	// waits for it to drain to zero before finalising Python.
	calls   atomic.Int64
	drained chan struct{} // closed when calls reaches closingBit|0
	home    chan func()   // runs functions on the thread that started Python
	homeTID uint64        // its thread's ident: never cancelled
	// Close's hand-over with the home thread: threadsDone when
	// Python's non-daemon threads have ended, then finalize.
	threadsDone chan struct{}
	finalize    chan struct{}
	done        chan error
}

const closingBit = 1 << 62

// ErrStarted is returned by Start when an interpreter has already been
// started in this process (CPython cannot be started twice).
var ErrStarted = errors.New("host: the Python interpreter was already started in this process")

// ErrClosed is returned by calls on an interpreter after Close.
var ErrClosed = errors.New("host: the Python interpreter is closed")

// ExitError reports that the command line asked Python to exit during
// start-up (--version, -h, an unknown option): CPython has printed what
// python3 prints, and Code is the exit status.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("host: python exited with status %d", e.Code) }

// StartError reports a failed start-up (for example a missing standard
// library).
type StartError struct{ Func, Msg string }

func (e *StartError) Error() string {
	if e.Func != "" {
		return fmt.Sprintf("host: start python: %s: %s", e.Func, e.Msg)
	}
	return "host: start python: " + e.Msg
}

// startError converts a failed start-up phase to host's errors.
func startError(err error) error {
	var se *cpython.StatusError
	switch {
	case errors.Is(err, cpython.ErrStarted):
		return ErrStarted
	case errors.As(err, &se) && se.Exit:
		return &ExitError{Code: se.Code}
	case errors.As(err, &se):
		return &StartError{Func: se.Func, Msg: se.Msg}
	}
	return err
}

// initialize runs both start-up phases on the calling OS thread, which
// must be locked, and returns with the GIL held by it.
func initialize(opts Options) error {
	if !startedOnce.CompareAndSwap(false, true) {
		return ErrStarted
	}
	for _, m := range opts.Modules {
		if err := Register(m); err != nil {
			return err
		}
	}
	err := cpython.InitCore(cpython.InitOptions{
		Args:                  opts.Args,
		ParseArgv:             opts.ParseArgv,
		Isolated:              opts.Isolated,
		InstallSignalHandlers: !opts.NoSignalHandlers && !opts.Isolated,
		SiteImport:            !opts.NoSite,
	})
	if err != nil {
		return startError(err)
	}
	py := &Py{}
	if len(opts.Paths) > 0 {
		if err := cpython.AppendPaths(opts.Paths); err != nil {
			return fmt.Errorf("host: Options.Paths: %w", err)
		}
	}
	if opts.Setup != nil {
		if err := opts.Setup(py); err != nil {
			return fmt.Errorf("host: setup: %w", err)
		}
	}
	if err := cpython.InitMain(); err != nil {
		return startError(err)
	}
	return nil
}

// startedOnce makes a second Start fail before it registers its modules.
var startedOnce atomic.Bool

// Start starts the process's Python interpreter for an embedding
// application. Python runs its start-up on a dedicated OS thread, which
// also finalises it in Close; afterwards any goroutine may use the
// interpreter through Do. A second Start in the process returns
// ErrStarted, even after Close.
func Start(opts Options) (*Interpreter, error) {
	in := &Interpreter{home: make(chan func()), done: make(chan error, 1), drained: make(chan struct{}),
		threadsDone: make(chan struct{}), finalize: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The thread stays locked to this goroutine until it returns:
		// CPython's main thread state lives here, and finalisation
		// must run here.
		runtime.LockOSThread()
		cpython.ReleaseSignals()
		if err := initialize(opts); err != nil {
			started <- err
			return
		}
		// threading takes the thread that first imports it for the
		// main thread, and Py_FinalizeEx waits for that thread to end
		// unless it is the finalising one: import it here, where
		// Python will be finalised, not in some goroutine's Do.
		runPrivate(threadingSetup, "<pyhost threading>") // without threading, no threads to wait for
		in.homeTID = cpython.ThreadIdent()
		tstate := cpython.SaveThread()
		started <- nil
		for fn := range in.home {
			fn()
		}
		// As python3 at exit: wait for the non-daemon threads (Close
		// may cancel them meanwhile), then finalise.
		tstate.Restore()
		runPrivate("import threading\nthreading._shutdown()\n", "<pyhost shutdown>")
		tstate = cpython.SaveThread()
		close(in.threadsDone)
		<-in.finalize
		tstate.Restore()
		if err := cpython.Finalize(); err != nil {
			in.done <- fmt.Errorf("host: %w", err)
			return
		}
		in.done <- nil
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return in, nil
}

// threadingSetup runs on the thread that will finalise Python.
// threading takes the thread that first imports it for the main thread,
// and Py_FinalizeEx waits for that thread to end unless it is the
// finalising one: import it here, not in some goroutine's Do. And a
// thread started in a Do must be non-daemon, as one started by python3's
// main thread is, so that Close waits for it: threading gives a new
// thread the daemon status of the thread that starts it, and a Do's
// thread is foreign to threading (a _DummyThread, daemon by default).
const threadingSetup = `import threading
def __init__(self, _init=threading._DummyThread.__init__):
    _init(self)
    self._daemonic = False
threading._DummyThread.__init__ = __init__
`

// runPrivate runs Python source in a namespace of its own (the GIL is
// held).
func runPrivate(src, filename string) error {
	d := cpython.NewDict()
	if d.IsNull() {
		return fetchError()
	}
	defer d.Decref()
	return execCode(d.Ref, src, filename, cpython.FileInput, nil)
}

// errCloseInside is returned by Close called with the GIL held: it would
// wait for itself.
var errCloseInside = errors.New("host: Close called inside Do or a Go function called from Python")

// Close is CloseContext with a context that is never done: it waits for
// the calls under way and for Python's non-daemon threads however long
// they take, as python3 waits for its threads at exit.
func (in *Interpreter) Close() error { return in.CloseContext(context.Background()) }

// CloseContext shuts the interpreter down: new calls return ErrClosed at
// once; then it waits for the Do calls under way to return and for the
// non-daemon Python threads to end (as python3 does at exit), and
// finalises Python (Python's atexit functions run, then AtExit's). When
// ctx is done before the calls and threads have ended, their Python code
// is cancelled (DoContext's private exception, raised between two
// bytecodes, again every 100 ms until they end): the calls return an
// error matching ErrCancelled. Go code in a call, and a call blocked in
// C, are not interrupted: CloseContext waits for them to return to
// Python or end.
//
// The interpreter cannot be started again in this process; calls after
// Close return ErrClosed, and so does a second Close. Close must not be
// called inside Do.
func (in *Interpreter) CloseContext(ctx context.Context) error {
	if in == nil || in.home == nil {
		return ErrClosed // nil, or a zero Interpreter Start did not make
	}
	if cpython.HoldsGIL() == cpython.GILHeld {
		return errCloseInside
	}
	old := in.calls.Or(closingBit)
	if old&closingBit != 0 {
		return ErrClosed
	}
	if old != 0 {
		in.await(ctx, in.drained)
	}
	close(in.home)
	in.await(ctx, in.threadsDone)
	close(in.finalize)
	return <-in.done
}

// await waits for ch to be closed; once ctx is done, it cancels the
// Python code running in every thread but the home thread, again every
// 100 ms, until then.
func (in *Interpreter) await(ctx context.Context, ch chan struct{}) {
	select {
	case <-ch:
		return
	case <-ctx.Done():
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		// Ungated: the calls to cancel may hold every token.
		cpython.WithGILUngated(func() error {
			_, err := cpython.CancelRunning(in.homeTID)
			return err
		})
		select {
		case <-ch:
			return
		case <-tick.C:
		}
	}
}

// enter counts a call in, unless Close has begun; a call nested in one
// still under way (the calling thread holds the GIL) is let in, so that
// Close does not fail it halfway.
func (in *Interpreter) enter() error {
	if in == nil {
		return ErrClosed
	}
	for {
		s := in.calls.Load()
		if s&closingBit != 0 && (s == closingBit || cpython.HoldsGIL() != cpython.GILHeld) {
			return ErrClosed
		}
		if in.calls.CompareAndSwap(s, s+1) {
			return nil
		}
	}
}

func (in *Interpreter) leave() {
	if in.calls.Add(-1) == closingBit {
		close(in.drained)
	}
}

// Py is the token of a held GIL: it exists only inside Do (or a Go
// function called from Python), and every call that needs the GIL takes
// one. It must not be kept past the return of the function it was given
// to, nor used from another goroutine: such uses return ErrNoGIL.
type Py struct {
	_ [0]func() // not comparable
}

// ErrNoGIL is returned by a call that needs the GIL made without it: a
// *Py, *Object or Args used outside the Do (or Go function) it belongs
// to, or from another goroutine.
var ErrNoGIL = errors.New("host: Python used without the GIL (outside Do, or from another goroutine)")

// checkGIL reports whether the calling thread holds the GIL.
func checkGIL() error {
	switch cpython.HoldsGIL() {
	case cpython.GILHeld:
		return nil
	case cpython.GILNotHeld:
		return ErrNoGIL
	}
	return ErrClosed
}

// check is checkGIL for a method of Py.
func (py *Py) check() error {
	if py == nil {
		return ErrNoGIL
	}
	return checkGIL()
}

// Do runs fn with the GIL held, on the calling goroutine's OS thread,
// locked for the duration, and returns its error (a panic in fn is
// recovered and returned as a *PanicError). Do may be called from any
// goroutine, and nested inside another Do or a Go function called from
// Python. fn must not block waiting for another goroutine's Do: release
// the GIL around the wait with [Py.AllowThreads].
func (in *Interpreter) Do(fn func(py *Py) error) error {
	if err := in.enter(); err != nil {
		return err
	}
	defer in.leave()
	return withGIL(fn)
}

// withGIL runs fn with a Py token, the GIL held and the goroutine locked
// to its OS thread (cpython.WithGIL is the one place that takes the two).
func withGIL(fn func(py *Py) error) error { return withGILDone(nil, fn) }

// withGILDone is withGIL that gives up waiting for its turn when done is
// closed, returning errGaveUp.
func withGILDone(done <-chan struct{}, fn func(py *Py) error) error {
	err := cpython.WithGILDone(done, func() error { return callSafely(fn) })
	switch err {
	case cpython.ErrNotRunning:
		return ErrClosed
	case cpython.ErrGaveUp:
		return errGaveUp
	}
	return err
}

var errGaveUp = errors.New("host: gave up waiting for the GIL")

// Attach runs fn with a Py token on the calling thread, which must hold
// the GIL already: for Go code that Python calls through means of its own
// (a start-up hook of a program that starts Python itself, such as the
// pyhost command), where there is no Interpreter to call Do on. Without
// the GIL it returns ErrNoGIL (ErrClosed when Python is not running) and
// does not run fn. A panic in fn is returned as a *PanicError.
func Attach(fn func(py *Py) error) error {
	if err := checkGIL(); err != nil {
		return err
	}
	return callSafely(fn)
}

func callSafely(fn func(py *Py) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: stack()}
		}
	}()
	return fn(&Py{})
}

// AllowThreads runs fn with the GIL released, so that other goroutines
// and Python threads run while fn waits (for a channel, a lock, I/O or
// a long computation in Go). fn must not use this Py, nor any Object or
// Args, though it may call Do. Called without the GIL, it just runs fn.
func (py *Py) AllowThreads(fn func()) {
	if py.check() != nil {
		fn()
		return
	}
	// The thread stays locked: Do or the callback from Python locked it.
	cpython.AllowThreads(fn)
}
