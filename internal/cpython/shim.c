// C side of package internal/cpython; see shim.h.
#include "shim.h"
#include "_cgo_export.h"

#include <dirent.h>
#include <dlfcn.h>
#include <link.h>
#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <wchar.h>

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

// Go's handlers around fork() (fork.go). In a child of fork() no Go code
// runs from here, nor from a ParentOnly function (call_handle) or the
// exit hook: Go's runtime there cannot schedule (see fork.go).
static volatile int forked_child;
// The thread that forked: in the child, the one thread Go's runtime can
// still serve. Another thread's call into Go must wait for a processor
// that one of the parent's threads, gone, held, or that the forking
// thread keeps between its calls (no system monitor runs there to take it
// back), while it holds the GIL: the child hung.
static pthread_t fork_thread;


static void before_fork(void) {
	if (!forked_child) {
		goBeforeFork();
	}
}
static void after_fork_parent(void) {
	if (!forked_child) {
		goAfterForkParent();
	}
}
int pyhost_go_unreachable(void) {
	if (forked_child && !pthread_equal(pthread_self(), fork_thread)) {
		PyErr_SetString(PyExc_RuntimeError,
			"pyhost: in a process forked from pyhost, its Go functions can be called only from the thread that "
			"forked (Go's runtime has no other there)");
		return 1;
	}
	return 0;
}

static void after_fork_child(void) {
	forked_child = 1;
	fork_thread = pthread_self();
}

void pyhost_register_atfork(void) { pthread_atfork(before_fork, after_fork_parent, after_fork_child); }

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
	PyStatus st = _Py_InitializeMain();
	if (!PyStatus_Exception(st)) {
		pyhost_paths_after_main(); // paths.c
	}
	return convert_status(st);
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

// call_handle calls the Go function registered as h (negative:
// Func.ParentOnly, which does nothing in a forked child).
static PyObject *call_handle(Py_ssize_t h, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
	if (h < 0) {
		if (forked_child) {
			Py_RETURN_NONE;
		}
		h = -h - 1;
	}
	if (pyhost_go_unreachable()) {
		return NULL;
	}
	return goCallFunction(h, (PyObject **)args, nargs, kwnames);
}

// A Go function is a builtin function whose self is what a C module's
// function has (its module, or none): its repr, __self__, __module__,
// pickling and comparisons are a C function's. Its C entry must then tell
// which Go function it is without its self, so each is one of a pool of
// entries, each calling the handle of its slot. (Passing the handle as
// self made every function a "method of int object" that pickle could not
// find.) Past the pool, functions take their handle as self, as before.
#define GOFUNC_SLOTS 256
static Py_ssize_t gofunc_handles[GOFUNC_SLOTS];
static PyMethodDef *gofunc_defs[GOFUNC_SLOTS]; // each slot's definition, kept for a function made again
static int gofunc_used;

