package host

import (
	"fmt"
	"os"
	"strings"

	"github.com/pyhost/pyhost/internal/cpython"
)

// ExecIn runs Python source in the namespace ns, a module (its
// __dict__) or a dict of globals, as exec(compile(src, filename,
// "exec"), ns) does: tracebacks name filename, and the names the code
// binds land in ns. A dict without __builtins__ gets them.
func (py *Py) ExecIn(ns *Object, src, filename string) error {
	d, err := namespace(ns)
	if err != nil {
		return err
	}
	return execCode(d, src, filename, cpython.FileInput, nil)
}

// EvalIn evaluates a Python expression in the namespace ns (a module or
// a dict of globals), as eval(compile(expr, filename, "eval"), ns)
// does, and returns its value, a new reference.
func (py *Py) EvalIn(ns *Object, expr, filename string) (*Object, error) {
	d, err := namespace(ns)
	if err != nil {
		return nil, err
	}
	var out *Object
	err = execCode(d, expr, filename, cpython.EvalInput, &out)
	return out, err
}

// namespace is the globals dict of ns, a module or a dict (borrowed).
func namespace(ns *Object) (cpython.Ref, error) {
	p, err := ns.ptr()
	if err != nil {
		return p, err
	}
	if p.IsDict() {
		return p, nil
	}
	d := p.ModuleDict() // borrowed; NULL with SystemError for a non-module
	if d.IsNull() {
		cpython.ErrClear()
		return d, &ConversionError{What: "a Python " + p.TypeName() + " to a namespace: want a module or a dict"}
	}
	return d, nil
}

// mainDict is __main__'s namespace, borrowed.
func mainDict() (cpython.Ref, error) {
	d := cpython.MainDict()
	if d.IsNull() {
		return d, fetchError()
	}
	return d, nil
}

// Exec runs Python source in the namespace of __main__.
func (py *Py) Exec(src string) error {
	if err := py.check(); err != nil {
		return err
	}
	d, err := mainDict()
	if err != nil {
		return err
	}
	return execCode(d, src, "<string>", cpython.FileInput, nil)
}

// ExecFile runs the Python file at path in the namespace of __main__, as
// python3 runs a script: __file__ is set to path, tracebacks name it.
// sys.argv and sys.path are left as they are.
func (py *Py) ExecFile(path string) error {
	if err := py.check(); err != nil {
		return err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("host: exec file: %w", err)
	}
	d, err := mainDict()
	if err != nil {
		return err
	}
	f, err := newStr(path)
	if err != nil {
		return err
	}
	ok := d.DictSetString("__file__", f.Ref) // does not steal
	f.Decref()
	if !ok {
		return fetchError()
	}
	return execCode(d, string(src), path, cpython.FileInput, nil)
}

// Eval evaluates a Python expression in the namespace of __main__ and
// returns its value, a new reference.
func (py *Py) Eval(expr string) (*Object, error) {
	if err := py.check(); err != nil {
		return nil, err
	}
	d, err := mainDict()
	if err != nil {
		return nil, err
	}
	var out *Object
	err = execCode(d, expr, "<string>", cpython.EvalInput, &out)
	return out, err
}

func execCode(globals cpython.Ref, src, filename string, mode int, out **Object) error {
	if strings.IndexByte(src, 0) >= 0 {
		return fmt.Errorf("host: %s: source code contains a NUL byte", filename)
	}
	r := cpython.Exec(globals, src, filename, mode)
	if r.IsNull() {
		return fetchError()
	}
	if out != nil {
		*out = own(r)
	} else {
		r.Decref()
	}
	return nil
}

// PythonVersion is the version of the libpython pyhost runs
// (Py_GetVersion), for example "3.11.2 (main, ...) [GCC 12.2.0]".
func PythonVersion() string { return cpython.Version() }
