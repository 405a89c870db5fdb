package host

// #include "shim.h"
import "C"

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Module is a module of Go functions importable from Python by Name. It
// is registered with Options.Modules, before Start: CPython's table of
// builtin modules is fixed once it runs.
type Module struct {
	Name  string
	Doc   string
	Funcs []Func
}

// Func is a Go function callable from Python. Fn runs with the GIL held,
// on the calling Python thread; a returned value is converted as FromGo
// converts, a returned error is raised (an *Exception as itself, a
// RaiseError as its type, anything else as RuntimeError), and a panic is
// recovered and raised as RuntimeError: it never ends the process.
// Returning an *Object gives Python a new reference to it; the Object
// stays the function's to Close. A Func that waits must do so inside
// py.AllowThreads.
type Func struct {
	Name string
	Doc  string
	Fn   func(py *Py, args Args) (any, error)
}

var registry struct {
	sync.Mutex
	modules map[string]*Module
	funcs   []*Func
}

// funcs is registry.funcs as the calls from Python read it, without a
// lock: replaced, never changed in place, as functions are added.
var funcs atomic.Pointer[[]*Func]

func registerModule(m *Module) error {
	if m == nil || m.Name == "" {
		return fmt.Errorf("host: a Go module needs a name")
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.modules == nil {
		registry.modules = map[string]*Module{}
	}
	if _, dup := registry.modules[m.Name]; dup {
		return fmt.Errorf("host: Go module %q registered twice", m.Name)
	}
	registry.modules[m.Name] = m
	cs := C.CString(m.Name)
	defer C.free(unsafe.Pointer(cs))
	if C.pyhost_register_module(cs) < 0 {
		return fmt.Errorf("host: register Go module %q: CPython refused it", m.Name)
	}
	return nil
}

// execModule fills in a Go module's functions (called by CPython, GIL held).
func execModule(m *C.PyObject) C.int {
	cname := C.PyModule_GetName(m)
	if cname == nil {
		return -1
	}
	name := C.GoString(cname)
	registry.Lock()
	mod := registry.modules[name]
	registry.Unlock()
	if mod == nil {
		setPythonError(Raise("ImportError", "no Go module named %q", name))
		return -1
	}
	if mod.Doc != "" {
		d, err := newStr(mod.Doc)
		if err != nil {
			return -1
		}
		if C.PyModule_AddObject(m, cstr("__doc__"), d) < 0 { // steals d on success
			C.pyhost_decref(d)
			return -1
		}
	}
	for i := range mod.Funcs {
		f := &mod.Funcs[i]
		if f.Fn == nil {
			setPythonError(Raise("ImportError", "Go function %s.%s has no Fn", name, f.Name))
			return -1
		}
		registry.Lock()
		h := len(registry.funcs)
		registry.funcs = append(registry.funcs, f)
		fs := append([]*Func(nil), registry.funcs...)
		funcs.Store(&fs)
		registry.Unlock()
		cn := C.CString(f.Name)
		cd := C.CString(f.Doc)
		fn := C.pyhost_new_function(cn, cd, C.Py_ssize_t(h))
		C.free(unsafe.Pointer(cd))
		if fn == nil {
			C.free(unsafe.Pointer(cn))
			return -1
		}
		rc := C.PyModule_AddObject(m, cn, fn) // steals fn on success
		C.free(unsafe.Pointer(cn))
		if rc < 0 {
			C.pyhost_decref(fn)
			return -1
		}
	}
	return 0
}

var cstrs sync.Map

// cstr returns a C copy of s that lives as long as the process (for the
// few constant names CPython keeps pointers to).
func cstr(s string) *C.char {
	if v, ok := cstrs.Load(s); ok {
		return v.(*C.char)
	}
	v, _ := cstrs.LoadOrStore(s, C.CString(s))
	return v.(*C.char)
}

// Args are the arguments of a call from Python, borrowed from the
// caller: valid until the Go function returns, on its goroutine (use
// Object to keep one longer).
type Args struct {
	pos     []*C.PyObject // borrowed
	kwnames *C.PyObject   // borrowed tuple of str, or nil
	kwvals  []*C.PyObject // borrowed
}

// Len is the number of positional arguments.
func (a Args) Len() int { return len(a.pos) }

func (a Args) at(i int) (*C.PyObject, error) {
	if err := checkGIL(); err != nil {
		return nil, err
	}
	if i < 0 || i >= len(a.pos) {
		return nil, Raise("TypeError", "missing positional argument %d (got %d)", i+1, len(a.pos))
	}
	return a.pos[i], nil
}

// Object returns positional argument i as an Object, a new reference
// (Close it).
func (a Args) Object(i int) (*Object, error) {
	p, err := a.at(i)
	if err != nil {
		return nil, err
	}
	return borrow(p), nil
}

// Value returns positional argument i converted as ToGo converts.
func (a Args) Value(i int) (any, error) {
	p, err := a.at(i)
	if err != nil {
		return nil, err
	}
	return toGo(p, 0)
}

// String returns positional argument i, which must be a str.
func (a Args) String(i int) (string, error) {
	p, err := a.at(i)
	if err != nil {
		return "", err
	}
	if C.pyhost_unicode_check(p) != 1 {
		return "", Raise("TypeError", "argument %d must be str, not %s", i+1, typeName(p))
	}
	return goString(p)
}

// Strings returns positional argument i, a list or tuple of str; items
// that are not str are reported by ok false at their index.
func (a Args) Strings(i int) (vals []string, ok []bool, err error) {
	p, err := a.at(i)
	if err != nil {
		return nil, nil, err
	}
	isList := C.pyhost_list_check(p) == 1
	if !isList && C.pyhost_tuple_check(p) != 1 {
		return nil, nil, Raise("TypeError", "argument %d must be a list or tuple", i+1)
	}
	items := sequenceItems(p)
	vals = make([]string, len(items))
	ok = make([]bool, len(items))
	for j, e := range items {
		if C.pyhost_unicode_check(e) != 1 {
			continue
		}
		s, err := goString(e)
		if err != nil {
			return nil, nil, err
		}
		vals[j], ok[j] = s, true
	}
	return vals, ok, nil
}

// Int returns positional argument i, an int that fits int64 (an
// OverflowError in Python if it does not).
func (a Args) Int(i int) (int64, error) {
	p, err := a.at(i)
	if err != nil {
		return 0, err
	}
	if C.pyhost_long_check(p) != 1 {
		return 0, Raise("TypeError", "argument %d must be int, not %s", i+1, typeName(p))
	}
	n, err := asInt64(p)
	if err != nil {
		return 0, fmt.Errorf("argument %d: %w", i+1, err)
	}
	return n, nil
}

// Kw returns the keyword argument name as an Object, a new reference,
// or nil if it was not passed (or without the GIL).
func (a Args) Kw(name string) *Object {
	if checkGIL() != nil {
		return nil
	}
	for i, v := range a.kwvals {
		k := C.pyhost_tuple_get(a.kwnames, C.Py_ssize_t(i))
		s, err := goString(k)
		if err == nil && s == name {
			return borrow(v)
		}
	}
	return nil
}

// KwNames are the names of the keyword arguments passed.
func (a Args) KwNames() []string {
	if checkGIL() != nil || a.kwnames == nil {
		return nil
	}
	names := make([]string, 0, len(a.kwvals))
	for i := range a.kwvals {
		s, err := goString(C.pyhost_tuple_get(a.kwnames, C.Py_ssize_t(i)))
		if err != nil {
			C.PyErr_Clear()
			continue
		}
		names = append(names, s)
	}
	return names
}

// callFunc runs a registered Go function for CPython (the GIL is held)
// and returns a new reference, or NULL with an exception set.
func callFunc(h int, args **C.PyObject, nargs int, kwnames *C.PyObject) *C.PyObject {
	var f *Func
	if fs := funcs.Load(); fs != nil && h >= 0 && h < len(*fs) {
		f = (*fs)[h]
	}
	if f == nil {
		setPythonError(fmt.Errorf("host: unknown Go function %d", h))
		return nil
	}
	if queued.Load() > 0 {
		drainReleases()
	}
	nkw := 0
	if kwnames != nil {
		nkw = int(C.pyhost_tuple_size(kwnames))
	}
	var all []*C.PyObject // borrowed from the caller
	if nargs+nkw > 0 {
		all = unsafe.Slice(args, nargs+nkw)
	}
	r, err := runFunc(f, Args{pos: all[:nargs:nargs], kwnames: kwnames, kwvals: all[nargs:]})
	if err != nil {
		setPythonError(err)
		return nil
	}
	return r
}

// runFunc calls f and converts its result, recovering a panic: one must
// never unwind through CPython's frames.
func runFunc(f *Func, a Args) (r *C.PyObject, err error) {
	defer func() {
		if x := recover(); x != nil {
			r, err = nil, &PanicError{Value: x, Stack: stack()}
		}
	}()
	res, err := f.Fn(&Py{}, a)
	if err != nil {
		return nil, err
	}
	return fromGo(res)
}