#define GOFUNC(n)                                                                                                  \
	static PyObject *gofunc_##n(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) { \
		(void)self;                                                                                         \
		return call_handle(gofunc_handles[0x##n], args, nargs, kwnames);                                   \
	}
#define GOFUNC16(h)                                                                                              \
	GOFUNC(h##0) GOFUNC(h##1) GOFUNC(h##2) GOFUNC(h##3) GOFUNC(h##4) GOFUNC(h##5) GOFUNC(h##6) GOFUNC(h##7) \
	GOFUNC(h##8) GOFUNC(h##9) GOFUNC(h##a) GOFUNC(h##b) GOFUNC(h##c) GOFUNC(h##d) GOFUNC(h##e) GOFUNC(h##f)
GOFUNC16(0) GOFUNC16(1) GOFUNC16(2) GOFUNC16(3) GOFUNC16(4) GOFUNC16(5) GOFUNC16(6) GOFUNC16(7)
GOFUNC16(8) GOFUNC16(9) GOFUNC16(a) GOFUNC16(b) GOFUNC16(c) GOFUNC16(d) GOFUNC16(e) GOFUNC16(f)

#define GOREF(n) gofunc_##n,
#define GOREF16(h)                                                                                       \
	GOREF(h##0) GOREF(h##1) GOREF(h##2) GOREF(h##3) GOREF(h##4) GOREF(h##5) GOREF(h##6) GOREF(h##7) \
	GOREF(h##8) GOREF(h##9) GOREF(h##a) GOREF(h##b) GOREF(h##c) GOREF(h##d) GOREF(h##e) GOREF(h##f)
static _PyCFunctionFastWithKeywords const gofuncs[GOFUNC_SLOTS] = {
	GOREF16(0) GOREF16(1) GOREF16(2) GOREF16(3) GOREF16(4) GOREF16(5) GOREF16(6) GOREF16(7)
	GOREF16(8) GOREF16(9) GOREF16(a) GOREF16(b) GOREF16(c) GOREF16(d) GOREF16(e) GOREF16(f)
};

static PyObject *call_trampoline(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
	Py_ssize_t h = PyLong_AsSsize_t(self);
	if (h == -1 && PyErr_Occurred()) {
		return NULL;
	}
	return call_handle(h, args, nargs, kwnames);
}

// pyhost_new_function makes the function object of the Go function
// registered as handle: self is its module (NULL for a function outside
// any), module_name its __module__ (NULL: None).
PyObject *pyhost_new_function(const char *name, const char *doc, Py_ssize_t handle, PyObject *self, PyObject *module_name) {
	int slot = 0; // the GIL is held
	while (slot < gofunc_used && gofunc_handles[slot] != handle) {
		slot++;
	}
	if (slot < gofunc_used) { // a function made again (its module imported anew): its entry and definition
		return PyCFunction_NewEx(gofunc_defs[slot], self, module_name);
	}
	// The method definition must outlive the function object: it lives as
	// long as the process.
	PyMethodDef *d = calloc(1, sizeof *d);
	if (d == NULL) {
		return PyErr_NoMemory();
	}
	d->ml_name = strdup(name);
	d->ml_doc = doc[0] ? strdup(doc) : NULL;
	d->ml_flags = METH_FASTCALL | METH_KEYWORDS;
	if (slot < GOFUNC_SLOTS) {
		gofunc_handles[slot] = handle, gofunc_defs[slot] = d, gofunc_used++;
		d->ml_meth = (PyCFunction)(void (*)(void))gofuncs[slot];
		return PyCFunction_NewEx(d, self, module_name);
	}
	d->ml_meth = (PyCFunction)(void (*)(void))call_trampoline;
	PyObject *h = PyLong_FromSsize_t(handle);
	if (h == NULL) {
		return NULL;
	}
	PyObject *f = PyCFunction_NewEx(d, h, module_name);
	Py_DECREF(h);
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

pyhost_utf8 pyhost_str_utf8(PyObject *o) {
	pyhost_utf8 r;
	r.s = pyhost_str_as(o, &r.n, &r.owner);
	return r;
}

// ---- file names ------------------------------------------------------------

// The file system encoding is UTF-8 nearly everywhere (a UTF-8 locale, or
// the C locale, where Python turns on its UTF-8 mode), and then a path's
// bytes are its str's UTF-8 with lone surrogates for undecodable bytes,
// which pyhost_str_from and pyhost_str_as give without a copy. Under
// another encoding (the C locale with PYTHONUTF8=0: ASCII; a Latin-1
// locale) a name's bytes are not its UTF-8: 'café' is b'caf\xc3\xa9' to
// a UTF-8 file system, and an ASCII one's listing names that file
// 'caf\udcc3\udca9'. There, a path that is not ASCII is converted as
// os.fsencode and os.fsdecode convert it (an ASCII path is the same bytes
// in every encoding a locale can have).

// fs_utf8 is 1 when the file system encoding is UTF-8 with
// surrogateescape, 0 when not, -1 until known (the interpreter's
// configuration says, from its core phase on).
static int fs_utf8 = -1;

static int fs_is_utf8(void) {
	if (fs_utf8 >= 0) {
		return fs_utf8;
	}
	PyInterpreterState *in = PyInterpreterState_Main();
	if (in == NULL) {
		return 1; // no interpreter yet: nothing is converted for one
	}
	const PyConfig *c = _PyInterpreterState_GetConfig(in);
	if (c == NULL || c->filesystem_encoding == NULL || c->filesystem_errors == NULL) {
		return 1; // not read yet: asked again next time
	}
	fs_utf8 = (wcscasecmp(c->filesystem_encoding, L"utf-8") == 0 || wcscasecmp(c->filesystem_encoding, L"utf8") == 0) &&
		  wcscmp(c->filesystem_errors, L"surrogateescape") == 0;
	return fs_utf8;
}

PyObject *pyhost_path_from(const char *s, Py_ssize_t n) {
	if (!fs_is_utf8()) {
		for (Py_ssize_t i = 0; i < n; i++) {
			if ((unsigned char)s[i] >= 0x80) {
				return PyUnicode_DecodeFSDefaultAndSize(s, n);
			}
		}
	}
	return PyUnicode_DecodeUTF8(s, n, "surrogateescape");
}

// pyhost_path_bytes is a str path's bytes as os.fsencode gives them; s
// is NULL with an exception set (UnicodeEncodeError: a name the file
// system encoding cannot hold, which names no file).
pyhost_utf8 pyhost_path_bytes(PyObject *o) {
	pyhost_utf8 r = {NULL, 0, NULL};
	if (PyUnicode_READY(o) < 0) {
		return r;
	}
	if (PyUnicode_IS_ASCII(o) || fs_is_utf8()) {
		r.s = pyhost_str_as(o, &r.n, &r.owner);
		return r;
	}
	PyObject *b = PyUnicode_EncodeFSDefault(o);
	if (b == NULL) {
		return r;
	}
	r.owner = b;
	r.s = PyBytes_AS_STRING(b);
	r.n = PyBytes_GET_SIZE(b);
	return r;
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

// pyhost_call_steal calls callable with args, which it steals. A NULL
// callable or argument (a constructor that failed: out of memory, with its
// exception set) makes no call and returns NULL, the exception kept.
PyObject *pyhost_call_steal(PyObject *callable, PyObject **args, Py_ssize_t n) {
	int missing = callable == NULL;
	for (Py_ssize_t i = 0; i < n; i++) {
		missing = missing || args[i] == NULL;
	}
	PyObject *r = NULL;
	if (!missing) {
		r = PyObject_Vectorcall(callable, args, (size_t)n, NULL);
	} else if (!PyErr_Occurred()) {
		PyErr_SetString(PyExc_SystemError, "pyhost: a call with a NULL argument and no exception set");
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		Py_XDECREF(args[i]);
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

PyObject *pyhost_cancelled_class(void) { return cancelled; } // borrowed; see safety.c

// ---- exit ------------------------------------------------------------------

static void atexit_trampoline(void) {
	if (!forked_child) { // the parent's work (fork.go)
		goAtExit();
	}
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

// What the process started with, saved by a constructor that runs before
// Go's runtime changes it, and given back to Python at the handover
// (pyhost_restore_signals, on the main thread, before CPython starts):
// - the dispositions: CPython decides at start-up, from what it finds
//   installed, whether SIGINT raises KeyboardInterrupt and what
//   signal.getsignal reports;
// - the open-files limit: Go raises the soft limit to the hard one;
// - which of fds 0-2 were closed: Go opens /dev/null on them, python3
//   leaves them closed (sys.stdin etc. are None). Go code must then not
//   open files through package os, whose poller's descriptors would land
//   there (see launch's openFile);
// - the signal mask: Go unblocks, on every thread it runs, the signals it
//   insists on handling (SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGTERM,
//   SIGCHLD, SIGPROF, SIGSYS, the synchronous faults), whatever the process
//   inherited; multiprocessing starts its resource tracker with SIGINT and
//   SIGTERM blocked, and python3's children inherit its mask.
// - the main thread's timer slack (see widen_timer_slack).
#ifndef NSIG
#define NSIG 65
#endif
static struct sigaction saved_actions[NSIG];
static int saved_ok[NSIG];

static struct rlimit saved_nofile;
static int saved_nofile_ok;

static int saved_closed[3];

static sigset_t saved_mask;
static int saved_mask_ok;
static int saved_urg_pending;

static long saved_slack = -1;

// Go's threads and signals. Python handles signals on the main thread,
// and the kernel gives a process-directed signal to any thread that does
// not block it: Go's threads do not block the signals above, so a signal
// that the main thread blocks (and python3 would keep pending) went to a
// Go thread, where the default action ended the process, or Python's
// handler ran although Python had blocked it.
//
// So the dispositions of these signals are virtual: pyhost's sigaction
// below (it stands in for libc's for the whole program, CPython, Go's
// runtime and extension modules included) records what a caller installs
// in `chained` and reports it back, while the kernel's disposition is
// forward_signal (or SIG_IGN where the caller's is). On a thread that
// runs no Python (Go's, or a C library's), forward_signal blocks the
// signal on that thread from then on and sends it on to the main thread
// (requeue_to_main): taken there, or pending there until the main thread
// unblocks it, in the order python3 would see. On the
// main thread, on a Python thread, or for a signal sent to one thread alone
// (pthread_kill), it does what the caller's disposition says. Whoever
// bypasses sigaction (glibc's signal() calls the kernel directly) takes
// that signal out of this scheme.
//
// Go's threads block these signals from the start in the pyhost command
// (not in other programs: Go's children inherit that mask): Go gives each
// new thread the mask the process had when its runtime started, except
// for the signals it insists on, and the constructor blocks them all until
// the handover. So mostly a signal that Python blocks is pending for the
// process the moment it is sent, and a thread of Go's learns to block one
// of the others the first time it receives it.
//
// Before the handover, a signal blocked at start is held (hold_signal):
// Go's runtime unblocks it on its threads, and its handler would end the
// process; the handover queues it again on the main thread, where it is
// blocked again. The handlers Go's runtime installs for those signals
// meanwhile are only recorded. (A program that calls Start instead of Main
// gets them installed then.)
static struct sigaction chained[NSIG];
static volatile sig_atomic_t virtual_[NSIG]; // 1 forwarded, 2 held, 3 kept (see kept_until_handover)
static volatile sig_atomic_t held[NSIG];
static siginfo_t held_info[NSIG];
static volatile int table_lock;
// The process the table belongs to: a child made by vfork (subprocess
// uses it) shares the parent's memory and must leave the table alone.
static pid_t table_pid;

static void table_after_fork(void) {
	table_pid = getpid();
	table_lock = 0;
}

extern int __sigaction(int, const struct sigaction *, struct sigaction *); // libc's

// Defined by the pyhost command (cmd/pyhost) alone.
extern const int pyhost_hands_over __attribute__((weak));

// kept_from_go_threads: the signals not forwarded (see forwardable) that
// Go's threads must not take either. A thread that does not block a
// signal takes it for the process, so one the main thread blocks (which
// python3 keeps pending for sigpending, sigwait and sigtimedwait) was
// dropped there (SIGCHLD of a child that exits, SIGWINCH, SIGCONT,
// SIGURG: their default is to do nothing), stopped the process although
// blocked (SIGTSTP, SIGTTIN, SIGTTOU), or ran Python's handler while
// Python blocked it. Taught with the others (see teach_threads), Go's
// threads block them, and the kernel gives each to a thread of Python's
// or leaves it pending, as for python3. (Go's runtime preempts with
// SIGURG: after the handover its disposition is the process's, the
// default, ignored, so preemption is off there already.) The synchronous
// faults too, for when another process sends them (kill -SEGV while the
// main thread blocks it: pending for python3): a thread's own fault is
// given to it whatever it blocks, and after the handover their
// dispositions are the process's anyway (a fault in Go's code ends the
// process by the signal either way).
static int kept_from_go_threads(int s) {
	switch (s) {
	case SIGILL:
	case SIGTRAP:
	case SIGBUS:
	case SIGFPE:
	case SIGSEGV:
	case SIGCHLD:
	case SIGURG:
	case SIGWINCH:
	case SIGCONT:
	case SIGTSTP:
	case SIGTTIN:
	case SIGTTOU:
		return 1;
	}
	return 0;
}

// Signals not forwarded: those that cannot be caught, glibc's internal
// ones (32 and 33, below SIGRTMIN), and kept_from_go_threads's (the
// synchronous faults, which Go turns into panics until the handover and
// faulthandler handles after it, and those whose default action is to
// do nothing or to stop the whole process).
static int forwardable(int s) {
	if (s == SIGKILL || s == SIGSTOP || kept_from_go_threads(s)) {
		return 0;
	}
	return s > 0 && s < NSIG && (s < 32 || (s >= SIGRTMIN && s <= SIGRTMAX));
}

// ignored_by_default reports whether the default action of s is to do
// nothing.
static int ignored_by_default(int s) { return s == SIGCHLD || s == SIGCONT || s == SIGURG || s == SIGWINCH; }

// held_from_start reports whether s, not forwarded, is held like those
// (hold_signal) when the process starts with it blocked: Go's runtime
// unblocks SIGCHLD on each of its threads as it starts them, before they
// are taught, and its handler dropped a SIGCHLD pending at exec or sent
// before the handover. (The others of kept_from_go_threads stay blocked
// on Go's threads, which start with the process's mask; SIGURG is Go's
// own until the handover.)
static int held_from_start(int s) { return s == SIGCHLD; }

// Sends s to the process again, with the sender's siginfo where the
// kernel allows it (the main thread only may forge it), else plainly.
static void requeue(int s, siginfo_t *info) {
	pid_t pid = getpid();
	if (syscall(SYS_rt_sigqueueinfo, pid, s, info) != 0) {
		kill(pid, s);
	}
}

// Sends s to the main thread (the process's first, where the pyhost
// command runs Python), with the sender's siginfo where the kernel allows
// it (only the main thread itself may forge it), else plainly (SI_TKILL).
// Thread-directed, so it is pending on the main thread at once, for its
// sigpending() and until it unblocks s: sent to the process instead, it
// went round the threads of Go's that had not learnt to block it yet, and
// while one of them was taking it nobody had it pending. The price: with
// the main thread blocking s, a Python thread that does not block it is
// not given it (python3 would); the main thread takes it when it unblocks.
static void requeue_to_main(int s, siginfo_t *info) {
	pid_t pid = getpid();
	if (syscall(SYS_rt_tgsigqueueinfo, pid, pid, s, info) != 0) {
		syscall(SYS_tgkill, pid, pid, s);
	}
}

static void hold_signal(int s, siginfo_t *info, void *ctx) {
	(void)ctx;
	held_info[s] = *info;
	held[s] = 1;
}

static const char teach_marker;

// A teaching (see teach_threads) is a signal the process queued to one
// of its own threads with the address of teach_marker as its value:
// SI_QUEUE from the main thread, SI_USER from a thread to itself (only a
// thread itself may send its signals as SI_USER, which the kernel then
// queues whatever the pending-signal quota; another process's kill() has
// no value).
static int is_teaching(const siginfo_t *info, pid_t pid) {
	return (info->si_code == SI_QUEUE || info->si_code == SI_USER) && info->si_pid == pid &&
	       info->si_value.sival_ptr == (void *)&teach_marker;
}

static void forward_signal(int s, siginfo_t *info, void *ctx) {
	int saved_errno = errno;
	pid_t pid = getpid();
	if (is_teaching(info, pid)) {
		// Not a signal anybody sent: this thread learns to block s,
		// every other signal forward_signal stands in for (see
		// teach_threads) and those it must not take (see
		// kept_from_go_threads).
		sigset_t *mask = &((ucontext_t *)ctx)->uc_sigmask;
		sigaddset(mask, s);
		for (int t = 1; t < NSIG; t++) {
			if (forwardable(t) && virtual_[t] == 1 || kept_from_go_threads(t)) {
				sigaddset(mask, t);
			}
		}
		errno = saved_errno;
		return;
	}
	if (info->si_code != SI_TKILL && syscall(SYS_gettid) != pid &&
	    PyGILState_GetThisThreadState() == NULL) {
		// A thread of Go's (or of a C library) running no Python: from
		// now on it blocks s, which goes on to the main thread, to be
		// taken there or to stay pending (in the order python3 would see
		// them; see requeue_to_main).
		sigaddset(&((ucontext_t *)ctx)->uc_sigmask, s);
		requeue_to_main(s, info);
	} else {
		struct sigaction a = chained[s];
		if (a.sa_flags & SA_RESETHAND) {
			chained[s].sa_handler = SIG_DFL;
			chained[s].sa_flags &= ~SA_SIGINFO;
		}
		if (a.sa_handler == SIG_DFL) {
			// The default action, which the kernel takes when this
			// returns and unblocks s.
			struct sigaction dfl = {0};
			dfl.sa_handler = SIG_DFL;
			__sigaction(s, &dfl, NULL);
			syscall(SYS_tgkill, pid, syscall(SYS_gettid), s);
		} else if (a.sa_handler == SIG_IGN) {
			// Changed while this was on its way.
		} else if (a.sa_flags & SA_SIGINFO) {
			a.sa_sigaction(s, info, ctx);
		} else {
			a.sa_handler(s);
		}
	}
	errno = saved_errno;
}

// Puts the kernel's disposition of a virtual signal in line with chained.
static int install_virtual(int s) {
	struct sigaction k = {0};
	if (virtual_[s] == 2) {
		k.sa_sigaction = hold_signal;
		k.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
		sigfillset(&k.sa_mask);
	} else if (chained[s].sa_handler == SIG_IGN && !(chained[s].sa_flags & SA_SIGINFO)) {
		k = chained[s];
	} else {
		k.sa_sigaction = forward_signal;
		k.sa_mask = chained[s].sa_mask;
		k.sa_flags = SA_SIGINFO | SA_ONSTACK | (chained[s].sa_flags & (SA_RESTART | SA_NODEFER));
		if (chained[s].sa_handler == SIG_DFL) {
			// A default action does not let other signals in first.
			sigfillset(&k.sa_mask);
			k.sa_flags |= SA_RESTART;
		}
	}
	return __sigaction(s, &k, NULL);
}

static void lock_table(sigset_t *old) {
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
	while (__atomic_exchange_n(&table_lock, 1, __ATOMIC_ACQUIRE)) {
	}
}

static void unlock_table(const sigset_t *old) {
	__atomic_store_n(&table_lock, 0, __ATOMIC_RELEASE);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

// Until the handover, in the pyhost command, the signals whose default
// action dumps core keep the dispositions the process started with (the
// default, mostly): Go's runtime would print its goroutines and exit with
// status 2 where python3, still starting, dies by the signal (a SIGQUIT
// or a SIGSEGV sent in the first milliseconds). Its handlers for them are
// only recorded; after the handover they keep the dispositions the
// process started with anyway (see pyhost_restore_signals). A fault in
// Go's code before the handover then ends the process by the signal, as
// one after it does.
static int kept_until_handover(int s) {
	switch (s) {
	case SIGQUIT:
	case SIGABRT:
	case SIGSYS:
	case SIGTRAP:
	case SIGILL:
	case SIGBUS:
	case SIGSEGV:
	case SIGFPE:
#ifdef SIGSTKFLT
	case SIGSTKFLT:
#endif
		return 1;
	}
	return 0;
}

int sigaction(int s, const struct sigaction *act, struct sigaction *old) {
	if (s > 0 && s < NSIG && virtual_[s] == 3 && getpid() == table_pid) {
		sigset_t mask;
		lock_table(&mask);
		int kept = virtual_[s] == 3;
		if (kept) {
			if (old != NULL) {
				*old = chained[s];
			}
			if (act != NULL) {
				chained[s] = *act;
			}
		}
		unlock_table(&mask);
		if (kept) {
			return 0;
		}
	}
	if (!(forwardable(s) || held_from_start(s) && virtual_[s] == 2) || !virtual_[s] || getpid() != table_pid) {
		return __sigaction(s, act, old);
	}
	sigset_t mask;
	lock_table(&mask);
	struct sigaction k;
	int rc = 0;
	if (__sigaction(s, NULL, &k) != 0 ||
	    ((k.sa_flags & SA_SIGINFO) ? k.sa_sigaction != forward_signal && k.sa_sigaction != hold_signal
	                               : k.sa_handler != chained[s].sa_handler)) {
		virtual_[s] = 0; // taken back through the kernel directly
		rc = __sigaction(s, act, old);
	} else {
		if (old != NULL) {
			*old = chained[s];
		}
		if (act != NULL) {
			chained[s] = *act;
			rc = install_virtual(s);
		}
	}
	unlock_table(&mask);
	return rc;
}

__attribute__((constructor)) static void save_signals(void) {
	for (int s = 1; s < NSIG; s++) {
		saved_ok[s] = __sigaction(s, NULL, &saved_actions[s]) == 0;
	}
	saved_nofile_ok = getrlimit(RLIMIT_NOFILE, &saved_nofile) == 0;
	for (int fd = 0; fd < 3; fd++) {
		saved_closed[fd] = fcntl(fd, F_GETFD) == -1 && errno == EBADF;
	}
	saved_mask_ok = pthread_sigmask(SIG_BLOCK, NULL, &saved_mask) == 0;
	sigset_t pending;
	saved_urg_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGURG) == 1;
	table_pid = getpid();
	pthread_atfork(NULL, NULL, table_after_fork);
	if (!saved_mask_ok) {
		return;
	}
	sigset_t block;
	sigemptyset(&block);
	for (int s = 1; s < NSIG; s++) {
		if (saved_ok[s] && (forwardable(s) || held_from_start(s)) && sigismember(&saved_mask, s) == 1 &&
		    saved_actions[s].sa_handler != SIG_IGN) {
			chained[s] = saved_actions[s];
			virtual_[s] = 2;
			install_virtual(s);
		} else if (saved_ok[s] && &pyhost_hands_over != NULL && pyhost_hands_over &&
			   (kept_until_handover(s) || forwardable(s) && saved_actions[s].sa_handler == SIG_IGN)) {
			// Also a signal the process started with ignored (trap ''
			// TERM, nohup's HUP): Go's runtime keeps only SIGHUP and SIGINT
			// ignored, and its handler for SIGTERM would end the process.
			chained[s] = saved_actions[s];
			virtual_[s] = 3;
		}
		if (forwardable(s)) {
			sigaddset(&block, s);
		}
	}
	if (&pyhost_hands_over != NULL && pyhost_hands_over) {
		pthread_sigmask(SIG_BLOCK, &block, NULL);
	}
}

// Go's system monitor thread polls every 20 µs while the main thread is
// in a call to C (all of Python's run is one) for the first ~50 polls,
// then backs off, and starts again at each call back into Go: about 60
// wake-ups in `pyhost -c pass`, thousands in a heavy import, each a
// context switch that python3 does not make (the monitor has nothing to
// do: pyhost runs almost no goroutines). A thread inherits its creator's
// timer slack, and Go's runtime creates its first threads from the main
// thread before main: widened for them, the kernel merges those sleeps
// (6 to 8 wake-ups for -c pass; about 1.2 ms less CPU time). 20 ms, not
// 2: with more ranks than cores on a node (mpirun -np 8 on 2 cores, the
// heavy import), each rank's monitor, woken at every return from a call
// back into Go, still cost the job 11 to 23% more CPU than python3 +
// mpi4py at 2 ms; at 20 ms, none measurable. The main thread gets its own
// back at the handover, before Python starts, so Python's threads and
// children get python3's. Go's threads made later come from its template
// thread and keep the wide slack: their timers (goroutines' sleeps, the
// bytecode bundle's 10 s idle release, the 10 ms polls for a launcher's
// children not yet started) may fire up to 20 ms late, which nothing in
// the pyhost command needs to the millisecond. The price: a Go thread
// about to steal a goroutine sleeps 3 µs first, up to 20 ms with this
// slack, so rank 0's concurrent start-up steps stall now and then (in 4
// cold jobs at np = 2: share_bundle 22 and 9 ms where 2 to 4 otherwise,
// share_index 29 against 18). Giving the wide slack to the monitor
// alone (the first thread started) kept those steps steady but brought
// the CPU cost at -np 8 back (806/902/894 ticks against python3 +
// mpi4py's 679/799/753): the spinning threads' short sleeps are that cost
// too. Only in the pyhost command: other programs keep theirs.
#define PYHOST_GO_TIMER_SLACK_NS 20000000L

#ifndef MADV_POPULATE_WRITE
#define PYHOST_MADV_POPULATE_WRITE 23
#else
#define PYHOST_MADV_POPULATE_WRITE MADV_POPULATE_WRITE
#endif

__attribute__((constructor)) static void widen_timer_slack(void) {
	if (&pyhost_hands_over == NULL || !pyhost_hands_over) {
		return;
	}
	long cur = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	// 0 (a real-time thread's) could not be set back: PR_SET_TIMERSLACK 0
	// means the default.
	if (cur > 0 && cur < PYHOST_GO_TIMER_SLACK_NS &&
	    prctl(PR_SET_TIMERSLACK, PYHOST_GO_TIMER_SLACK_NS, 0, 0, 0) == 0) {
		saved_slack = cur;
	}
}

// The executable's writable pages (CPython's static types, its frozen
// modules' code objects, Go's data) are copied on first write. Written
// once Go's runtime has started threads on other CPUs, each copy must
// flush the other CPUs' TLBs (an interprocessor interrupt the writer
// waits for: 1 to 2% of the samples of `pyhost -c pass` under perf).
// Copied here, before any thread exists, they cost what python3 pays for
// its own; nearly all of them are written anyway (the segment's resident
// size is the same either way).
static int prefault_segment(struct dl_phdr_info *info, size_t size, void *data) {
	(void)size;
	(void)data;
	if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0') {
		return 1; // the executable comes first; stop there
	}
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t relro_end = 0; // read-only once relocated: never written
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_GNU_RELRO) {
			relro_end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz) & ~(uintptr_t)(page - 1);
		}
	}
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) {
			continue;
		}
		uintptr_t start = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)(page - 1);
		uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + page - 1) & ~(uintptr_t)(page - 1);
		if (start < relro_end) {
			start = relro_end;
		}
		if (start >= end) {
			continue;
		}
		madvise((void *)start, end - start, PYHOST_MADV_POPULATE_WRITE);
	}
	return 1;
}

__attribute__((constructor)) static void prefault_writable(void) {
	if (&pyhost_hands_over == NULL || !pyhost_hands_over) {
		return;
	}
	dl_iterate_phdr(prefault_segment, NULL);
}

// teaching_signal is the signal a teaching is sent as: the first of those
// Go's runtime unblocks on every thread that forward_signal stands in for
// (0: none is, and nothing needs teaching).
static int teaching_signal(void) {
	static const int go_unblocks[] = {SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGTERM};
	for (size_t i = 0; i < sizeof go_unblocks / sizeof go_unblocks[0]; i++) {
		int s = go_unblocks[i];
		struct sigaction k;
		if (virtual_[s] == 1 && __sigaction(s, NULL, &k) == 0 && (k.sa_flags & SA_SIGINFO) &&
		    k.sa_sigaction == forward_signal) {
			return s;
		}
	}
	return 0;
}

// teach queues a teaching (signal s) to thread tid of process pid.
static void teach(pid_t pid, pid_t tid, int s) {
	siginfo_t info;
	memset(&info, 0, sizeof info);
	info.si_signo = s;
	// SI_USER only to itself (see is_teaching): queued beyond the quota.
	info.si_code = tid == (pid_t)syscall(SYS_gettid) ? SI_USER : SI_QUEUE;
	info.si_pid = pid;
	info.si_uid = getuid();
	info.si_value.sival_ptr = (void *)&teach_marker;
	syscall(SYS_rt_tgsigqueueinfo, pid, tid, s, &info);
}

// teach_threads makes every thread but the main one (Go's, and any a C
// library started before the handover) block the forwardable signals, as
// forward_signal teaches a thread the first time it takes one: Go unblocks
// SIGHUP, SIGINT, SIGQUIT, SIGABRT and SIGTERM on each of its threads, and
// a signal the main thread blocks went first to one of them, which took it
// (for that moment nobody had it pending) and passed it on. Each is sent
// one teaching (a signal queued to it with a value no sender can know, on
// which it blocks all of them: one wake-up per thread), whatever its mask:
// a thread Go is starting at that moment still blocks everything, and the
// teaching waits for it until Go's runtime unblocks them, then comes before
// any signal of the process's (a thread's own signals come first). The
// main thread does not wait (a teaching is harmless whenever it arrives,
// and a thread takes it within microseconds, long before Python can block
// anything). Threads started later are taught as they start (see
// pthread_create below). Without /proc, nothing is taught.
//
// Nothing is taught (a signal the main thread blocks may then reach one of
// Go's threads first, which passes it on, as forward_signal does) when a
// debugger traces the process (gdb stops at each teaching, and a `gdb
// -batch -ex run` ends there) or when the user's pending-signal quota
// (`ulimit -i`, shared by all the user's processes) might not hold one
// for each thread: the kernel then delivers a signal queued beyond it
// without its value, and the teaching, not known for one, was passed on
// to the main thread as a real SIGHUP, which ended the process.
static int teach_off; // atomic: set when nothing is taught (taught_thread)

// teaching_refused reads /proc/self/status: whether the process is traced,
// or fewer than n + 16 signals could be queued for its user (SigQ).
static int teaching_refused(int n) {
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return 1;
	}
	ssize_t len = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (len <= 0) {
		return 1;
	}
	buf[len] = '\0';
	const char *t = strstr(buf, "\nTracerPid:");
	const char *q = strstr(buf, "\nSigQ:");
	unsigned long queued, limit;
	if (t == NULL || atoi(t + 11) != 0 || q == NULL || sscanf(q + 6, "%lu/%lu", &queued, &limit) != 2) {
		return 1;
	}
	return queued >= limit || limit - queued < (unsigned long)n + 16;
}

static void teach_threads(void) {
	pid_t pid = getpid();
	int s = teaching_signal();
	if (s == 0) {
		return;
	}
	DIR *d = opendir("/proc/self/task");
	if (d == NULL) {
		__atomic_store_n(&teach_off, 1, __ATOMIC_SEQ_CST);
		return;
	}
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		n += atoi(e->d_name) > 0;
	}
	if (teaching_refused(n)) {
		__atomic_store_n(&teach_off, 1, __ATOMIC_SEQ_CST);
		closedir(d);
		return;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid > 0 && tid != pid) {
			teach(pid, tid, s);
		}
	}
	closedir(d);
}

