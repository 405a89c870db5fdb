package host

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pyhost/pyhost/internal/cpython"
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

// Register makes m importable from Python by its name, as a builtin
// module of the interpreter this process starts, whether Start starts it
// (Options.Modules registers through here) or a program that starts
// Python itself. It must be called before Python starts: CPython's table
// of builtin modules is fixed then.
func Register(m *Module) error {
	if m == nil || m.Name == "" {
		return fmt.Errorf("host: a Go module needs a name")
	}
	raw := &cpython.Module{Name: m.Name, Doc: m.Doc, Funcs: make([]cpython.Func, len(m.Funcs))}
	for i := range m.Funcs {
		f := &m.Funcs[i]
		if f.Fn == nil {
			return fmt.Errorf("host: Go function %s.%s has no Fn", m.Name, f.Name)
		}
		raw.Funcs[i] = cpython.Func{Name: f.Name, Doc: f.Doc, Call: func(a cpython.Args) cpython.Owned { return callFunc(f, a) }}
	}
	if err := cpython.RegisterModule(raw); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	return nil
}

// Args are the arguments of a call from Python, borrowed from the
// caller: valid until the Go function returns, on its goroutine (use
// Object to keep one longer). Args kept past the return are refused with
// ErrStaleArgs; the zero Args are stale too.
type Args struct {
	raw  cpython.Args // borrowed from the caller while call is live
	call *callSlot
	gen  uint64
}

// ErrStaleArgs is returned by the methods of Args used after the Go
// function they were given to has returned.
var ErrStaleArgs = errors.New("host: Args used after the Go function they were passed to returned")

// callSlot marks a call from Python as under way: live holds the call's
// generation while it runs, 0 afterwards. Slots are reused (a generation
// is never), so an Args kept past its call sees another number.
type callSlot struct{ live atomic.Uint64 }

var (
	callSlots sync.Pool // of *callSlot
	callGen   atomic.Uint64
)

// begin makes the Args of a call from Python; end retires them.
func begin(raw cpython.Args) Args {
	c, _ := callSlots.Get().(*callSlot)
	if c == nil {
		c = new(callSlot)
	}
	g := callGen.Add(1)
	c.live.Store(g)
	return Args{raw: raw, call: c, gen: g}
}

func (a Args) end() {
	a.call.live.Store(0)
	callSlots.Put(a.call)
}

// valid checks that a is used with the GIL, within its call.
func (a Args) valid() error {
	if a.call == nil || a.call.live.Load() != a.gen {
		return ErrStaleArgs
	}
	return checkGIL()
}

// Len is the number of positional arguments (0 for stale Args).
func (a Args) Len() int {
	if a.valid() != nil {
		return 0
	}
	return len(a.raw.Pos)
}

func (a Args) at(i int) (cpython.Ref, error) {
	if err := a.valid(); err != nil {
		return cpython.Ref{}, err
	}
	if i < 0 || i >= len(a.raw.Pos) {
		return cpython.Ref{}, Raise("TypeError", "missing positional argument %d (got %d)", i+1, len(a.raw.Pos))
	}
	return a.raw.Pos[i], nil
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
	if !p.IsStr() {
		return "", Raise("TypeError", "argument %d must be str, not %s", i+1, p.TypeName())
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
	if !p.IsList() && !p.IsTuple() {
		return nil, nil, Raise("TypeError", "argument %d must be a list or tuple", i+1)
	}
	items := p.Items()
	vals = make([]string, len(items))
	ok = make([]bool, len(items))
	for j, e := range items {
		if !e.IsStr() {
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
	if !p.IsInt() {
		return 0, Raise("TypeError", "argument %d must be int, not %s", i+1, p.TypeName())
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
	if a.valid() != nil {
		return nil
	}
	for i, v := range a.raw.KwVals {
		s, err := goString(a.raw.KwName(i))
		if err == nil && s == name {
			return borrow(v)
		}
	}
	return nil
}

// KwNames are the names of the keyword arguments passed.
func (a Args) KwNames() []string {
	if a.valid() != nil || a.raw.KwNames.IsNull() {
		return nil
	}
	names := make([]string, 0, len(a.raw.KwVals))
	for i := range a.raw.KwVals {
		s, err := goString(a.raw.KwName(i))
		if err != nil {
			cpython.ErrClear()
			continue
		}
		names = append(names, s)
	}
	return names
}

// callFunc runs a Go function for CPython (the GIL is held) and returns
// a new reference, or NULL with an exception set.
func callFunc(f *Func, a cpython.Args) cpython.Owned {
	args := begin(a)
	r, err := runFunc(f, args)
	args.end()
	if err != nil {
		setPythonError(err)
		return cpython.Owned{}
	}
	return r
}

// runFunc calls f and converts its result, recovering a panic: one must
// never unwind through CPython's frames.
func runFunc(f *Func, a Args) (r cpython.Owned, err error) {
	defer func() {
		if x := recover(); x != nil {
			r, err = cpython.Owned{}, &PanicError{Value: x, Stack: stack()}
		}
	}()
	res, err := f.Fn(&Py{}, a)
	if err != nil {
		return cpython.Owned{}, err
	}
	return fromGo(res)
}
