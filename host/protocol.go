package host

import (
	"iter"

	"github.com/pyhost/pyhost/internal/cpython"
)

// The everyday operations on an Object: items, length, iteration, truth,
// isinstance, repr. Keys and values given as Go values are converted as
// FromGo converts (an *Object is passed as itself). Like every method of
// Object, they need the GIL (inside Do) and may run Python code.

// GetItem returns o[key], a new reference.
func (o *Object) GetItem(key any) (*Object, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	k, err := fromGo(key)
	if err != nil {
		return nil, err
	}
	defer k.Decref()
	r := own(p.GetItem(k.Ref))
	if r == nil {
		return nil, fetchError()
	}
	return r, nil
}

// SetItem sets o[key] = value.
func (o *Object) SetItem(key, value any) error {
	p, err := o.ptr()
	if err != nil {
		return err
	}
	k, err := fromGo(key)
	if err != nil {
		return err
	}
	defer k.Decref()
	v, err := fromGo(value)
	if err != nil {
		return err
	}
	defer v.Decref()
	if !p.SetItem(k.Ref, v.Ref) {
		return fetchError()
	}
	return nil
}

// DelItem deletes o[key].
func (o *Object) DelItem(key any) error {
	p, err := o.ptr()
	if err != nil {
		return err
	}
	k, err := fromGo(key)
	if err != nil {
		return err
	}
	defer k.Decref()
	if !p.DelItem(k.Ref) {
		return fetchError()
	}
	return nil
}

// Len returns len(o).
func (o *Object) Len() (int, error) {
	p, err := o.ptr()
	if err != nil {
		return 0, err
	}
	n := p.Len()
	if n < 0 {
		return 0, fetchError()
	}
	return n, nil
}

// Truth returns bool(o), Python's truthiness (AsBool converts only True
// and False).
func (o *Object) Truth() (bool, error) {
	p, err := o.ptr()
	if err != nil {
		return false, err
	}
	switch p.Truth() {
	case 1:
		return true, nil
	case 0:
		return false, nil
	}
	return false, fetchError()
}

// IsInstance returns isinstance(o, cls); cls is a class or a tuple of
// classes.
func (o *Object) IsInstance(cls *Object) (bool, error) {
	p, err := o.ptr()
	if err != nil {
		return false, err
	}
	c, err := cls.ptr()
	if err != nil {
		return false, err
	}
	switch p.IsInstance(c) {
	case 1:
		return true, nil
	case 0:
		return false, nil
	}
	return false, fetchError()
}

// Repr returns repr(o); "<nil>" for a nil or closed Object and
// "<no GIL>" without the GIL.
func (o *Object) Repr() string {
	p, err := o.ptr()
	if err == ErrNilObject {
		return "<nil>"
	} else if err != nil {
		return "<no GIL>"
	}
	s := p.Repr()
	if s.IsNull() {
		cpython.ErrClear()
		return "<unreprable " + o.TypeName() + ">"
	}
	defer s.Decref()
	str, _ := goString(s.Ref)
	return str
}

// NewRef returns another reference to the same object, to keep past the
// life of o (an item of Iter, for example): Close each.
func (o *Object) NewRef() (*Object, error) {
	p, err := o.ptr()
	if err != nil {
		return nil, err
	}
	return borrow(p), nil
}

// Iter iterates over o as a for loop does (iter(o), then next until the
// end). Each item is valid in the body of the loop and closed when the
// body returns (keep one with NewRef). An error (o is not iterable, or
// next raised) is yielded once, with a nil item, and ends the loop:
//
//	for item, err := range o.Iter() {
//		if err != nil {
//			return err
//		}
//		...
//	}
//
// The loop must run inside the Do (or Go function) that holds the GIL.
func (o *Object) Iter() iter.Seq2[*Object, error] {
	return func(yield func(*Object, error) bool) {
		p, err := o.ptr()
		if err != nil {
			yield(nil, err)
			return
		}
		it := p.Iter()
		if it.IsNull() {
			yield(nil, fetchError())
			return
		}
		defer it.Decref()
		for {
			if err := checkGIL(); err != nil {
				yield(nil, err)
				return
			}
			n := own(it.Next())
			if n == nil {
				if cpython.ErrOccurred() {
					yield(nil, fetchError())
				}
				return
			}
			more := yield(n, nil)
			n.Close()
			if !more {
				return
			}
		}
	}
}

// Item is a key and its value, as Items yields them.
type Item struct{ Key, Value *Object }

// Items iterates over the items of a mapping (a dict, or any object with
// items()), as `for k, v in o.items()` does; keys and values are valid
// in the body of the loop, as Iter's items are. An error is yielded once
// and ends the loop.
func (o *Object) Items() iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		p, err := o.ptr()
		if err != nil {
			yield(Item{}, err)
			return
		}
		l := own(p.MappingItems()) // a list of (key, value) tuples
		if l == nil {
			yield(Item{}, fetchError())
			return
		}
		defer l.Close()
		for pair, err := range l.Iter() {
			if err != nil {
				yield(Item{}, err)
				return
			}
			pp, _ := pair.ptr()
			kv := pp.Items() // borrowed from the tuple, which the list holds
			if !pp.IsTuple() || len(kv) != 2 {
				yield(Item{}, &ConversionError{What: "an item of " + p.TypeName() + ".items() that is not a pair"})
				return
			}
			it := Item{Key: borrow(kv[0]), Value: borrow(kv[1])}
			more := yield(it, nil)
			it.Key.Close()
			it.Value.Close()
			if !more {
				return
			}
		}
	}
}
