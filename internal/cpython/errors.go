package cpython

// #include "safety.h"
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

// ErrOccurred reports whether an exception is set. The GIL must be held
// for every function of this file.
func ErrOccurred() bool { return C.PyErr_Occurred() != nil }

// ErrClear clears the exception set, if any.
func ErrClear() { C.PyErr_Clear() }

// ErrMatchesOverflow reports whether the exception set is an OverflowError.
func ErrMatchesOverflow() bool { return C.PyErr_ExceptionMatches(C.PyExc_OverflowError) != 0 }

// ErrMatchesUnicodeEncode reports whether the exception set is a
// UnicodeEncodeError.
func ErrMatchesUnicodeEncode() bool {
	return C.PyErr_ExceptionMatches(C.PyExc_UnicodeEncodeError) != 0
}

// Fetch takes the exception set: new references (the value normalised,
// its __traceback__ set), all NULL when none is set.
func Fetch() (typ, value, tb Owned) {
	e := C.pyhost_err_take()
	return Owned{Ref{e.typ}}, Owned{Ref{e.value}}, Owned{Ref{e.tb}}
}

// Restore sets the exception again; it steals the three references (any
// may be NULL but typ).
func Restore(typ, value, tb Owned) { C.PyErr_Restore(typ.p, value.p, tb.p) }

// FormatException is traceback.format_exception joined into one string;
// ok false when traceback cannot be imported or fails (no exception is
// left set).
func FormatException(typ, value, tb Ref) (string, bool) {
	s := C.pyhost_format_exception(typ.p, value.p, tb.p)
	if s == nil {
		return "", false
	}
	defer C.pyhost_decref(s)
	str, ok := Ref{s}.GoString()
	if !ok {
		C.PyErr_Clear()
	}
	return str, ok
}

// QualifiedName is "module.qualname" of an exception class, as
// tracebacks name it ("json.decoder.JSONDecodeError", "ValueError").
// Leaves no exception set.
func QualifiedName(typ Ref) string {
	if s := C.pyhost_type_qualname(typ.p); s != nil {
		defer C.pyhost_decref(s)
		if name, ok := (Ref{s}).GoString(); ok {
			return name
		}
		C.PyErr_Clear()
	}
	return C.GoString(C.pyhost_tp_name(typ.p))
}

