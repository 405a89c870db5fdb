package host

// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

func gettid() int { return syscall.Gettid() }

// Object is an owned reference to a Python object, held by Go. Close
// releases it (with the GIL held: inside Do); an Object garbage collected
// without Close is released the next time some goroutine takes the GIL,
// never from the finalizer itself, which runs without it.
//
// An Object must only be used inside Do (or a Go function called from
// Python), with the Py token of that call.
type Object struct {
	p      *C.PyObject
	closed bool
}

var liveObjects atomic.Int64

// LiveObjects reports how many Objects are held by Go and not yet
// released: a leak test's counter.
func LiveObjects() int64 { return liveObjects.Load() }

// own wraps a new reference; nil stays nil.
func own(p *C.PyObject) *Object {
	if p == nil {
		return nil
	}
	o := &Object{p: p}
	liveObjects.Add(1)
	runtime.SetFinalizer(o, queueRelease)
	return o
}

// borrow wraps a borrowed reference, taking a reference of its own.
func borrow(p *C.PyObject) *Object {
	if p == nil {
		return nil
	}
	C.pyhost_incref(p)
	return own(p)
}

var releases struct {
	sync.Mutex
	queue []*C.PyObject
}

func queueRelease(o *Object) {
	if o.closed || o.p == nil {
		return
	}
	releases.Lock()
	releases.queue = append(releases.queue, o.p)
	releases.Unlock()
}

// drainReleases releases references of Objects that were collected
// without Close. The GIL must be held.
func drainReleases() {
	releases.Lock()
	q := releases.queue
	releases.queue = nil
	releases.Unlock()
	for _, p := range q {
		C.pyhost_decref(p)
		liveObjects.Add(-1)
	}
}

// Close releases the reference. Closing twice is harmless.
func (o *Object) Close() {
	if o == nil || o.closed || o.p == nil {
		return
	}
	o.closed = true
	runtime.SetFinalizer(o, nil)
	C.pyhost_decref(o.p)
	liveObjects.Add(-1)
}

// ErrNilObject is returned for operations on a nil or closed Object.
var ErrNilObject = errors.New("host: nil or closed Object")

func (o *Object) ptr() (*C.PyObject, error) {
	if o == nil || o.p == nil || o.closed {
		return nil, ErrNilObject
	}
	return o.p, nil
}

// TypeName is the Python type's name (tp_name).
func (o *Object) TypeName() string {
	p, err := o.ptr()
	if err != nil {
		return "<nil>"
	}
	return C.GoString(C.pyhost_type_name(p))
}

// Import imports a module by its full name (as the import statement).
func (py *Py) Import(name string) (*Object, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	m := own(C.PyImport_ImportModule(cs))
	if m == nil {
		return nil, fetchError()
	}
	return m, nil
}

// Attr gets an attribute (getattr).
func (o *Object) Attr(name string) (*Object, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	a := own(C.PyObject_GetAttrString(p, cs))
	if a == nil {
		return nil, fetchError()
	}
	return a, nil
}

// SetAttr sets an attribute to a converted Go value.
func (o *Object) SetAttr(name string, v any) error {
	p, err := o.ptr()
	if err != nil {
		return err
	}
	val, err := fromGo(v)
	if err != nil {
		return err
	}
	defer C.pyhost_decref(val)
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	if C.PyObject_SetAttrString(p, cs, val) < 0 {
		return fetchError()
	}
	return nil
}

// Call calls the object with Go arguments converted by FromGo.
func (o *Object) Call(args ...any) (*Object, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	t, err := tupleOf(args)
	if err != nil {
		return nil, err
	}
	defer C.pyhost_decref(t)
	r := own(C.PyObject_Call(p, t, nil))
	if r == nil {
		return nil, fetchError()
	}
	return r, nil
}

// CallKw calls the object with positional and keyword arguments.
func (o *Object) CallKw(args []any, kwargs map[string]any) (*Object, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	t, err := tupleOf(args)
	if err != nil {
		return nil, err
	}
	defer C.pyhost_decref(t)
	var kw *C.PyObject
	if len(kwargs) > 0 {
		if kw, err = fromGo(kwargs); err != nil {
			return nil, err
		}
		defer C.pyhost_decref(kw)
	}
	r := own(C.PyObject_Call(p, t, kw))
	if r == nil {
		return nil, fetchError()
	}
	return r, nil
}

// CallMethod calls o.name(args...).
func (o *Object) CallMethod(name string, args ...any) (*Object, error) {
	m, err := o.Attr(name)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return m.Call(args...)
}

