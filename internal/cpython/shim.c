// C side of package internal/cpython; see shim.h.
#include "shim.h"
#include "_cgo_export.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---- start-up ------------------------------------------------------------

static PyStatus last_status;

static pyhost_status convert_status(PyStatus st) {
	pyhost_status r = {0};
	if (!PyStatus_Exception(st)) {
		return r;
	}
	last_status = st;
	if (PyStatus_IsExit(st)) {
		r.kind = 1;
		r.exit_code = st.exitcode;
		return r;
	}
	r.kind = 2;
	r.where = st.func;
	r.msg = st.err_msg;
	return r;
}

void pyhost_exit_status(void) {
	Py_ExitStatusException(last_status); // prints as python3 does; exits
}

pyhost_status pyhost_init_core(const pyhost_options *o) {
	PyStatus st;
	PyPreConfig pre;
	if (o->isolated) {
		PyPreConfig_InitIsolatedConfig(&pre);
	} else {
		PyPreConfig_InitPythonConfig(&pre);
	}
	pre.parse_argv = o->parse_argv;
	if (o->parse_argv) {
		st = Py_PreInitializeFromBytesArgs(&pre, o->argc, o->argv);
	} else {
		st = Py_PreInitialize(&pre);
	}
	if (PyStatus_Exception(st)) {
		return convert_status(st);
	}

	PyConfig c;
	if (o->isolated) {
		PyConfig_InitIsolatedConfig(&c);
	} else {
		PyConfig_InitPythonConfig(&c);
	}
	c.parse_argv = o->parse_argv;
	if (!o->install_signal_handlers) {
		c.install_signal_handlers = 0;
	}
	if (!o->site_import) {
		c.site_import = 0;
	}
	if (o->parse_argv) {
		st = PyConfig_SetBytesArgv(&c, o->argc, o->argv);
	} else if (o->argc > 0) {
		st = PyConfig_SetBytesString(&c, &c.program_name, o->argv[0]);
		if (!PyStatus_Exception(st)) {
			st = PyConfig_SetBytesArgv(&c, o->argc, o->argv);
		}
	}
	if (PyStatus_Exception(st)) {
		PyConfig_Clear(&c);
		return convert_status(st);
	}
	// Two-phase start-up: the core phase sets up builtins, sys and the
	// frozen importlib; the main phase installs PathFinder, sets up the
	// streams and imports site. The host's Setup runs in between.
	c._init_main = 0;
	st = Py_InitializeFromConfig(&c);
	PyConfig_Clear(&c);
	return convert_status(st);
}

pyhost_status pyhost_init_main(void) {
	return convert_status(_Py_InitializeMain());
}

// The path configuration (module_search_paths, prefix, ...) is computed
// when the configuration is read with compute_path_config, as the main
// phase does: setting the configuration unchanged computes it, with
// CPython's own getpath, and module_search_paths_set becomes 1, so the main
// phase keeps what was computed (or appended) here.
//
// Setting it loses one field in 3.11 (warn_default_encoding comes back 0;
// every other field was compared, before and after): it is put back in the
// running configuration, from which the main phase makes sys.flags.
int pyhost_compute_paths(void) {
	PyConfig c;
	PyConfig_InitPythonConfig(&c);
	int rc = 0;
	if (_PyInterpreterState_GetConfigCopy(&c) < 0) {
		rc = -1;
	} else {
		int warn_default_encoding = c.warn_default_encoding;
		if (_PyInterpreterState_SetConfig(&c) < 0) {
			rc = -1;
		} else {
			PyConfig *live = (PyConfig *)_PyInterpreterState_GetConfig(PyInterpreterState_Get());
			live->warn_default_encoding = warn_default_encoding;
		}
	}
	PyConfig_Clear(&c);
	return rc;
}

