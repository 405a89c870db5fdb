// C side of the embedding API's safety measures (see safety.c): the gate
// in front of the GIL, cancelling every running Python thread at
// shutdown, dropping an exception's frames, and the buffer protocol.
#ifndef PYHOST_SAFETY_H
#define PYHOST_SAFETY_H

#include "shim.h"
#include <stdint.h>

// ---- the gate in front of the GIL ---------------------------------------

// Whether the calling thread's hold of the GIL came with a token of Go's
// gate (WithGIL): AllowThreads gives the token back while it waits.
int pyhost_gate_held(void);
void pyhost_set_gate_held(int held);
// pyhost_acquire, marking a hold it takes as gated.
int pyhost_acquire_gated(int kind);
// Gives back a gated hold.
void pyhost_release_gated(void);

// ---- cancelling at shutdown ------------------------------------------------

// Schedules the cancellation exception in every thread running Python
// code (one with a frame) but the caller's and keep's. Returns how many
// it scheduled, -1 with an exception set.
int pyhost_cancel_running(unsigned long keep);
// 1 if the exception set is the cancellation exception.
int pyhost_cancelled_matches(PyObject *type);

// ---- exceptions --------------------------------------------------------------

// Drops the traceback (and with it the frames and their locals) of an
// exception and of the exceptions chained to it (__cause__, __context__),
// up to a bound. Sets no exception.
void pyhost_drop_tracebacks(PyObject *exc);

#endif

// ---- Go values attached to exceptions --------------------------------------

// Raises an instance of the exception class cls made from msg; with a
// handle (not 0), the instance carries it in a capsule that calls
// goValueFree(handle) when the exception is freed. Leaves the exception
// (or the failure to make it) set.
void pyhost_raise_with(PyObject *cls, const char *msg, uintptr_t handle);
void pyhost_raise_errno(int e, const char *filename);
// The handle an exception instance carries, 0 if none. Sets no exception.
uintptr_t pyhost_exception_handle(PyObject *exc);
// A new exception class named name ("module.Class") deriving from base
// (NULL: Exception), with doc (may be NULL). NULL with an exception set.
PyObject *pyhost_new_exception(const char *name, const char *doc, PyObject *base);

// ---- Go closures as Python functions ------------------------------------

// A builtin function object calling the Go closure handle (see
// goCallClosure); its method definition and the handle are freed with it
// (goClosureFree). NULL with an exception set.
PyObject *pyhost_new_closure(const char *name, const char *doc, uintptr_t handle, PyObject *module);
