package host

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/pyhost/pyhost/internal/cpython"
)

// Exception is a Python exception raised into Go: its type's qualified
// name ("ValueError", "json.decoder.JSONDecodeError"), str() of the
// exception, and the formatted traceback as Python prints it. Use
// errors.As to reach it. Returned from a Go function called by Python,
// it re-raises the original exception object.
//
// The traceback is kept as text only: the frames it held (and every
// local variable in them) are released when the exception reaches Go,
// so that a failed call never keeps its data alive. The exception object
// itself (small once its traceback is gone) is kept for re-raising and
// for [Exception.Object] until [Exception.Close], or until the Exception
// is garbage collected.
type Exception struct {
	Type      string
	Msg       string
	Traceback string

	typ, value *Object // owned; for re-raising
	goErr      error   // the Go error this exception was raised from, if any
}

// Unwrap is the Go error a Go function returned that Python raised as
// this exception (nil if it came from Python code): a Go error keeps its
// identity for errors.Is and errors.As through Python.
func (e *Exception) Unwrap() error { return e.goErr }

func (e *Exception) Error() string {
	if e.Msg == "" {
		return "python: " + e.Type
	}
	return "python: " + e.Type + ": " + e.Msg
}

// Object returns the Python exception object, a new reference (Close
// it), or ErrNilObject once the Exception is closed. Its __traceback__
// is None: the traceback survives only as the Traceback text.
func (e *Exception) Object() (*Object, error) {
	if e == nil || e.value == nil {
		return nil, ErrNilObject
	}
	p, err := e.value.ptr()
	if err != nil {
		return nil, err
	}
	return borrow(p), nil
}

// Close releases the Python exception object; the type name, message and
// traceback text stay. Closing is optional (an Exception collected by
// Go's garbage collector releases it too) and safe without the GIL.
// Returned to Python after Close, the exception is raised anew from its
// type name as a RuntimeError.
func (e *Exception) Close() {
	if e == nil {
		return
	}
	e.typ.Close()
	e.value.Close()
}

// fetchError takes the current Python exception (the GIL is held) and
// returns it as an *Exception. It is an error to call it with no
// exception set; that case is reported as such rather than crashing.
// It never prints the exception: PyErr_Print would end the process on a
// SystemExit.
func fetchError() error {
	t, v, tb := cpython.Fetch() // new references; t and v handed to the Exception
	if t.IsNull() {
		return fmt.Errorf("host: a Python call failed without setting an exception")
	}
	defer tb.Decref() // the frames go once the text is made
	e := &Exception{typ: own(t), value: own(v)}
	e.Type = cpython.QualifiedName(t.Ref)
	if !v.IsNull() {
		e.Msg = e.value.String()
	}
	e.Traceback, _ = cpython.FormatException(t.Ref, v.Ref, tb.Ref)
	if e.Traceback == "" {
		// traceback cannot be imported (during Setup, before sys.path
		// is searched) or failed itself: at least the last line.
		e.Traceback = e.Type + ": " + e.Msg + "\n"
		if e.Msg == "" {
			e.Traceback = e.Type + "\n"
		}
	}
	if !v.IsNull() {
		if g, ok := cpython.GoValue(v.Ref); ok {
			e.goErr, _ = g.(error)
		}
	}
	cpython.DropTracebacks(v.Ref)
	if cpython.IsCancelled(t.Ref) {
		return &cancelError{e}
	}
	return e
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

// restore raises e again in Python; false once e is closed.
func (e *Exception) restore() bool {
	if e.typ == nil {
		return false
	}
	tp, err := e.typ.ptr()
	if err != nil {
		return false
	}
	var v cpython.Owned
	if vp, err := e.value.ptr(); err == nil {
		v = vp.NewRef()
	}
	cpython.Restore(tp.NewRef(), v, cpython.Owned{})
	return true
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
// particular Python exception: Type names its class, a builtin one
// ("ValueError", "ImportError") or module.Name ("json.JSONDecodeError",
// a Module's ErrorClass "mymod.NotFound"; the module is imported). A
// name that finds no exception class raises TypeError saying so, never
// a silent RuntimeError.
type RaiseError struct {
	Type string
	Msg  string

	class *Object // RaiseClass's
	named bool    // made by Args: its message names the function
}

func (e *RaiseError) Error() string { return "python: " + e.Type + ": " + e.Msg }

// Raise returns an error that raises the exception class typ (see
// RaiseError) with a formatted message when returned to Python.
func Raise(typ, format string, args ...any) error {
	return &RaiseError{Type: typ, Msg: fmt.Sprintf(format, args...)}
}

// RaiseClass is Raise for an exception class held as an Object (made by
// NewExceptionClass, or taken from Python).
func RaiseClass(cls *Object, format string, args ...any) error {
	name := "<nil class>"
	if p, err := cls.ptr(); err == nil {
		name = cpython.QualifiedName(p)
	}
	return &RaiseError{Type: name, Msg: fmt.Sprintf(format, args...), class: cls}
}

// setPythonError raises err in Python (the GIL is held) for the Go
// function qual: a Python exception as itself, a RaiseError as its
// class, a ConversionError as TypeError or OverflowError, anything else
// (a Go error, a recovered panic) as RuntimeError with the error's text.
// What is raised from a Go error carries it, so that the error found
// back in Go wraps it (errors.Is and errors.As see through Python).
// Messages that host makes (not a RaiseError's) name the function.
func setPythonError(err error, qual string) {
	var pe *Exception
	if errors.As(err, &pe) && pe.restore() {
		return
	}
	typ, msg := "RuntimeError", qual+"(): "+err.Error()
	var re *RaiseError
	var ce *ConversionError
	switch {
	case errors.As(err, &re):
		typ = re.Type
		if err == error(re) {
			msg = re.Msg
			if re.named {
				msg = qual + "(): " + re.Msg
			}
		}
		if re.class != nil {
			if p, perr := re.class.ptr(); perr == nil {
				cpython.RaiseWith(p, msg, err)
				return
			}
			typ, msg = "TypeError", fmt.Sprintf("%s(): host.RaiseClass with a closed or nil class (raising %q)", qual, msg)
		}
	case errors.As(err, &ce):
		typ = "TypeError"
		if ce.Overflow {
			typ = "OverflowError"
		}
	}
	cls, cerr := cpython.ExceptionClass(typ)
	if cerr != nil {
		cls, _ = cpython.ExceptionClass("TypeError")
		msg = fmt.Sprintf("%s(): host.Raise: %v (raising %q)", qual, cerr, msg)
	}
	defer cls.Decref()
	cpython.RaiseWith(cls.Ref, msg, err)
}
