package host

// #cgo noescape pyhost_str_from
// #cgo noescape PyBytes_FromStringAndSize
// #include "shim.h"
import "C"

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"unsafe"
)

// Tuple converts to a Python tuple (a Go slice converts to a list).
type Tuple []any

// ConversionError reports a value that has no equivalent on the other
// side, or a number that does not fit the type asked for. Returned to
// Python from a Go function it raises TypeError (OverflowError for a
// number out of range).
type ConversionError struct {
	What     string
	Overflow bool // a number out of the target type's range
}

func (e *ConversionError) Error() string { return "host: cannot convert " + e.What }

// maxDepth bounds the nesting of converted containers: a list that
// contains itself is an error, not a stack overflow.
const maxDepth = 200

func errTooDeep(side string) error {
	return &ConversionError{What: fmt.Sprintf("%s containers nested more than %d deep (a cycle?)", side, maxDepth)}
}

// ---- Go to Python ------------------------------------------------------------

// FromGo converts a Go value to a Python object, a new reference:
//
//   - nil → None, bool → bool, every integer type → int (a uint64 above
//     MaxInt64 too), *big.Int → int, float32/64 → float, complex → complex
//   - string → str (invalid UTF-8 as os.fsdecode gives it), []byte and
//     byte arrays → bytes
//   - Tuple → tuple, other slices and arrays → list, maps → dict (keys
//     converted too)
//   - *Object → itself (another reference), a pointer → what it points
//     to (nil → None); named types by their kind
//
// Channels, functions, structs and other values are a *ConversionError.
func (py *Py) FromGo(v any) (*Object, error) {
	if err := py.check(); err != nil {
		return nil, err
	}
	p, err := fromGo(v)
	if err != nil {
		return nil, err
	}
	return own(p), nil
}

// fromGo converts a Go value to a new reference. The GIL is held.
func fromGo(v any) (*C.PyObject, error) { return fromGoDepth(v, 0) }

// made checks the result of a C API constructor: a new reference, or
// NULL with an exception set.
func made(p *C.PyObject) (*C.PyObject, error) {
	if p == nil {
		return nil, fetchError()
	}
	return p, nil
}

func fromGoDepth(v any, depth int) (*C.PyObject, error) {
	switch x := v.(type) {
	case nil:
		return C.pyhost_none(), nil
	case stolen:
		return x.p, nil // ownership passes to the caller
	case borrowedArg:
		C.pyhost_incref(x.p)
		return x.p, nil
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
		return made(C.PyLong_FromLongLong(C.longlong(x)))
	case int64:
		return made(C.PyLong_FromLongLong(C.longlong(x)))
	case int32:
		return made(C.PyLong_FromLongLong(C.longlong(x)))
	case uint64:
		return made(C.PyLong_FromUnsignedLongLong(C.ulonglong(x)))
	case uint:
		return made(C.PyLong_FromUnsignedLongLong(C.ulonglong(x)))
	case float64:
		return made(C.PyFloat_FromDouble(C.double(x)))
	case string:
		return newStr(x)
	case []byte:
		return newBytes(x)
	case *big.Int:
		if x == nil {
			return C.pyhost_none(), nil
		}
		return bigToPython(x)
	case big.Int:
		return bigToPython(&x)
	case Tuple:
		return tupleOf(x, depth)
	case []any:
		if depth >= maxDepth {
			return nil, errTooDeep("Go")
		}
		l, err := made(C.PyList_New(C.Py_ssize_t(len(x))))
		if err != nil {
			return nil, err
		}
		for i, a := range x {
			e, err := fromGoDepth(a, depth+1)
			if err != nil {
				C.pyhost_decref(l)
				return nil, err
			}
			C.pyhost_list_set(l, C.Py_ssize_t(i), e) // steals e
		}
		return l, nil
	case []string:
		l, err := made(C.PyList_New(C.Py_ssize_t(len(x))))
		if err != nil {
			return nil, err
		}
		for i, s := range x {
			e, err := newStr(s)
			if err != nil {
				C.pyhost_decref(l)
				return nil, err
			}
			C.pyhost_list_set(l, C.Py_ssize_t(i), e) // steals e
		}
		return l, nil
	case map[string]any:
		if depth >= maxDepth {
			return nil, errTooDeep("Go")
		}
		d, err := made(C.PyDict_New())
		if err != nil {
			return nil, err
		}
		for k, a := range x {
			if err := dictSet(d, k, a, depth); err != nil {
				C.pyhost_decref(d)
				return nil, err
			}
		}
		return d, nil
	}
	return fromReflect(reflect.ValueOf(v), depth)
}