int pyhost_append_paths(int n, char **paths) {
	PyConfig c;
	if (pyhost_compute_paths() < 0) {
		return -1;
	}
	PyConfig_InitPythonConfig(&c);
	if (_PyInterpreterState_GetConfigCopy(&c) < 0) {
		PyConfig_Clear(&c);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		wchar_t *w = Py_DecodeLocale(paths[i], NULL);
		if (w == NULL) {
			PyConfig_Clear(&c);
			PyErr_Format(PyExc_ValueError, "cannot decode path %s", paths[i]);
			return -1;
		}
		PyStatus st = PyWideStringList_Append(&c.module_search_paths, w);
		PyMem_RawFree(w);
		if (PyStatus_Exception(st)) {
			PyConfig_Clear(&c);
			PyErr_NoMemory();
			return -1;
		}
	}
	c.module_search_paths_set = 1;
	int rc = _PyInterpreterState_SetConfig(&c);
	PyConfig_Clear(&c);
	return rc;
}

PyObject *pyhost_xoptions(void) {
	// sys._xoptions does not exist before the main phase; the config does.
	const PyConfig *c = _PyInterpreterState_GetConfig(PyInterpreterState_Get());
	PyObject *l = PyList_New(0);
	if (l == NULL) {
		return NULL;
	}
	for (Py_ssize_t i = 0; i < c->xoptions.length; i++) {
		PyObject *s = PyUnicode_FromWideChar(c->xoptions.items[i], -1);
		if (s == NULL || PyList_Append(l, s) < 0) {
			Py_XDECREF(s);
			Py_DECREF(l);
			return NULL;
		}
		Py_DECREF(s);
	}
	return l;
}

// ---- Go modules and functions --------------------------------------------

static int module_exec(PyObject *m) {
	return goModuleExec(m);
}

static PyModuleDef_Slot module_slots[] = {
	{Py_mod_exec, module_exec},
	{0, NULL},
};

// One definition serves every Go module: with multi-phase initialisation
// the module's name comes from its spec, and goModuleExec fills it in.
static PyModuleDef module_def = {
	PyModuleDef_HEAD_INIT,
	.m_name = "pyhost.gomodule",
	.m_size = 0,
	.m_slots = module_slots,
};

static PyObject *module_init(void) {
	return PyModuleDef_Init(&module_def);
}

int pyhost_register_module(const char *name) {
	// The inittab keeps the pointer: it is never freed.
	return PyImport_AppendInittab(strdup(name), module_init);
}

static PyObject *call_trampoline(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
	Py_ssize_t h = PyLong_AsSsize_t(self);
	if (h == -1 && PyErr_Occurred()) {
		return NULL;
	}
	return goCallFunction(h, (PyObject **)args, nargs, kwnames);
}

PyObject *pyhost_new_function(const char *name, const char *doc, Py_ssize_t handle, PyObject *module) {
	// The method definition must outlive the function object; functions
	// are made once per module and live as long as the process.
	PyMethodDef *d = calloc(1, sizeof *d);
	if (d == NULL) {
		return PyErr_NoMemory();
	}
	d->ml_name = strdup(name);
	d->ml_doc = doc[0] ? strdup(doc) : NULL;
	d->ml_meth = (PyCFunction)(void (*)(void))call_trampoline;
	d->ml_flags = METH_FASTCALL | METH_KEYWORDS;
	PyObject *self = PyLong_FromSsize_t(handle);
	if (self == NULL) {
		return NULL;
	}
	PyObject *f = PyCFunction_NewEx(d, self, module);
	Py_DECREF(self);
	return f;
}

// ---- strings and errors --------------------------------------------------

PyObject *pyhost_str_from(const char *s, Py_ssize_t n) {
	return PyUnicode_DecodeUTF8(s, n, "surrogateescape");
}

