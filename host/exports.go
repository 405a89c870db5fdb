package host

// The //export trampolines CPython calls into Go through (see shim.c).

// #include "shim.h"
import "C"

import "sync"

//export goModuleExec
func goModuleExec(m *C.PyObject) C.int { return execModule(m) }

//export goCallFunction
func goCallFunction(h C.Py_ssize_t, args **C.PyObject, nargs C.Py_ssize_t, kwnames *C.PyObject) *C.PyObject {
	return callFunc(int(h), args, int(nargs), kwnames)
}

var atExit struct {
	sync.Mutex
	fns        []func()
	registered bool
}

//export goAtExit
func goAtExit() {
	atExit.Lock()
	fns := atExit.fns
	atExit.fns = nil
	atExit.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// AtExit registers fn to run once Python has been finalised, on every
// exit path that finalises it (the end of the program, sys.exit, an
// uncaught exception): the place to finalise MPI. Functions run in
// reverse order of registration, without the GIL; they must not use
// Python.
func AtExit(fn func()) error {
	atExit.Lock()
	defer atExit.Unlock()
	if !atExit.registered {
		if C.pyhost_atexit_register() < 0 {
			return errAtExitFull
		}
		atExit.registered = true
	}
	atExit.fns = append(atExit.fns, fn)
	return nil
}
