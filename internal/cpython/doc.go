// Package cpython is pyhost's raw layer over CPython's C API, as pyo3-ffi
// is to PyO3: the only package of the module that imports "C" for
// Python (cgo against Debian's static libpython3.11.a, or with
// -tags sharedpython the shared library pkg-config python3-embed finds).
// Package host, the safe embedding API, and the pyhost command's packages
// (importer, launch) are written over it and never import "C"; built
// with cgo off it fails to compile with a message that says why.
//
// The C surface is kept in shim.c/shim.h (macros, static inline
// functions, variadic calls, PyStatus by value, the C side of the
// importer's scan of a search path), safety.c/safety.h (what keeps the
// embedding API's misuses harmless: the gate's thread-local mark,
// cancelling every running thread, dropping an exception's frames, Go
// values carried by exceptions, Go closures as function objects),
// buffer.c/buffer.h (the buffer protocol both ways: the pyhost.GoBuffer
// type over pinned Go memory, reading any exporter), exports.go (the
// //export trampolines Python calls Go through; buffer.go, errors.go and
// module.go export the destructors' callbacks) and the two link_*.go
// files. Its exported Go signatures never mention a C type.
//
// # What it owns
//
//   - Reference types: every pointer to a Python object that crosses
//     into Go is a [Ref] (borrowed: valid while its lender keeps it) or an
//     [Owned] (a new reference its holder must Decref or Release, or hand
//     to a call documented as stealing it). Owned embeds the Ref it lends,
//     so borrowing is the explicit o.Ref and a function's signature says
//     which it gives and takes. A NULL (zero) Owned returned by a call
//     means an exception is set, as in C.
//   - Reference counting, and the queue of references released without
//     the GIL ([Owned.Release], [DrainReleases]).
//   - The GIL: [WithGIL] is the one place that locks the OS thread and
//     takes the GIL together, behind a gate that makes surplus callers
//     wait in Go rather than in C (each waiter in C pins an OS thread);
//     [AllowThreads] gives it (and the gate's token) up around a wait.
//   - The boundary of every Go function Python calls: a panic becomes
//     RuntimeError, a runtime.Goexit ends the process with a message (it
//     cannot be stopped, and would abandon Python's C frames).
//   - Go memory lent to Python ([NewGoBuffer]: pinned until Python frees
//     the GoBuffer) and Python buffers read by Go ([ReadBuffer]).
//   - Interpreter start-up in two phases ([InitCore], then [InitMain];
//     between them a Setup step that installs the importer), finalisation,
//     and the pyhost command's way in: [Main], [Exit], [AtExit],
//     [ReadConfig], [XOptions].
//   - Builtin modules of Go functions at the raw level ([Module],
//     [Func], [RegisterModule]): host's public Module and the command's
//     modules are made of these.
//   - Errors at the raw level: [Fetch] / [Restore], [SetError],
//     [TakeError].
//   - The C scan of a search path for the importer ([PathScan],
//     [MetaNextIs], [SysPath]); the importer owns what is done with it.
//
// # What it must never do
//
// It never decides policy: no conversion of Go values beyond one C call,
// no Python exception printed (PyErr_Print ends the process on
// SystemExit), no callback into a higher layer other than the Go
// functions a module registers. Its own code never panics into CPython's
// frames (a raw Func must not either; [Recover] wraps one that might),
// it never touches a reference count without the GIL (a
// finalizer only queues), and never stores a Go pointer in C memory.
//
// # The GIL
//
// Everything here needs the GIL held by the calling thread except:
// [HoldsGIL], [WithGIL], [WithGILDone], [WithGILUngated], [Owned.Release], [QueuedReleases], [Version],
// [PinnedBuffers], [LiveClosures], [AttachedValues],
// [RegisterModule] (before start-up), [InitCore] (before start-up, on
// the thread that will finalise Python), [Main], [Exit], [AtExit] and
// [ThreadState.Restore]. [ReadConfig] and [XOptions] check and return
// [ErrNoGIL] or [ErrNotRunning]; the rest trust the caller, as the C API
// does: calling them without the GIL is undefined behaviour. Go
// functions called from Python (a [Func]'s Call) run with it held.
package cpython