// has_surrogates reports whether the str o holds a lone surrogate, which
// UTF-8 cannot encode.
static int has_surrogates(PyObject *o) {
	if (PyUnicode_IS_ASCII(o) || PyUnicode_KIND(o) == PyUnicode_1BYTE_KIND) {
		return 0;
	}
	int kind = PyUnicode_KIND(o);
	const void *data = PyUnicode_DATA(o);
	Py_ssize_t len = PyUnicode_GET_LENGTH(o);
	for (Py_ssize_t i = 0; i < len; i++) {
		Py_UCS4 c = PyUnicode_READ(kind, data, i);
		if (c >= 0xD800 && c <= 0xDFFF) {
			return 1;
		}
	}
	return 0;
}

const char *pyhost_str_as(PyObject *o, Py_ssize_t *n, PyObject **owner) {
	*owner = NULL;
	if (PyUnicode_READY(o) < 0) {
		return NULL;
	}
	// Never let the UTF-8 conversion fail: its error path may set up the
	// codec registry, which before the main phase of start-up leaves it
	// empty for good (init_fs_encoding then fails).
	if (!has_surrogates(o)) {
		return PyUnicode_AsUTF8AndSize(o, n);
	}
	// Lone surrogates (undecodable file names): the bytes os.fsencode gives.
	PyObject *b = PyUnicode_AsEncodedString(o, "utf-8", "surrogateescape");
	if (b == NULL) {
		return NULL;
	}
	*owner = b;
	*n = PyBytes_GET_SIZE(b);
	return PyBytes_AS_STRING(b);
}

void pyhost_err_set(PyObject *type, const char *msg) {
	PyErr_SetString(type, msg);
}

void pyhost_err_fetch(PyObject **t, PyObject **v, PyObject **tb) {
	PyErr_Fetch(t, v, tb);
	if (*t == NULL) {
		return;
	}
	PyErr_NormalizeException(t, v, tb);
	if (*v != NULL && *tb != NULL) {
		PyException_SetTraceback(*v, *tb);
	}
}

PyObject *pyhost_format_exception(PyObject *t, PyObject *v, PyObject *tb) {
	PyObject *mod = PyImport_ImportModule("traceback");
	if (mod == NULL) {
		PyErr_Clear();
		return NULL;
	}
	PyObject *lines = PyObject_CallMethod(mod, "format_exception", "OOO", t,
		v != NULL ? v : Py_None, tb != NULL ? tb : Py_None);
	Py_DECREF(mod);
	if (lines == NULL) {
		PyErr_Clear();
		return NULL;
	}
	PyObject *sep = PyUnicode_FromStringAndSize("", 0);
	PyObject *s = sep != NULL ? PyUnicode_Join(sep, lines) : NULL;
	Py_XDECREF(sep);
	Py_DECREF(lines);
	if (s == NULL) {
		PyErr_Clear();
	}
	return s;
}

PyObject *pyhost_type_qualname(PyObject *t) {
	PyObject *qn = PyObject_GetAttrString(t, "__qualname__");
	if (qn == NULL || !PyUnicode_Check(qn)) {
		Py_XDECREF(qn);
		PyErr_Clear();
		return NULL;
	}
	PyObject *mod = PyObject_GetAttrString(t, "__module__");
	if (mod == NULL || !PyUnicode_Check(mod) || PyUnicode_CompareWithASCIIString(mod, "builtins") == 0) {
		Py_XDECREF(mod);
		PyErr_Clear();
		return qn;
	}
	PyObject *s = PyUnicode_FromFormat("%U.%U", mod, qn);
	Py_DECREF(mod);
	Py_DECREF(qn);
	if (s == NULL) {
		PyErr_Clear();
	}
	return s;
}

// ---- the GIL ---------------------------------------------------------------

static int state; // PYHOST_*, accessed atomically
static pthread_t init_thread; // written before state becomes RUNNING

void pyhost_set_state(int s) {
	if (s == PYHOST_RUNNING) {
		init_thread = pthread_self();
	}
	__atomic_store_n(&state, s, __ATOMIC_SEQ_CST);
}

