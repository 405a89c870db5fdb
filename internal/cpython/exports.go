package cpython

// The //export trampolines CPython calls into Go through (see shim.c).

// #include "safety.h"
import "C"

import "unsafe"

//export goModuleExec
func goModuleExec(m *C.PyObject) C.int { return execModule(Ref{m}) }

//export goCallFunction
func goCallFunction(h C.Py_ssize_t, args **C.PyObject, nargs C.Py_ssize_t, kwnames *C.PyObject) *C.PyObject {
	nkw := 0
	if kwnames != nil {
		nkw = int(C.pyhost_tuple_size(kwnames))
	}
	var all []Ref // borrowed from the caller
	if int(nargs)+nkw > 0 {
		all = unsafe.Slice((*Ref)(unsafe.Pointer(args)), int(nargs)+nkw) // Ref is one *PyObject
	}
	return callFunc(int(h), Args{Pos: all[:nargs:nargs], KwNames: Ref{kwnames}, KwVals: all[nargs:]}).p
}

//export goCallClosure
func goCallClosure(h C.uintptr_t, args **C.PyObject, nargs C.Py_ssize_t, kwnames *C.PyObject) *C.PyObject {
	f := lookupClosure(uintptr(h))
	if f == nil {
		return SetError("RuntimeError", "cpython: a Go closure called after it was freed").p
	}
	nkw := 0
	if kwnames != nil {
		nkw = int(C.pyhost_tuple_size(kwnames))
	}
	var all []Ref // borrowed from the caller
	if int(nargs)+nkw > 0 {
		all = unsafe.Slice((*Ref)(unsafe.Pointer(args)), int(nargs)+nkw) // Ref is one *PyObject
	}
	return runFunc(f, Args{Pos: all[:nargs:nargs], KwNames: Ref{kwnames}, KwVals: all[nargs:]}).p
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