// dictSet sets d[k] = v, converting both.
func dictSet(d *C.PyObject, k, v any, depth int) error {
	kp, err := fromGoDepth(k, depth+1)
	if err != nil {
		return err
	}
	defer C.pyhost_decref(kp)
	vp, err := fromGoDepth(v, depth+1)
	if err != nil {
		return err
	}
	defer C.pyhost_decref(vp)
	if C.PyDict_SetItem(d, kp, vp) < 0 { // does not steal
		return fetchError()
	}
	return nil
}

// fromReflect converts what the type switch of fromGoDepth does not
// know by its kind: the remaining number types, named types, slices,
// arrays, maps and pointers.
func fromReflect(rv reflect.Value, depth int) (*C.PyObject, error) {
	switch rv.Kind() {
	case reflect.Bool:
		return fromGoDepth(rv.Bool(), depth)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return made(C.PyLong_FromLongLong(C.longlong(rv.Int())))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return made(C.PyLong_FromUnsignedLongLong(C.ulonglong(rv.Uint())))
	case reflect.Float32, reflect.Float64:
		return made(C.PyFloat_FromDouble(C.double(rv.Float())))
	case reflect.Complex64, reflect.Complex128:
		c := rv.Complex()
		return made(C.PyComplex_FromDoubles(C.double(real(c)), C.double(imag(c))))
	case reflect.String:
		return newStr(rv.String())
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return newBytes(b)
		}
		if depth >= maxDepth {
			return nil, errTooDeep("Go")
		}
		l, err := made(C.PyList_New(C.Py_ssize_t(rv.Len())))
		if err != nil {
			return nil, err
		}
		for i := 0; i < rv.Len(); i++ {
			e, err := fromGoDepth(rv.Index(i).Interface(), depth+1)
			if err != nil {
				C.pyhost_decref(l)
				return nil, err
			}
			C.pyhost_list_set(l, C.Py_ssize_t(i), e) // steals e
		}
		return l, nil
	case reflect.Map:
		if depth >= maxDepth {
			return nil, errTooDeep("Go")
		}
		d, err := made(C.PyDict_New())
		if err != nil {
			return nil, err
		}
		it := rv.MapRange()
		for it.Next() {
			if err := dictSet(d, it.Key().Interface(), it.Value().Interface(), depth); err != nil {
				C.pyhost_decref(d)
				return nil, err
			}
		}
		return d, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return C.pyhost_none(), nil
		}
		if depth >= maxDepth {
			return nil, errTooDeep("Go")
		}
		return fromGoDepth(rv.Elem().Interface(), depth+1)
	}
	return nil, &ConversionError{What: fmt.Sprintf("Go %s to Python", rv.Type())}
}

func tupleOf(args []any, depth int) (*C.PyObject, error) {
	if depth >= maxDepth {
		return nil, errTooDeep("Go")
	}
	t, err := made(C.PyTuple_New(C.Py_ssize_t(len(args))))
	if err != nil {
		return nil, err
	}
	for i, a := range args {
		v, err := fromGoDepth(a, depth+1)
		if err != nil {
			C.pyhost_decref(t)
			return nil, err
		}
		C.pyhost_tuple_set(t, C.Py_ssize_t(i), v) // steals v
	}
	return t, nil
}