int pyhost_holds_gil(void) {
	if (__atomic_load_n(&state, __ATOMIC_SEQ_CST) != PYHOST_RUNNING) {
		return -1;
	}
#if PY_VERSION_HEX >= 0x030D0000
	if (Py_IsFinalizing()) {
#else
	if (_Py_IsFinalizing()) {
#endif
		// Late in finalisation PyGILState_Check answers 1 on every
		// thread; only the finalising thread (the one that started
		// Python) can hold the GIL by then.
		return pthread_equal(pthread_self(), init_thread) ? 1 : 0;
	}
	return PyGILState_Check();
}

int pyhost_acquire(void) {
	int held = pyhost_holds_gil();
	if (held != 0) {
		return held == 1 ? 0 : -1;
	}
	PyThreadState *ts = PyGILState_GetThisThreadState();
	if (ts != NULL) {
		PyEval_RestoreThread(ts);
	} else {
		// Makes the thread state (kept for the thread from then on:
		// its counter never drops back to zero) and takes the GIL.
		PyGILState_Ensure();
	}
	return 1;
}

// ---- calls ---------------------------------------------------------------

PyObject *pyhost_call_steal(PyObject *callable, PyObject **args, Py_ssize_t n) {
	PyObject *r = PyObject_Vectorcall(callable, args, (size_t)n, NULL);
	for (Py_ssize_t i = 0; i < n; i++) {
		Py_DECREF(args[i]);
	}
	return r;
}

// ---- cancellation --------------------------------------------------------

static PyObject *cancelled; // owned for the life of the process

int pyhost_make_cancelled(void) {
	if (cancelled != NULL) {
		return 0;
	}
	cancelled = PyErr_NewExceptionWithDoc("pyhost.host.Cancelled",
		"Raised into Python code run by a Go call whose context is done.",
		PyExc_BaseException, NULL);
	return cancelled == NULL ? -1 : 0;
}

void pyhost_async_cancel(unsigned long tid, int cancel) {
	if (cancelled != NULL) {
		PyThreadState_SetAsyncExc(tid, cancel ? cancelled : NULL);
	}
}

// ---- exit ------------------------------------------------------------------

static void atexit_trampoline(void) {
	goAtExit();
}

int pyhost_atexit_register(void) {
	return Py_AtExit(atexit_trampoline);
}

void pyhost_flush_stdio(void) {
	fflush(NULL);
}

void pyhost_c_exit(int code) {
	exit(code);
}

// ---- signals -------------------------------------------------------------

// The dispositions the process started with, saved by a constructor that
// runs before Go's runtime installs its own handlers. CPython decides at
// start-up, from what it finds installed, whether SIGINT raises
// KeyboardInterrupt and what signal.getsignal reports; restoring what the
// process was started with makes that exactly what python3 decides.
#ifndef NSIG
#define NSIG 65
#endif
static struct sigaction saved_actions[NSIG];
static int saved_ok[NSIG];

// Go's runtime also raises the soft limit on open files to the hard one
// at start-up; python3 leaves it as it was (and so must its children).
static struct rlimit saved_nofile;
static int saved_nofile_ok;

__attribute__((constructor)) static void save_signals(void) {
	for (int s = 1; s < NSIG; s++) {
		saved_ok[s] = sigaction(s, NULL, &saved_actions[s]) == 0;
	}
	saved_nofile_ok = getrlimit(RLIMIT_NOFILE, &saved_nofile) == 0;
}

void pyhost_restore_signals(void) {
	if (saved_nofile_ok) {
		setrlimit(RLIMIT_NOFILE, &saved_nofile);
	}
	for (int s = 1; s < NSIG; s++) {
		switch (s) {
		case SIGKILL:
		case SIGSTOP:
			continue;
		// SIGSEGV, SIGBUS and SIGFPE are restored too, so that a crash in
		// an extension module ends the process by the signal (and
		// faulthandler reports it) as under python3. The price: a nil
		// dereference in pyhost's own Go code also dies by SIGSEGV instead
		// of panicking. SIGURG restored to its default (ignored) only
		// turns off Go's asynchronous preemption; goroutines still yield
		// at function calls.
		}
		if (saved_ok[s]) {
			sigaction(s, &saved_actions[s], NULL);
		}
	}
}

// ---- configuration ---------------------------------------------------------

// The running configuration's paths, as str: available during Setup, before
// sys.path and sys.prefix exist. Returns a new dict, or NULL with an
// exception set.
PyObject *pyhost_config_paths(void) {
	const PyConfig *c = _PyInterpreterState_GetConfig(PyInterpreterState_Get());
	PyObject *d = PyDict_New();
	if (d == NULL) {
		return NULL;
	}
	PyObject *l = PyList_New(0);
	if (l == NULL || PyDict_SetItemString(d, "module_search_paths", l) < 0) {
		Py_XDECREF(l);
		Py_DECREF(d);
		return NULL;
	}
	Py_DECREF(l); // the dict holds it
	for (Py_ssize_t i = 0; i < c->module_search_paths.length; i++) {
		PyObject *s = PyUnicode_FromWideChar(c->module_search_paths.items[i], -1);
		if (s == NULL || PyList_Append(l, s) < 0) {
			Py_XDECREF(s);
			Py_DECREF(d);
			return NULL;
		}
		Py_DECREF(s);
	}
	struct { const char *name; const wchar_t *value; } strs[] = {
		{"prefix", c->prefix},
		{"exec_prefix", c->exec_prefix},
		{"base_prefix", c->base_prefix},
		{"base_exec_prefix", c->base_exec_prefix},
		{"executable", c->executable},
		{"run_filename", c->run_filename},
		{"run_module", c->run_module},
		{"run_command", c->run_command},
	};
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		if (strs[i].value == NULL) {
			continue;
		}
		PyObject *s = PyUnicode_FromWideChar(strs[i].value, -1);
		if (s == NULL || PyDict_SetItemString(d, strs[i].name, s) < 0) {
			Py_XDECREF(s);
			Py_DECREF(d);
			return NULL;
		}
		Py_DECREF(s);
	}
	if (PyDict_SetItemString(d, "user_site_directory", c->user_site_directory ? Py_True : Py_False) < 0 ||
		PyDict_SetItemString(d, "site_import", c->site_import ? Py_True : Py_False) < 0 ||
		PyDict_SetItemString(d, "interactive", (c->interactive || c->inspect) ? Py_True : Py_False) < 0) {
		Py_DECREF(d);
		return NULL;
	}
	return d;
}

