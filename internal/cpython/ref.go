package cpython

// #cgo noescape pyhost_str_from
// #cgo noescape pyhost_path_from
// #cgo noescape PyBytes_FromStringAndSize
// #cgo noescape pyhost_call_steal
// #include "shim.h"
import "C"

import (
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Ref is a borrowed reference to a Python object: valid as long as
// whatever lends it (the caller's argument, a container, an Owned) keeps
// it alive. Never release a Ref; take one of its own with NewRef. The
// zero Ref is NULL.
type Ref struct{ p *C.PyObject }

// Owned is a new reference: its holder must release it (Decref, or
// Release when the GIL may not be held) or hand it to a call that steals
// it. It embeds the Ref it lends to borrowing calls (o.Ref). The zero
// Owned is NULL, which the C convention reads as "an exception is set".
type Owned struct{ Ref }

// IsNull reports whether r is NULL.
func (r Ref) IsNull() bool { return r.p == nil }

// Is reports whether r and s are the same object.
func (r Ref) Is(s Ref) bool { return r.p == s.p }

// NewRef returns a new reference to r (Py_INCREF).
func (r Ref) NewRef() Owned {
	C.pyhost_incref(r.p)
	return Owned{r}
}

// Decref releases the reference now; the GIL must be held. A NULL Owned
// is ignored.
func (o Owned) Decref() {
	if o.p != nil {
		C.pyhost_decref(o.p)
	}
}

// Release releases the reference now if the calling thread holds the
// GIL; otherwise it is queued and released by the next thread that takes
// the GIL through WithGIL (or calls DrainReleases). Safe from any
// goroutine, including finalizers; dropped when Python is not running.
func (o Owned) Release() {
	if o.p == nil {
		return
	}
	switch HoldsGIL() {
	case GILHeld:
		C.pyhost_decref(o.p)
		return
	case GILNotRunning:
		return // Python is gone (or never came): nothing to release
	}
	releases.Lock()
	releases.queue = append(releases.queue, o.p)
	queued.Store(int64(len(releases.queue)))
	releases.Unlock()
}

// releases are references dropped without the GIL; queued mirrors
// len(releases.queue), so that taking the GIL locks nothing when there
// is nothing to release.
var releases struct {
	sync.Mutex
	queue []*C.PyObject
}

var queued atomic.Int64

// QueuedReleases is how many references wait for the next holder of the
// GIL to release them.
func QueuedReleases() int64 { return queued.Load() }

// DrainReleases releases the queued references. The GIL must be held.
// Small enough to inline: the common case is an empty queue.
func DrainReleases() {
	if queued.Load() != 0 {
		drainReleases()
	}
}

func drainReleases() {
	releases.Lock()
	q := releases.queue
	releases.queue = nil
	queued.Store(0)
	releases.Unlock()
	for _, p := range q {
		C.pyhost_decref(p)
	}
}

// ---- singletons and type checks (GIL held for all below) --------------------

// None returns a new reference to None.
func None() Owned { return Owned{Ref{C.pyhost_none()}} }

// NewBool returns a new reference to True or False.
func NewBool(b bool) Owned {
	if b {
		return Owned{Ref{C.pyhost_true()}}
	}
	return Owned{Ref{C.pyhost_false()}}
}

// Kind is what an object is, for conversions: one call instead of a
// check per type.
type Kind int

// The kinds Kind reports (shim.h's PYHOST_* kinds).
const (
	KindOther     Kind = C.PYHOST_OTHER
	KindNone      Kind = C.PYHOST_NONE
	KindBool      Kind = C.PYHOST_BOOL
	KindInt       Kind = C.PYHOST_INT
	KindFloat     Kind = C.PYHOST_FLOAT
	KindComplex   Kind = C.PYHOST_COMPLEX
	KindStr       Kind = C.PYHOST_STR
	KindBytes     Kind = C.PYHOST_BYTES
	KindByteArray Kind = C.PYHOST_BYTEARRAY
	KindList      Kind = C.PYHOST_LIST
	KindTuple     Kind = C.PYHOST_TUPLE
	KindDict      Kind = C.PYHOST_DICT
)

// Kind says what r is; IsNone, IsTrue and the Is<type> checks test one
// thing each (the type checks accept subclasses, as the C macros do).
func (r Ref) Kind() Kind        { return Kind(C.pyhost_kind(r.p)) }
func (r Ref) IsNone() bool      { return C.pyhost_is_none(r.p) == 1 }
func (r Ref) IsTrue() bool      { return r.p == C.pyhost_true_ptr() }
func (r Ref) IsStr() bool       { return C.pyhost_unicode_check(r.p) == 1 }
func (r Ref) IsBytes() bool     { return C.pyhost_bytes_check(r.p) == 1 }
func (r Ref) IsByteArray() bool { return C.pyhost_bytearray_check(r.p) == 1 }
func (r Ref) IsInt() bool       { return C.pyhost_long_check(r.p) == 1 }
func (r Ref) IsBool() bool      { return C.pyhost_bool_check(r.p) == 1 }
func (r Ref) IsFloat() bool     { return C.pyhost_float_check(r.p) == 1 }
func (r Ref) IsComplex() bool   { return C.pyhost_complex_check(r.p) == 1 }
func (r Ref) IsList() bool      { return C.pyhost_list_check(r.p) == 1 }
func (r Ref) IsTuple() bool     { return C.pyhost_tuple_check(r.p) == 1 }
func (r Ref) IsDict() bool      { return C.pyhost_dict_check(r.p) == 1 }

// TypeName is the name of r's type (tp_name).
func (r Ref) TypeName() string { return C.GoString(C.pyhost_type_name(r.p)) }

// ---- numbers ------------------------------------------------------------------

// NewInt, NewUint, NewFloat and NewComplex return new references, NULL
// with an exception set on failure.
func NewInt(v int64) Owned     { return Owned{Ref{C.PyLong_FromLongLong(C.longlong(v))}} }
func NewUint(v uint64) Owned   { return Owned{Ref{C.PyLong_FromUnsignedLongLong(C.ulonglong(v))}} }
func NewFloat(v float64) Owned { return Owned{Ref{C.PyFloat_FromDouble(C.double(v))}} }
func NewComplex(v complex128) Owned {
	return Owned{Ref{C.PyComplex_FromDoubles(C.double(real(v)), C.double(imag(v)))}}
}

// IntFromString parses s in base as int(s, base) does.
func IntFromString(s string, base int) Owned {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	return Owned{Ref{C.PyLong_FromString(cs, nil, C.int(base))}}
}

// Int64 is an int's value; overflow reports one out of int64's range
// (no exception set). -1 with ErrOccurred on another failure.
func (r Ref) Int64() (v int64, overflow bool) {
	res := C.pyhost_as_longlong(r.p)
	return int64(res.v), res.overflow != 0
}

// Uint64 is PyLong_AsUnsignedLongLong: MaxUint64 with an exception set on
// failure.
func (r Ref) Uint64() uint64 { return uint64(C.PyLong_AsUnsignedLongLong(r.p)) }

// Float64 is a float's or an int's value (-1 with OverflowError set for
// an int too large). It runs no Python code (PyFloat_AsDouble would call
// an int subclass's __float__), so borrowed items stay valid.
func (r Ref) Float64() float64 {
	if C.pyhost_float_check(r.p) == 1 {
		return float64(C.PyFloat_AsDouble(r.p))
	}
	return float64(C.PyLong_AsDouble(r.p))
}

// FloatValue is PyFloat_AsDouble of a float.
func (r Ref) FloatValue() float64 { return float64(C.PyFloat_AsDouble(r.p)) }

// Complex128 is a complex's value.
func (r Ref) Complex128() complex128 {
	return complex(float64(C.PyComplex_RealAsDouble(r.p)), float64(C.PyComplex_ImagAsDouble(r.p)))
}

// ToBase is PyNumber_ToBase: a new str, or NULL with an exception set.
func (r Ref) ToBase(base int) Owned { return Owned{Ref{C.PyNumber_ToBase(r.p, C.int(base))}} }

// ---- strings and bytes ------------------------------------------------------

// NewStr makes a str from a Go string (invalid UTF-8 as surrogates, as
// os.fsdecode does); CPython copies the bytes.
func NewStr(s string) Owned {
	return Owned{Ref{C.pyhost_str_from((*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.Py_ssize_t(len(s)))}}
}

// NewPath makes a str from a file name's bytes as os.fsdecode does (the
// same as NewStr where the file system encoding is UTF-8, as it nearly
// always is; see pyhost_path_from).
func NewPath(s string) Owned {
	return Owned{Ref{C.pyhost_path_from((*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.Py_ssize_t(len(s)))}}
}

// PathView is a str path's bytes as os.fsencode gives them (StrView's
// where the file system encoding is UTF-8), valid while r lives and,
// when owner is not NULL, until owner is released. ok false with an
// exception set on failure: UnicodeEncodeError for a str the file system
// encoding cannot hold (a name no file can have).
func (r Ref) PathView() (s string, owner Owned, ok bool) { return view(C.pyhost_path_bytes(r.p)) }

// GoPath copies a str path into a Go string (see PathView).
func (r Ref) GoPath() (string, bool) {
	s, owner, ok := r.PathView()
	if !ok {
		return "", false
	}
	s = strings.Clone(s)
	owner.Decref()
	return s, true
}

// NewBytes makes a bytes object, a copy of b.
func NewBytes(b []byte) Owned {
	var p *C.char
	if len(b) > 0 {
		p = (*C.char)(unsafe.Pointer(&b[0]))
	}
	return Owned{Ref{C.PyBytes_FromStringAndSize(p, C.Py_ssize_t(len(b)))}}
}

// StrView is a str's UTF-8 (lone surrogates as os.fsencode gives them)
// without a copy: valid while r lives and, when owner is not NULL, until
// owner is released. ok false with an exception set on failure.
func (r Ref) StrView() (s string, owner Owned, ok bool) { return view(C.pyhost_str_utf8(r.p)) }

// view is StrView's and PathView's result from their C function's.
func view(u C.pyhost_utf8) (s string, owner Owned, ok bool) {
	if u.s == nil {
		return "", Owned{}, false
	}
	return unsafe.String((*byte)(unsafe.Pointer(u.s)), int(u.n)), Owned{Ref{u.owner}}, true
}

// GoString copies a str into a Go string (see StrView); ok false with
// an exception set on failure.
func (r Ref) GoString() (string, bool) {
	u := C.pyhost_str_utf8(r.p)
	if u.s == nil {
		return "", false
	}
	s := string(unsafe.Slice((*byte)(unsafe.Pointer(u.s)), int(u.n))) // a copy
	if u.owner != nil {
		C.pyhost_decref(u.owner)
	}
	return s, true
}

// BytesCopy copies a bytes or bytearray object's contents; ok false with
// an exception set on failure.
func (r Ref) BytesCopy() ([]byte, bool) {
	if C.pyhost_bytearray_check(r.p) == 1 {
		return C.GoBytes(unsafe.Pointer(C.pyhost_bytearray_data(r.p)), C.int(C.pyhost_bytearray_size(r.p))), true
	}
	b := C.pyhost_bytes_data(r.p)
	if b.s == nil {
		return nil, false
	}
	return C.GoBytes(unsafe.Pointer(b.s), C.int(b.n)), true
}

// ---- containers -------------------------------------------------------------

// NewList and NewTuple make containers of n NULL slots, to fill with
// ListSet / TupleSet before any other use.
func NewList(n int) Owned  { return Owned{Ref{C.PyList_New(C.Py_ssize_t(n))}} }
func NewTuple(n int) Owned { return Owned{Ref{C.PyTuple_New(C.Py_ssize_t(n))}} }

// ListSet and TupleSet fill slot i of a new container; they steal v.
func (r Ref) ListSet(i int, v Owned)  { C.pyhost_list_set(r.p, C.Py_ssize_t(i), v.p) }
func (r Ref) TupleSet(i int, v Owned) { C.pyhost_tuple_set(r.p, C.Py_ssize_t(i), v.p) }

// TupleOf makes a tuple of items, which it steals (all of them, also on
// failure). A NULL item (a constructor that failed, its exception set)
// makes the result NULL.
func TupleOf(items ...Owned) Owned {
	for _, it := range items {
		if it.p == nil {
			decrefAll(items)
			return Owned{}
		}
	}
	t := NewTuple(len(items))
	if t.p == nil {
		decrefAll(items)
		return t
	}
	for i, it := range items {
		t.TupleSet(i, it)
	}
	return t
}

func decrefAll(items []Owned) {
	for _, it := range items {
		it.Decref()
	}
}

// Items are the items of a list or tuple, borrowed from it: valid while
// the container is not changed.
func (r Ref) Items() []Ref {
	var n C.Py_ssize_t
	var first **C.PyObject
	if C.pyhost_list_check(r.p) == 1 {
		n = C.pyhost_list_size(r.p)
		if n > 0 {
			first = C.pyhost_list_items(r.p)
		}
	} else {
		n = C.pyhost_tuple_size(r.p)
		if n > 0 {
			first = C.pyhost_tuple_items(r.p)
		}
	}
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*Ref)(unsafe.Pointer(first)), int(n)) // Ref is one *PyObject
}

// NewDict makes an empty dict.
func NewDict() Owned { return Owned{Ref{C.PyDict_New()}} }

// DictSet sets d[k] = v (no reference stolen); false with an exception set.
func (r Ref) DictSet(k, v Ref) bool { return C.PyDict_SetItem(r.p, k.p, v.p) == 0 }

// DictSetString sets d[key] = v (no reference stolen).
func (r Ref) DictSetString(key string, v Ref) bool {
	return C.PyDict_SetItemString(r.p, cstr(key), v.p) == 0
}

// DictGetString is d[key], borrowed, or NULL (no exception set).
func (r Ref) DictGetString(key string) Ref { return Ref{C.PyDict_GetItemString(r.p, cstr(key))} }

// DictLen is len(d).
func (r Ref) DictLen() int { return int(C.PyDict_Size(r.p)) }

// DictNext iterates over a dict as PyDict_Next: pos starts at 0; k and v
// are borrowed.
func (r Ref) DictNext(pos *int) (k, v Ref, ok bool) {
	it := C.pyhost_dict_next(r.p, C.Py_ssize_t(*pos))
	*pos = int(it.pos)
	return Ref{it.k}, Ref{it.v}, it.ok != 0
}

// ListCopy is list(r) for a sequence, a new list.
func (r Ref) ListCopy() Owned { return Owned{Ref{C.PySequence_List(r.p)}} }

// Equal is r == s; -1 with an exception set.
func (r Ref) Equal(s Ref) int { return int(C.PyObject_RichCompareBool(r.p, s.p, C.Py_EQ)) }

// ---- attributes and calls ---------------------------------------------------

// Attr is getattr(r, name), a new reference or NULL with an exception set.
func (r Ref) Attr(name string) Owned {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return Owned{Ref{C.PyObject_GetAttrString(r.p, cs)}}
}

// SetAttr is setattr(r, name, v); false with an exception set.
func (r Ref) SetAttr(name string, v Ref) bool {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.PyObject_SetAttrString(r.p, cs, v.p) == 0
}

// Str is str(r).
func (r Ref) Str() Owned { return Owned{Ref{C.PyObject_Str(r.p)}} }

// CallSteal calls r with positional arguments, which it steals (released
// whatever happens), without making a tuple. A NULL argument (a
// constructor that failed, its exception set) makes no call: the result
// is NULL with that exception.
func (r Ref) CallSteal(args []Owned) Owned {
	var first **C.PyObject
	if len(args) > 0 {
		first = (**C.PyObject)(unsafe.Pointer(&args[0])) // Owned is one *PyObject
	}
	return Owned{Ref{C.pyhost_call_steal(r.p, first, C.Py_ssize_t(len(args)))}}
}

// Call is r(*args, **kw); kw may be NULL.
func (r Ref) Call(args, kw Ref) Owned { return Owned{Ref{C.PyObject_Call(r.p, args.p, kw.p)}} }

// Import imports a module by its full name, as the import statement does.
func Import(name string) Owned {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return Owned{Ref{C.PyImport_ImportModule(cs)}}
}

// MainDict is __main__'s namespace, borrowed, or NULL with an exception set.
func MainDict() Ref {
	m := C.PyImport_AddModule(cstr("__main__")) // borrowed
	if m == nil {
		return Ref{}
	}
	return Ref{C.PyModule_GetDict(m)}
}

// ModuleDict is a module's namespace, borrowed.
func (r Ref) ModuleDict() Ref { return Ref{C.PyModule_GetDict(r.p)} }

// Compile modes.
const (
	FileInput = int(C.Py_file_input)
	EvalInput = int(C.Py_eval_input)
)

// Exec compiles src (which must not contain NUL) and runs it in globals,
// as exec(compile(src, filename, mode), globals) does; the result is a new
// reference, NULL with an exception set.
func Exec(globals Ref, src, filename string, mode int) Owned {
	cs := C.CString(src)
	defer C.free(unsafe.Pointer(cs))
	cf := C.CString(filename)
	defer C.free(unsafe.Pointer(cf))
	code := C.Py_CompileString(cs, cf, C.int(mode))
	if code == nil {
		return Owned{}
	}
	defer C.pyhost_decref(code)
	if C.PyDict_GetItemString(globals.p, cstr("__builtins__")) == nil { // borrowed
		if C.PyDict_SetItemString(globals.p, cstr("__builtins__"), C.PyEval_GetBuiltins()) < 0 {
			return Owned{}
		}
	}
	return Owned{Ref{C.PyEval_EvalCode(code, globals.p, globals.p)}}
}

// ExecMarshalled runs the code object that data holds (as marshal.dumps
// wrote it, by a Python with the running one's MagicNumber) in globals;
// the result is a new reference, NULL with an exception set.
func ExecMarshalled(globals Ref, data []byte) Owned {
	if len(data) == 0 {
		SetError("ValueError", "no marshalled code")
		return Owned{}
	}
	return Owned{Ref{C.pyhost_exec_marshalled(globals.p, (*C.char)(unsafe.Pointer(&data[0])), C.Py_ssize_t(len(data)))}}
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