// Threads made after the handover. Go's runtime unblocks SIGHUP, SIGINT,
// SIGQUIT, SIGABRT and SIGTERM on each thread it starts: a signal pending
// for the process (the main thread blocks it) went to such a thread the
// moment it unblocked them, and was not pending anywhere until
// forward_signal had sent it on. So a thread started by a thread that
// runs no Python (Go's, or a C library's) is taught before it can take
// anything: it starts with every signal blocked (Go's runtime blocks them
// around pthread_create) and queues itself a teaching, which the kernel
// gives it before any signal of the process's once Go's runtime unblocks
// them (a thread's own signals come first). Threads that Python starts, or
// that start from a Python thread, are left as python3 leaves them.
static int teach_new_threads; // atomic
static int (*real_pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

struct taught_start {
	void *(*fn)(void *);
	void *arg;
};

static void *taught_thread(void *p) {
	struct taught_start st = *(struct taught_start *)p;
	free(p);
	// Before the handover teach_threads finds this thread (it exists now,
	// and the flag is set before the threads are listed).
	if (__atomic_load_n(&teach_new_threads, __ATOMIC_SEQ_CST) && !__atomic_load_n(&teach_off, __ATOMIC_SEQ_CST)) {
		int s = teaching_signal();
		if (s != 0) {
			teach(getpid(), (pid_t)syscall(SYS_gettid), s);
		}
	}
	return st.fn(st.arg);
}

// limits.c
int pyhost_plain_possible(void);
void pyhost_exec_plain(void);

// exec_plain runs the program again as python3 would (pyhost_exec_plain),
// from any thread, before the handover, with what the process started
// with given back first, as exec passes it on: the dispositions (exec
// resets handlers, not ignored signals), this thread's signal mask (the
// new program's), the signals held (sent again to this thread, which
// blocks them: exec keeps them pending), the descriptors 0-2 Go opened,
// the open-files limit and the timer slack. Returns 0, having changed
// nothing, where the process may not run plain; -1 if the exec failed,
// with Go's signal handling undone: the process must end.
static int exec_plain(void) {
	static int started; // one thread execs; another refused meanwhile goes on waiting
	int no = 0;
	if (!saved_mask_ok || !pyhost_plain_possible() ||
	    !__atomic_compare_exchange_n(&started, &no, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		return 0;
	}
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	// As at the handover: a signal whose default is to do nothing, pending
	// when its disposition goes back to the default, is discarded by the
	// kernel; one pending is sent again (SIGURG only if it was pending at
	// start: Go's preemption sends it too).
	sigset_t pending_before;
	int pending_ok = sigpending(&pending_before) == 0;
	int again[NSIG] = {0};
	sigset_t mask;
	lock_table(&mask);
	for (int s = 1; s < NSIG; s++) {
		if (s != SIGKILL && s != SIGSTOP && saved_ok[s]) {
			__sigaction(s, &saved_actions[s], NULL);
			virtual_[s] = 0;
			again[s] = ignored_by_default(s) && saved_actions[s].sa_handler == SIG_DFL && !held[s] &&
			           (s == SIGURG ? saved_urg_pending : pending_ok && sigismember(&pending_before, s) == 1);
		}
	}
	pid_t self = (pid_t)syscall(SYS_gettid);
	for (int s = 1; s < NSIG; s++) {
		if (held[s]) {
			held[s] = 0;
			syscall(SYS_rt_tgsigqueueinfo, getpid(), self, s, &held_info[s]);
		} else if (again[s]) {
			syscall(SYS_tgkill, getpid(), self, s);
		}
	}
	unlock_table(&mask);
	for (int fd = 0; fd < 3; fd++) {
		if (saved_closed[fd]) {
			close(fd);
		}
	}
	if (saved_nofile_ok) {
		setrlimit(RLIMIT_NOFILE, &saved_nofile);
	}
	if (saved_slack >= 0) {
		prctl(PR_SET_TIMERSLACK, saved_slack, 0, 0, 0);
	}
	pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
	pyhost_exec_plain();
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	return -1;
}

// Threads that could not be started before the handover. Go's runtime
// (runtime/cgo) tries a thread 20 times while pthread_create says EAGAIN,
// then aborts with its goroutine dump; python3, with no threads to start,
// runs. So the 20th refusal in a row, or any other error, ends pyhost
// with one line naming the limits that cause it (ulimit -u is checked
// before start-up, limits.c; a cgroup's pids.max is not: reading it
// would cost every start).
static int start_refusals;

static void refused_thread(int rc) {
	if (!(&pyhost_hands_over != NULL && pyhost_hands_over) ||
	    __atomic_load_n(&teach_new_threads, __ATOMIC_SEQ_CST) || getpid() != table_pid) {
		return;
	}
	if (rc == 0) {
		__atomic_store_n(&start_refusals, 0, __ATOMIC_SEQ_CST);
		return;
	}
	// A process alone runs as python3 would, with CPython alone: the
	// program again, without Go's runtime (limits.c), at the first
	// refusal (Go's retries take half a second, in which the signals the
	// process gets are Go's).
	int plain = exec_plain();
	if (plain == 0 && rc == EAGAIN && __atomic_add_fetch(&start_refusals, 1, __ATOMIC_SEQ_CST) < 20) {
		return;
	}
	// A thread's stack is mapped: under a limit on memory (checked before
	// start-up against what start-up alone needs, limits.c) the program's
	// own use can leave no room for one, and pthread_create says EAGAIN
	// then too.
	char memory[160] = "";
	struct rlimit r;
	if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY) {
		snprintf(memory, sizeof memory, ", or the address-space limit (ulimit -v %llu)",
			(unsigned long long)r.rlim_cur >> 10);
	}
	if (getrlimit(RLIMIT_DATA, &r) == 0 && r.rlim_cur != RLIM_INFINITY) {
		size_t n = strlen(memory);
		snprintf(memory + n, sizeof memory - n, ", or the data limit (ulimit -d %llu)",
			(unsigned long long)r.rlim_cur >> 10);
	}
	fprintf(stderr,
		"pyhost: cannot start the threads its runtime needs (pthread_create: %s): a limit on processes "
		"or threads (ulimit -u, a cgroup's pids.max, kernel.threads-max) leaves fewer than %d more%s; raise it\n",
		strerror(rc), 5, memory);
	fflush(stderr);
	_exit(1);
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
	int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *) =
	    __atomic_load_n(&real_pthread_create, __ATOMIC_ACQUIRE);
	if (real == NULL) {
		real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(RTLD_NEXT, "pthread_create");
		if (real == NULL) {
			return EAGAIN;
		}
		__atomic_store_n(&real_pthread_create, real, __ATOMIC_RELEASE);
	}
	if (((&pyhost_hands_over != NULL && pyhost_hands_over) || teach_new_threads) && getpid() == table_pid &&
	    PyGILState_GetThisThreadState() == NULL) {
		struct taught_start *st = malloc(sizeof *st);
		if (st != NULL) {
			st->fn = fn;
			st->arg = arg;
			int rc = real(t, attr, taught_thread, st);
			if (rc != 0) {
				free(st);
			}
			refused_thread(rc);
			return rc;
		}
	}
	int rc = real(t, attr, fn, arg);
	refused_thread(rc);
	return rc;
}

