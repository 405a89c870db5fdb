package host

import (
	"fmt"
	"maps"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"

	"github.com/pyhost/pyhost/internal/cpython"
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
//     converted too; string keys in sorted order, so that a dict's order
//     is the same at every run, other keys in Go's map order)
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
func fromGo(v any) (cpython.Owned, error) { return fromGoDepth(v, 0) }

// made checks the result of a C API constructor: a new reference, or
// NULL with an exception set.
func made(p cpython.Owned) (cpython.Owned, error) {
	if p.IsNull() {
		return p, fetchError()
	}
	return p, nil
}

func fromGoDepth(v any, depth int) (cpython.Owned, error) {
	switch x := v.(type) {
	case nil:
		return cpython.None(), nil
	case *Object:
		p, err := x.ptr()
		if err != nil {
			return cpython.Owned{}, err
		}
		return p.NewRef(), nil
	case bool:
		return cpython.NewBool(x), nil
	case int:
		return made(cpython.NewInt(int64(x)))
	case int64:
		return made(cpython.NewInt(int64(x)))
	case int32:
		return made(cpython.NewInt(int64(x)))
	case uint64:
		return made(cpython.NewUint(uint64(x)))
	case uint:
		return made(cpython.NewUint(uint64(x)))
	case float64:
		return made(cpython.NewFloat(x))
	case string:
		return newStr(x)
	case []byte:
		return newBytes(x)
	case *big.Int:
		if x == nil {
			return cpython.None(), nil
		}
		return bigToPython(x)
	case big.Int:
		return bigToPython(&x)
	case Tuple:
		return tupleOf(x, depth)
	case []any:
		if depth >= maxDepth {
			return cpython.Owned{}, errTooDeep("Go")
		}
		l, err := made(cpython.NewList(len(x)))
		if err != nil {
			return cpython.Owned{}, err
		}
		for i, a := range x {
			e, err := fromGoDepth(a, depth+1)
			if err != nil {
				l.Decref()
				return cpython.Owned{}, err
			}
			l.ListSet(i, e) // steals e
		}
		return l, nil
	case []string:
		l, err := made(cpython.NewList(len(x)))
		if err != nil {
			return cpython.Owned{}, err
		}
		for i, s := range x {
			e, err := newStr(s)
			if err != nil {
				l.Decref()
				return cpython.Owned{}, err
			}
			l.ListSet(i, e) // steals e
		}
		return l, nil
	case map[string]any:
		if depth >= maxDepth {
			return cpython.Owned{}, errTooDeep("Go")
		}
		d, err := made(cpython.NewDict())
		if err != nil {
			return cpython.Owned{}, err
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if err := dictSet(d.Ref, k, x[k], depth); err != nil {
				d.Decref()
				return cpython.Owned{}, err
			}
		}
		return d, nil
	}
	return fromReflect(reflect.ValueOf(v), depth)
}

// dictSet sets d[k] = v, converting both.
func dictSet(d cpython.Ref, k, v any, depth int) error {
	kp, err := fromGoDepth(k, depth+1)
	if err != nil {
		return err
	}
	defer kp.Decref()
	vp, err := fromGoDepth(v, depth+1)
	if err != nil {
		return err
	}
	defer vp.Decref()
	if !d.DictSet(kp.Ref, vp.Ref) { // does not steal
		return fetchError()
	}
	return nil
}

// fromReflect converts what the type switch of fromGoDepth does not
// know by its kind: the remaining number types, named types, slices,
// arrays, maps and pointers.
func fromReflect(rv reflect.Value, depth int) (cpython.Owned, error) {
	switch rv.Kind() {
	case reflect.Bool:
		return fromGoDepth(rv.Bool(), depth)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return made(cpython.NewInt(rv.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return made(cpython.NewUint(rv.Uint()))
	case reflect.Float32, reflect.Float64:
		return made(cpython.NewFloat(rv.Float()))
	case reflect.Complex64, reflect.Complex128:
		return made(cpython.NewComplex(rv.Complex()))
	case reflect.String:
		return newStr(rv.String())
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return newBytes(b)
		}
		if depth >= maxDepth {
			return cpython.Owned{}, errTooDeep("Go")
		}
		l, err := made(cpython.NewList(rv.Len()))
		if err != nil {
			return cpython.Owned{}, err
		}
		for i := 0; i < rv.Len(); i++ {
			e, err := fromGoDepth(rv.Index(i).Interface(), depth+1)
			if err != nil {
				l.Decref()
				return cpython.Owned{}, err
			}
			l.ListSet(i, e) // steals e
		}
		return l, nil
	case reflect.Map:
		if depth >= maxDepth {
			return cpython.Owned{}, errTooDeep("Go")
		}
		d, err := made(cpython.NewDict())
		if err != nil {
			return cpython.Owned{}, err
		}
		keys := rv.MapKeys()
		if rv.Type().Key().Kind() == reflect.String {
			slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		}
		for _, k := range keys {
			if err := dictSet(d.Ref, k.Interface(), rv.MapIndex(k).Interface(), depth); err != nil {
				d.Decref()
				return cpython.Owned{}, err
			}
		}
		return d, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return cpython.None(), nil
		}
		if depth >= maxDepth {
			return cpython.Owned{}, errTooDeep("Go")
		}
		return fromGoDepth(rv.Elem().Interface(), depth+1)
	}
	return cpython.Owned{}, &ConversionError{What: fmt.Sprintf("Go %s to Python", rv.Type())}
}

func tupleOf(args []any, depth int) (cpython.Owned, error) {
	if depth >= maxDepth {
		return cpython.Owned{}, errTooDeep("Go")
	}
	t, err := made(cpython.NewTuple(len(args)))
	if err != nil {
		return cpython.Owned{}, err
	}
	for i, a := range args {
		v, err := fromGoDepth(a, depth+1)
		if err != nil {
			t.Decref()
			return cpython.Owned{}, err
		}
		t.TupleSet(i, v) // steals v
	}
	return t, nil
}

// newStr makes a str from a Go string (invalid UTF-8 as surrogates, as
// os.fsdecode does), a new reference. The bytes are copied by CPython.
func newStr(s string) (cpython.Owned, error) { return made(cpython.NewStr(s)) }

func newBytes(b []byte) (cpython.Owned, error) { return made(cpython.NewBytes(b)) }

func bigToPython(x *big.Int) (cpython.Owned, error) {
	if x.IsInt64() {
		return made(cpython.NewInt(x.Int64()))
	}
	return made(cpython.IntFromString(x.Text(16), 16)) // "-1f..." parses in base 16
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

func errOverflow(p cpython.Ref, to string) error {
	return &ConversionError{What: "Python " + p.TypeName() + " to Go " + to + ": out of range", Overflow: true}
}

func errType(p cpython.Ref, to string) error {
	return &ConversionError{What: "Python " + p.TypeName() + " to Go " + to}
}

func toGo(p cpython.Ref, depth int) (any, error) {
	switch p.Kind() {
	case cpython.KindNone:
		return nil, nil
	case cpython.KindBool:
		return p.IsTrue(), nil
	case cpython.KindInt:
		return asInt64(p)
	case cpython.KindFloat:
		return p.FloatValue(), nil
	case cpython.KindComplex:
		return p.Complex128(), nil
	case cpython.KindStr:
		return goString(p)
	case cpython.KindBytes, cpython.KindByteArray:
		b, ok := p.BytesCopy()
		if !ok {
			return nil, fetchError()
		}
		return b, nil
	case cpython.KindList, cpython.KindTuple:
		if depth >= maxDepth {
			return nil, errTooDeep("Python")
		}
		items := p.Items()
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
	case cpython.KindDict:
		if depth >= maxDepth {
			return nil, errTooDeep("Python")
		}
		return dictToGo(p, depth)
	}
	return nil, errType(p, "value")
}

func dictToGo(p cpython.Ref, depth int) (any, error) {
	strKeys := true
	for pos := 0; ; {
		k, _, ok := p.DictNext(&pos)
		if !ok {
			break
		}
		if !k.IsStr() {
			strKeys = false
			break
		}
	}
	if strKeys {
		out := make(map[string]any, p.DictLen())
		for pos := 0; ; {
			k, v, ok := p.DictNext(&pos)
			if !ok {
				break
			}
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
	out := make(map[any]any, p.DictLen())
	for pos := 0; ; {
		k, v, ok := p.DictNext(&pos)
		if !ok {
			break
		}
		gk, err := toGo(k, depth+1)
		if err != nil {
			return nil, err
		}
		if gk != nil && !reflect.TypeOf(gk).Comparable() {
			return nil, &ConversionError{What: "a dict key of type " + k.TypeName() + " to a Go map key"}
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
func goString(p cpython.Ref) (string, error) {
	s, ok := p.GoString()
	if !ok {
		return "", fetchError()
	}
	return s, nil
}

func asInt64(p cpython.Ref) (int64, error) {
	v, overflow := p.Int64()
	if overflow {
		return 0, errOverflow(p, "int64")
	}
	if v == -1 && cpython.ErrOccurred() {
		return 0, fetchError()
	}
	return v, nil
}

func asUint64(p cpython.Ref) (uint64, error) {
	v := p.Uint64()
	if v == math.MaxUint64 && cpython.ErrOccurred() {
		if cpython.ErrMatchesOverflow() {
			cpython.ErrClear()
			return 0, errOverflow(p, "uint64")
		}
		return 0, fetchError()
	}
	return v, nil
}

func pythonToBig(p cpython.Ref) (*big.Int, error) {
	h := p.ToBase(16) // new: "0x1f" or "-0x1f"
	if h.IsNull() {
		return nil, fetchError()
	}
	defer h.Decref()
	s, err := goString(h.Ref)
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
	if !p.IsStr() {
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
	if !p.IsInt() {
		var n int64
		return n, decodeIndex(p, reflect.ValueOf(&n).Elem(), 0)
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
	if !p.IsInt() {
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
	if !p.IsInt() {
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
	if !p.IsFloat() && !p.IsInt() {
		var f float64
		if err := decodeFloat(p, reflect.ValueOf(&f).Elem()); err != nil {
			return math.NaN(), err
		}
		return f, nil
	}
	f := p.Float64()
	if f == -1 && cpython.ErrOccurred() {
		if cpython.ErrMatchesOverflow() {
			cpython.ErrClear()
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
	if !p.IsBool() {
		return false, errType(p, "bool")
	}
	return p.IsTrue(), nil
}

// AsBytes returns a copy of a bytes or bytearray object's contents.
func (o *Object) AsBytes() ([]byte, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	if !p.IsBytes() && !p.IsByteArray() {
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
	return err == nil && p.IsNone()
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
func decode(p cpython.Ref, v reflect.Value, depth int) error {
	if depth >= maxDepth {
		return errTooDeep("Python")
	}
	t := v.Type()
	switch t {
	case objectType:
		v.Set(reflect.ValueOf(borrow(p)))
		return nil
	case bigPtrType, bigType:
		if t == bigPtrType && p.IsNone() {
			v.SetZero()
			return nil
		}
		if !p.IsInt() {
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
		if !p.IsBool() {
			return errType(p, t.String())
		}
		v.SetBool(p.IsTrue())
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !p.IsInt() {
			return decodeIndex(p, v, depth)
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
		if !p.IsInt() {
			return decodeIndex(p, v, depth)
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
		if !p.IsFloat() && !p.IsInt() {
			return decodeFloat(p, v)
		}
		f := p.Float64()
		if f == -1 && cpython.ErrOccurred() {
			cpython.ErrClear()
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
		case p.IsComplex():
			c = p.Complex128()
		case p.IsFloat(), p.IsInt():
			f := p.Float64()
			if f == -1 && cpython.ErrOccurred() {
				cpython.ErrClear()
				return errOverflow(p, t.String())
			}
			c = complex(f, 0)
		default:
			return errType(p, t.String())
		}
		v.SetComplex(c)
		return nil
	case reflect.String:
		if !p.IsStr() {
			return errType(p, t.String())
		}
		s, err := goString(p)
		if err != nil {
			return err
		}
		v.SetString(s)
		return nil
	case reflect.Slice:
		if p.IsNone() {
			v.SetZero()
			return nil
		}
		if t.Elem().Kind() == reflect.Uint8 && (p.IsBytes() || p.IsByteArray()) {
			b, _ := toGo(p, depth)
			v.Set(reflect.ValueOf(b).Convert(t))
			return nil
		}
		if !p.IsList() && !p.IsTuple() {
			if found, err := readBuffer(p, v); found || err != nil {
				return err
			}
			return errType(p, t.String())
		}
		items := p.Items()
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, e := range items {
			if err := decode(e, s.Index(i), depth+1); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && (p.IsBytes() || p.IsByteArray()) {
			b, _ := toGo(p, depth)
			if len(b.([]byte)) != t.Len() {
				return &ConversionError{What: fmt.Sprintf("Python %s of length %d to Go %s", p.TypeName(), len(b.([]byte)), t)}
			}
			reflect.Copy(v, reflect.ValueOf(b))
			return nil
		}
		if !p.IsList() && !p.IsTuple() {
			return errType(p, t.String())
		}
		items := p.Items()
		if len(items) != t.Len() {
			return &ConversionError{What: fmt.Sprintf("Python %s of length %d to Go %s", p.TypeName(), len(items), t)}
		}
		for i, e := range items {
			if err := decode(e, v.Index(i), depth+1); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if p.IsNone() {
			v.SetZero()
			return nil
		}
		if !p.IsDict() {
			return errType(p, t.String())
		}
		m := reflect.MakeMapWithSize(t, p.DictLen())
		for pos := 0; ; {
			k, e, ok := p.DictNext(&pos) // borrowed
			if !ok {
				break
			}
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
		if p.IsNone() {
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

// decodeIndex decodes an integer that is not an int (numpy.int64: a type
// with __index__) into v, an integer kind, through operator.index.
func decodeIndex(p cpython.Ref, v reflect.Value, depth int) error {
	if !p.HasIndex() || p.IsFloat() {
		return errType(p, v.Type().String())
	}
	i := p.Index() // new
	if i.IsNull() {
		return fetchError()
	}
	defer i.Decref()
	if !i.IsInt() {
		return errType(p, v.Type().String())
	}
	return decode(i.Ref, v, depth+1)
}

// decodeFloat decodes a number that is neither float nor int
// (numpy.float32, numpy.int64: a type with __float__ or __index__) into
// v, a float kind. A str never converts.
func decodeFloat(p cpython.Ref, v reflect.Value) error {
	if p.IsStr() || (!p.HasFloat() && !p.HasIndex()) {
		return errType(p, v.Type().String())
	}
	f := p.AsDouble()
	if f == -1 && cpython.ErrOccurred() {
		return fetchError()
	}
	if v.OverflowFloat(f) {
		return errOverflow(p, v.Type().String())
	}
	v.SetFloat(f)
	return nil
}
