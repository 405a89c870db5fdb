package cpython

// #cgo noescape pyhost_buffer_copy_release
// #include "buffer.h"
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// Elem is what a Go slice shared with Python through the buffer protocol
// may hold: fixed-size numbers.
type Elem interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~int | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uint | ~uintptr |
		~float32 | ~float64
}

// pins holds what each GoBuffer keeps alive: the pin of its slice's
// memory, released when Python frees the GoBuffer or its release method
// gives the memory back.
var pins struct {
	sync.Mutex
	next uintptr
	m    map[uintptr]*runtime.Pinner
}

//export goBufferFree
func goBufferFree(h C.uintptr_t) {
	pins.Lock()
	p := pins.m[uintptr(h)]
	delete(pins.m, uintptr(h))
	pins.Unlock()
	if p != nil {
		p.Unpin()
	}
}

// PinnedBuffers is how many GoBuffers still pin Go memory.
func PinnedBuffers() int {
	pins.Lock()
	defer pins.Unlock()
	return len(pins.m)
}

// NewGoBuffer exports s to Python without a copy, as a pyhost.GoBuffer
// (a new reference, NULL with an exception set). The slice's memory is
// pinned, so Go's collector neither frees nor moves it, until Python
// frees the GoBuffer or its release() succeeds (refused while a
// memoryview or an array made from it lives). The GIL must be held.
func NewGoBuffer[T Elem](s []T) Owned {
	var zero T
	format, err := FormatOf(zero)
	if err != nil {
		return SetError("TypeError", err.Error())
	}
	var data unsafe.Pointer
	p := new(runtime.Pinner)
	if len(s) > 0 {
		data = unsafe.Pointer(unsafe.SliceData(s))
		p.Pin(data)
	}
	pins.Lock()
	if pins.m == nil {
		pins.m = map[uintptr]*runtime.Pinner{}
	}
	pins.next++
	h := pins.next
	pins.m[h] = p
	pins.Unlock()
	return newGoBuffer(data, len(s), int(unsafe.Sizeof(zero)), format, h)
}

func newGoBuffer(data unsafe.Pointer, n, itemsize int, format byte, h uintptr) Owned {
	return Owned{Ref{C.pyhost_gobuffer_new(data, C.Py_ssize_t(n), C.Py_ssize_t(itemsize), C.char(format), C.uintptr_t(h))}}
}

// IsGoBuffer reports whether r is a pyhost.GoBuffer.
func (r Ref) IsGoBuffer() bool { return C.pyhost_gobuffer_check(r.p) == 1 }

// ReleaseGoBuffer gives a GoBuffer's memory back to Go; false with
// BufferError set while a consumer still uses it.
func (r Ref) ReleaseGoBuffer() bool { return C.pyhost_gobuffer_release(r.p) == 0 }

// FormatOf is the struct module's format character for v's type.
func FormatOf(v any) (byte, error) {
	k, size := numKind(v)
	switch {
	case k == 'i' && size == 1:
		return 'b', nil
	case k == 'i' && size == 2:
		return 'h', nil
	case k == 'i' && size == 4:
		return 'i', nil
	case k == 'i' && size == 8:
		return 'q', nil
	case k == 'u' && size == 1:
		return 'B', nil
	case k == 'u' && size == 2:
		return 'H', nil
	case k == 'u' && size == 4:
		return 'I', nil
	case k == 'u' && size == 8:
		return 'Q', nil
	case k == 'f' && size == 4:
		return 'f', nil
	case k == 'f' && size == 8:
		return 'd', nil
	}
	return 0, fmt.Errorf("no buffer format for Go %T", v)
}

// numKind is 'i', 'u' or 'f' and the size of a number type (named ones
// too), 0 for others.
func numKind(v any) (byte, int) {
	switch reflectKind(v) {
	case kInt:
		return 'i', sizeOf(v)
	case kUint:
		return 'u', sizeOf(v)
	case kFloat:
		return 'f', sizeOf(v)
	}
	return 0, 0
}

