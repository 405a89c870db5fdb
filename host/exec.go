package host

// #include "shim.h"
import "C"

import (
	"fmt"
	"os"
	"strings"
	"unsafe"
)

// ExecIn runs Python source in the namespace of module mod (its
// __dict__), as exec(compile(src, filename, "exec"), vars(mod)).
func (py *Py) ExecIn(mod *Object, src, filename string) error {
	p, err := mod.ptr()
	if err != nil {
		return err
	}
	d := C.PyModule_GetDict(p) // borrowed
	if d == nil {
		return fetchError()
	}
	return execCode(d, src, filename, C.Py_file_input, nil)
}

// mainDict is __main__'s namespace, borrowed.
func mainDict() (*C.PyObject, error) {
	m := C.PyImport_AddModule(cstr("__main__")) // borrowed
	if m == nil {
		return nil, fetchError()
	}
	return C.PyModule_GetDict(m), nil // borrowed
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
	return execCode(d, src, "<string>", C.Py_file_input, nil)
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
	rc := C.PyDict_SetItemString(d, cstr("__file__"), f) // does not steal
	C.pyhost_decref(f)
	if rc < 0 {
		return fetchError()
	}
	return execCode(d, string(src), path, C.Py_file_input, nil)
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
	err = execCode(d, expr, "<string>", C.Py_eval_input, &out)
	return out, err
}

func execCode(globals *C.PyObject, src, filename string, start C.int, out **Object) error {
	if strings.IndexByte(src, 0) >= 0 {
		return fmt.Errorf("host: %s: source code contains a NUL byte", filename)
	}
	cs := C.CString(src)
	defer C.free(unsafe.Pointer(cs))
	cf := C.CString(filename)
	defer C.free(unsafe.Pointer(cf))
	code := C.Py_CompileString(cs, cf, start) // new
	if code == nil {
		return fetchError()
	}
	defer C.pyhost_decref(code)
	if C.PyDict_GetItemString(globals, cstr("__builtins__")) == nil { // borrowed
		if C.PyDict_SetItemString(globals, cstr("__builtins__"), C.PyEval_GetBuiltins()) < 0 {
			return fetchError()
		}
	}
	r := C.PyEval_EvalCode(code, globals, globals) // new
	if r == nil {
		return fetchError()
	}
	if out != nil {
		*out = own(r)
	} else {
		C.pyhost_decref(r)
	}
	return nil
}

// XOptions returns the -X options of the running interpreter's
// configuration ("name" or "name=value"). Unlike sys._xoptions it is
// available during Setup.
func (py *Py) XOptions() ([]string, error) {
	if err := py.check(); err != nil {
		return nil, err
	}
	l := C.pyhost_xoptions()
	if l == nil {
		return nil, fetchError()
	}
	o := own(l)
	defer o.Close()
	return As[[]string](o)
}

// PythonVersion is the version of the libpython pyhost runs
// (Py_GetVersion), for example "3.11.2 (main, ...) [GCC 12.2.0]".
func PythonVersion() string { return C.GoString(C.Py_GetVersion()) }
