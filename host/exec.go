package host

// #include "shim.h"
import "C"

import "unsafe"

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

// Exec runs Python source in the namespace of __main__.
func (py *Py) Exec(src string) error {
	m := C.PyImport_AddModule(cstr("__main__")) // borrowed
	if m == nil {
		return fetchError()
	}
	return execCode(C.PyModule_GetDict(m), src, "<string>", C.Py_file_input, nil)
}

// Eval evaluates a Python expression in the namespace of __main__.
func (py *Py) Eval(expr string) (*Object, error) {
	m := C.PyImport_AddModule(cstr("__main__")) // borrowed
	if m == nil {
		return nil, fetchError()
	}
	var out *Object
	err := execCode(C.PyModule_GetDict(m), expr, "<string>", C.Py_eval_input, &out)
	return out, err
}

func execCode(globals *C.PyObject, src, filename string, start C.int, out **Object) error {
	cs := C.CString(src)
	defer C.free(unsafe.Pointer(cs))
	cf := C.CString(filename)
	defer C.free(unsafe.Pointer(cf))
	code := C.Py_CompileString(cs, cf, start)
	if code == nil {
		return fetchError()
	}
	defer C.pyhost_decref(code)
	if C.PyDict_GetItemString(globals, cstr("__builtins__")) == nil {
		C.PyDict_SetItemString(globals, cstr("__builtins__"), C.PyEval_GetBuiltins())
	}
	r := C.PyEval_EvalCode(code, globals, globals)
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
	l := C.pyhost_xoptions()
	if l == nil {
		return nil, fetchError()
	}
	o := own(l)
	defer o.Close()
	v, err := o.ToGo()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out, nil
}

// PythonVersion is the version of the libpython pyhost runs
// (Py_GetVersion), for example "3.11.2 (main, ...) [GCC 12.2.0]".
func PythonVersion() string { return C.GoString(C.Py_GetVersion()) }
