// The buffer protocol both ways; see buffer.h.
#include "buffer.h"
#include "_cgo_export.h"

#include <string.h>

typedef struct {
	PyObject_HEAD
	void *data; // Go memory, pinned while handle is not 0
	Py_ssize_t items, itemsize, bytes;
	char format[2];
	uintptr_t handle; // Go's pin; 0 once released
	Py_ssize_t exports;
} gobuffer;

static void gobuffer_unpin(gobuffer *g) {
	if (g->handle != 0) {
		uintptr_t h = g->handle;
		g->handle = 0;
		g->data = NULL;
		goBufferFree(h);
	}
}

static void gobuffer_dealloc(PyObject *self) {
	gobuffer_unpin((gobuffer *)self);
	Py_TYPE(self)->tp_free(self);
}

static int gobuffer_getbuffer(PyObject *self, Py_buffer *view, int flags) {
	gobuffer *g = (gobuffer *)self;
	if (g->handle == 0) {
		PyErr_SetString(PyExc_ValueError, "operation forbidden on a released Go buffer");
		view->obj = NULL;
		return -1;
	}
	view->buf = g->data;
	view->obj = Py_NewRef(self);
	view->len = g->bytes;
	view->readonly = 0;
	view->ndim = 1;
	view->suboffsets = NULL;
	view->internal = NULL;
	if (flags & PyBUF_FORMAT) {
		view->format = g->format;
		view->itemsize = g->itemsize;
		view->shape = (flags & PyBUF_ND) ? &g->items : NULL;
		view->strides = ((flags & PyBUF_STRIDES) == PyBUF_STRIDES) ? &g->itemsize : NULL;
	} else {
		// Without the format, a consumer sees unsigned bytes.
		static Py_ssize_t one = 1;
		view->format = NULL;
		view->itemsize = 1;
		view->shape = (flags & PyBUF_ND) ? &g->bytes : NULL;
		view->strides = ((flags & PyBUF_STRIDES) == PyBUF_STRIDES) ? &one : NULL;
	}
	g->exports++;
	return 0;
}

static void gobuffer_releasebuffer(PyObject *self, Py_buffer *view) {
	((gobuffer *)self)->exports--;
}

int pyhost_gobuffer_release(PyObject *o) {
	gobuffer *g = (gobuffer *)o;
	if (g->exports > 0) {
		PyErr_Format(PyExc_BufferError,
			"Go buffer still in use by %zd consumer(s) (a memoryview or an array made from it)", g->exports);
		return -1;
	}
	gobuffer_unpin(g);
	return 0;
}

static PyObject *gobuffer_release_method(PyObject *self, PyObject *unused) {
	if (pyhost_gobuffer_release(self) < 0) {
		return NULL;
	}
	Py_RETURN_NONE;
}

static Py_ssize_t gobuffer_len(PyObject *self) {
	gobuffer *g = (gobuffer *)self;
	return g->handle == 0 ? 0 : g->items;
}

static PyObject *gobuffer_repr(PyObject *self) {
	gobuffer *g = (gobuffer *)self;
	if (g->handle == 0) {
		return PyUnicode_FromString("<released Go buffer>");
	}
	return PyUnicode_FromFormat("<Go buffer of %zd items, format '%s'>", g->items, g->format);
}

static PyObject *gobuffer_released(PyObject *self, void *unused) {
	return PyBool_FromLong(((gobuffer *)self)->handle == 0);
}

static PyMethodDef gobuffer_methods[] = {
	{"release", gobuffer_release_method, METH_NOARGS,
		"Gives the Go memory back; BufferError while a consumer still uses it."},
	{NULL},
};

static PyGetSetDef gobuffer_getset[] = {
	{"released", gobuffer_released, NULL, "Whether release() was called.", NULL},
	{NULL},
};

static PyBufferProcs gobuffer_as_buffer = {gobuffer_getbuffer, gobuffer_releasebuffer};
static PySequenceMethods gobuffer_as_sequence = {.sq_length = gobuffer_len};

static PyTypeObject gobuffer_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pyhost.GoBuffer",
	.tp_doc = "Go memory exported without a copy (buffer protocol); see host.NewView.",
	.tp_basicsize = sizeof(gobuffer),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = gobuffer_dealloc,
	.tp_repr = gobuffer_repr,
	.tp_as_buffer = &gobuffer_as_buffer,
	.tp_as_sequence = &gobuffer_as_sequence,
	.tp_methods = gobuffer_methods,
	.tp_getset = gobuffer_getset,
};

PyObject *pyhost_gobuffer_new(void *data, Py_ssize_t n, Py_ssize_t itemsize, char format, uintptr_t handle) {
	if (!(gobuffer_type.tp_flags & Py_TPFLAGS_READY) && PyType_Ready(&gobuffer_type) < 0) {
		goBufferFree(handle);
		return NULL;
	}
	gobuffer *g = PyObject_New(gobuffer, &gobuffer_type);
	if (g == NULL) {
		goBufferFree(handle);
		return NULL;
	}
	g->data = data;
	g->items = n;
	g->itemsize = itemsize;
	g->bytes = n * itemsize;
	g->format[0] = format;
	g->format[1] = 0;
	g->handle = handle;
	g->exports = 0;
	return (PyObject *)g;
}

int pyhost_gobuffer_check(PyObject *o) { return Py_IS_TYPE(o, &gobuffer_type); }

pyhost_buffer *pyhost_buffer_get(PyObject *o, int *status) {
	*status = 0;
	if (!PyObject_CheckBuffer(o)) {
		return NULL;
	}
	*status = -1;
	pyhost_buffer *b = PyMem_Malloc(sizeof *b);
	if (b == NULL) {
		PyErr_NoMemory();
		return NULL;
	}
	if (PyObject_GetBuffer(o, &b->view, PyBUF_RECORDS_RO) < 0) {
		PyMem_Free(b);
		return NULL;
	}
	b->contiguous = PyBuffer_IsContiguous(&b->view, 'C');
	*status = 1;
	return b;
}

void pyhost_buffer_release(pyhost_buffer *b) {
	PyBuffer_Release(&b->view);
	PyMem_Free(b);
}

void pyhost_buffer_copy_release(pyhost_buffer *b, void *dst) {
	if (b->view.len > 0) {
		memcpy(dst, b->view.buf, b->view.len);
	}
	pyhost_buffer_release(b);
}
