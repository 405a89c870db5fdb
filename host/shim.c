// C side of package host; see shim.h.
#include "shim.h"
#include "_cgo_export.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void pyhost_exit_status(pyhost_status st) {
	(void)st;
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

int pyhost_append_paths(int n, char **paths) {
	PyConfig c;
	PyConfig_InitPythonConfig(&c);
	// The path configuration is computed when the configuration is read
	// with compute_path_config, as the main phase does: setting the
	// configuration unchanged computes it (module_search_paths_set
	// becomes 1, so the main phase keeps what is appended below).
	if (_PyInterpreterState_GetConfigCopy(&c) < 0 || _PyInterpreterState_SetConfig(&c) < 0) {
		PyConfig_Clear(&c);
		return -1;
	}
	PyConfig_Clear(&c);
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

PyObject *pyhost_new_function(const char *name, const char *doc, Py_ssize_t handle) {
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
	PyObject *f = PyCFunction_NewEx(d, self, NULL);
	Py_DECREF(self);
	return f;
}

// ---- strings and errors --------------------------------------------------

PyObject *pyhost_str_from(const char *s, Py_ssize_t n) {
	return PyUnicode_DecodeUTF8(s, n, "surrogateescape");
}

const char *pyhost_str_as(PyObject *o, Py_ssize_t *n, PyObject **owner) {
	*owner = NULL;
	const char *s = PyUnicode_AsUTF8AndSize(o, n);
	if (s != NULL) {
		return s;
	}
	// Lone surrogates (undecodable file names): the bytes os.fsencode gives.
	PyErr_Clear();
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