// String returns str(o).
func (o *Object) String() string {
	p, err := o.ptr()
	if err != nil {
		return "<nil>"
	}
	s := C.PyObject_Str(p)
	if s == nil {
		C.PyErr_Clear()
		return "<unprintable " + o.TypeName() + ">"
	}
	defer C.pyhost_decref(s)
	str, _ := goString(s)
	return str
}

func tupleOf(args []any) (*C.PyObject, error) {
	t := C.PyTuple_New(C.Py_ssize_t(len(args)))
	if t == nil {
		return nil, fetchError()
	}
	for i, a := range args {
		v, err := fromGo(a)
		if err != nil {
			C.pyhost_decref(t)
			return nil, fmt.Errorf("host: argument %d: %w", i, err)
		}
		C.pyhost_tuple_set(t, C.Py_ssize_t(i), v) // steals v
	}
	return t, nil
}

// goString converts a str (UTF-8; lone surrogates as os.fsencode gives
// them) to a Go string.
func goString(p *C.PyObject) (string, error) {
	var n C.Py_ssize_t
	var owner *C.PyObject
	s := C.pyhost_str_as(p, &n, &owner)
	if s == nil {
		return "", fetchError()
	}
	str := C.GoStringN(s, C.int(n))
	C.pyhost_xdecref(owner)
	return str, nil
}

func newStr(s string) *C.PyObject {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	return C.pyhost_str_from(cs, C.Py_ssize_t(len(s)))
}

// Tuple converts to a Python tuple (a Go slice converts to a list).
type Tuple []any

// ConversionError reports a value that has no equivalent on the other side.
type ConversionError struct {
	What string
}

func (e *ConversionError) Error() string { return "host: cannot convert " + e.What }

// fromGo converts a Go value to a new reference.
func fromGo(v any) (*C.PyObject, error) {
	switch x := v.(type) {
	case nil:
		return C.pyhost_none(), nil
	case *Object:
		p, err := x.ptr()
		if err != nil {
			return nil, err
		}
		C.pyhost_incref(p)
		return p, nil
	case bool:
		if x {
			return C.pyhost_true(), nil
		}
		return C.pyhost_false(), nil
	case int:
		return C.PyLong_FromLongLong(C.longlong(x)), nil
	case int8:
		return C.PyLong_FromLongLong(C.longlong(x)), nil
	case int16:
		return C.PyLong_FromLongLong(C.longlong(x)), nil
	case int32:
		return C.PyLong_FromLongLong(C.longlong(x)), nil
	case int64:
		return C.PyLong_FromLongLong(C.longlong(x)), nil
	case uint:
		return C.PyLong_FromUnsignedLongLong(C.ulonglong(x)), nil
	case uint8:
		return C.PyLong_FromUnsignedLongLong(C.ulonglong(x)), nil
	case uint16:
		return C.PyLong_FromUnsignedLongLong(C.ulonglong(x)), nil
	case uint32:
		return C.PyLong_FromUnsignedLongLong(C.ulonglong(x)), nil
	case uint64:
		return C.PyLong_FromUnsignedLongLong(C.ulonglong(x)), nil
	case float32:
		return C.PyFloat_FromDouble(C.double(x)), nil
	case float64:
		return C.PyFloat_FromDouble(C.double(x)), nil
	case string:
		r := newStr(x)
		if r == nil {
			return nil, fetchError()
		}
		return r, nil
	case []byte:
		var p *C.char
		if len(x) > 0 {
			p = (*C.char)(unsafe.Pointer(&x[0]))
		}
		return C.PyBytes_FromStringAndSize(p, C.Py_ssize_t(len(x))), nil
	case Tuple:
		return tupleOf(x)
	case []string:
		l := C.PyList_New(C.Py_ssize_t(len(x)))
		for i, s := range x {
			e := newStr(s)
			if e == nil {
				C.pyhost_decref(l)
				return nil, fetchError()
			}
			C.pyhost_list_set(l, C.Py_ssize_t(i), e)
		}
		return l, nil
	case []any:
		l := C.PyList_New(C.Py_ssize_t(len(x)))
		for i, a := range x {
			e, err := fromGo(a)
			if err != nil {
				C.pyhost_decref(l)
				return nil, err
			}
			C.pyhost_list_set(l, C.Py_ssize_t(i), e)
		}
		return l, nil
	case map[string]any:
		d := C.PyDict_New()
		for k, a := range x {
			e, err := fromGo(a)
			if err != nil {
				C.pyhost_decref(d)
				return nil, err
			}
			ks := newStr(k)
			rc := C.PyDict_SetItem(d, ks, e)
			C.pyhost_decref(ks)
			C.pyhost_decref(e)
			if rc < 0 {
				C.pyhost_decref(d)
				return nil, fetchError()
			}
		}
		return d, nil
	}
	return nil, &ConversionError{What: fmt.Sprintf("Go %T to Python", v)}
}

