package host

// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"runtime/debug"
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
// It never prints the exception: PyErr_Print would end the process on a
// SystemExit.
func fetchError() error {
	var t, v, tb *C.PyObject // new references, handed to the Exception
	C.pyhost_err_fetch(&t, &v, &tb)
	if t == nil {
		return fmt.Errorf("host: a Python call failed without setting an exception")
	}
	e := &Exception{typ: own(t), value: own(v), tb: own(tb)}
	e.Type = qualifiedName(t)
	if v != nil {
		e.Msg = e.value.String()
	}
	if s := C.pyhost_format_exception(t, v, tb); s != nil {
		e.Traceback, _ = goString(s)
		C.pyhost_decref(s)
	}
	if e.Traceback == "" {
		// traceback cannot be imported (during Setup, before sys.path
		// is searched) or failed itself: at least the last line.
		e.Traceback = e.Type + ": " + e.Msg + "\n"
		if e.Msg == "" {
			e.Traceback = e.Type + "\n"
		}
	}
	return e
}

// qualifiedName is "module.qualname" of an exception class, as
// tracebacks name it ("json.decoder.JSONDecodeError", "ValueError").
func qualifiedName(t *C.PyObject) string {
	if s := C.pyhost_type_qualname(t); s != nil {
		defer C.pyhost_decref(s)
		if name, err := goString(s); err == nil {
			return name
		}
		C.PyErr_Clear()
	}
	return C.GoString(C.pyhost_tp_name(t))
}

// ExceptionType returns the qualified type name of the Python exception
// err holds ("SystemExit", "json.decoder.JSONDecodeError"), or "" if it
// holds none.
func ExceptionType(err error) string {
	var e *Exception
	if errors.As(err, &e) {
		return e.Type
	}
	return ""
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
// Python, with the goroutine's stack where it was recovered. Raised into
// Python it becomes a RuntimeError.
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

// setPythonError raises err in Python (the GIL is held): a Python
// exception as itself, a RaiseError as its type, a ConversionError as
// TypeError or OverflowError, anything else (a Go error, a recovered
// panic) as RuntimeError with the error's text.
func setPythonError(err error) {
	var pe *Exception
	if errors.As(err, &pe) && pe.typ != nil && pe.typ.p != nil && !pe.typ.closed {
		pe.restore()
		return
	}
	typ, msg := "RuntimeError", err.Error()
	var re *RaiseError
	var ce *ConversionError
	switch {
	case errors.As(err, &re):
		typ = re.Type
		if err == error(re) {
			msg = re.Msg
		}
	case errors.As(err, &ce):
		typ = "TypeError"
		if ce.Overflow {
			typ = "OverflowError"
		}
	}
	cs := C.CString(msg)
	defer C.free(unsafe.Pointer(cs))
	if t := builtinException(typ); t != nil {
		C.pyhost_err_set(t, cs)
		C.pyhost_decref(t)
		return
	}
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
