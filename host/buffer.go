package host

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/pyhost/pyhost/internal/cpython"
)

// Number is what a Go slice shared with Python by [NewBuffer] may hold:
// the fixed-size integer and floating-point types (and types defined
// over them).
type Number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~int | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uint | ~uintptr |
		~float32 | ~float64
}

// NewBuffer exposes s to Python without copying it: the result is a
// pyhost.GoBuffer, an object with the buffer protocol over the slice's
// memory, that numpy.frombuffer, numpy.asarray, memoryview and
// array-aware code read (and write: Go and Python share the memory) in
// place. Its format is the struct module's letter for T ("d" for
// float64, "q" for int64, "B" for byte).
//
// Lifetime: the GoBuffer pins the slice's memory (Go's collector neither
// frees nor moves it) for as long as Python holds the GoBuffer, directly
// or through a memoryview or an array made from it, whatever Go does
// with s meanwhile; Go may drop s. Memory appended beyond len(s) later
// is not shared: append may move the slice. The GoBuffer's release()
// method (or [Object.ReleaseBuffer]) gives the memory back early: it is
// refused with BufferError while a consumer still uses it, and a
// released GoBuffer raises ValueError when read. Writes by one side while
// the other reads are a data race, as between two goroutines: take turns
// (the GIL orders Python's accesses, not Go's).
func NewBuffer[T Number](py *Py, s []T) (*Object, error) {
	if err := py.check(); err != nil {
		return nil, err
	}
	return ownMade(cpython.NewGoBuffer(s))
}

// ownMade wraps the result of a C API constructor as an Object: a new
// reference, or NULL with an exception set.
func ownMade(p cpython.Owned) (*Object, error) {
	p, err := made(p)
	if err != nil {
		return nil, err
	}
	return own(p), nil
}

// ReleaseBuffer gives the memory of a GoBuffer made by NewBuffer back to
// Go before Python frees the object: an error (a BufferError
// *Exception) while a memoryview or an array made from it still lives.
// A released GoBuffer raises ValueError when Python reads it.
func (o *Object) ReleaseBuffer() error {
	p, err := o.ptr()
	if err != nil {
		return err
	}
	if !p.IsGoBuffer() {
		return fmt.Errorf("host: ReleaseBuffer of a %s, not a GoBuffer made by NewBuffer", p.TypeName())
	}
	if !p.ReleaseGoBuffer() {
		return fetchError()
	}
	return nil
}

// readBuffer decodes an object that exports a buffer into v, a slice of
// numbers: one copy of its memory. found is false for an object without
// the buffer protocol.
func readBuffer(p cpython.Ref, v reflect.Value) (found bool, err error) {
	t := v.Type()
	kind, ok := numberKind(t.Elem().Kind())
	if !ok {
		return false, nil
	}
	size := int(t.Elem().Size())
	found, err = cpython.ReadBufferBytes(p, kind, size, func(n int) []byte {
		s := reflect.MakeSlice(t, n, n)
		v.Set(s)
		if n == 0 {
			return nil
		}
		return unsafe.Slice((*byte)(s.UnsafePointer()), n*size)
	})
	var be *cpython.BufferError
	if errors.As(err, &be) {
		return true, &ConversionError{What: "Python " + p.TypeName() + " to Go " + t.String() + ": " + be.Msg}
	}
	if err != nil {
		return true, fetchError() // cpython.ErrSet
	}
	return found, nil
}

// numberKind is the buffer kind of a Go number kind ('i', 'u', 'f').
func numberKind(k reflect.Kind) (byte, bool) {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return 'i', true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return 'u', true
	case reflect.Float32, reflect.Float64:
		return 'f', true
	}
	return 0, false
}

// AppendBuffer appends the items of a buffer exporter (an ndarray,
// array.array, memoryview, a GoBuffer) to dst and returns the extended
// slice, as strconv's Append functions do: with room in dst, one copy
// and no allocation. The buffer must be one-dimensional, C-contiguous and
// of T's item type (a *ConversionError says which it is not); an object
// without the buffer protocol is a *ConversionError too.
func AppendBuffer[T Number](dst []T, o *Object) ([]T, error) {
	p, err := o.ptr()
	if err != nil {
		return dst, err
	}
	v := reflect.ValueOf(&dst).Elem()
	t := v.Type()
	kind, _ := numberKind(t.Elem().Kind())
	size := int(t.Elem().Size())
	found, err := cpython.ReadBufferBytes(p, kind, size, func(n int) []byte {
		dst = slicesGrow(dst, n)
		tail := dst[len(dst) : len(dst)+n]
		dst = dst[:len(dst)+n]
		if n == 0 {
			return nil
		}
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(tail))), n*size)
	})
	var be *cpython.BufferError
	switch {
	case errors.As(err, &be):
		return dst, &ConversionError{What: "Python " + p.TypeName() + " to Go " + t.String() + ": " + be.Msg}
	case err != nil:
		return dst, fetchError() // cpython.ErrSet
	case !found:
		return dst, &ConversionError{What: "Python " + p.TypeName() + " to Go " + t.String() + ": no buffer protocol"}
	}
	return dst, nil
}

// slicesGrow is slices.Grow without zeroing what the copy overwrites.
func slicesGrow[T any](s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	return append(s[:cap(s)], make([]T, len(s)+n-cap(s))...)[:len(s)]
}