// FromGo converts a Go value to a Python object: nil → None, bool, the
// integer and float types, string → str, []byte → bytes, Tuple → tuple,
// []string and []any → list, map[string]any → dict, *Object as itself.
func (py *Py) FromGo(v any) (*Object, error) {
	p, err := fromGo(v)
	if err != nil {
		return nil, err
	}
	return own(p), nil
}

// ToGo converts a Python object to a Go value: None → nil, bool, int →
// int64 (an error if it overflows), float → float64, str → string,
// bytes → []byte, list and tuple → []any, dict with str keys →
// map[string]any. Other types are a *ConversionError.
func (o *Object) ToGo() (any, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	return toGo(p)
}

func toGo(p *C.PyObject) (any, error) {
	switch {
	case C.pyhost_is_none(p) == 1:
		return nil, nil
	case C.pyhost_bool_check(p) == 1:
		return p == C.pyhost_true_ptr(), nil
	case C.pyhost_long_check(p) == 1:
		var overflow C.int
		v := C.PyLong_AsLongLongAndOverflow(p, &overflow)
		if overflow != 0 {
			return nil, &ConversionError{What: "a Python int that overflows int64"}
		}
		if v == -1 && C.PyErr_Occurred() != nil {
			return nil, fetchError()
		}
		return int64(v), nil
	case C.pyhost_float_check(p) == 1:
		return float64(C.PyFloat_AsDouble(p)), nil
	case C.pyhost_unicode_check(p) == 1:
		return goString(p)
	case C.pyhost_bytes_check(p) == 1:
		var buf *C.char
		var n C.Py_ssize_t
		C.PyBytes_AsStringAndSize(p, &buf, &n)
		return C.GoBytes(unsafe.Pointer(buf), C.int(n)), nil
	case C.pyhost_list_check(p) == 1, C.pyhost_tuple_check(p) == 1:
		n := C.PySequence_Size(p)
		out := make([]any, int(n))
		for i := range out {
			var e *C.PyObject
			if C.pyhost_list_check(p) == 1 {
				e = C.pyhost_list_get(p, C.Py_ssize_t(i))
			} else {
				e = C.pyhost_tuple_get(p, C.Py_ssize_t(i))
			}
			v, err := toGo(e)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case C.pyhost_dict_check(p) == 1:
		out := map[string]any{}
		var pos C.Py_ssize_t
		var k, v *C.PyObject
		for C.PyDict_Next(p, &pos, &k, &v) != 0 {
			if C.pyhost_unicode_check(k) != 1 {
				return nil, &ConversionError{What: "a dict with a non-str key"}
			}
			ks, err := goString(k)
			if err != nil {
				return nil, err
			}
			gv, err := toGo(v)
			if err != nil {
				return nil, err
			}
			out[ks] = gv
		}
		return out, nil
	}
	return nil, &ConversionError{What: "Python " + C.GoString(C.pyhost_type_name(p)) + " to Go"}
}

// AsString returns the str's value.
func (o *Object) AsString() (string, error) {
	p, err := o.ptr()
	if err != nil {
		return "", err
	}
	if C.pyhost_unicode_check(p) != 1 {
		return "", &ConversionError{What: "Python " + o.TypeName() + " to Go string"}
	}
	return goString(p)
}

// AsInt returns the int's value; one that does not fit int64 is an error.
func (o *Object) AsInt() (int64, error) {
	v, err := o.ToGo()
	if err != nil {
		return 0, err
	}
	i, ok := v.(int64)
	if !ok {
		return 0, &ConversionError{What: "Python " + o.TypeName() + " to Go int64"}
	}
	return i, nil
}

// AsFloat returns the float's (or int's) value.
func (o *Object) AsFloat() (float64, error) {
	v, err := o.ToGo()
	if err != nil {
		return math.NaN(), err
	}
	switch f := v.(type) {
	case float64:
		return f, nil
	case int64:
		return float64(f), nil
	}
	return math.NaN(), &ConversionError{What: "Python " + o.TypeName() + " to Go float64"}
}

// IsNone reports whether o is None.
func (o *Object) IsNone() bool {
	return o != nil && o.p != nil && !o.closed && C.pyhost_is_none(o.p) == 1
}
