package host

// #cgo LDFLAGS: -Wl,--export-dynamic
// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"unsafe"
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
	// (it always keeps them with Isolated).
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
	// site. The importer is installed here.
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
	done    chan error
}

const closingBit = 1 << 62

var startedOnce atomic.Bool

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

func statusError(st C.pyhost_status) error {
	switch st.kind {
	case 0:
		return nil
	case 1:
		return &ExitError{Code: int(st.exit_code)}
	}
	e := &StartError{}
	if st.where != nil {
		e.Func = C.GoString(st.where)
	}
	if st.msg != nil {
		e.Msg = C.GoString(st.msg)
	}
	return e
}

// cStrings converts a string slice to a C array that lives until free.
func cStrings(ss []string) (**C.char, func()) {
	if len(ss) == 0 {
		return nil, func() {}
	}
	arr := (*[1 << 28]*C.char)(C.malloc(C.size_t(len(ss)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))[:len(ss):len(ss)]
	for i, s := range ss {
		arr[i] = C.CString(s)
	}
	return &arr[0], func() {
		for _, p := range arr {
			C.free(unsafe.Pointer(p))
		}
		C.free(unsafe.Pointer(&arr[0]))
	}
}

// initialize runs both start-up phases on the calling OS thread, which
// must be locked, and returns with the GIL held by it.
func initialize(opts Options) error {
	if !startedOnce.CompareAndSwap(false, true) {
		return ErrStarted
	}
	for _, m := range opts.Modules {
		if err := registerModule(m); err != nil {
			return err
		}
	}
	args := opts.Args
	if len(args) == 0 {
		args = []string{"python3"}
	}
	argv, free := cStrings(args)
	defer free()
	var o C.pyhost_options
	o.parse_argv = cbool(opts.ParseArgv)
	o.isolated = cbool(opts.Isolated)
	o.install_signal_handlers = cbool(!opts.NoSignalHandlers && !opts.Isolated)
	o.site_import = cbool(!opts.NoSite)
	o.argc = C.int(len(args))
	o.argv = argv
	if err := statusError(C.pyhost_init_core(&o)); err != nil {
		return err
	}
	C.pyhost_set_state(C.PYHOST_RUNNING)
	py := &Py{}
	if len(opts.Paths) > 0 {
		if err := appendPaths(py, opts.Paths); err != nil {
			return err
		}
	}
	if opts.Setup != nil {
		if err := opts.Setup(py); err != nil {
			return fmt.Errorf("host: setup: %w", err)
		}
	}
	if err := statusError(C.pyhost_init_main()); err != nil {
		return err
	}
	if C.pyhost_make_cancelled() < 0 {
		return fetchError()
	}
	return nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func appendPaths(py *Py, paths []string) error {
	cp, free := cStrings(paths)
	defer free()
	if C.pyhost_append_paths(C.int(len(paths)), cp) < 0 {
		return fmt.Errorf("host: Options.Paths: %w", fetchError())
	}
	return nil
}

// Main runs Python as the python3 command does, for the pyhost command:
// it parses opts.Args as python3's command line, starts the interpreter,
// runs what the command line names and finalises Python. It returns the
// exit status; when Python itself ends the process (sys.exit under -c or a
// script, as python3 does) it does not return.
//
// Main must be called from the main goroutine with its OS thread locked
// (runtime.LockOSThread in an init function): signals sent to the process
// are delivered to the main thread, which is where CPython handles them.
func Main(opts Options) int {
	opts.ParseArgv = true
	C.pyhost_restore_signals()
	if err := initialize(opts); err != nil {
		var ee *ExitError
		if errors.As(err, &ee) || isStartError(err) {
			C.pyhost_flush_stdio()
			C.pyhost_exit_status(C.pyhost_status{})
		}
		C.pyhost_flush_stdio()
		fmt.Fprintln(os.Stderr, "pyhost:", err)
		return 1
	}
	C.pyhost_drop_go_preemption()
	code := int(C.Py_RunMain())
	C.pyhost_set_state(C.PYHOST_FINALIZED)
	return code
}

func isStartError(err error) bool {
	var se *StartError
	return errors.As(err, &se)
}

// Exit ends the process with the given status as C's exit does: C stdio
// buffers are flushed and C atexit handlers run (os.Exit does neither).
func Exit(code int) {
	C.pyhost_flush_stdio()
	C.pyhost_c_exit(C.int(code))
}

// Start starts the process's Python interpreter for an embedding
// application. Python runs its start-up on a dedicated OS thread, which
// also finalises it in Close; afterwards any goroutine may use the
// interpreter through Do. A second Start in the process returns
// ErrStarted, even after Close.
func Start(opts Options) (*Interpreter, error) {
	in := &Interpreter{home: make(chan func()), done: make(chan error, 1), drained: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The thread stays locked to this goroutine until it returns:
		// CPython's main thread state lives here, and finalisation
		// must run here.
		runtime.LockOSThread()
		C.pyhost_release_signals()
		if err := initialize(opts); err != nil {
			started <- err
			return
		}
		// threading takes the thread that first imports it for the
		// main thread, and Py_FinalizeEx waits for that thread to end
		// unless it is the finalising one: import it here, where
		// Python will be finalised, not in some goroutine's Do.
		if m := C.PyImport_ImportModule(cstr("threading")); m != nil {
			C.pyhost_decref(m)
		} else {
			C.PyErr_Clear()
		}
		tstate := C.PyEval_SaveThread()
		started <- nil
		for fn := range in.home {
			fn()
		}
		C.PyEval_RestoreThread(tstate)
		drainReleases()
		rc := C.Py_FinalizeEx()
		C.pyhost_set_state(C.PYHOST_FINALIZED)
		if rc < 0 {
			in.done <- errors.New("host: Py_FinalizeEx reported an error while flushing buffered data")
			return
		}
		in.done <- nil
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return in, nil
}

// errCloseInside is returned by Close called with the GIL held: it would
// wait for itself.
var errCloseInside = errors.New("host: Close called inside Do or a Go function called from Python")

// Close waits for the Do calls under way to return and finalises Python
// (Python's atexit functions run, then AtExit's). The interpreter cannot
// be started again in this process; calls after Close return ErrClosed,
// and so does a second Close. Close must not be called inside Do.
func (in *Interpreter) Close() error {
	if in == nil {
		return ErrClosed
	}
	if C.pyhost_holds_gil() == 1 {
		return errCloseInside
	}
	old := in.calls.Or(closingBit)
	if old&closingBit != 0 {
		return ErrClosed
	}
	if old != 0 {
		<-in.drained
	}
	close(in.home)
	return <-in.done
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
		if s&closingBit != 0 && (s == closingBit || C.pyhost_holds_gil() != 1) {
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
	switch C.pyhost_holds_gil() {
	case 1:
		return nil
	case 0:
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

// gilEpoch is touched with the GIL held on taking and before giving it
// back: the race detector does not see the GIL itself, and this atomic
// makes every Do happen after the previous one, as the GIL does.
var gilEpoch atomic.Int64

// withGIL takes the GIL and the OS thread together, the one place that
// does. The thread state made for an OS thread the first time is kept
// for it: making and deleting one per call would cost more than the call.
func withGIL(fn func(py *Py) error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	switch C.pyhost_acquire() {
	case -1:
		return ErrClosed
	case 1:
		gilEpoch.Add(1)
		defer func() {
			gilEpoch.Add(1)
			C.pyhost_release()
		}()
		if queued.Load() > 0 {
			drainReleases()
		}
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
	gilEpoch.Add(1)
	ts := C.PyEval_SaveThread()
	defer func() {
		C.PyEval_RestoreThread(ts)
		gilEpoch.Add(1)
	}()
	fn()
}
