package host

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
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
	// Errors are exception classes the module defines, raised from Go
	// with Raise("module.Name", ...) and caught in Python as
	// module.Name.
	Errors []ErrorClass
}

// ErrorClass declares an exception class of a Module. Base names the
// class it derives from: a builtin exception ("ValueError"), a class of
// another module ("json.JSONDecodeError"), or one declared before it in
// the same module by its bare name; "" is Exception.
type ErrorClass struct {
	Name, Doc, Base string
}

// Func is a Go function callable from Python. Fn runs with the GIL held,
// on the calling Python thread; a returned value is converted as FromGo
// converts, a returned error is raised (an *Exception as itself, a
// RaiseError as its type, anything else as RuntimeError; the Go error
// comes back to Go inside the *Exception, for errors.Is and errors.As),
// and a panic is recovered and raised as RuntimeError: it never ends the
// process. Returning an *Object gives Python a new reference to it; the
// Object stays the function's to Close. A Func that waits must do so
// inside py.AllowThreads.
//
// Sig, if set, declares the parameters as a Python def does,
// "(a, b=1, /, *, scale=1.0)": Python's call is checked against it
// before Fn runs (too many positional arguments, an unknown or repeated
// keyword, a missing required argument are TypeErrors naming the
// function, as for a def), inspect.signature reports it, and [Param]
// reads an argument by name, passed by position or keyword. Defaults in
// Sig are for documentation: Param's def argument supplies the value.
// Without Sig, any arguments are accepted and Fn checks them itself.
type Func struct {
	Name string
	Doc  string
	Sig  string
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
	for _, e := range m.Errors {
		if !isIdent(e.Name) {
			return fmt.Errorf("host: Go module %s: exception class name %q", m.Name, e.Name)
		}
		raw.Errors = append(raw.Errors, cpython.ErrorClass{Name: e.Name, Doc: e.Doc, Base: e.Base})
	}
	for i := range m.Funcs {
		f := &m.Funcs[i]
		if f.Fn == nil {
			return fmt.Errorf("host: Go function %s.%s has no Fn", m.Name, f.Name)
		}
		rf, err := rawFunc(*f, m.Name)
		if err != nil {
			return err
		}
		raw.Funcs[i] = rf
	}
	if err := cpython.RegisterModule(raw); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	return nil
}

// rawFunc makes the raw function that runs f for Python.
func rawFunc(f Func, module string) (cpython.Func, error) {
	qual := module + "." + f.Name
	if module == "" {
		qual = f.Name
	}
	doc := f.Doc
	var sig *signature
	if f.Sig != "" {
		var err error
		if sig, err = parseSig(f.Sig); err != nil {
			return cpython.Func{}, fmt.Errorf("host: Go function %s: %w", qual, err)
		}
		doc = textSignature(f.Name, f.Sig, f.Doc)
	}
	fn := &goFunc{Func: f, qual: qual, sig: sig}
	return cpython.Func{Name: f.Name, Doc: doc, Call: fn.call}, nil
}

// NewFunc makes a Python function that calls f, a Go function (a
// closure, typically: it may hold any Go state), as a Func of a Module
// is called; its __module__ is module (may be ""). Python may keep and
// call it as long as it likes; f is released when Python frees the
// function. The result is a new reference.
func (py *Py) NewFunc(module string, f Func) (*Object, error) {
	if err := py.check(); err != nil {
		return nil, err
	}
	if f.Fn == nil {
		return nil, fmt.Errorf("host: Go function %s has no Fn", f.Name)
	}
	if !isIdent(f.Name) {
		return nil, fmt.Errorf("host: Go function name %q", f.Name)
	}
	rf, err := rawFunc(f, module)
	if err != nil {
		return nil, err
	}
	return ownMade(cpython.NewClosure(rf, module))
}

