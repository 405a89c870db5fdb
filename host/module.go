package host

// #include "shim.h"
import "C"

import (
	"fmt"
	"sync"
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
type Func struct {
	Name string
	Doc  string
	Fn   func(py *Py, args Args) (any, error)
}

var registry struct {
	sync.RWMutex
	modules map[string]*Module
	funcs   []*Func
}

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
		d := newStr(mod.Doc)
		C.PyModule_AddObject(m, cstr("__doc__"), d)
	}
	for i := range mod.Funcs {
		f := &mod.Funcs[i]
		registry.Lock()
		h := len(registry.funcs)
		registry.funcs = append(registry.funcs, f)
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

// Args are the arguments of a call from Python, valid until the Go
// function returns.
type Args struct {
	pos     []*C.PyObject // borrowed
	kwnames *C.PyObject   // borrowed tuple of str, or nil
	kwvals  []*C.PyObject // borrowed
}

// Len is the number of positional arguments.
func (a Args) Len() int { return len(a.pos) }

func (a Args) at(i int) (*C.PyObject, error) {
	if i < 0 || i >= len(a.pos) {
		return nil, Raise("TypeError", "missing positional argument %d (got %d)", i+1, len(a.pos))
	}
	return a.pos[i], nil
}

// Object returns positional argument i as a new Object (Close it).
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
	return toGo(p)
}

// String returns positional argument i, which must be a str.
func (a Args) String(i int) (string, error) {
	p, err := a.at(i)
	if err != nil {
		return "", err
	}
	if C.pyhost_unicode_check(p) != 1 {
		return "", Raise("TypeError", "argument %d must be str, not %s", i+1, C.GoString(C.pyhost_type_name(p)))
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
	n := int(C.PySequence_Size(p))
	vals = make([]string, n)
	ok = make([]bool, n)
	for j := 0; j < n; j++ {
		var e *C.PyObject
		if isList {
			e = C.pyhost_list_get(p, C.Py_ssize_t(j))
		} else {
			e = C.pyhost_tuple_get(p, C.Py_ssize_t(j))
		}
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

// Int returns positional argument i, an int that fits int64.
func (a Args) Int(i int) (int64, error) {
	v, err := a.Value(i)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, Raise("TypeError", "argument %d must be int", i+1)
	}
	return n, nil
}

// Kw returns the keyword argument name as a new Object, or nil if it
// was not passed.
func (a Args) Kw(name string) *Object {
	for i, v := range a.kwvals {
		k := C.pyhost_tuple_get(a.kwnames, C.Py_ssize_t(i))
		s, err := goString(k)
		if err == nil && s == name {
			return borrow(v)
		}
	}
	return nil
}

// callFunc runs a registered Go function for CPython.
func callFunc(h int, args **C.PyObject, nargs int, kwnames *C.PyObject) *C.PyObject {
	registry.RLock()
	var f *Func
	if h >= 0 && h < len(registry.funcs) {
		f = registry.funcs[h]
	}
	registry.RUnlock()
	if f == nil {
		setPythonError(fmt.Errorf("host: unknown Go function %d", h))
		return nil
	}
	nkw := 0
	if kwnames != nil {
		nkw = int(C.PyTuple_Size(kwnames))
	}
	var all []*C.PyObject
	if nargs+nkw > 0 {
		all = unsafe.Slice(args, nargs+nkw)
	}
	a := Args{pos: all[:nargs], kwnames: kwnames, kwvals: all[nargs:]}
	var result any
	err := callSafely(func(py *Py) error {
		var err error
		result, err = f.Fn(py, a)
		return err
	})
	if err != nil {
		setPythonError(err)
		return nil
	}
	r, err := fromGo(result)
	if err != nil {
		setPythonError(err)
		return nil
	}
	return r
}
