// The buffer protocol both ways (see buffer.c): Go memory exported to
// Python without a copy, and any exporter's memory read by Go.
#ifndef PYHOST_BUFFER_H
#define PYHOST_BUFFER_H

#include "shim.h"
#include <stdint.h>

// A new pyhost.GoBuffer over n items of itemsize bytes at data (pinned by
// Go until goBufferFree(handle)), with the struct module's format
// character format. NULL with an exception set.
PyObject *pyhost_gobuffer_new(void *data, Py_ssize_t n, Py_ssize_t itemsize, char format, uintptr_t handle);
// Releases a GoBuffer's memory: 0, or -1 with BufferError set while a
// consumer (a memoryview, an ndarray) still uses it.
int pyhost_gobuffer_release(PyObject *o);
// 1 if o is a GoBuffer.
int pyhost_gobuffer_check(PyObject *o);

// What a consumer is told of an exporter's memory.
typedef struct {
	Py_buffer view;
	int contiguous; // C-contiguous
} pyhost_buffer;

// Gets o's buffer (format, shape, strides) in C memory: *status 1; NULL
// with *status 0 when o exports none (no exception set), -1 with an
// exception set.
pyhost_buffer *pyhost_buffer_get(PyObject *o, int *status);
// Copies a C-contiguous buffer's bytes to dst, then releases and frees it.
void pyhost_buffer_copy_release(pyhost_buffer *b, void *dst);
void pyhost_buffer_release(pyhost_buffer *b);

// Numbers that are not int or float: numpy scalars and the like.
static inline int pyhost_has_index(PyObject *o) { return PyIndex_Check(o); }
static inline int pyhost_has_float(PyObject *o) {
	return Py_TYPE(o)->tp_as_number != NULL && Py_TYPE(o)->tp_as_number->nb_float != NULL;
}

#endif