// NewExceptionClass makes a Python exception class named name
// ("package.module.Name": what tracebacks print), deriving from base
// (nil: Exception). A new reference: raise it from a Go function with
// [RaiseClass], or put it where Python code can catch it (SetAttr of a
// module, a global).
func (py *Py) NewExceptionClass(name, doc string, base *Object) (*Object, error) {
	if err := py.check(); err != nil {
		return nil, err
	}
	if !strings.Contains(name, ".") {
		return nil, fmt.Errorf("host: exception class name %q: want module.Name", name)
	}
	var b cpython.Ref
	if base != nil {
		var err error
		if b, err = base.ptr(); err != nil {
			return nil, err
		}
	}
	return ownMade(cpython.NewExceptionClass(name, doc, b))
}

// Args are the arguments of a call from Python, borrowed from the
// caller: valid until the Go function returns, on its goroutine (use
// Object to keep one longer). Args kept past the return are refused with
// ErrStaleArgs; the zero Args are stale too.
type Args struct {
	raw   cpython.Args // borrowed from the caller while call is live
	call  *callSlot
	gen   uint64
	fn    *goFunc
	bound []cpython.Ref // by parameter of fn.sig, borrowed: NULL when not passed
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
		return cpython.Ref{}, &RaiseError{Type: "TypeError", Msg: fmt.Sprintf("missing positional argument %d (got %d)", i+1, len(a.raw.Pos)), named: true}
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
		return "", &RaiseError{Type: "TypeError", Msg: fmt.Sprintf("argument %d must be str, not %s", i+1, p.TypeName()), named: true}
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
		return nil, nil, &RaiseError{Type: "TypeError", Msg: fmt.Sprintf("argument %d must be a list or tuple", i+1), named: true}
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
		return 0, &RaiseError{Type: "TypeError", Msg: fmt.Sprintf("argument %d must be int, not %s", i+1, p.TypeName()), named: true}
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

// goFunc is a Func as Python calls it.
type goFunc struct {
	Func
	qual string     // module.name, for errors
	sig  *signature // nil: no declared signature
}

// call runs a Go function for CPython (the GIL is held) and returns
// a new reference, or NULL with an exception set.
func (f *goFunc) call(a cpython.Args) cpython.Owned {
	args := begin(a)
	args.fn = f
	if f.sig != nil {
		var buf [8]cpython.Ref
		args.bound = buf[:0]
		if n := len(f.sig.params); n > len(buf) {
			args.bound = make([]cpython.Ref, n)
		} else {
			args.bound = buf[:n]
		}
		if err := f.sig.bind(f.qual, a, args.bound); err != nil {
			args.end()
			setPythonError(err, f.qual)
			return cpython.Owned{}
		}
	}
	r, err := runFunc(&f.Func, args)
	args.end()
	if err != nil {
		setPythonError(err, f.qual)
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

// Param converts the argument bound to parameter name of the Func's
// declared signature (Func.Sig), passed by position or by keyword, as As
// converts; def when the call did not pass it. Without a declared
// signature it reads the keyword argument name. A conversion error
// names the parameter; returned to Python it raises TypeError.
func Param[T any](a Args, name string, def T) (T, error) {
	if err := a.valid(); err != nil {
		return def, err
	}
	var p cpython.Ref
	if a.fn != nil && a.fn.sig != nil {
		j := a.fn.sig.index(name)
		if j < 0 {
			return def, fmt.Errorf("host: %s has no parameter %q in its signature %s", a.fn.qual, name, a.fn.Sig)
		}
		p = a.bound[j]
	} else {
		for i, v := range a.raw.KwVals {
			if s, err := goString(a.raw.KwName(i)); err == nil && s == name {
				p = v
				break
			}
		}
	}
	if p.IsNull() {
		return def, nil
	}
	var t T
	if err := decode(p, reflect.ValueOf(&t).Elem(), 0); err != nil {
		return def, fmt.Errorf("argument '%s': %w", name, err)
	}
	return t, nil
}