void pyhost_restore_signals(void) {
	if (saved_slack >= 0) {
		prctl(PR_SET_TIMERSLACK, saved_slack, 0, 0, 0);
	}
	if (saved_nofile_ok) {
		setrlimit(RLIMIT_NOFILE, &saved_nofile);
	}
	for (int fd = 0; fd < 3; fd++) {
		if (saved_closed[fd]) {
			close(fd);
		}
	}
	// Every signal forward_signal stands in for is blocked on the main
	// thread while the dispositions change (Go's mask leaves some open,
	// and forward_signal would act on them there), then the mask the
	// process started with is back: a signal that came before the
	// handover and waited, blocked, is taken with the disposition the
	// process started with, as python3, still starting, would take it
	// (Go's handler would have dropped a SIGUSR1).
	sigset_t forwarded;
	sigemptyset(&forwarded);
	for (int s = 1; s < NSIG; s++) {
		if (forwardable(s)) {
			sigaddset(&forwarded, s);
		}
	}
	pthread_sigmask(SIG_BLOCK, &forwarded, NULL);
	// A signal whose default is to do nothing, pending (blocked) when its
	// disposition goes back to the default, is discarded by the kernel:
	// one the process got pending at exec (SIGWINCH, SIGCONT), which
	// python3 keeps pending, is sent again below, to the main thread.
	// SIGURG pending at exec went to one of Go's threads, which take it
	// for preemption: it too, and any of these held (hold_signal).
	sigset_t pending_before;
	int again[NSIG] = {0};
	int pending_ok = sigpending(&pending_before) == 0;
	sigset_t mask;
	lock_table(&mask);
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
		if (!saved_ok[s]) {
			continue;
		}
		if (forwardable(s)) {
			chained[s] = saved_actions[s];
			virtual_[s] = 1;
			install_virtual(s);
		} else {
			virtual_[s] = 0;
			__sigaction(s, &saved_actions[s], NULL);
			if (ignored_by_default(s) && saved_actions[s].sa_handler == SIG_DFL &&
			    (pending_ok && sigismember(&pending_before, s) == 1 || held[s] || s == SIGURG && saved_urg_pending)) {
				held[s] = 0;
				again[s] = 1;
			}
		}
	}
	unlock_table(&mask);
	if (saved_mask_ok) {
		pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
	} else {
		pthread_sigmask(SIG_UNBLOCK, &forwarded, NULL);
	}
	__atomic_store_n(&teach_new_threads, 1, __ATOMIC_SEQ_CST);
	teach_threads();
	for (int s = 1; s < NSIG; s++) {
		if (held[s]) {
			held[s] = 0;
			requeue(s, &held_info[s]);
		}
		if (again[s]) {
			syscall(SYS_tgkill, getpid(), getpid(), s);
		}
	}
	pyhost_drop_go_preemption();
}

