// Package host embeds CPython in a Go program. It is the only package of
// pyhost that speaks CPython's C API (cgo against the system libpython,
// found with pkg-config python3-embed); the layers above never import "C".
//
// # Lifetimes
//
// A process has at most one interpreter: CPython cannot be initialised
// twice (extension modules such as numpy crash on a second start), so
// Start succeeds once and Close is final.
//
// # The GIL
//
// Every call that touches Python objects needs the GIL, and the GIL
// belongs to an OS thread while goroutines move between threads. The one
// way to hold it is [Interpreter.Do] (or being called from Python as a
// [Func]): it locks the goroutine to its OS thread, takes the GIL and
// hands the function a *Py token; the token and every *Object are valid
// only inside that call, on that goroutine.
//
// # References
//
// An *Object is an owned reference. Close releases it; one collected
// without Close is released the next time the GIL is taken, never from a
// finalizer (finalizers run without the GIL). [LiveObjects] counts the
// references Go holds.
//
// # Errors
//
// A Python exception raised into Go is an *[Exception] (type, message,
// traceback), reachable with errors.As. A Go error returned to Python is
// raised; a Go panic inside Do or a Func is recovered as a *[PanicError].
package host
