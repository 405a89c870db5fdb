package host

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/pyhost/pyhost/internal/cpython"
)

// Object is an owned reference to a Python object, held by Go. Close
// releases it (with the GIL held: inside Do); an Object garbage collected
// without Close is released the next time some goroutine takes the GIL,
// never from the finalizer itself, which runs without it.
//
// An Object must only be used inside Do (or a Go function called from
// Python), with the Py token of that call.
type Object struct {
	p      cpython.Owned // never changes: closed says whether it is still held
	closed atomic.Bool
}

// liveObjects counts the Objects not yet closed or collected; those
// closed without the GIL wait in cpython's release queue.
var liveObjects atomic.Int64

// LiveObjects reports how many Objects are held by Go and not yet
// released: a leak test's counter.
func LiveObjects() int64 {
	// live first: a release moves from queued to gone, and from live to
	// queued (queued first), so this order never misses one.
	return liveObjects.Load() + cpython.QueuedReleases()
}

// own wraps a new reference; NULL stays nil.
func own(p cpython.Owned) *Object {
	if p.IsNull() {
		return nil
	}
	o := &Object{p: p}
	liveObjects.Add(1)
	runtime.SetFinalizer(o, finalize)
	return o
}

// borrow wraps a borrowed reference, taking a reference of its own.
func borrow(r cpython.Ref) *Object {
	if r.IsNull() {
		return nil
	}
	return own(r.NewRef())
}

// finalize is the finalizer of an Object: it runs without the GIL, so
// the reference is only queued (cpython.Owned.Release).
func finalize(o *Object) {
	if o.p.IsNull() || o.closed.Swap(true) {
		return
	}
	o.p.Release()
	liveObjects.Add(-1)
}

// Close releases the reference. Closing twice is harmless, also from
// two goroutines at once (only one of them releases it), and so is
// closing without the GIL (outside Do, or after the interpreter's
// Close): the reference is then released the next time some goroutine
// takes the GIL. An Object must not be closed while another goroutine
// still uses it, as a file must not.
func (o *Object) Close() {
	if o == nil || o.p.IsNull() || o.closed.Swap(true) {
		return
	}
	runtime.SetFinalizer(o, nil)
	o.p.Release()
	liveObjects.Add(-1)
}

// ErrNilObject is returned for operations on a nil or closed Object.
var ErrNilObject = errors.New("host: nil or closed Object")

// ptr is the object's pointer (borrowed from o) for a call that needs
// the GIL: an error for a nil or closed Object, or without the GIL.
func (o *Object) ptr() (cpython.Ref, error) {
	if o == nil || o.p.IsNull() || o.closed.Load() {
		return cpython.Ref{}, ErrNilObject
	}
	if err := checkGIL(); err != nil {
		return cpython.Ref{}, err
	}
	return o.p.Ref, nil
}

// checkName rejects a name for the C API that contains NUL: C would cut
// it there.
func checkName(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("host: %s %q contains a NUL byte", what, s)
	}
	return nil
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
	return p.TypeName()
}

// Import imports a module by its full name (as the import statement
// does) and returns it, a new reference.
func (py *Py) Import(name string) (*Object, error) {
	if err := py.check(); err != nil {
		return nil, err
	}
	if err := checkName("module name", name); err != nil {
		return nil, err
	}
	m := own(cpython.Import(name))
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
	if err := checkName("attribute", name); err != nil {
		return nil, err
	}
	a := own(p.Attr(name))
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
	defer val.Decref()
	if err := checkName("attribute", name); err != nil {
		return err
	}
	if !p.SetAttr(name, val.Ref) {
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
	var buf [6]cpython.Owned
	cargs := buf[:0]
	if len(args) > len(buf) {
		cargs = make([]cpython.Owned, 0, len(args))
	}
	for i, a := range args {
		v, err := fromGo(a)
		if err != nil {
			for _, c := range cargs {
				c.Decref()
			}
			return nil, fmt.Errorf("host: argument %d: %w", i, err)
		}
		cargs = append(cargs, v) // owned until CallSteal
	}
	// A reference of the call's own for its duration: Python code may
	// give up the GIL mid-call, and a Close on another goroutine must
	// not free the callable under it.
	self := p.NewRef()
	defer self.Decref()
	r := own(self.CallSteal(cargs))
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
	defer t.Decref()
	var kw cpython.Owned
	if len(kwargs) > 0 {
		if kw, err = fromGo(kwargs); err != nil {
			return nil, fmt.Errorf("host: keyword arguments: %w", err)
		}
		defer kw.Decref()
	}
	self := p.NewRef() // see Call
	defer self.Decref()
	r := own(self.Call(t.Ref, kw.Ref))
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
	s := p.Str()
	if s.IsNull() {
		cpython.ErrClear()
		return "<unprintable " + o.TypeName() + ">"
	}
	defer s.Decref()
	str, _ := goString(s.Ref)
	return str
}