// Go's runtime preempts a goroutine by sending its thread SIGURG. The main
// thread may block it (a process started with every signal blocked): then
// it stays pending there, where Python would see it, and Go sends no
// other while one is pending. Called at the handover and once CPython
// has started; one sent later stays (Go code seldom runs long enough on
// the main thread to be preempted).
void pyhost_drop_go_preemption(void) {
	sigset_t urg, pending;
	sigemptyset(&urg);
	sigaddset(&urg, SIGURG);
	struct timespec now = {0, 0};
	if (saved_mask_ok && !saved_urg_pending && sigismember(&saved_mask, SIGURG) == 1) {
		while (sigpending(&pending) == 0 && sigismember(&pending, SIGURG) == 1 &&
		       sigtimedwait(&urg, NULL, &now) == SIGURG) {
		}
	}
}

// Py_RunMain with Go's pending preemption signal dropped first, in the
// same call: no Go code runs in between to be preempted again.
int pyhost_run_main(void) {
	pyhost_drop_go_preemption();
	return Py_RunMain();
}

void pyhost_release_signals(void) {
	sigset_t mask;
	lock_table(&mask);
	for (int s = 1; s < NSIG; s++) {
		if (virtual_[s] == 2) {
			virtual_[s] = 0;
			__sigaction(s, &chained[s], NULL);
		}
	}
	unlock_table(&mask);
	for (int s = 1; s < NSIG; s++) {
		if (held[s]) {
			held[s] = 0;
			kill(getpid(), s);
		}
	}
}

