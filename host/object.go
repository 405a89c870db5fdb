package host

// #cgo noescape pyhost_call_steal
// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

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

// releases are references whose Objects were dropped without the GIL
// (collected, or closed outside Do): whoever takes the GIL next releases
// them. queued mirrors len(releases.queue), so that taking the GIL does
// not lock anything when there is nothing to release.
var releases struct {
	sync.Mutex
	queue []*C.PyObject
}

var queued atomic.Int64

// queueRelease is the finalizer of an Object: it runs without the GIL,
// so it only queues.
func queueRelease(o *Object) {
	if o.closed || o.p == nil {
		return
	}
	o.closed = true
	deferRelease(o.p)
}

func deferRelease(p *C.PyObject) {
	if C.pyhost_holds_gil() == -1 {
		// Python is gone (or never came): nothing to release.
		liveObjects.Add(-1)
		return
	}
	releases.Lock()
	releases.queue = append(releases.queue, p)
	queued.Store(int64(len(releases.queue)))
	releases.Unlock()
}

// drainReleases releases references queued by deferRelease. The GIL
// must be held.
func drainReleases() {
	releases.Lock()
	q := releases.queue
	releases.queue = nil
	queued.Store(0)
	releases.Unlock()
	for _, p := range q {
		C.pyhost_decref(p)
		liveObjects.Add(-1)
	}
}

// Close releases the reference. Closing twice is harmless, and so is
// closing without the GIL (outside Do, or after the interpreter's
// Close): the reference is then released the next time some goroutine
// takes the GIL.
func (o *Object) Close() {
	if o == nil || o.closed || o.p == nil {
		return
	}
	o.closed = true
	runtime.SetFinalizer(o, nil)
	if C.pyhost_holds_gil() == 1 {
		C.pyhost_decref(o.p)
		liveObjects.Add(-1)
		return
	}
	deferRelease(o.p)
}

// ErrNilObject is returned for operations on a nil or closed Object.
var ErrNilObject = errors.New("host: nil or closed Object")

// ptr is the object's pointer (borrowed from o) for a call that needs
// the GIL: an error for a nil or closed Object, or without the GIL.
func (o *Object) ptr() (*C.PyObject, error) {
	if o == nil || o.p == nil || o.closed {
		return nil, ErrNilObject
	}
	if err := checkGIL(); err != nil {
		return nil, err
	}
	return o.p, nil
}

// cName is a C copy of a name for the C API (free it), which must not
// contain NUL: C would cut it there.
func cName(what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, fmt.Errorf("host: %s %q contains a NUL byte", what, s)
	}
	return C.CString(s), nil
}

// TypeName is the Python type's name (tp_name), "<nil>" for a nil or
// closed Object and "<no GIL>" without the GIL.
func (o *Object) TypeName() string {
	p, err := o.ptr()
	if err == ErrNilObject {
		return "<nil>"
	} else if err != nil {
		return "<no GIL>"
	}
	return C.GoString(C.pyhost_type_name(p))
}

// Import imports a module by its full name (as the import statement
// does) and returns it, a new reference.
func (py *Py) Import(name string) (*Object, error) {
	if err := py.check(); err != nil {
		return nil, err
	}
	cs, err := cName("module name", name)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cs))
	m := own(C.PyImport_ImportModule(cs))
	if m == nil {
		return nil, fetchError()
	}
	return m, nil
}

// Attr gets an attribute (getattr), a new reference.
func (o *Object) Attr(name string) (*Object, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	cs, err := cName("attribute", name)
	if err != nil {
		return nil, err
	}
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
	cs, err := cName("attribute", name)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cs))
	if C.PyObject_SetAttrString(p, cs, val) < 0 {
		return fetchError()
	}
	return nil
}

// Call calls the object with Go arguments converted by FromGo and
// returns the result, a new reference.
func (o *Object) Call(args ...any) (*Object, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	// Arguments as the vectorcall protocol takes them: no tuple, and
	// for a few arguments no allocation either.
	var buf [6]*C.PyObject
	cargs := buf[:0]
	if len(args) > len(buf) {
		cargs = make([]*C.PyObject, 0, len(args))
	}
	for i, a := range args {
		v, err := fromGo(a)
		if err != nil {
			for _, c := range cargs {
				C.pyhost_decref(c)
			}
			return nil, fmt.Errorf("host: argument %d: %w", i, err)
		}
		cargs = append(cargs, v) // owned until pyhost_call_steal
	}
	var first **C.PyObject
	if len(cargs) > 0 {
		first = &cargs[0]
	}
	r := own(C.pyhost_call_steal(p, first, C.Py_ssize_t(len(cargs))))
	if r == nil {
		return nil, fetchError()
	}
	return r, nil
}

// CallKw calls the object with positional and keyword arguments and
// returns the result, a new reference.
func (o *Object) CallKw(args []any, kwargs map[string]any) (*Object, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	t, err := tupleOf(args, 0)
	if err != nil {
		return nil, err
	}
	defer C.pyhost_decref(t)
	var kw *C.PyObject
	if len(kwargs) > 0 {
		if kw, err = fromGo(kwargs); err != nil {
			return nil, fmt.Errorf("host: keyword arguments: %w", err)
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

// String returns str(o); "<nil>" for a nil or closed Object and
// "<no GIL>" without the GIL.
func (o *Object) String() string {
	p, err := o.ptr()
	if err == ErrNilObject {
		return "<nil>"
	} else if err != nil {
		return "<no GIL>"
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
