// Package host embeds CPython in a Go program: the safe embedding API.
// It imports no C itself: it is written over pyhost's internal/cpython,
// the one package that speaks CPython's C API (cgo against the system
// libpython; building needs cgo and libpython3-dev), as PyO3 is over
// pyo3-ffi. Every raw reference it gets is wrapped at once as an owned
// [*Object] or used as a borrowed value within the call.
//
// It owns the interpreter an application starts, the Py token, the
// references Go holds as Objects and the conversions between Go and
// Python values. It must never print a Python exception (PyErr_Print
// ends the process on SystemExit), never release a reference without the
// GIL, and never let a Go panic unwind through CPython's frames.
//
// # Lifetimes
//
// A process has at most one interpreter: CPython cannot be initialised
// twice (extension modules such as numpy crash on a second start). [Start]
// succeeds once per process; a second call returns [ErrStarted], even
// after [Interpreter.Close]. Close waits for the calls under way, runs
// Python's atexit functions and finalises Python on the OS thread that
// started it; afterwards every call returns [ErrClosed]. A program that
// starts Python itself (the pyhost command runs python3's own start-up)
// registers its modules with [Register] beforehand and reaches its Go
// code's token through [Attach].
//
// A [*Py] token is valid only inside the function it was given to, on
// that goroutine. [Args] are borrowed from the caller and valid until the
// Go function returns. An [*Object] is an owned reference, valid until
// its Close, and usable only where a *Py is (inside Do, or a Go function
// called from Python).
//
// # Threading and the GIL
//
// Every call that touches Python objects needs the GIL, and the GIL
// belongs to an OS thread while goroutines move between threads. The one
// way to hold it is [Interpreter.Do] (or being called from Python as a
// [Func]): it locks the goroutine to its OS thread, takes the GIL and
// hands the function a *Py token. Any goroutine may call Do at any time,
// nested too (a Do inside a Do, or inside a Go function called from
// Python, reuses the GIL the thread holds). Each OS thread gets one
// CPython thread state, made the first time and kept.
//
// Calls take turns: one Do runs Python at a time, and Python switches
// between them every 5 ms (sys.setswitchinterval) while they run
// bytecode. A function that waits (for a channel, a lock, another Do)
// must release the GIL around the wait with [Py.AllowThreads], or it
// holds up every other caller, and deadlocks one it waits for.
//
// A *Py is checked at every use, not trusted: using a *Py, an *Object or
// Args without the GIL (a token kept after the Do returned, or used from
// a goroutine started inside it) returns [ErrNoGIL]; after Close,
// ErrClosed. Neither crashes the process.
//
// # References
//
// Every Object Go holds is a reference of its own. Close releases it;
// closing twice, a nil Object, or closing without the GIL are all safe
// (without the GIL the release is queued). An Object collected without
// Close is queued by its finalizer and released by the next goroutine
// that takes the GIL: a finalizer runs without the GIL, so it never
// touches a reference count itself. [LiveObjects] counts the references
// Go holds, the number a leak test watches. An [*Exception] holds the
// exception's objects until it is collected.
//
// # Conversions
//
// [Py.FromGo] and the arguments of [Object.Call] convert Go values to
// Python; [Object.ToGo] converts back to the natural Go type, and [As]
// (and [Arg] for a Go function's arguments) into a Go type of your
// choice, as encoding/json decodes. Integers never truncate: a uint64
// above MaxInt64 becomes a Python int, a Python int outside the target
// type's range is a [*ConversionError] with Overflow set (use
// [Object.AsBigInt] or As[*big.Int] for any size). What has no
// equivalent (a Go channel, a Python socket) is a *ConversionError; keep
// such Python values as Objects. Containers nested deeper than 200
// levels (a list that contains itself) are an error too.
//
// # Errors
//
// A Python exception raised into Go is an [*Exception] with the type's
// qualified name, str() of the exception and the traceback formatted as
// Python prints it, reachable with errors.As (or [ExceptionType]).
// SystemExit and KeyboardInterrupt are exceptions like any other: the
// application goes on.
//
// A Go function called from Python raises what it returns: an *Exception
// as the original exception object, a [RaiseError] (see [Raise]) as the
// named builtin exception, a ConversionError as TypeError or
// OverflowError, any other error as RuntimeError. A panic is recovered
// and raised as RuntimeError; in Do it is returned as a [*PanicError].
//
// # Cancellation
//
// [Interpreter.DoContext] interrupts the Python code it runs when its
// context is done: a private BaseException is raised in its thread
// between two bytecodes (finally blocks run), and the call returns
// ctx.Err(). Go code, and C code blocked in a system call, are not
// interrupted; they see the exception when they return to Python.
package host
