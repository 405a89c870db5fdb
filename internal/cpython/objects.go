package cpython

// The abstract object protocol: items, length, iteration, truth,
// isinstance, repr. The GIL must be held for all; each may run Python
// code. A NULL Owned or a -1 means an exception is set.

// #include "shim.h"
import "C"

// GetItem is r[k], a new reference.
func (r Ref) GetItem(k Ref) Owned { return Owned{Ref{C.PyObject_GetItem(r.p, k.p)}} }

// SetItem is r[k] = v (no reference stolen); false with an exception set.
func (r Ref) SetItem(k, v Ref) bool { return C.PyObject_SetItem(r.p, k.p, v.p) == 0 }

// DelItem is del r[k]; false with an exception set.
func (r Ref) DelItem(k Ref) bool { return C.PyObject_DelItem(r.p, k.p) == 0 }

// Len is len(r); -1 with an exception set.
func (r Ref) Len() int { return int(C.PyObject_Size(r.p)) }

// Iter is iter(r), a new reference.
func (r Ref) Iter() Owned { return Owned{Ref{C.PyObject_GetIter(r.p)}} }

// Next is next(r) of an iterator: a new reference, or NULL at the end
// (no exception set) or on failure (an exception set).
func (r Ref) Next() Owned { return Owned{Ref{C.PyIter_Next(r.p)}} }

// Repr is repr(r), a new reference.
func (r Ref) Repr() Owned { return Owned{Ref{C.PyObject_Repr(r.p)}} }

// Truth is bool(r): 1, 0, or -1 with an exception set.
func (r Ref) Truth() int { return int(C.PyObject_IsTrue(r.p)) }

// PlainTruth is the truth of a bool or an int, read without running any
// of the program's code (an int subclass's __bool__); ok is false for any
// other object.
func (r Ref) PlainTruth() (v, ok bool) {
	if r.IsBool() {
		return r.IsTrue(), true
	}
	if r.IsInt() {
		n, overflow := r.Int64()
		return n != 0 || overflow, true
	}
	return false, false
}

// IsInstance is isinstance(r, cls): 1, 0, or -1 with an exception set.
func (r Ref) IsInstance(cls Ref) int { return int(C.PyObject_IsInstance(r.p, cls.p)) }

// MappingItems is list(r.items()) of a mapping, a new reference.
func (r Ref) MappingItems() Owned { return Owned{Ref{C.PyMapping_Items(r.p)}} }
