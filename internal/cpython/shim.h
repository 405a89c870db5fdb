// C side of package internal/cpython: what cgo cannot express (macros, static inline
// functions, variadic calls, PyStatus by value) and the trampolines that
// Python calls back into Go through.
#ifndef PYHOST_SHIM_H
#define PYHOST_SHIM_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030A0000 || PY_VERSION_HEX >= 0x030E0000
#error "pyhost supports CPython 3.10 to 3.13"
#endif

// Start-up result: ok, a clean exit requested by the command line
// (--version, -h, bad option: exit_code is set), or an error (message).
typedef struct {
	int kind; // 0 ok, 1 exit, 2 error
	int exit_code;
	const char *where;
	const char *msg;
} pyhost_status;

typedef struct {
	int parse_argv;
	int isolated;
	int install_signal_handlers;
	int site_import;
	int argc;
	char **argv;
} pyhost_options;

pyhost_status pyhost_init_core(const pyhost_options *opts);
pyhost_status pyhost_init_main(void);
// Appends to the module search path of the running configuration
// (between the two phases, before sys.path exists: the main phase makes
// sys.path from it). Returns -1 with an exception set on failure.
int pyhost_append_paths(int n, char **paths);
// Prints the last failed start-up status as python3 does, and exits.
void pyhost_exit_status(void);
// Installs Go's handlers around fork() (fork.go).
void pyhost_register_atfork(void);

// -X options of the running config, as "name" or "name=value" (UTF-8).
// Returns a new list of str, or NULL with an exception set.
PyObject *pyhost_xoptions(void);

// Go modules and functions.
int pyhost_register_module(const char *name);
// pyhost_go_unreachable reports, with a RuntimeError set, whether a call
// into Go from this thread cannot be served: a thread other than the one
// that forked, in a child of fork().
int pyhost_go_unreachable(void);
PyObject *pyhost_new_function(const char *name, const char *doc, Py_ssize_t handle, PyObject *self, PyObject *module_name);

// Reference counting (macros in the C API).
static inline void pyhost_incref(PyObject *o) { Py_INCREF(o); }
static inline void pyhost_decref(PyObject *o) { Py_DECREF(o); }
static inline void pyhost_xdecref(PyObject *o) { Py_XDECREF(o); }
static inline PyObject *pyhost_none(void) { Py_RETURN_NONE; }
static inline PyObject *pyhost_true(void) { Py_RETURN_TRUE; }
static inline PyObject *pyhost_false(void) { Py_RETURN_FALSE; }
static inline int pyhost_is_none(PyObject *o) { return o == Py_None; }
static inline int pyhost_unicode_check(PyObject *o) { return PyUnicode_Check(o); }
static inline int pyhost_bytes_check(PyObject *o) { return PyBytes_Check(o); }
static inline int pyhost_long_check(PyObject *o) { return PyLong_Check(o); }
static inline int pyhost_bool_check(PyObject *o) { return PyBool_Check(o); }
static inline int pyhost_float_check(PyObject *o) { return PyFloat_Check(o); }
static inline int pyhost_list_check(PyObject *o) { return PyList_Check(o); }
static inline int pyhost_tuple_check(PyObject *o) { return PyTuple_Check(o); }
static inline int pyhost_dict_check(PyObject *o) { return PyDict_Check(o); }
static inline int pyhost_bytearray_check(PyObject *o) { return PyByteArray_Check(o); }
static inline int pyhost_complex_check(PyObject *o) { return PyComplex_Check(o); }
static inline char *pyhost_bytearray_data(PyObject *o) { return PyByteArray_AS_STRING(o); }
static inline Py_ssize_t pyhost_bytearray_size(PyObject *o) { return PyByteArray_GET_SIZE(o); }
static inline Py_ssize_t pyhost_list_size(PyObject *o) { return PyList_GET_SIZE(o); }
static inline Py_ssize_t pyhost_tuple_size(PyObject *o) { return PyTuple_GET_SIZE(o); }
// What a converted object is, in one call rather than one per check.
enum {
	PYHOST_OTHER, PYHOST_NONE, PYHOST_BOOL, PYHOST_INT, PYHOST_FLOAT, PYHOST_COMPLEX,
	PYHOST_STR, PYHOST_BYTES, PYHOST_BYTEARRAY, PYHOST_LIST, PYHOST_TUPLE, PYHOST_DICT,
};
static inline int pyhost_kind(PyObject *o) {
	if (o == Py_None) return PYHOST_NONE;
	if (PyBool_Check(o)) return PYHOST_BOOL;
	if (PyLong_Check(o)) return PYHOST_INT;
	if (PyFloat_Check(o)) return PYHOST_FLOAT;
	if (PyUnicode_Check(o)) return PYHOST_STR;
	if (PyList_Check(o)) return PYHOST_LIST;
	if (PyTuple_Check(o)) return PYHOST_TUPLE;
	if (PyDict_Check(o)) return PYHOST_DICT;
	if (PyBytes_Check(o)) return PYHOST_BYTES;
	if (PyByteArray_Check(o)) return PYHOST_BYTEARRAY;
	if (PyComplex_Check(o)) return PYHOST_COMPLEX;
	return PYHOST_OTHER;
}
static inline PyObject **pyhost_list_items(PyObject *o) { return ((PyListObject *)o)->ob_item; }
static inline PyObject **pyhost_tuple_items(PyObject *o) { return ((PyTupleObject *)o)->ob_item; }
static inline PyObject *pyhost_tuple_get(PyObject *t, Py_ssize_t i) { return PyTuple_GET_ITEM(t, i); }
static inline void pyhost_tuple_set(PyObject *t, Py_ssize_t i, PyObject *v) { PyTuple_SET_ITEM(t, i, v); }
static inline void pyhost_list_set(PyObject *l, Py_ssize_t i, PyObject *v) { PyList_SET_ITEM(l, i, v); }
static inline const char *pyhost_type_name(PyObject *o) { return Py_TYPE(o)->tp_name; }

