// C side of the embedding API's safety measures; see safety.h.
#include "safety.h"

static __thread int gate_held;

int pyhost_gate_held(void) { return gate_held; }
void pyhost_set_gate_held(int held) { gate_held = held; }

int pyhost_acquire_gated(int kind) {
	int r = pyhost_acquire();
	if (r == 1) {
		gate_held = kind;
	}
	return r;
}

void pyhost_release_gated(void) {
	gate_held = 0;
	PyEval_SaveThread();
}

// pyhost_async_cancel's class, defined in shim.c.
extern PyObject *pyhost_cancelled_class(void);

int pyhost_cancel_running(unsigned long keep) {
	PyObject *cls = pyhost_cancelled_class();
	if (cls == NULL) {
		return 0;
	}
	PyObject *fn = PySys_GetObject("_current_frames"); // borrowed
	if (fn == NULL) {
		PyErr_SetString(PyExc_RuntimeError, "sys._current_frames is missing");
		return -1;
	}
	PyObject *frames = PyObject_CallNoArgs(fn);
	if (frames == NULL) {
		return -1;
	}
	unsigned long self = PyThread_get_thread_ident();
	Py_ssize_t pos = 0;
	PyObject *k, *v;
	int n = 0;
	while (PyDict_Next(frames, &pos, &k, &v)) {
		unsigned long tid = PyLong_AsUnsignedLong(k);
		if (tid == (unsigned long)-1 && PyErr_Occurred()) {
			PyErr_Clear();
			continue;
		}
		if (tid == self || tid == keep) {
			continue;
		}
		n += PyThreadState_SetAsyncExc(tid, cls);
	}
	Py_DECREF(frames);
	return n;
}

int pyhost_cancelled_matches(PyObject *type) {
	PyObject *cls = pyhost_cancelled_class();
	return cls != NULL && type != NULL && PyErr_GivenExceptionMatches(type, cls);
}

void pyhost_drop_tracebacks(PyObject *exc) {
	// The exceptions reachable through __cause__ and __context__, each
	// once (a chain may be a cycle), up to a bound.
	enum { MAX = 64 };
	PyObject *seen[MAX];
	int n = 0;
	if (exc != NULL && PyExceptionInstance_Check(exc)) {
		Py_INCREF(exc);
		seen[n++] = exc;
	}
	for (int i = 0; i < n; i++) {
		PyException_SetTraceback(seen[i], Py_None);
		PyObject *next[2] = {PyException_GetCause(seen[i]), PyException_GetContext(seen[i])}; // new
		for (int j = 0; j < 2; j++) {
			PyObject *e = next[j];
			if (e == NULL) {
				continue;
			}
			int dup = 0;
			for (int k = 0; k < n; k++) {
				dup |= seen[k] == e;
			}
			if (dup || n == MAX || !PyExceptionInstance_Check(e)) {
				Py_DECREF(e);
				continue;
			}
			seen[n++] = e; // the reference GetCause/GetContext gave
		}
	}
	for (int i = 0; i < n; i++) {
		Py_DECREF(seen[i]);
	}
}

// ---- Go values attached to exceptions ------------------------------------

#include "_cgo_export.h"

static const char go_value_attr[] = "__pyhost_go_value__";
static const char go_value_capsule[] = "pyhost.go_value";

static void go_value_destructor(PyObject *capsule) {
	uintptr_t h = (uintptr_t)PyCapsule_GetContext(capsule);
	if (h != 0) {
		goValueFree(h);
	}
}