// Ignores SIGXFSZ, as CPython's main phase does (signal_install_handlers),
// through the table above like any other disposition: a write past
// RLIMIT_FSIZE then fails with EFBIG instead of killing the process.
void pyhost_ignore_xfsz(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGXFSZ, &sa, NULL);
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

// The stock machinery as the importer was installed over it: the methods
// of PathFinder and FileFinder whose work the importer does in their
// stead (their classes' own attributes), and the loader suffixes of
// FileFinder's path hook that a program can change in place
// (SOURCE_SUFFIXES, BYTECODE_SUFFIXES: the hook holds those lists; its
// extension suffixes are a list of its own).
static const struct {
	int cls; // 0: PathFinder, 1: FileFinder
	const char *name;
} mach_methods[] = {
	{0, "find_spec"}, {0, "_get_spec"}, {0, "_path_importer_cache"}, {0, "_path_hooks"},
	{1, "find_spec"}, {1, "_fill_cache"},
};
#define MACH_METHODS (sizeof mach_methods / sizeof mach_methods[0])
static PyObject *mach_classes[2], *mach_names[MACH_METHODS], *mach_values[MACH_METHODS];
static PyObject *mach_lists[2], *mach_snaps[2];
static int mach_ready;

int pyhost_machinery_snapshot(PyObject *bse) {
	static const char *classes[2] = {"PathFinder", "FileFinder"};
	static const char *lists[2] = {"SOURCE_SUFFIXES", "BYTECODE_SUFFIXES"};
	for (int i = 0; i < 2; i++) {
		PyObject *c = PyObject_GetAttrString(bse, classes[i]);
		if (c == NULL) {
			return -1;
		}
		if (!PyType_Check(c)) {
			Py_DECREF(c);
			PyErr_Format(PyExc_ImportError, "pyhost: %s is not a class", classes[i]);
			return -1;
		}
		mach_classes[i] = c;
		PyObject *l = PyObject_GetAttrString(bse, lists[i]);
		if (l == NULL || !PyList_Check(l)) {
			Py_XDECREF(l);
			if (!PyErr_Occurred()) {
				PyErr_Format(PyExc_ImportError, "pyhost: %s is not a list", lists[i]);
			}
			return -1;
		}
		mach_lists[i] = l;
		mach_snaps[i] = PyList_AsTuple(l);
		if (mach_snaps[i] == NULL) {
			return -1;
		}
	}
	for (size_t k = 0; k < MACH_METHODS; k++) {
		mach_names[k] = PyUnicode_InternFromString(mach_methods[k].name);
		if (mach_names[k] == NULL) {
			return -1;
		}
		PyObject *v = PyDict_GetItemWithError(((PyTypeObject *)mach_classes[mach_methods[k].cls])->tp_dict,
						      mach_names[k]); // borrowed
		if (v == NULL) {
			if (!PyErr_Occurred()) {
				PyErr_Format(PyExc_ImportError, "pyhost: %s has no %s", classes[mach_methods[k].cls],
					     mach_methods[k].name);
			}
			return -1;
		}
		Py_INCREF(v);
		mach_values[k] = v;
	}
	mach_ready = 1;
	return 0;
}

