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
	t, v, tb := cpython.Fetch() // new references, handed to the Exception
	if t.IsNull() {
		return fmt.Errorf("host: a Python call failed without setting an exception")
	}
	e := &Exception{typ: own(t), value: own(v), tb: own(tb)}
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

// restore raises e again in Python.
func (e *Exception) restore() {
	if e.typ == nil {
		return
	}
	var refs [3]cpython.Owned
	for i, o := range []*Object{e.typ, e.value, e.tb} {
		if o != nil && !o.p.IsNull() && !o.closed {
			refs[i] = o.p.NewRef()
		}
	}
	cpython.Restore(refs[0], refs[1], refs[2])
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
	if errors.As(err, &pe) && pe.typ != nil && !pe.typ.p.IsNull() && !pe.typ.closed {
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
	cpython.SetError(typ, msg)
}