void pyhost_raise_with(PyObject *cls, const char *msg, uintptr_t handle) {
	PyObject *inst = PyObject_CallFunction(cls, "s", msg);
	if (inst == NULL) {
		if (handle != 0) {
			goValueFree(handle);
		}
		return;
	}
	if (!PyExceptionInstance_Check(inst)) {
		if (handle != 0) {
			goValueFree(handle);
		}
		PyErr_Format(PyExc_TypeError, "calling %R made a %.200s, not an exception", cls, Py_TYPE(inst)->tp_name);
		Py_DECREF(inst);
		return;
	}
	if (handle != 0) {
		// The capsule's pointer must not be NULL: the context holds the handle.
		PyObject *c = PyCapsule_New((void *)go_value_capsule, go_value_capsule, go_value_destructor);
		if (c == NULL || PyCapsule_SetContext(c, (void *)handle) < 0) {
			Py_XDECREF(c);
			goValueFree(handle);
			PyErr_Clear();
		} else {
			if (PyObject_SetAttrString(inst, go_value_attr, c) < 0) {
				PyErr_Clear(); // a class with __slots__: the error goes without its Go value
			}
			Py_DECREF(c); // the destructor frees the handle with the last reference
		}
	}
	PyErr_SetObject((PyObject *)Py_TYPE(inst), inst);
	Py_DECREF(inst);
}

uintptr_t pyhost_exception_handle(PyObject *exc) {
	if (exc == NULL) {
		return 0;
	}
	PyObject *c = PyObject_GetAttrString(exc, go_value_attr);
	if (c == NULL) {
		PyErr_Clear();
		return 0;
	}
	uintptr_t h = 0;
	if (PyCapsule_IsValid(c, go_value_capsule)) {
		h = (uintptr_t)PyCapsule_GetContext(c);
	}
	Py_DECREF(c);
	return h;
}

PyObject *pyhost_new_exception(const char *name, const char *doc, PyObject *base) {
	return PyErr_NewExceptionWithDoc(name, doc, base, NULL);
}

// ---- Go closures as Python functions ----------------------------------------

static const char closure_capsule[] = "pyhost.closure";

typedef struct {
	PyMethodDef def;
	uintptr_t handle;
} closure;

static void closure_destructor(PyObject *capsule) {
	closure *c = PyCapsule_GetPointer(capsule, closure_capsule);
	if (c == NULL) {
		PyErr_Clear();
		return;
	}
	goClosureFree(c->handle);
	free((void *)c->def.ml_name);
	free((void *)c->def.ml_doc);
	free(c);
}

static PyObject *closure_trampoline(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
	closure *c = PyCapsule_GetPointer(self, closure_capsule);
	if (c == NULL || pyhost_go_unreachable()) {
		return NULL;
	}
	return goCallClosure(c->handle, (PyObject **)args, nargs, kwnames);
}

PyObject *pyhost_new_closure(const char *name, const char *doc, uintptr_t handle, PyObject *module) {
	closure *c = calloc(1, sizeof *c);
	if (c == NULL) {
		goClosureFree(handle);
		return PyErr_NoMemory();
	}
	c->handle = handle;
	c->def.ml_name = strdup(name);
	c->def.ml_doc = doc[0] ? strdup(doc) : NULL;
	c->def.ml_meth = (PyCFunction)(void (*)(void))closure_trampoline;
	c->def.ml_flags = METH_FASTCALL | METH_KEYWORDS;
	// The capsule frees the definition once the function, which keeps
	// it as its self, is gone (meth_dealloc reads the definition before
	// it releases self).
	PyObject *self = PyCapsule_New(c, closure_capsule, closure_destructor);
	if (self == NULL) {
		goClosureFree(handle);
		free((void *)c->def.ml_name);
		free((void *)c->def.ml_doc);
		free(c);
		return NULL;
	}
	PyObject *f = PyCFunction_NewEx(&c->def, self, module);
	Py_DECREF(self);
	return f;
}

// pyhost_raise_errno raises what os.listdir(filename) raises when it fails
// with errno e: OSError (or the subclass e maps to), with e, its message
// and the file name.
void pyhost_raise_errno(int e, const char *filename) {
	PyObject *f = PyUnicode_DecodeFSDefault(filename);
	errno = e;
	PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, f);
	Py_XDECREF(f);
}
