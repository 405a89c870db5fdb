package cpython

// #include "safety.h"
import "C"

import (
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Module is a builtin module of Go functions, the raw form both host's
// public Module and the pyhost command's modules are made of. Register it
// with RegisterModule before Python starts.
type Module struct {
	Name   string
	Doc    string
	Funcs  []Func
	Errors []ErrorClass
}

// ErrorClass is an exception class a Go module defines: Name is its name
// in the module, Base the name of the class it derives from (as
// ExceptionClass finds it: "ValueError", "json.JSONDecodeError";
// another class of the same module by its bare name if defined before;
// "" for Exception).
type ErrorClass struct {
	Name, Doc, Base string
}

// Func is a Go function callable from Python at the raw level. Call runs
// with the GIL held, on the calling Python thread, and returns a new
// reference, or a NULL Owned with an exception set (SetError). Call must
// not panic: a panic cannot unwind through CPython's frames, and the
// process would end. This layer does not recover one (a deferred recover
// on every call costs the hot path); a Call that may panic recovers
// itself, as host's Funcs do, or is wrapped with Recover.
type Func struct {
	Name string
	Doc  string
	Call func(a Args) Owned
	// ParentOnly: in a child of fork() (without exec) a call returns None
	// without running Go code (see fork.go): for work that is the
	// parent's (what it loaded, MPI_Abort).
	ParentOnly bool
}

// Args are the arguments of a call from Python, borrowed from the
// caller: valid until Call returns. KwNames is a tuple of str (NULL
// without keywords), one per KwVals.
type Args struct {
	Pos     []Ref
	KwNames Ref
	KwVals  []Ref
}

// KwName is the name of keyword argument i (borrowed).
func (a Args) KwName(i int) Ref { return Ref{C.pyhost_tuple_get(a.KwNames.p, C.Py_ssize_t(i))} }

// CallArgs calls r with the arguments a Go function was called with, as
// they came.
func (r Ref) CallArgs(a Args) Owned {
	pos := make([]Owned, len(a.Pos))
	for i, p := range a.Pos {
		pos[i] = p.NewRef()
	}
	args := TupleOf(pos...)
	if args.IsNull() {
		return args
	}
	defer args.Decref()
	var kw Owned
	if len(a.KwVals) > 0 {
		if kw = NewDict(); kw.IsNull() {
			return kw
		}
		defer kw.Decref()
		for i, v := range a.KwVals {
			if !kw.DictSet(a.KwName(i), v) {
				return Owned{}
			}
		}
	}
	return r.Call(args.Ref, kw.Ref)
}

var registry struct {
	sync.Mutex
	modules map[string]*Module
	funcs   []*Func
	// handles of the functions registered, by their Func: a module made
	// again (imported anew, or in a subinterpreter) reuses them, and
	// shim.c its entries.
	handles map[*Func]int
}

// funcs is registry.funcs as the calls from Python read it, without a
// lock: replaced, never changed in place, as functions are added.
var funcs atomic.Pointer[[]*Func]

// RegisterModule makes m importable as a builtin module by the
// interpreter this process starts. It must be called before start-up:
// CPython's table of builtin modules is fixed then.
func RegisterModule(m *Module) error {
	if m == nil || m.Name == "" {
		return fmt.Errorf("cpython: a Go module needs a name")
	}
	for _, f := range m.Funcs {
		if f.Call == nil {
			return fmt.Errorf("cpython: Go function %s.%s has no Call", m.Name, f.Name)
		}
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.modules == nil {
		registry.modules = map[string]*Module{}
	}
	if _, dup := registry.modules[m.Name]; dup {
		return fmt.Errorf("cpython: Go module %q registered twice", m.Name)
	}
	registry.modules[m.Name] = m
	cs := C.CString(m.Name)
	defer C.free(unsafe.Pointer(cs))
	if C.pyhost_register_module(cs) < 0 {
		return fmt.Errorf("cpython: register Go module %q: CPython refused it", m.Name)
	}
	return nil
}

// execModule fills in a Go module's functions (called by CPython, GIL held).
func execModule(m Ref) C.int {
	cname := C.PyModule_GetName(m.p)
	if cname == nil {
		return -1
	}
	name := C.GoString(cname)
	registry.Lock()
	mod := registry.modules[name]
	registry.Unlock()
	if mod == nil {
		SetError("ImportError", fmt.Sprintf("no Go module named %q", name))
		return -1
	}
	if mod.Doc != "" {
		d := NewStr(mod.Doc)
		if d.IsNull() {
			return -1
		}
		if C.PyModule_AddObject(m.p, cstr("__doc__"), d.p) < 0 { // steals d on success
			d.Decref()
			return -1
		}
	}
	for _, e := range mod.Errors {
		var base Owned
		if e.Base != "" {
			if b := Ref(m).Attr(e.Base); !b.IsNull() { // a class of this module
				base = b
			} else {
				ErrClear()
				b, err := ExceptionClass(e.Base)
				if err != nil {
					SetError("ImportError", fmt.Sprintf("Go module %s: exception class %s: base: %v", name, e.Name, err))
					return -1
				}
				base = b
			}
		}
		cls := NewExceptionClass(name+"."+e.Name, e.Doc, base.Ref)
		base.Decref()
		if cls.IsNull() {
			return -1
		}
		cn := C.CString(e.Name)
		rc := C.PyModule_AddObject(m.p, cn, cls.p) // steals cls on success
		C.free(unsafe.Pointer(cn))
		if rc < 0 {
			cls.Decref()
			return -1
		}
	}
	modName := C.PyModule_GetNameObject(m.p)
	if modName == nil {
		return -1
	}
	defer C.Py_DecRef(modName)
	for i := range mod.Funcs {
		fn := newFunction(&mod.Funcs[i], Ref{m.p}, Ref{modName})
		if fn.IsNull() {
			return -1
		}
		cn := C.CString(mod.Funcs[i].Name)
		rc := C.PyModule_AddObject(m.p, cn, fn.p) // steals fn on success
		C.free(unsafe.Pointer(cn))
		if rc < 0 {
			fn.Decref()
			return -1
		}
	}
	return 0
}

// NewFunction makes a builtin function object that calls f, outside any
// module: its __module__ is module. A new reference, or NULL with an
// exception set. The GIL must be held; f lives as long as the process.
func NewFunction(f Func, module string) Owned {
	m := checkFunc(f, module)
	if m.IsNull() {
		return m
	}
	defer m.Decref()
	return newFunction(&f, Ref{}, m.Ref)
}

// checkFunc is what NewFunction and NewClosure check first: f has a Call;
// it returns module as a str (new reference), or NULL with an exception
// set.
func checkFunc(f Func, module string) Owned {
	if f.Call == nil {
		return SetError("TypeError", "cpython: Go function "+f.Name+" has no Call")
	}
	return NewStr(module)
}

// newFunction registers f and makes its function object, with self (its
// module, or NULL) as its __self__ and module (a str, or NULL) as its
// __module__.
func newFunction(f *Func, self, module Ref) Owned {
	registry.Lock()
	h, ok := registry.handles[f]
	if !ok {
		h = len(registry.funcs)
		registry.funcs = append(registry.funcs, f)
		fs := append([]*Func(nil), registry.funcs...)
		funcs.Store(&fs)
		if registry.handles == nil {
			registry.handles = map[*Func]int{}
		}
		registry.handles[f] = h
	}
	registry.Unlock()
	cn := C.CString(f.Name)
	cd := C.CString(f.Doc)
	ch := C.Py_ssize_t(h)
	if f.ParentOnly {
		ch = -ch - 1 // call_handle (shim.c) reads the sign
	}
	fn := C.pyhost_new_function(cn, cd, ch, self.p, module.p)
	C.free(unsafe.Pointer(cn))
	C.free(unsafe.Pointer(cd))
	return Owned{Ref{fn}}
}

// callFunc runs a registered Go function for CPython (the GIL is held).
func callFunc(h int, a Args) Owned {
	var f *Func
	if fs := funcs.Load(); fs != nil && h >= 0 && h < len(*fs) {
		f = (*fs)[h]
	}
	if f == nil {
		return SetError("RuntimeError", fmt.Sprintf("cpython: unknown Go function %d", h))
	}
	return runFunc(f, a)
}

// runFunc runs f for CPython (the GIL is held): the boundary where a
// panic is recovered and a Goexit caught.
func runFunc(f *Func, a Args) (r Owned) {
	DrainReleases()
	returned := false
	defer func() {
		if x := recover(); x != nil {
			r.Decref()
			r = SetError("RuntimeError", fmt.Sprintf("Go panic: %v", x))
		} else if !returned {
			goexitFatal(f.Name)
		}
	}()
	r = f.Call(a)
	returned = true
	return r
}

// goexitFatal ends the process when a Go function called from Python
// exits its goroutine (runtime.Goexit: t.Fatal, t.FailNow or t.SkipNow
// in a test's callback). Nothing can stop a Goexit, and the goroutine it
// ends is the one whose OS thread runs the Python frames that called
// the function: Go would drop those C frames unfinished, with the GIL
// held, and the interpreter would crash or hang later. Ending the
// process now, saying why and where, is the one safe outcome.
func goexitFatal(name string) {
	fmt.Fprintf(os.Stderr, "pyhost: fatal error: runtime.Goexit (t.Fatal, t.FailNow or t.SkipNow in a test?) "+
		"in Go function %s called from Python: a goroutine cannot exit from under Python's C frames; "+
		"report the failure as an error instead\n\n%s", name, debug.Stack())
	C.pyhost_flush_stdio()
	os.Exit(2)
}

// closures are the Go functions made by NewClosure, by handle; a
// function object's capsule deletes its entry when Python frees it.
var closures struct {
	sync.Mutex
	next uintptr
	m    map[uintptr]*Func
}

//export goClosureFree
func goClosureFree(h C.uintptr_t) {
	closures.Lock()
	delete(closures.m, uintptr(h))
	closures.Unlock()
}

// LiveClosures is how many functions made by NewClosure Python still
// holds.
func LiveClosures() int {
	closures.Lock()
	defer closures.Unlock()
	return len(closures.m)
}

// NewClosure makes a builtin function object that calls f, a Go closure:
// unlike NewFunction's, f is forgotten when Python frees the function.
// Its __module__ is module. A new reference, or NULL with an exception
// set. The GIL must be held.
func NewClosure(f Func, module string) Owned {
	m := checkFunc(f, module)
	if m.IsNull() {
		return m
	}
	defer m.Decref()
	closures.Lock()
	if closures.m == nil {
		closures.m = map[uintptr]*Func{}
	}
	closures.next++
	h := closures.next
	closures.m[h] = &f
	closures.Unlock()
	cn := C.CString(f.Name)
	cd := C.CString(f.Doc)
	fn := C.pyhost_new_closure(cn, cd, C.uintptr_t(h), m.p)
	C.free(unsafe.Pointer(cn))
	C.free(unsafe.Pointer(cd))
	return Owned{Ref{fn}}
}

func lookupClosure(h uintptr) *Func {
	closures.Lock()
	defer closures.Unlock()
	return closures.m[h]
}

// Recover wraps call so that a panic in it is recovered and raised as
// RuntimeError ("Go panic: ...") instead of ending the process.
func Recover(call func(a Args) Owned) func(a Args) Owned {
	return func(a Args) (r Owned) {
		defer func() {
			if x := recover(); x != nil {
				r.Decref()
				r = SetError("RuntimeError", fmt.Sprintf("Go panic: %v", x))
			}
		}()
		return call(a)
	}
}