// newStr makes a str from a Go string (invalid UTF-8 as surrogates, as
// os.fsdecode does), a new reference. The bytes are copied by CPython.
func newStr(s string) (*C.PyObject, error) {
	return made(C.pyhost_str_from((*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.Py_ssize_t(len(s))))
}

func newBytes(b []byte) (*C.PyObject, error) {
	var p *C.char
	if len(b) > 0 {
		p = (*C.char)(unsafe.Pointer(&b[0]))
	}
	return made(C.PyBytes_FromStringAndSize(p, C.Py_ssize_t(len(b))))
}

func bigToPython(x *big.Int) (*C.PyObject, error) {
	if x.IsInt64() {
		return made(C.PyLong_FromLongLong(C.longlong(x.Int64())))
	}
	cs := C.CString(x.Text(16)) // "-1f..." parses in base 16
	defer C.free(unsafe.Pointer(cs))
	return made(C.PyLong_FromString(cs, nil, 16))
}

// ---- Python to Go ------------------------------------------------------------

// ToGo converts a Python object to a Go value: None → nil, bool, int →
// int64 (a *ConversionError if it does not fit: use AsBigInt), float →
// float64, complex → complex128, str → string, bytes and bytearray →
// []byte, list and tuple → []any, dict → map[string]any when every key
// is a str and map[any]any otherwise. Other types (and containers
// holding them) are a *ConversionError: keep those as an Object.
func (o *Object) ToGo() (any, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	return toGo(p, 0)
}

func typeName(p *C.PyObject) string { return C.GoString(C.pyhost_type_name(p)) }

func errOverflow(p *C.PyObject, to string) error {
	return &ConversionError{What: "Python " + typeName(p) + " to Go " + to + ": out of range", Overflow: true}
}

func errType(p *C.PyObject, to string) error {
	return &ConversionError{What: "Python " + typeName(p) + " to Go " + to}
}

func toGo(p *C.PyObject, depth int) (any, error) {
	switch C.pyhost_kind(p) {
	case C.PYHOST_NONE:
		return nil, nil
	case C.PYHOST_BOOL:
		return p == C.pyhost_true_ptr(), nil
	case C.PYHOST_INT:
		return asInt64(p)
	case C.PYHOST_FLOAT:
		return float64(C.PyFloat_AsDouble(p)), nil
	case C.PYHOST_COMPLEX:
		return complex(float64(C.PyComplex_RealAsDouble(p)), float64(C.PyComplex_ImagAsDouble(p))), nil
	case C.PYHOST_STR:
		return goString(p)
	case C.PYHOST_BYTES:
		var buf *C.char
		var n C.Py_ssize_t
		if C.PyBytes_AsStringAndSize(p, &buf, &n) < 0 {
			return nil, fetchError()
		}
		return C.GoBytes(unsafe.Pointer(buf), C.int(n)), nil
	case C.PYHOST_BYTEARRAY:
		return C.GoBytes(unsafe.Pointer(C.pyhost_bytearray_data(p)), C.int(C.pyhost_bytearray_size(p))), nil
	case C.PYHOST_LIST, C.PYHOST_TUPLE:
		if depth >= maxDepth {
			return nil, errTooDeep("Python")
		}
		items := sequenceItems(p)
		out := make([]any, len(items))
		for i := range out {
			// The items are borrowed from p: converting them runs no
			// Python code that could change p.
			v, err := toGo(items[i], depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case C.PYHOST_DICT:
		if depth >= maxDepth {
			return nil, errTooDeep("Python")
		}
		return dictToGo(p, depth)
	}
	return nil, errType(p, "value")
}

// sequenceItems are the items of a list or tuple, borrowed from it.
func sequenceItems(p *C.PyObject) []*C.PyObject {
	var n C.Py_ssize_t
	var first **C.PyObject
	if C.pyhost_list_check(p) == 1 {
		n = C.pyhost_list_size(p)
		if n > 0 {
			first = (**C.PyObject)(unsafe.Pointer(C.pyhost_list_items(p)))
		}
	} else {
		n = C.pyhost_tuple_size(p)
		if n > 0 {
			first = (**C.PyObject)(unsafe.Pointer(C.pyhost_tuple_items(p)))
		}
	}
	if n == 0 {
		return nil
	}
	return unsafe.Slice(first, int(n))
}

func dictToGo(p *C.PyObject, depth int) (any, error) {
	var pos C.Py_ssize_t
	var k, v *C.PyObject // borrowed
	strKeys := true
	for C.PyDict_Next(p, &pos, &k, &v) != 0 {
		if C.pyhost_unicode_check(k) != 1 {
			strKeys = false
			break
		}
	}
	pos = 0
	if strKeys {
		out := make(map[string]any, int(C.PyDict_Size(p)))
		for C.PyDict_Next(p, &pos, &k, &v) != 0 {
			ks, err := goString(k)
			if err != nil {
				return nil, err
			}
			gv, err := toGo(v, depth+1)
			if err != nil {
				return nil, err
			}
			out[ks] = gv
		}
		return out, nil
	}
	out := make(map[any]any, int(C.PyDict_Size(p)))
	for C.PyDict_Next(p, &pos, &k, &v) != 0 {
		gk, err := toGo(k, depth+1)
		if err != nil {
			return nil, err
		}
		if gk != nil && !reflect.TypeOf(gk).Comparable() {
			return nil, &ConversionError{What: "a dict key of type " + typeName(k) + " to a Go map key"}
		}
		gv, err := toGo(v, depth+1)
		if err != nil {
			return nil, err
		}
		out[gk] = gv
	}
	return out, nil
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

func asInt64(p *C.PyObject) (int64, error) {
	var overflow C.int
	v := C.PyLong_AsLongLongAndOverflow(p, &overflow)
	if overflow != 0 {
		return 0, errOverflow(p, "int64")
	}
	if v == -1 && C.PyErr_Occurred() != nil {
		return 0, fetchError()
	}
	return int64(v), nil
}

func asUint64(p *C.PyObject) (uint64, error) {
	v := C.PyLong_AsUnsignedLongLong(p)
	if v == C.ulonglong(math.MaxUint64) && C.PyErr_Occurred() != nil {
		if C.PyErr_ExceptionMatches(C.PyExc_OverflowError) != 0 {
			C.PyErr_Clear()
			return 0, errOverflow(p, "uint64")
		}
		return 0, fetchError()
	}
	return uint64(v), nil
}

// asFloat64 is a float's or an int's value (-1 with OverflowError set
// for an int too large): it runs no Python code (PyFloat_AsDouble would
// call an int subclass's __float__), so borrowed items stay valid.
func asFloat64(p *C.PyObject) float64 {
	if C.pyhost_float_check(p) == 1 {
		return float64(C.PyFloat_AsDouble(p))
	}
	return float64(C.PyLong_AsDouble(p))
}

func pythonToBig(p *C.PyObject) (*big.Int, error) {
	h := C.PyNumber_ToBase(p, 16) // new: "0x1f" or "-0x1f"
	if h == nil {
		return nil, fetchError()
	}
	defer C.pyhost_decref(h)
	s, err := goString(h)
	if err != nil {
		return nil, err
	}
	b, ok := new(big.Int).SetString(s, 0)
	if !ok {
		return nil, fmt.Errorf("host: cannot parse %q as an integer", s)
	}
	return b, nil
}

// AsString returns the str's value.
func (o *Object) AsString() (string, error) {
	p, err := o.ptr()
	if err != nil {
		return "", err
	}
	if C.pyhost_unicode_check(p) != 1 {
		return "", errType(p, "string")
	}
	return goString(p)
}

// AsInt returns the int's value; one that does not fit int64 is a
// *ConversionError with Overflow set, never a truncated value.
func (o *Object) AsInt() (int64, error) {
	p, err := o.ptr()
	if err != nil {
		return 0, err
	}
	if C.pyhost_long_check(p) != 1 {
		return 0, errType(p, "int64")
	}
	return asInt64(p)
}

// AsUint64 returns the int's value; a negative one or one above
// MaxUint64 is a *ConversionError with Overflow set.
func (o *Object) AsUint64() (uint64, error) {
	p, err := o.ptr()
	if err != nil {
		return 0, err
	}
	if C.pyhost_long_check(p) != 1 {
		return 0, errType(p, "uint64")
	}
	return asUint64(p)
}

// AsBigInt returns the int's value, whatever its size.
func (o *Object) AsBigInt() (*big.Int, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	if C.pyhost_long_check(p) != 1 {
		return nil, errType(p, "*big.Int")
	}
	return pythonToBig(p)
}

// AsFloat returns the float's (or int's) value.
func (o *Object) AsFloat() (float64, error) {
	p, err := o.ptr()
	if err != nil {
		return math.NaN(), err
	}
	if C.pyhost_float_check(p) != 1 && C.pyhost_long_check(p) != 1 {
		return math.NaN(), errType(p, "float64")
	}
	f := asFloat64(p)
	if f == -1 && C.PyErr_Occurred() != nil {
		if C.PyErr_ExceptionMatches(C.PyExc_OverflowError) != 0 {
			C.PyErr_Clear()
			return math.NaN(), errOverflow(p, "float64")
		}
		return math.NaN(), fetchError()
	}
	return f, nil
}

// AsBool returns the bool's value (only True and False convert; use
// Python's bool() for truthiness).
func (o *Object) AsBool() (bool, error) {
	p, err := o.ptr()
	if err != nil {
		return false, err
	}
	if C.pyhost_bool_check(p) != 1 {
		return false, errType(p, "bool")
	}
	return p == C.pyhost_true_ptr(), nil
}

// AsBytes returns a copy of a bytes or bytearray object's contents.
func (o *Object) AsBytes() ([]byte, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	if C.pyhost_bytes_check(p) != 1 && C.pyhost_bytearray_check(p) != 1 {
		return nil, errType(p, "[]byte")
	}
	v, err := toGo(p, 0)
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// IsNone reports whether o is None (false for a nil or closed Object,
// or without the GIL).
func (o *Object) IsNone() bool {
	p, err := o.ptr()
	return err == nil && C.pyhost_is_none(p) == 1
}

// As converts o to a Go value of type T, as [json.Unmarshal] decodes
// into a type: the integer types take an int in their range (anything
// else is a *ConversionError with Overflow set, never truncated), the
// float types a float or int, string a str, []byte bytes or bytearray,
// slices and arrays a list or tuple (an array of exactly its length),
// maps a dict, pointers what they point to (None → nil), *big.Int any
// int, *Object the object itself (a new reference: Close it) and any
// what ToGo gives.
func As[T any](o *Object) (T, error) {
	var t T
	p, err := o.ptr()
	if err != nil {
		return t, err
	}
	err = decode(p, reflect.ValueOf(&t).Elem(), 0)
	return t, err
}

// Arg converts positional argument i of a call from Python as As
// converts; returned to Python, its error raises TypeError (or
// OverflowError).
func Arg[T any](a Args, i int) (T, error) {
	var t T
	p, err := a.at(i)
	if err != nil {
		return t, err
	}
	if err := decode(p, reflect.ValueOf(&t).Elem(), 0); err != nil {
		return t, fmt.Errorf("argument %d: %w", i+1, err)
	}
	return t, nil
}

var (
	objectType = reflect.TypeFor[*Object]()
	bigPtrType = reflect.TypeFor[*big.Int]()
	bigType    = reflect.TypeFor[big.Int]()
)

// decode stores p converted to v's type in v (settable).
func decode(p *C.PyObject, v reflect.Value, depth int) error {
	if depth >= maxDepth {
		return errTooDeep("Python")
	}
	t := v.Type()
	switch t {
	case objectType:
		v.Set(reflect.ValueOf(borrow(p)))
		return nil
	case bigPtrType, bigType:
		if t == bigPtrType && C.pyhost_is_none(p) == 1 {
			v.SetZero()
			return nil
		}
		if C.pyhost_long_check(p) != 1 {
			return errType(p, t.String())
		}
		b, err := pythonToBig(p)
		if err != nil {
			return err
		}
		if t == bigPtrType {
			v.Set(reflect.ValueOf(b))
		} else {
			v.Set(reflect.ValueOf(b).Elem())
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Interface:
		if t.NumMethod() != 0 {
			return errType(p, t.String())
		}
		g, err := toGo(p, depth)
		if err != nil {
			return err
		}
		if g == nil {
			v.SetZero()
		} else {
			v.Set(reflect.ValueOf(g))
		}
		return nil
	case reflect.Bool:
		if C.pyhost_bool_check(p) != 1 {
			return errType(p, t.String())
		}
		v.SetBool(p == C.pyhost_true_ptr())
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if C.pyhost_long_check(p) != 1 {
			return errType(p, t.String())
		}
		n, err := asInt64(p)
		if err != nil {
			if ce, ok := err.(*ConversionError); ok && ce.Overflow {
				return errOverflow(p, t.String())
			}
			return err
		}
		if v.OverflowInt(n) {
			return errOverflow(p, t.String())
		}
		v.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if C.pyhost_long_check(p) != 1 {
			return errType(p, t.String())
		}
		n, err := asUint64(p)
		if err != nil {
			if ce, ok := err.(*ConversionError); ok && ce.Overflow {
				return errOverflow(p, t.String())
			}
			return err
		}
		if v.OverflowUint(n) {
			return errOverflow(p, t.String())
		}
		v.SetUint(n)
		return nil
	case reflect.Float32, reflect.Float64:
		if C.pyhost_float_check(p) != 1 && C.pyhost_long_check(p) != 1 {
			return errType(p, t.String())
		}
		f := asFloat64(p)
		if f == -1 && C.PyErr_Occurred() != nil {
			C.PyErr_Clear()
			return errOverflow(p, t.String())
		}
		if v.OverflowFloat(f) {
			return errOverflow(p, t.String())
		}
		v.SetFloat(f)
		return nil
	case reflect.Complex64, reflect.Complex128:
		var c complex128
		switch {
		case C.pyhost_complex_check(p) == 1:
			c = complex(float64(C.PyComplex_RealAsDouble(p)), float64(C.PyComplex_ImagAsDouble(p)))
		case C.pyhost_float_check(p) == 1, C.pyhost_long_check(p) == 1:
			f := asFloat64(p)
			if f == -1 && C.PyErr_Occurred() != nil {
				C.PyErr_Clear()
				return errOverflow(p, t.String())
			}
			c = complex(f, 0)
		default:
			return errType(p, t.String())
		}
		v.SetComplex(c)
		return nil
	case reflect.String:
		if C.pyhost_unicode_check(p) != 1 {
			return errType(p, t.String())
		}
		s, err := goString(p)
		if err != nil {
			return err
		}
		v.SetString(s)
		return nil
	case reflect.Slice:
		if C.pyhost_is_none(p) == 1 {
			v.SetZero()
			return nil
		}
		if t.Elem().Kind() == reflect.Uint8 && (C.pyhost_bytes_check(p) == 1 || C.pyhost_bytearray_check(p) == 1) {
			b, _ := toGo(p, depth)
			v.Set(reflect.ValueOf(b).Convert(t))
			return nil
		}
		if C.pyhost_list_check(p) != 1 && C.pyhost_tuple_check(p) != 1 {
			return errType(p, t.String())
		}
		items := sequenceItems(p)
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, e := range items {
			if err := decode(e, s.Index(i), depth+1); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && (C.pyhost_bytes_check(p) == 1 || C.pyhost_bytearray_check(p) == 1) {
			b, _ := toGo(p, depth)
			if len(b.([]byte)) != t.Len() {
				return &ConversionError{What: fmt.Sprintf("Python %s of length %d to Go %s", typeName(p), len(b.([]byte)), t)}
			}
			reflect.Copy(v, reflect.ValueOf(b))
			return nil
		}
		if C.pyhost_list_check(p) != 1 && C.pyhost_tuple_check(p) != 1 {
			return errType(p, t.String())
		}
		items := sequenceItems(p)
		if len(items) != t.Len() {
			return &ConversionError{What: fmt.Sprintf("Python %s of length %d to Go %s", typeName(p), len(items), t)}
		}
		for i, e := range items {
			if err := decode(e, v.Index(i), depth+1); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if C.pyhost_is_none(p) == 1 {
			v.SetZero()
			return nil
		}
		if C.pyhost_dict_check(p) != 1 {
			return errType(p, t.String())
		}
		m := reflect.MakeMapWithSize(t, int(C.PyDict_Size(p)))
		var pos C.Py_ssize_t
		var k, e *C.PyObject // borrowed
		for C.PyDict_Next(p, &pos, &k, &e) != 0 {
			kv := reflect.New(t.Key()).Elem()
			if err := decode(k, kv, depth+1); err != nil {
				return err
			}
			ev := reflect.New(t.Elem()).Elem()
			if err := decode(e, ev, depth+1); err != nil {
				return err
			}
			m.SetMapIndex(kv, ev)
		}
		v.Set(m)
		return nil
	case reflect.Pointer:
		if C.pyhost_is_none(p) == 1 {
			v.SetZero()
			return nil
		}
		e := reflect.New(t.Elem())
		if err := decode(p, e.Elem(), depth+1); err != nil {
			return err
		}
		v.Set(e)
		return nil
	}
	return errType(p, t.String())
}
