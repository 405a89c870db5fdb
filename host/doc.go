// Package host embeds CPython in a Go program: the safe embedding API.
// It imports no C itself: it is written over pyhost's internal/cpython,
// the one package that speaks CPython's C API (cgo against the system
// libpython; building needs cgo and libpython3-dev), as PyO3 is over
// pyo3-ffi. Every raw reference it gets is wrapped at once as an owned
// [*Object] or used as a borrowed value within the call.
//
// It owns the interpreter an application starts, the Py token, the
// references Go holds as Objects, the conversions between Go and Python
// values and the memory Go shares with Python. It must never print a
// Python exception (PyErr_Print ends the process on SystemExit), never
// release a reference without the GIL, and never let a Go panic unwind
// through CPython's frames. No misuse of the API may crash the process:
// what cannot be done safely returns an error (or, for a Goexit under
// Python's frames, ends the process saying why, see Misuse below).
//
// A minimal program:
//
//	in, err := host.Start(host.Options{Isolated: true})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer in.Close()
//	err = in.Do(func(py *host.Py) error {
//		v, err := py.Eval("sum(range(10))")
//		if err != nil {
//			return err
//		}
//		defer v.Close()
//		n, err := host.As[int](v)
//		fmt.Println(n)
//		return err
//	})
//
// # Lifetimes
//
// A process has at most one interpreter: CPython cannot be initialised
// twice (extension modules such as numpy crash on a second start). [Start]
// succeeds once per process; a second call returns [ErrStarted], even
// after [Interpreter.Close]. A program that starts Python itself (the
// pyhost command runs python3's own start-up) registers its modules with
// [Register] beforehand and reaches its Go code's token through [Attach].
//
// What the API hands out, and how long each is valid:
//
//   - A [*Py] token: only inside the function it was given to (Do's
//     function, a Go function called from Python), on that goroutine.
//     Used later or elsewhere it returns [ErrNoGIL], or [ErrClosed].
//   - An [*Object]: an owned reference, valid until its Close, usable
//     wherever a *Py is. Close is idempotent, from any goroutine, with or
//     without the GIL (then the release is queued for the next holder of
//     the GIL). An Object dropped without Close is released after Go's
//     collector finds it; [LiveObjects] counts those not yet released.
//   - [Args]: borrowed from Python's caller, valid until the Go function
//     returns. Kept longer, every method returns [ErrStaleArgs] (each call
//     has a generation that its Args check). Keep a value with
//     Args.Object or a conversion.
//   - The items of [Object.Iter] and [Object.Items]: valid in the body of
//     the loop; [Object.NewRef] keeps one.
//   - An [*Exception]: its type name, message and traceback are text,
//     kept as long as Go keeps the error. The traceback's frames (and
//     every local variable in them) are released as soon as the
//     exception reaches Go, so a failed call holds no memory; the
//     exception object itself is kept for re-raising and
//     [Exception.Object] until [Exception.Close] or collection.
//   - A GoBuffer ([NewBuffer]): Go memory shared with Python, pinned for
//     as long as Python holds the GoBuffer or anything made from it (a
//     memoryview, an ndarray); see NewBuffer.
//   - A Go function handed to Python ([Py.NewFunc]): kept as long as
//     Python holds the function object, released with it.
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
// bytecode. Goroutines waiting for their turn wait in Go, not in C: a few
// wait for the GIL itself and the rest queue in front of them, costing
// no OS thread, so any number of goroutines may call Do at once (12,000
// concurrent calls use about ten threads). A function that waits (for a
// channel, a lock, another Do) must release the GIL around the wait with
// [Py.AllowThreads], or it holds up every other caller, and deadlocks one
// it waits for; AllowThreads keeps its OS thread (Python's state belongs
// to it), so a server should not park thousands of calls inside it.
//
// Python threads started inside Do are non-daemon, as those python3's
// main thread starts are, and Close waits for them as python3 waits at
// exit. Go code must not hand Objects to a Python thread without the GIL,
// as anywhere else.
//
// # Ownership between Go and Python
//
// Go values given to Python are converted (copied), except what is
// shared on purpose: an *Object passed as itself, a GoBuffer's memory
// ([NewBuffer]: numpy arrays over Go slices, written by either side)
// and a Go function ([Py.NewFunc]: Python calls the same closure). Python
// values given to Go are converted too ([Object.ToGo], [As]), except an
// *Object, which is a reference. [As] of a slice of numbers reads any
// buffer exporter (ndarray, array.array, memoryview) with one copy;
// [AppendBuffer] reuses the caller's slice.
//
// # Conversions
//
// [Py.FromGo] and the arguments of [Object.Call] convert Go values to
// Python; [Object.ToGo] converts back to the natural Go type, and [As]
// (and [Arg] and [Param] for a Go function's arguments) into a Go type
// of your choice, as encoding/json decodes. Integers never truncate: a
// uint64 above MaxInt64 becomes a Python int, a Python int outside the
// target type's range is a [*ConversionError] with Overflow set (use
// [Object.AsBigInt] or As[*big.Int] for any size). Objects that stand
// for numbers (numpy.int64, numpy.float32: __index__, __float__) convert
// to Go's integer and float types; a str never does. What has no
// equivalent (a Go channel, a Python socket) is a *ConversionError; keep
// such Python values as Objects. Containers nested deeper than 200
// levels (a list that contains itself) are an error too.
//
// # Go functions called from Python
//
// A [Module] of [Func]s is importable by name; [Py.NewFunc] makes a
// function of any closure. A Func with a declared signature (Func.Sig,
// "(x, /, factor=1.0, *, offset=0.0)") has its arguments checked as a
// def's are, with TypeErrors that name it, and inspect.signature reads
// it; [Param] reads an argument by name. Without Sig, Fn checks its
// arguments itself ([Arg], [Args.Kw]).
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
// as the original exception object, a [RaiseError] (see [Raise],
// [RaiseClass]) as the exception class it names (a builtin, module.Name,
// or a Module's [ErrorClass]; an unknown name raises TypeError saying
// so), a ConversionError as TypeError or OverflowError, any other error
// as RuntimeError whose message names the function. The Go error travels
// with the Python exception: caught back in Go, the *Exception unwraps to
// it, so errors.Is and errors.As find it after a round trip through
// Python code. A panic is recovered and raised as RuntimeError; in Do it
// is returned as a [*PanicError].
//
// # Cancellation and shutdown
//
// [Interpreter.DoContext] interrupts the Python code it runs when its
// context is done: a private BaseException is raised in its thread
// between two bytecodes (finally blocks run), and the call returns
// ctx.Err(). Go code, and C code blocked in a system call, are not
// interrupted; they see the exception when they return to Python.
//
// [Interpreter.Close] waits for the calls under way and for non-daemon
// Python threads, runs Python's atexit functions and finalises Python on
// the OS thread that started it; afterwards every call returns
// ErrClosed. [Interpreter.CloseContext] does the same but, once its
// context is done, cancels the Python code still running in every thread
// (calls in flight return an error matching [ErrCancelled]), so a
// shutdown is never held up forever by an endless Python loop.
//
// # Misuse
//
// Using a token, an Object or Args outside their lifetime, from another
// goroutine, after Close, or a nil or closed Object, returns an error.
// One misuse cannot be turned into an error: runtime.Goexit (t.Fatal,
// t.FailNow, t.SkipNow in a test) inside a Go function called from
// Python. The goroutine it ends runs Python's C frames below the
// function, which Go would abandon with the GIL held; the process ends
// at once instead (exit status 2), with a message naming the function
// and the goroutine's stack. Report failures from such a function as a
// returned error. A Goexit in Do's own function (no Python frames below)
// is safe: the GIL is given back on the way out.
package host