// SetError raises the builtin exception class named typ ("ValueError")
// with msg, RuntimeError when builtins has no such exception class. It
// returns a NULL Owned, for a raw function to return.
func SetError(typ, msg string) Owned {
	cs := C.CString(msg)
	defer C.free(unsafe.Pointer(cs))
	if t := builtinException(typ); t != nil {
		C.pyhost_err_set(t, cs)
		C.pyhost_decref(t)
		return Owned{}
	}
	C.pyhost_err_set(C.PyExc_RuntimeError, cs)
	return Owned{}
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

// Exception is a Python exception taken by TakeError, for the raw layer's
// callers (the pyhost command's start-up): names and text only, its
// objects released. Package host has its own, which keeps the objects.
type Exception struct {
	Type, Msg, Traceback string
}

func (e *Exception) Error() string {
	if e.Msg == "" {
		return "python: " + e.Type
	}
	return "python: " + e.Type + ": " + e.Msg
}

// errNoException is TakeError's answer when a call failed without
// setting an exception.
var errNoException = errors.New("cpython: a Python call failed without setting an exception")

// TakeError takes the exception set and returns it as an *Exception. It
// never prints it (PyErr_Print would end the process on SystemExit).
func TakeError() error {
	t, v, tb := Fetch()
	if t.IsNull() {
		return errNoException
	}
	defer t.Decref()
	defer v.Decref()
	defer tb.Decref()
	e := &Exception{Type: QualifiedName(t.Ref)}
	if !v.IsNull() {
		if s := v.Str(); !s.IsNull() {
			e.Msg, _ = s.GoString()
			s.Decref()
		}
		ErrClear()
	}
	e.Traceback, _ = FormatException(t.Ref, v.Ref, tb.Ref)
	return e
}

// DropTracebacks sets __traceback__ to None on exc and on the exceptions
// chained to it, releasing their frames and the locals those hold.
func DropTracebacks(exc Ref) {
	if exc.p != nil {
		C.pyhost_drop_tracebacks(exc.p)
	}
}

// IsCancelled reports whether typ is the private cancellation exception
// class (see AsyncCancel), or a subclass.
func IsCancelled(typ Ref) bool { return C.pyhost_cancelled_matches(typ.p) == 1 }

// CancelRunning schedules the cancellation exception in every thread
// that runs Python code, except the caller's and keep's (a ThreadIdent):
// the way to stop work in flight at shutdown. It reports how many it
// scheduled.
func CancelRunning(keep uint64) (int, error) {
	n := C.pyhost_cancel_running(C.ulong(keep))
	if n < 0 {
		return 0, TakeError()
	}
	return int(n), nil
}

// values are the Go values attached to Python exceptions by RaiseWith,
// by handle; an exception's capsule deletes its entry when freed.
var values struct {
	sync.Mutex
	next uintptr
	m    map[uintptr]any
}

//export goValueFree
func goValueFree(h C.uintptr_t) {
	values.Lock()
	delete(values.m, uintptr(h))
	values.Unlock()
}

// ExceptionClass finds an exception class by name: a builtin one
// ("ValueError") or module.Name ("json.JSONDecodeError", imported). A
// new reference, or an error naming what was not found (no exception
// left set).
func ExceptionClass(name string) (Owned, error) {
	if c := builtinException(name); c != nil {
		return Owned{Ref{c}}, nil
	}
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || i == len(name)-1 {
		return Owned{}, fmt.Errorf("no builtin exception class %q", name)
	}
	m := Import(name[:i])
	if m.IsNull() {
		err := TakeError()
		return Owned{}, fmt.Errorf("exception class %q: %w", name, err)
	}
	defer m.Decref()
	c := m.Attr(name[i+1:])
	if c.IsNull() {
		ErrClear()
		return Owned{}, fmt.Errorf("no exception class %q: module %s has no %s", name, name[:i], name[i+1:])
	}
	if C.pyhost_exception_class_check(c.p) == 0 {
		c.Decref()
		return Owned{}, fmt.Errorf("%q is not an exception class", name)
	}
	return c, nil
}

// RaiseWith raises an instance of the exception class cls made from msg,
// carrying v (nil: nothing) for GoValue to find when the exception comes
// back to Go. It returns a NULL Owned, for a raw function to return.
func RaiseWith(cls Ref, msg string, v any) Owned {
	var h uintptr
	if v != nil {
		values.Lock()
		if values.m == nil {
			values.m = map[uintptr]any{}
		}
		values.next++
		h = values.next
		values.m[h] = v
		values.Unlock()
	}
	cs := C.CString(msg)
	defer C.free(unsafe.Pointer(cs))
	C.pyhost_raise_with(cls.p, cs, C.uintptr_t(h))
	return Owned{}
}

// RaiseErrno raises what a failed os.listdir(filename) raises for errno e
// (OSError or its subclass, as PyErr_SetFromErrnoWithFilenameObject
// makes it). It returns a NULL Owned, for a raw function to return.
func RaiseErrno(e syscall.Errno, filename string) Owned {
	cs := C.CString(filename)
	defer C.free(unsafe.Pointer(cs))
	C.pyhost_raise_errno(C.int(e), cs)
	return Owned{}
}

// GoValue is the Go value RaiseWith attached to the exception instance
// exc, if any.
func GoValue(exc Ref) (any, bool) {
	h := uintptr(C.pyhost_exception_handle(exc.p))
	if h == 0 {
		return nil, false
	}
	values.Lock()
	v, ok := values.m[h]
	values.Unlock()
	return v, ok
}

// AttachedValues is how many Go values exceptions still carry.
func AttachedValues() int {
	values.Lock()
	defer values.Unlock()
	return len(values.m)
}

// NewExceptionClass makes an exception class named name
// ("module.Class"), deriving from base (NULL: Exception). A new
// reference, NULL with an exception set.
func NewExceptionClass(name, doc string, base Ref) Owned {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var cd *C.char
	if doc != "" {
		cd = C.CString(doc)
		defer C.free(unsafe.Pointer(cd))
	}
	return Owned{Ref{C.pyhost_new_exception(cn, cd, base.p)}}
}
