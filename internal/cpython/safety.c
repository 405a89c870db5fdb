// C side of the embedding API's safety measures; see safety.h.
#include "safety.h"

static __thread int gate_held;

int pyhost_gate_held(void) { return gate_held; }
void pyhost_set_gate_held(int held) { gate_held = held; }

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