// 1 when the program has changed the stock machinery since the snapshot
// (one of those methods replaced or wrapped, a loader suffix added or
// removed), which the importer then leaves to act as it would under
// python3; 0 otherwise. Never sets an exception.
int pyhost_machinery_altered(void) {
	if (!mach_ready) {
		return 0;
	}
	for (size_t k = 0; k < MACH_METHODS; k++) {
		PyObject *v = PyDict_GetItemWithError(((PyTypeObject *)mach_classes[mach_methods[k].cls])->tp_dict,
						      mach_names[k]);
		if (v != mach_values[k]) {
			PyErr_Clear();
			return 1;
		}
	}
	for (int i = 0; i < 2; i++) {
		PyObject *l = mach_lists[i], *snap = mach_snaps[i];
		Py_ssize_t n = PyList_GET_SIZE(l);
		if (n != PyTuple_GET_SIZE(snap)) {
			return 1;
		}
		for (Py_ssize_t k = 0; k < n; k++) {
			PyObject *a = PyList_GET_ITEM(l, k), *b = PyTuple_GET_ITEM(snap, k);
			if (a != b && !(PyUnicode_CheckExact(a) && PyUnicode_Compare(a, b) == 0)) {
				PyErr_Clear();
				return 1;
			}
		}
	}
	return 0;
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

// Walks a search path from entry start as PathFinder._get_spec does,
// collecting the consecutive path entry finders of type indexed (their
// path attribute as UTF-8, valid while the finder lives) until an entry
// that is not a str or whose finder is of another type, or an entry with
// no finder in the cache yet: PathFinder makes an entry's finder only when
// its search reaches it (a directory made later, a relative entry after a
// chdir, a path hook added later all count then), so the caller searches
// what was collected first and, on a miss, scans again from that entry
// (*next), whose finder slow(entry) then makes and caches as PathFinder
// would. Returns the number of finders collected, or -1 with an exception
// set; *status says whether every entry was consumed.
Py_ssize_t pyhost_scan_path(PyObject *path, Py_ssize_t start, PyObject *indexed, PyObject *slow,
		pyhost_strref *dirs, PyObject **finders, Py_ssize_t cap, int *status, Py_ssize_t *next) {
	PyObject *cache = PySys_GetObject("path_importer_cache"); // borrowed
	PyObject *seq = PySequence_Fast(path, "search path must be iterable");
	if (seq == NULL) {
		return -1;
	}
	Py_ssize_t count = 0;
	*status = PYHOST_SCAN_COMPLETE;
	// The size at each step, as a list's iterator reads it (PathFinder's
	// for loop): a path hook may change sys.path.
	for (Py_ssize_t i = start; i < PySequence_Fast_GET_SIZE(seq); i++) {
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
		if (finder == NULL && !PyErr_Occurred() && i != start) {
			Py_DECREF(key);
			*status = PYHOST_SCAN_UNREACHED;
			*next = i;
			break;
		}
		if (finder == NULL && !PyErr_Occurred()) {
			// Only ever the first entry of the scan (no finder collected
			// yet): a path hook it runs may change sys.path or replace
			// sys.path_importer_cache, and then PathFinder goes on.
			Py_INCREF(entry);
			PyObject *made = PyObject_CallOneArg(slow, entry);
			Py_DECREF(entry);
			if (made != NULL) {
				// Use it as the cache holds it (it lives as long as this
				// call), from the cache as it now is.
				cache = PySys_GetObject("path_importer_cache"); // borrowed
				finder = cache != NULL && PyDict_Check(cache) ? PyDict_GetItemWithError(cache, key) : NULL;
				Py_DECREF(made);
				if (finder != made) {
					Py_DECREF(key);
					if (PyErr_Occurred()) {
						Py_DECREF(seq);
						return -1;
					}
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
		if (!PyUnicode_Check(p) || PyUnicode_READY(p) < 0 || !PyUnicode_IS_ASCII(p) && !fs_is_utf8()) {
			// (Under a file system encoding other than UTF-8 a path that
			// is not ASCII has bytes other than its UTF-8: PathFinder asks
			// the finder, whose lookup converts them as os.fsencode does.)
			PyErr_Clear();
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

// A str attribute of o (a path) as bytes (os.fsencode's: pyhost_path_bytes)
// appended to buf with a NUL; 0 when absent, not a str or not encodable.
static int append_str_attr(PyObject *o, const char *name, char **buf, size_t *len, size_t *cap) {
	PyObject *v = PyObject_GetAttrString(o, name);
	if (v == NULL) {
		PyErr_Clear();
		return 0;
	}
	int ok = 0;
	if (PyUnicode_Check(v)) {
		pyhost_utf8 u = pyhost_path_bytes(v);
		const char *s = u.s;
		Py_ssize_t n = u.n;
		PyObject *owner = u.owner;
		if (s == NULL) {
			PyErr_Clear();
		} else if (memchr(s, 0, (size_t)n) == NULL) {
			if (*len + (size_t)n + 1 > *cap) {
				size_t c = (*cap + (size_t)n + 1) * 2;
				char *nb = realloc(*buf, c);
				if (nb != NULL) {
					*buf = nb;
					*cap = c;
				}
			}
			if (*len + (size_t)n + 1 <= *cap) {
				memcpy(*buf + *len, s, (size_t)n);
				*len += (size_t)n;
				(*buf)[(*len)++] = 0;
				ok = 1;
			}
		}
		Py_XDECREF(owner);
	}
	Py_DECREF(v);
	return ok;
}

// An empty string (its NUL) appended to buf; 0 when out of memory.
static int append_nul(char **buf, size_t *len, size_t *cap) {
	if (*len + 1 > *cap) {
		size_t c = (*cap + 1) * 2;
		char *nb = realloc(*buf, c);
		if (nb == NULL) {
			return 0;
		}
		*buf = nb;
		*cap = c;
	}
	(*buf)[(*len)++] = 0;
	return 1;
}

PyObject *pyhost_source_modules(void) {
	PyObject *modules = PySys_GetObject("modules"); // borrowed
	if (modules == NULL || !PyDict_Check(modules)) {
		return NULL;
	}
	PyObject *ext = PyDict_GetItemString(modules, "_frozen_importlib_external"); // borrowed
	if (ext == NULL) {
		return NULL;
	}
	PyObject *sfl = PyObject_GetAttrString(ext, "SourceFileLoader");
	if (sfl == NULL) {
		PyErr_Clear();
		return NULL;
	}
	PyObject *efl = PyObject_GetAttrString(ext, "ExtensionFileLoader");
	if (efl == NULL) {
		PyErr_Clear();
		Py_DECREF(sfl);
		return NULL;
	}
	// A snapshot: reading an attribute may run code that changes
	// sys.modules.
	PyObject *values = PyDict_Values(modules);
	if (values == NULL) {
		PyErr_Clear();
		Py_DECREF(sfl);
		Py_DECREF(efl);
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values); i++) {
		PyObject *spec = PyObject_GetAttrString(PyList_GET_ITEM(values, i), "__spec__");
		if (spec == NULL) {
			PyErr_Clear();
			continue;
		}
		PyObject *loader = spec == Py_None ? NULL : PyObject_GetAttrString(spec, "loader");
		if (loader == NULL) {
			PyErr_Clear();
		} else if ((PyObject *)Py_TYPE(loader) == sfl) {
			size_t mark = len;
			if (!append_str_attr(spec, "origin", &buf, &len, &cap) || !append_str_attr(spec, "cached", &buf, &len, &cap)) {
				len = mark; // both or neither
			}
		} else if ((PyObject *)Py_TYPE(loader) == efl) {
			// An extension module: its origin and an empty bytecode path.
			size_t mark = len;
			if (!append_str_attr(spec, "origin", &buf, &len, &cap) || !append_nul(&buf, &len, &cap)) {
				len = mark;
			}
		}
		Py_XDECREF(loader);
		Py_DECREF(spec);
	}
	Py_DECREF(values);
	Py_DECREF(sfl);
	Py_DECREF(efl);
	PyObject *out = PyBytes_FromStringAndSize(buf != NULL ? buf : "", (Py_ssize_t)len);
	free(buf);
	if (out == NULL) {
		PyErr_Clear();
	}
	return out;
}