// ---- the importer's scan of a search path ----------------------------------

// 1 when self is absent from sys.meta_path (called directly) or is
// followed by next; 0 otherwise; -1 with an exception set.
int pyhost_meta_next_is(PyObject *self, PyObject *next) {
	PyObject *mp = PySys_GetObject("meta_path"); // borrowed
	if (mp == NULL || !PyList_Check(mp)) {
		return 0;
	}
	Py_ssize_t n = PyList_GET_SIZE(mp);
	for (Py_ssize_t i = 0; i < n; i++) {
		if (PyList_GET_ITEM(mp, i) == self) {
			return i + 1 < n && PyList_GET_ITEM(mp, i + 1) == next;
		}
	}
	return 1;
}

// The key PathFinder._path_importer_cache uses for entry: entry itself, or
// the working directory for ''. New reference; NULL without an exception
// when the working directory is gone (PathFinder skips the entry then).
static PyObject *entry_key(PyObject *entry) {
	if (PyUnicode_GET_LENGTH(entry) != 0) {
		Py_INCREF(entry);
		return entry;
	}
	char buf[PATH_MAX + 1];
	if (getcwd(buf, sizeof buf) == NULL) {
		if (errno == ENOENT) {
			return NULL;
		}
		PyErr_SetFromErrno(PyExc_OSError);
		return NULL;
	}
	return PyUnicode_DecodeFSDefault(buf);
}

