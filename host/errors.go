package host

// #include "shim.h"
import "C"

import (
	"fmt"
	"runtime/debug"
	"strings"
	"unsafe"
)

// Exception is a Python exception raised into Go: its type's qualified
// name ("ValueError", "json.decoder.JSONDecodeError"), str() of the
// exception, and the formatted traceback as Python prints it. Use
// errors.As to reach it. Returned from a Go function called by Python,
// it re-raises the original exception object.
type Exception struct {
	Type      string
	Msg       string
	Traceback string

	typ, value, tb *Object // owned; for re-raising
}

func (e *Exception) Error() string {
	if e.Msg == "" {
		return "python: " + e.Type
	}
	return "python: " + e.Type + ": " + e.Msg
}

// fetchError takes the current Python exception (the GIL is held) and
// returns it as an *Exception. It is an error to call it with no
// exception set; that case is reported as such rather than crashing.
func fetchError() error {
	var t, v, tb *C.PyObject
	C.PyErr_Fetch(&t, &v, &tb)
	if t == nil {
		return fmt.Errorf("host: a Python call failed without setting an exception")
	}
	C.PyErr_NormalizeException(&t, &v, &tb)
	if tb != nil && v != nil {
		C.PyException_SetTraceback(v, tb)
	}
	e := &Exception{typ: own(t), value: own(v), tb: own(tb)}
	e.Type = qualifiedName(t)
	if v != nil {
		e.Msg = e.value.String()
	}
	e.Traceback = formatException(e)
	return e
}

func qualifiedName(t *C.PyObject) string {
	return C.GoString(C.pyhost_tp_name(t))
}

func formatException(e *Exception) string {
	tbm, err := importQuiet("traceback")
	if err != nil {
		return ""
	}
	defer tbm.Close()
	f, err := tbm.Attr("format_exception")
	if err != nil {
		C.PyErr_Clear()
		return ""
	}
	defer f.Close()
	var args []any
	for _, o := range []*Object{e.typ, e.value, e.tb} {
		if o == nil {
			args = append(args, nil)
		} else {
			args = append(args, o)
		}
	}
	lines, err2 := f.Call(args...)
	if err2 != nil {
		return ""
	}
	defer lines.Close()
	v, err := lines.ToGo()
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, l := range v.([]any) {
		s, _ := l.(string)
		b.WriteString(s)
	}
	return b.String()
}

// importQuiet imports a module, clearing rather than reporting errors:
// used while reporting another error.
func importQuiet(name string) (*Object, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	m := own(C.PyImport_ImportModule(cs))
	if m == nil {
		C.PyErr_Clear()
		return nil, fmt.Errorf("host: import %s failed", name)
	}
	return m, nil
}

// restore raises e again in Python.
func (e *Exception) restore() {
	if e.typ == nil {
		return
	}
	var t, v, tb *C.PyObject
	for _, pair := range []struct {
		o   *Object
		dst **C.PyObject
	}{{e.typ, &t}, {e.value, &v}, {e.tb, &tb}} {
		if pair.o != nil && pair.o.p != nil && !pair.o.closed {
			C.pyhost_incref(pair.o.p)
			*pair.dst = pair.o.p
		}
	}
	C.PyErr_Restore(t, v, tb)
}

// PanicError is a panic recovered in Go code run by Do or called from
// Python. Raised into Python it becomes a RuntimeError.
type PanicError struct {
	Value any
	Stack string
}

func (e *PanicError) Error() string { return fmt.Sprintf("host: Go panic: %v", e.Value) }

func stack() string { return string(debug.Stack()) }

// RaiseError is a Go error that a Go function returns to raise a
// particular Python exception: Type names a builtin exception class
// ("ValueError", "ImportError").
type RaiseError struct {
	Type string
	Msg  string
}

func (e *RaiseError) Error() string { return "python: " + e.Type + ": " + e.Msg }

// Raise returns an error that raises the builtin exception typ with a
// formatted message when returned to Python.
func Raise(typ, format string, args ...any) error {
	return &RaiseError{Type: typ, Msg: fmt.Sprintf(format, args...)}
}

// setPythonError raises err in Python (the GIL is held).
func setPythonError(err error) {
	switch e := err.(type) {
	case *Exception:
		if e.typ != nil {
			e.restore()
			return
		}
	case *RaiseError:
		if typ := builtinException(e.Type); typ != nil {
			cs := C.CString(e.Msg)
			defer C.free(unsafe.Pointer(cs))
			C.pyhost_err_set(typ, cs)
			C.pyhost_decref(typ)
			return
		}
	}
	cs := C.CString(err.Error())
	defer C.free(unsafe.Pointer(cs))
	C.pyhost_err_set(C.PyExc_RuntimeError, cs)
}

// builtinException returns a new reference to builtins.<name> if it is
// an exception class, else nil.
func builtinException(name string) *C.PyObject {
	b := C.PyEval_GetBuiltins() // borrowed
	if b == nil {
		return nil
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	t := C.PyDict_GetItemString(b, cs) // borrowed
	if t == nil || C.pyhost_exception_class_check(t) == 0 {
		return nil
	}
	C.pyhost_incref(t)
	return t
}

var errAtExitFull = fmt.Errorf("host: CPython's table of exit functions is full")