// ErrSet is returned by calls that fail with a Python exception they
// leave set, for the caller to fetch.
var ErrSet = errors.New("cpython: a Python exception is set")

// BufferError says why an exporter's memory cannot be read as the Go
// type asked for.
type BufferError struct{ Msg string }

func (e *BufferError) Error() string { return e.Msg }

// ReadBuffer copies the memory r exports (an ndarray, array.array,
// memoryview, bytes, a GoBuffer) into a new slice: one-dimensional,
// C-contiguous, with items of T's kind (signed, unsigned, floating
// point) and size. found is false when r exports no buffer; err is a
// *BufferError for a buffer of another shape or item type, or ErrSet
// with the exception left set.
func ReadBuffer[T Elem](r Ref) (s []T, found bool, err error) {
	var zero T
	kind, size := numKind(zero)
	found, err = ReadBufferBytes(r, kind, size, func(n int) []byte {
		s = make([]T, n)
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), n*size)
	})
	return s, found, err
}

// ReadBufferBytes is ReadBuffer for a type known at run time: items of
// kind ('i', 'u', 'f') and size bytes; alloc makes the destination of n
// items and returns its bytes.
func ReadBufferBytes(r Ref, kind byte, size int, alloc func(n int) []byte) (found bool, err error) {
	var status C.int
	b := C.pyhost_buffer_get(r.p, &status) // C memory
	switch status {
	case 0:
		return false, nil
	case -1:
		return true, ErrSet
	}
	v := &b.view
	format := "B"
	if v.format != nil {
		format = C.GoString(v.format)
	}
	fail := func(msg string, args ...any) (bool, error) {
		C.pyhost_buffer_release(b)
		return true, &BufferError{Msg: fmt.Sprintf(msg, args...)}
	}
	if v.ndim != 1 {
		return fail("a %d-dimensional buffer (want 1)", int(v.ndim))
	}
	if b.contiguous == 0 {
		return fail("a non-contiguous buffer (stride %d, item size %d): copy it first (numpy.ascontiguousarray)",
			int(*v.strides), int(v.itemsize))
	}
	k, ok := formatKind(format)
	if !ok || k != kind || int(v.itemsize) != size {
		return fail("a buffer of format %q (item size %d)", format, int(v.itemsize))
	}
	dst := alloc(int(v.len) / size)
	var p unsafe.Pointer
	if len(dst) > 0 {
		p = unsafe.Pointer(unsafe.SliceData(dst))
	}
	C.pyhost_buffer_copy_release(b, p)
	return true, nil
}

// formatKind reads a struct format of one native item: its kind ('i',
// 'u', 'f'; 'b' for bool), ok false for anything else (big-endian,
// several items, structs).
func formatKind(f string) (byte, bool) {
	f = strings.TrimLeft(f, "@=")
	if strings.HasPrefix(f, "<") {
		f = f[1:]
		if !littleEndian {
			return 0, false
		}
	}
	if len(f) != 1 {
		return 0, false
	}
	switch f[0] {
	case 'b', 'h', 'i', 'l', 'q', 'n':
		return 'i', true
	case 'B', 'H', 'I', 'L', 'Q', 'N', 'c':
		return 'u', true
	case 'e', 'f', 'd':
		return 'f', true
	case '?':
		return 'b', true
	}
	return 0, false
}

var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

// HasIndex reports whether r's type has __index__ (an integer that is
// not an int: numpy.int64).
func (r Ref) HasIndex() bool { return C.pyhost_has_index(r.p) != 0 }

// HasFloat reports whether r's type has __float__ (numpy.float32).
func (r Ref) HasFloat() bool { return C.pyhost_has_float(r.p) != 0 }

// Index is operator.index(r): a new int, or NULL with an exception set.
func (r Ref) Index() Owned { return Owned{Ref{C.PyNumber_Index(r.p)}} }

// AsDouble is PyFloat_AsDouble: __float__ (or __index__) of any object;
// -1 with an exception set on failure. It may run Python code.
func (r Ref) AsDouble() float64 { return float64(C.PyFloat_AsDouble(r.p)) }
