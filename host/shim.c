// C side of package host; see shim.h.
#include "shim.h"
#include "_cgo_export.h"

#include <signal.h>
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

void pyhost_set_async_exc(unsigned long tid, PyObject *exc) {
	PyThreadState_SetAsyncExc(tid, exc);
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

__attribute__((constructor)) static void save_signals(void) {
	for (int s = 1; s < NSIG; s++) {
		saved_ok[s] = sigaction(s, NULL, &saved_actions[s]) == 0;
	}
}

void pyhost_restore_signals(void) {
	for (int s = 1; s < NSIG; s++) {
		switch (s) {
		case SIGKILL:
		case SIGSTOP:
		// Go's runtime needs these to turn faults in Go code into panics
		// and to preempt goroutines.
		case SIGSEGV:
		case SIGBUS:
		case SIGFPE:
		case SIGURG:
			continue;
		}
		if (saved_ok[s]) {
			sigaction(s, &saved_actions[s], NULL);
		}
	}
}