PyObject *pyhost_str_from(const char *s, Py_ssize_t n);       // UTF-8, surrogateescape
PyObject *pyhost_path_from(const char *s, Py_ssize_t n);      // os.fsdecode's

// Results returned by value, so that Go passes no pointer to its own
// memory (which cgo would check and make escape to the heap).
typedef struct {
	const char *s; // NULL with an exception set
	Py_ssize_t n;
	PyObject *owner; // new reference (or NULL) that keeps s alive
} pyhost_utf8;
pyhost_utf8 pyhost_str_utf8(PyObject *o);
pyhost_utf8 pyhost_path_bytes(PyObject *o); // os.fsencode's
typedef struct {
	long long v;
	int overflow;
} pyhost_longlong;
static inline pyhost_longlong pyhost_as_longlong(PyObject *o) {
	pyhost_longlong r;
	r.v = PyLong_AsLongLongAndOverflow(o, &r.overflow);
	return r;
}
typedef struct {
	PyObject *k, *v; // borrowed
	Py_ssize_t pos;
	int ok;
} pyhost_dict_item;
static inline pyhost_dict_item pyhost_dict_next(PyObject *d, Py_ssize_t pos) {
	pyhost_dict_item it = {NULL, NULL, pos, 0};
	it.ok = PyDict_Next(d, &it.pos, &it.k, &it.v);
	return it;
}
typedef struct {
	char *s; // NULL with an exception set
	Py_ssize_t n;
} pyhost_bytes;
static inline pyhost_bytes pyhost_bytes_data(PyObject *o) {
	pyhost_bytes b = {NULL, 0};
	if (PyBytes_AsStringAndSize(o, &b.s, &b.n) < 0) {
		b.s = NULL;
	}
	return b;
}
const char *pyhost_str_as(PyObject *o, Py_ssize_t *n, PyObject **owner); // UTF-8 (surrogateescape fallback)
void pyhost_err_set(PyObject *type, const char *msg);

// ---- the GIL ---------------------------------------------------------------

// The interpreter's life as pyhost_holds_gil sees it.
enum { PYHOST_NOT_STARTED = 0, PYHOST_RUNNING = 1, PYHOST_FINALIZED = 2 };
// Called on the thread that initialises (and will finalise) Python.
void pyhost_set_state(int state);
// 1 if the calling thread holds the GIL, 0 if not, -1 if Python is not
// running (not started, or finalised). Safe to call at any time, from any
// thread, unlike PyGILState_Check (which answers 1 before start-up and
// after finalisation).
int pyhost_holds_gil(void);
// Takes the GIL for the calling thread, making it a thread state the
// first time and reusing it afterwards. Returns 1 if it took it (give it
// back with pyhost_release), 0 if the thread already held it, -1 if
// Python is not running.
int pyhost_acquire(void);
static inline void pyhost_release(void) { PyEval_SaveThread(); }

// ---- calls ---------------------------------------------------------------

// Calls callable with n positional arguments, new references that are
// released here whatever happens. Returns a new reference, or NULL with
// an exception set.
PyObject *pyhost_call_steal(PyObject *callable, PyObject **args, Py_ssize_t n);

// ---- exceptions ----------------------------------------------------------

// Takes the raised exception: new references (value normalised, its
// __traceback__ set), all NULL when none is set.
void pyhost_err_fetch(PyObject **type, PyObject **value, PyObject **tb);
typedef struct {
	PyObject *typ, *value, *tb;
} pyhost_exc;
static inline pyhost_exc pyhost_err_take(void) {
	pyhost_exc e;
	pyhost_err_fetch(&e.typ, &e.value, &e.tb);
	return e;
}
// traceback.format_exception joined into one str (new reference), or
// NULL; never leaves an exception set.
PyObject *pyhost_format_exception(PyObject *type, PyObject *value, PyObject *tb);
// "module.qualname" of a class ("qualname" for builtins), a new str, or
// NULL; never leaves an exception set.
PyObject *pyhost_type_qualname(PyObject *type);

