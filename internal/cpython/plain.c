// The pyhost module of a plain run (limits.c): CPython alone, without Go's
// runtime, MPI or pyhost's importer. It has the functions of the module a
// run with Go's runtime gives (launch/public.go's publicModule), with
// their answers for a process alone, so a program that imports pyhost
// runs the same either way.
#include <Python.h>

// launch.Version; launch's tests hold the two equal.
const char pyhost_plain_version[] = "0.1.0";

// Like the other module's, the functions ignore arguments beyond those
// they take.

// The counters of stats(), as launch/public.go's statsDict names them.
static const char *const counters[] = {
	"lookups", "hits", "final_misses", "hand_offs", "entry_lookups", "dirs_listed", "dirs_merged", "revalidations",
	"relists", "verifications", "bundled", "packed", "ext_nodelocal", "libs_nodelocal", "ext_fs",
};

static PyObject *plain_stats(PyObject *self, PyObject *args, PyObject *kwargs) {
	(void)self, (void)args, (void)kwargs;
	PyObject *d = PyDict_New();
	if (d == NULL) {
		return NULL;
	}
	PyObject *zero = PyLong_FromLong(0), *phases = PyDict_New();
	int bad = zero == NULL || phases == NULL || PyDict_SetItemString(d, "importer", Py_False) < 0 ||
		  PyDict_SetItemString(d, "plain", Py_True) < 0 || PyDict_SetItemString(d, "phases", phases) < 0;
	for (size_t i = 0; !bad && i < sizeof counters / sizeof counters[0]; i++) {
		bad = PyDict_SetItemString(d, counters[i], zero) < 0;
	}
	Py_XDECREF(zero);
	Py_XDECREF(phases);
	if (bad) {
		Py_DECREF(d);
		return NULL;
	}
	return d;
}

static PyObject *plain_version(PyObject *self, PyObject *args, PyObject *kwargs) {
	(void)self, (void)args, (void)kwargs;
	return PyUnicode_FromString(pyhost_plain_version);
}

static PyObject *plain_mpi_active(PyObject *self, PyObject *args, PyObject *kwargs) {
	(void)self, (void)args, (void)kwargs;
	Py_RETURN_FALSE;
}

static PyObject *plain_peers(PyObject *self, PyObject *args, PyObject *kwargs) {
	(void)self, (void)args, (void)kwargs;
	return Py_BuildValue("[iis]", 0, 1, "");
}

static PyObject *plain_rank(PyObject *self, PyObject *args, PyObject *kwargs) {
	(void)self, (void)args, (void)kwargs;
	return PyLong_FromLong(0);
}

static PyObject *plain_size(PyObject *self, PyObject *args, PyObject *kwargs) {
	(void)self, (void)args, (void)kwargs;
	return PyLong_FromLong(1);
}

// share_paths checks its argument as the other module does, and without
// MPI does nothing.
static PyObject *plain_share_paths(PyObject *self, PyObject *args, PyObject *kwargs) {
	(void)self, (void)kwargs;
	if (PyTuple_GET_SIZE(args) < 1) {
		PyErr_Format(PyExc_TypeError, "pyhost.share_paths(): missing positional argument 1 (got %zd)", PyTuple_GET_SIZE(args));
		return NULL;
	}
	PyObject *paths = PyTuple_GET_ITEM(args, 0);
	if (!PyList_Check(paths) && !PyTuple_Check(paths)) {
		PyErr_SetString(PyExc_TypeError, "pyhost.share_paths(): argument 1 must be a list or tuple");
		return NULL;
	}
	Py_ssize_t n = PySequence_Fast_GET_SIZE(paths);
	for (Py_ssize_t i = 0; i < n; i++) {
		if (!PyUnicode_Check(PySequence_Fast_GET_ITEM(paths, i))) {
			PyErr_SetString(PyExc_TypeError, "share_paths: paths must be str");
			return NULL;
		}
	}
	Py_RETURN_NONE;
}

static PyMethodDef plain_methods[] = {
	{"stats", (PyCFunction)(void (*)(void))plain_stats, METH_VARARGS | METH_KEYWORDS, "stats() -> dict: this process's importer counters."},
	{"version", (PyCFunction)(void (*)(void))plain_version, METH_VARARGS | METH_KEYWORDS, "version() -> str: pyhost's version."},
	{"mpi_active", (PyCFunction)(void (*)(void))plain_mpi_active, METH_VARARGS | METH_KEYWORDS,
		"mpi_active() -> bool: whether pyhost initialised MPI (started by an MPI launcher)."},
	{"peers", (PyCFunction)(void (*)(void))plain_peers, METH_VARARGS | METH_KEYWORDS,
		"peers() -> (rank, size, how): this process's place among the ranks pyhost shares its index with, and how "
		"they were found ((0, 1, '') without MPI)."},
	{"rank", (PyCFunction)(void (*)(void))plain_rank, METH_VARARGS | METH_KEYWORDS, "rank() -> int: this process's rank in MPI_COMM_WORLD (0 without MPI)."},
	{"size", (PyCFunction)(void (*)(void))plain_size, METH_VARARGS | METH_KEYWORDS, "size() -> int: the number of ranks (1 without MPI)."},
	{"share_paths", (PyCFunction)(void (*)(void))plain_share_paths, METH_VARARGS | METH_KEYWORDS,
		"share_paths(paths): collective; rank 0 lists the directories and broadcasts them to every rank. Every rank "
		"must call it, with the same paths, before importing from them. Without MPI it does nothing."},
	{NULL, NULL, 0, NULL},
};

// Multi-phase, as the Go modules are (shim.c's module_def): each import
// (anew, or in a subinterpreter) makes a module whose functions are its
// own.
static PyModuleDef_Slot plain_slots[] = {
	{0, NULL},
};

static struct PyModuleDef plain_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "pyhost",
	.m_doc = "pyhost: MPI rank and size, the importer's counters, shared sys.path entries.",
	.m_size = 0,
	.m_methods = plain_methods,
	.m_slots = plain_slots,
};

static PyObject *plain_init(void) {
	return PyModuleDef_Init(&plain_module);
}

// pyhost_plain_module_add makes pyhost a builtin module of the plain run
// about to start (before Py_BytesMain).
void pyhost_plain_module_add(void) {
	PyImport_AppendInittab("pyhost", plain_init);
}