// Walks a search path as PathFinder._get_spec does, collecting the
// consecutive path entry finders of type indexed (their path attribute as
// UTF-8, valid while the finder lives) until an entry that is not a str or
// whose finder is of another type. An entry not yet in the cache is handed
// to slow(entry), which creates and caches its finder as PathFinder would.
// Returns the number of finders collected, or -1 with an exception set;
// *status says whether every entry was consumed.
Py_ssize_t pyhost_scan_path(PyObject *path, PyObject *indexed, PyObject *slow,
		pyhost_strref *dirs, PyObject **finders, Py_ssize_t cap, int *status) {
	PyObject *cache = PySys_GetObject("path_importer_cache"); // borrowed
	PyObject *seq = PySequence_Fast(path, "search path must be iterable");
	if (seq == NULL) {
		return -1;
	}
	Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), count = 0;
	*status = PYHOST_SCAN_COMPLETE;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *entry = PySequence_Fast_GET_ITEM(seq, i);
		if (!PyUnicode_Check(entry) || count == cap || cache == NULL || !PyDict_Check(cache)) {
			*status = PYHOST_SCAN_STOPPED;
			break;
		}
		PyObject *key = entry_key(entry);
		if (key == NULL) {
			if (PyErr_Occurred()) {
				Py_DECREF(seq);
				return -1;
			}
			continue; // no working directory: PathFinder skips it
		}
		PyObject *finder = PyDict_GetItemWithError(cache, key); // borrowed
		if (finder == NULL && !PyErr_Occurred()) {
			PyObject *made = PyObject_CallOneArg(slow, entry);
			Py_XDECREF(made);
			if (made != NULL) {
				// Use the one the cache holds: it lives as long as this call.
				finder = PyDict_GetItemWithError(cache, key);
				if (finder == NULL && !PyErr_Occurred()) {
					Py_DECREF(key);
					*status = PYHOST_SCAN_STOPPED;
					break;
				}
			}
		}
		Py_DECREF(key);
		if (finder == NULL) {
			Py_DECREF(seq);
			return -1;
		}
		if (finder == Py_None) {
			continue;
		}
		if ((PyObject *)Py_TYPE(finder) != indexed) {
			*status = PYHOST_SCAN_STOPPED;
			break;
		}
		PyObject *p = PyObject_GetAttrString(finder, "path");
		if (p == NULL) {
			Py_DECREF(seq);
			return -1;
		}
		if (!PyUnicode_Check(p)) {
			Py_DECREF(p);
			*status = PYHOST_SCAN_STOPPED;
			break;
		}
		// The finder's instance dict keeps the str alive; so does its UTF-8.
		dirs[count].p = PyUnicode_AsUTF8AndSize(p, &dirs[count].n);
		Py_DECREF(p);
		if (dirs[count].p == NULL) {
			PyErr_Clear();
			*status = PYHOST_SCAN_STOPPED;
			break;
		}
		finders[count] = finder;
		count++;
	}
	Py_DECREF(seq);
	return count;
}

// ---- precompiled code ------------------------------------------------------

#include <marshal.h>

PyObject *pyhost_exec_marshalled(PyObject *globals, const char *data, Py_ssize_t n) {
	PyObject *code = PyMarshal_ReadObjectFromString(data, n);
	if (code == NULL) {
		return NULL;
	}
	if (!PyCode_Check(code)) {
		Py_DECREF(code);
		PyErr_SetString(PyExc_TypeError, "marshalled data is not a code object");
		return NULL;
	}
	if (PyDict_GetItemString(globals, "__builtins__") == NULL && // borrowed
		PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0) {
		Py_DECREF(code);
		return NULL;
	}
	PyObject *r = PyEval_EvalCode(code, globals, globals);
	Py_DECREF(code);
	return r;
}