// ---- cancellation --------------------------------------------------------

// The private exception class a cancelled call raises (a BaseException,
// so that `except Exception` does not swallow it). Made once, at start-up.
int pyhost_make_cancelled(void);
// The calling thread's id as CPython's thread states record it.
static inline unsigned long pyhost_thread_ident(void) { return PyThread_get_thread_ident(); }
// Schedules the cancellation exception in the thread tid (cancel 1) or
// withdraws one not yet raised (cancel 0). The GIL must be held.
void pyhost_async_cancel(unsigned long tid, int cancel);

// Py_AtExit trampoline into Go.
int pyhost_atexit_register(void);

// The handover to Python: the signal dispositions and mask, the open-files
// limit and the closed standard fds the process started with (saved before
// Go's runtime changed them) are restored on the calling (main) thread.
void pyhost_restore_signals(void);
// pyhost_restore_go_settings gives the environment back the variables of
// Go's runtime that limits.c hid from it (GODEBUG, GOMAXPROCS, ...).
void pyhost_restore_go_settings(void);
// For programs that start Python with Start instead: the handlers Go's
// runtime wanted for signals blocked at start are installed, and the
// signals held until then raised (see shim.c).
void pyhost_release_signals(void);
void pyhost_ignore_xfsz(void);
// Drops Go's preemption signal pending on the main thread (see shim.c).
void pyhost_drop_go_preemption(void);
// Py_RunMain after dropping Go's pending preemption signal (see shim.c).
int pyhost_run_main(void);

void pyhost_flush_stdio(void);
void pyhost_c_exit(int code);

static inline PyObject *pyhost_true_ptr(void) { return Py_True; }

static inline const char *pyhost_tp_name(PyObject *t) { return ((PyTypeObject *)t)->tp_name; }
static inline int pyhost_exception_class_check(PyObject *t) { return PyExceptionClass_Check(t); }
// ---- configuration ---------------------------------------------------------

// The running configuration's paths, as str: available during Setup, before
// sys.path and sys.prefix exist. Returns a new dict, or NULL with an
// exception set.
PyObject *pyhost_config_paths(void);

// The path configuration computed once (paths.c).
PyObject *pyhost_compute_paths(void);
int pyhost_adopt_paths(const char *buf, Py_ssize_t n);
void pyhost_paths_after_main(void);

// ---- the importer's scan of a search path ----------------------------------

// What pyhost_scan_path found: every entry consumed; an entry it cannot
// answer for (not a str, another kind of finder, too many entries); an
// entry PathFinder has not reached yet (no finder in the cache).
enum { PYHOST_SCAN_COMPLETE = 0, PYHOST_SCAN_STOPPED = 1, PYHOST_SCAN_UNREACHED = 2 };

typedef struct {
	const char *p;
	Py_ssize_t n;
} pyhost_strref;

// 1 when self is absent from sys.meta_path (called directly) or is
// followed by next; 0 otherwise; -1 with an exception set.
int pyhost_meta_next_is(PyObject *self, PyObject *next);
// The stock machinery's state the importer answers for (shim.c): taken
// from _frozen_importlib_external once (-1 with an exception set), and
// whether a program has changed it since (1).
int pyhost_machinery_snapshot(PyObject *bse);
int pyhost_machinery_altered(void);
PyObject *pyhost_source_modules(void);
Py_ssize_t pyhost_scan_path(PyObject *path, Py_ssize_t start, PyObject *indexed, PyObject *slow,
		pyhost_strref *dirs, PyObject **finders, Py_ssize_t cap, int *status, Py_ssize_t *next);
typedef struct {
	Py_ssize_t n; // -1 with an exception set
	int status;
	Py_ssize_t next; // PYHOST_SCAN_UNREACHED: the entry not reached
} pyhost_scan;
static inline pyhost_scan pyhost_scan_path_r(PyObject *path, Py_ssize_t start, PyObject *indexed,
		PyObject *slow, pyhost_strref *dirs, PyObject **finders, Py_ssize_t cap) {
	pyhost_scan r;
	r.next = 0;
	r.n = pyhost_scan_path(path, start, indexed, slow, dirs, finders, cap, &r.status, &r.next);
	return r;
}
static inline PyObject *pyhost_sys_path(void) { return PySys_GetObject("path"); } // borrowed
// Unmarshals a code object (marshal.dumps's format) and runs it in
// globals. Returns a new reference, or NULL with an exception set.
PyObject *pyhost_exec_marshalled(PyObject *globals, const char *data, Py_ssize_t n);

#endif
