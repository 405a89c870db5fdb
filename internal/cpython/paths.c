// The path configuration (module_search_paths, prefix, ...), computed once.
//
// CPython computes it with getpath (a frozen script that probes the file
// system for landmarks: pyvenv.cfg, a ._pth file, pybuilddir.txt,
// lib/python3.X/os.py, lib-dynload, ...) whenever the configuration is set,
// and again in the main phase of start-up. pyhost needs it between the two
// phases (to list and share the search path before any import), so
// pyhost_compute_paths computes it then, probing once, and hands the main
// phase a configuration whose computation probes nothing:
//
//   - the fields getpath derives from its probes (executable,
//     base_executable, the four prefixes, platlibdir) are set to what it
//     found;
//   - home is set to "prefix[:exec_prefix]", which makes getpath skip the
//     venv, ._pth and build-directory checks and take the prefixes as
//     given;
//   - module_search_paths is left unset, so that getpath builds it (and
//     stdlib_dir) from those prefixes, as it did when it probed; given a
//     search path, 3.11's getpath would leave stdlib_dir unset and the
//     frozen stdlib modules would have no __file__.
//
// That plan is checked before it is kept: the computation is run once more
// on it (it probes nothing, so this costs CPU time, not file-system calls)
// and every field getpath writes must come out as the probing computation
// wrote it; otherwise the configuration is put back exactly as it was and
// the main phase computes for itself, as python3 does. After the main
// phase, home is put back as a computation without a plan leaves it (None,
// or PYTHONHOME's value): in the running configuration and in CPython's
// global path configuration, which Py_GetPythonHome and subinterpreters
// read.
//
// A process whose inputs to the computation are the same as another's
// (the configuration's path fields, the variables getpath reads, the
// working directory) can adopt that process's plan without computing at
// all (pyhost_adopt_paths): ranks of one job take rank 0's.
//
// The one metadata call left in the main phase is getpath's realpath() of
// the executable (a readlink).
#include "shim.h"
#include <marshal.h>

// Not in 3.11's public headers, exported by libpython: every field of a
// configuration as a dict, and back.
PyAPI_FUNC(PyObject *) _PyConfig_AsDict(const PyConfig *config);
PyAPI_FUNC(int) _PyConfig_FromDict(PyConfig *config, PyObject *dict);
PyAPI_FUNC(void) _PyPathConfig_ClearGlobal(void);

static PyConfig *live_config(void) {
	return (PyConfig *)_PyInterpreterState_GetConfig(PyInterpreterState_Get());
}

// Set when the running configuration carries a plan: home must be put
// back after the main phase (home_after: None or the str that the
// computation without a plan leaves there).
static int planned;
static PyObject *home_after;

// compute_paths computes the path configuration into the running
// configuration, as the main phase does: setting the configuration
// unchanged computes it, with CPython's own getpath, and
// module_search_paths_set becomes 1.
//
// Setting it loses one field in 3.11 (warn_default_encoding comes back 0;
// every other field was compared, before and after): it is put back in the
// running configuration, from which the main phase makes sys.flags.
static int compute_paths(void) {
	PyConfig c;
	PyConfig_InitPythonConfig(&c);
	int rc = 0;
	if (_PyInterpreterState_GetConfigCopy(&c) < 0) {
		rc = -1;
	} else {
		if (_PyInterpreterState_SetConfig(&c) < 0) {
			rc = -1;
		} else {
			live_config()->warn_default_encoding = c.warn_default_encoding;
		}
	}
	PyConfig_Clear(&c);
	return rc;
}

// compute_paths_ahead computes, then empties CPython's global path
// configuration, which computing also filled in and which the main phase
// reads before it computes (it would take the computed home and prefixes
// as given, and a ._pth file would be ignored): it was empty before
// (pyhost sets none of the legacy Py_Set* globals).
static int compute_paths_ahead(void) {
	int rc = compute_paths();
	_PyPathConfig_ClearGlobal();
	return rc;
}

// The string fields a computation may set that were unset before:
// _PyConfig_FromDict takes no None for some of them, so they are unset by
// hand afterwards.
#define UNSETTABLE(X) X(program_name) X(home) X(stdlib_dir) X(executable) X(base_executable) \
	X(prefix) X(base_prefix) X(exec_prefix) X(base_exec_prefix) X(platlibdir) X(pythonpath_env)

// load makes the running configuration want (a dict of
// _PyConfig_AsDict's form): every field as in want, None strings unset.
static int load(PyObject *want) {
	PyConfig *live = live_config();
	PyObject *merged = _PyConfig_AsDict(live);
	if (merged == NULL) {
		return -1;
	}
	int rc = 0;
	// _PyConfig_FromDict takes no None for these: "" stands in until
	// they are unset below.
	PyObject *blank = PyUnicode_FromString("");
	if (blank == NULL) {
		rc = -1;
	}
#define BLANK(f) \
	if (rc == 0 && PyDict_GetItemString(merged, #f) == Py_None) { rc = PyDict_SetItemString(merged, #f, blank); }
	UNSETTABLE(BLANK)
#undef BLANK
	Py_XDECREF(blank);
	PyObject *k, *v;
	Py_ssize_t pos = 0;
	while (rc == 0 && PyDict_Next(want, &pos, &k, &v)) {
		if (v != Py_None && PyDict_SetItem(merged, k, v) < 0) {
			rc = -1;
		}
	}
	if (rc == 0) {
		rc = _PyConfig_FromDict(live, merged);
	}
	Py_DECREF(merged);
	PyStatus st = PyStatus_Ok();
#define UNSET(f) \
	if (rc == 0 && !PyStatus_Exception(st)) { \
		PyObject *was = PyDict_GetItemString(want, #f); \
		if (was == Py_None) { st = PyConfig_SetString(live, &live->f, NULL); } \
	}
	UNSETTABLE(UNSET)
#undef UNSET
	if (PyStatus_Exception(st)) {
		PyErr_NoMemory();
		rc = -1;
	}
	return rc;
}

// The fields a computation derives from its probes, which a plan carries.
static const char *const probed_fields[] = {
	"executable", "base_executable", "prefix", "exec_prefix", "base_prefix",
	"base_exec_prefix", "platlibdir", NULL,
};

// Every field getpath writes but home: a plan's computation must give
// each as the probing computation did.
static const char *const written_fields[] = {
	"program_name", "executable", "base_executable", "prefix", "exec_prefix",
	"base_prefix", "base_exec_prefix", "platlibdir", "stdlib_dir",
	"module_search_paths", "module_search_paths_set", "isolated",
	"use_environment", "site_import", "safe_path", "_is_python_build", NULL,
};

// The fields getpath reads, with home (whose value may come from
// PYTHONHOME): what must be equal for two processes to compute the same.
static const char *const read_fields[] = {
	"program_name", "home", "executable", "base_executable", "prefix",
	"exec_prefix", "base_prefix", "base_exec_prefix", "pythonpath_env",
	"use_environment", "module_search_paths", "module_search_paths_set",
	"orig_argv", "platlibdir", "_is_python_build", "pathconfig_warnings",
	"isolated", "site_import", "safe_path", "stdlib_dir", NULL,
};

// The variables getpath reads from the environment itself.
static const char *const read_env[] = {"PATH", "PYTHONHOME", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__", NULL};

// pick is a new dict of the named fields of d (missing ones are None).
static PyObject *pick(PyObject *d, const char *const *names) {
	PyObject *out = PyDict_New();
	for (int i = 0; out != NULL && names[i] != NULL; i++) {
		PyObject *v = PyDict_GetItemString(d, names[i]); // borrowed
		if (PyDict_SetItemString(out, names[i], v ? v : Py_None) < 0) {
			Py_CLEAR(out);
		}
	}
	return out;
}

// inputs is what this process's computation depends on besides the file
// system: the fields of before that getpath reads, its variables and the
// working directory (relative entries are made absolute against it). New
// reference.
static PyObject *inputs(PyObject *before) {
	PyObject *d = PyDict_New();
	PyObject *cfg = d ? pick(before, read_fields) : NULL;
	PyObject *env = cfg ? PyDict_New() : NULL;
	int rc = env && PyDict_SetItemString(d, "config", cfg) == 0 && PyDict_SetItemString(d, "env", env) == 0 ? 0 : -1;
	for (int i = 0; rc == 0 && read_env[i] != NULL; i++) {
		const char *v = getenv(read_env[i]);
		PyObject *s = v ? PyBytes_FromString(v) : Py_NewRef(Py_None);
		rc = s && PyDict_SetItemString(env, read_env[i], s) == 0 ? 0 : -1;
		Py_XDECREF(s);
	}
	char buf[4096];
	if (rc == 0) {
		PyObject *wd = getcwd(buf, sizeof buf) ? PyBytes_FromString(buf) : Py_NewRef(Py_None);
		rc = wd && PyDict_SetItemString(d, "cwd", wd) == 0 ? 0 : -1;
		Py_XDECREF(wd);
	}
	Py_XDECREF(cfg);
	Py_XDECREF(env);
	if (rc < 0) {
		Py_XDECREF(d);
		return NULL;
	}
	return d;
}

// plan_of is the configuration to hand the main phase: before, with what
// the probing computation found (outcome: its probed fields and home), and
// the search path left for the computation to build. New reference.
static PyObject *plan_of(PyObject *before, PyObject *outcome) {
	PyObject *plan = PyDict_Copy(before);
	if (plan == NULL || PyDict_Update(plan, outcome) < 0) {
		Py_XDECREF(plan);
		return NULL;
	}
	PyObject *empty = PyList_New(0);
	PyObject *zero = PyLong_FromLong(0);
	int rc = empty && zero && PyDict_SetItemString(plan, "module_search_paths", empty) == 0 &&
		PyDict_SetItemString(plan, "module_search_paths_set", zero) == 0 ? 0 : -1;
	Py_XDECREF(empty);
	Py_XDECREF(zero);
	if (rc < 0) {
		Py_DECREF(plan);
		return NULL;
	}
	return plan;
}

// outcome_of is what a plan carries of the probing computation computed
// (a dict of _PyConfig_AsDict's form): its probed fields and home, or
// None when the interpreter runs from its build directory, where getpath
// does more than a plan can repeat. New reference.
static PyObject *outcome_of(PyObject *computed) {
	PyObject *build = PyDict_GetItemString(computed, "_is_python_build");
	if (build == NULL || PyObject_IsTrue(build)) {
		PyErr_Clear();
		Py_RETURN_NONE;
	}
	PyObject *out = pick(computed, probed_fields);
	if (out == NULL) {
		return NULL;
	}
	PyObject *prefix = PyDict_GetItemString(out, "prefix");
	PyObject *exec_prefix = PyDict_GetItemString(out, "exec_prefix");
	if (!PyUnicode_Check(prefix) || !PyUnicode_Check(exec_prefix)) {
		Py_DECREF(out);
		Py_RETURN_NONE;
	}
	PyObject *home = PyUnicode_Compare(prefix, exec_prefix) == 0
		? Py_NewRef(prefix)
		: PyUnicode_FromFormat("%U:%U", prefix, exec_prefix);
	if (home == NULL || PyDict_SetItemString(out, "home", home) < 0) {
		Py_XDECREF(home);
		Py_DECREF(out);
		return NULL;
	}
	Py_DECREF(home);
	return out;
}

// same reports whether a and b agree on every field in names (1), not
// (0), or -1 with an exception set.
static int same(PyObject *a, PyObject *b, const char *const *names) {
	for (int i = 0; names[i] != NULL; i++) {
		PyObject *x = PyDict_GetItemString(a, names[i]);
		PyObject *y = PyDict_GetItemString(b, names[i]);
		if (x == NULL || y == NULL) {
			if (x != y) {
				return 0;
			}
			continue;
		}
		int eq = PyObject_RichCompareBool(x, y, Py_EQ);
		if (eq != 1) {
			return eq;
		}
	}
	return 1;
}

// keep_plan makes plan the running configuration and remembers home as
// the probing computation left it (None, or PYTHONHOME's).
static int keep_plan(PyObject *plan, PyObject *home) {
	if (load(plan) < 0) {
		return -1;
	}
	Py_XSETREF(home_after, Py_NewRef(home));
	planned = 1;
	return 0;
}

// Between the phases the codec registry does not exist yet: decoding a
// str that marshal wrote with a lone surrogate (an undecodable path)
// would look up the error handler and break the start-up's encodings.
// So the plan travels with every str encoded as the file system encoding
// does before the codecs exist (no lookup), and back.

// fs_form is obj with every str (in dicts, lists and tuples) encoded
// to bytes as PyUnicode_EncodeFSDefault does. New reference.
static PyObject *fs_form(PyObject *obj) {
	if (PyUnicode_Check(obj)) {
		return PyUnicode_EncodeFSDefault(obj);
	}
	if (PyDict_Check(obj)) {
		PyObject *out = PyDict_New();
		PyObject *k, *v;
		Py_ssize_t pos = 0;
		while (out != NULL && PyDict_Next(obj, &pos, &k, &v)) {
			PyObject *fv = fs_form(v);
			if (fv == NULL || PyDict_SetItem(out, k, fv) < 0) {
				Py_CLEAR(out);
			}
			Py_XDECREF(fv);
		}
		return out;
	}
	if (PyList_Check(obj) || PyTuple_Check(obj)) {
		Py_ssize_t n = PySequence_Size(obj);
		PyObject *out = PyList_New(n);
		for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
			PyObject *fv = fs_form(PySequence_Fast_GET_ITEM(obj, i));
			if (fv == NULL) {
				Py_CLEAR(out);
				break;
			}
			PyList_SET_ITEM(out, i, fv); // steals fv
		}
		return out;
	}
	return Py_NewRef(obj);
}

// str_form undoes fs_form for a plan's outcome, whose values are all str
// (or None): bytes become str again. New reference.
static PyObject *str_form(PyObject *obj) {
	if (PyBytes_Check(obj)) {
		return PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj));
	}
	if (PyDict_Check(obj)) {
		PyObject *out = PyDict_New();
		PyObject *k, *v;
		Py_ssize_t pos = 0;
		while (out != NULL && PyDict_Next(obj, &pos, &k, &v)) {
			PyObject *sv = str_form(v);
			if (sv == NULL || PyDict_SetItem(out, k, sv) < 0) {
				Py_CLEAR(out);
			}
			Py_XDECREF(sv);
		}
		return out;
	}
	return Py_NewRef(obj);
}

// pyhost_compute_paths computes the path configuration and returns what
// pyhost_config_paths returns of it, with "portable": the plan as bytes
// for pyhost_adopt_paths (absent when the main phase computes for itself).
// The running configuration is left with the checked plan, or exactly as
// it was (every field: getpath may set more than the paths; a ._pth file
// next to the executable sets isolation, site and the search path). New
// reference, or NULL with an exception set.
PyObject *pyhost_compute_paths(void) {
	PyObject *before = _PyConfig_AsDict(live_config());
	if (before == NULL) {
		return NULL;
	}
	PyObject *d = NULL, *computed = NULL, *outcome = NULL, *plan = NULL, *preview = NULL;
	int ok = -1;
	if (compute_paths_ahead() < 0 || (d = pyhost_config_paths()) == NULL ||
		(computed = _PyConfig_AsDict(live_config())) == NULL ||
		(outcome = outcome_of(computed)) == NULL) {
		goto done;
	}
	int keep = 0;
	if (outcome != Py_None) {
		if ((plan = plan_of(before, outcome)) == NULL || load(plan) < 0 || compute_paths_ahead() < 0 ||
			(preview = _PyConfig_AsDict(live_config())) == NULL) {
			goto done;
		}
		if ((keep = same(preview, computed, written_fields)) < 0) {
			goto done;
		}
	}
	if (!keep) {
		ok = load(before);
		goto done;
	}
	// The running configuration is the preview's: what the main phase
	// computes from it is what it would compute from the plan (getpath
	// reads no search path that is not set, nor stdlib_dir, and every other
	// field it reads came out as in the plan), so the plan need not be
	// loaded again; only the search path must be left to compute.
	PyObject *home = PyDict_GetItemString(computed, "home");
	if (home == NULL) {
		goto done;
	}
	live_config()->module_search_paths_set = 0;
	Py_XSETREF(home_after, Py_NewRef(home));
	planned = 1;
	PyObject *in = inputs(before);
	PyObject *msg = in ? Py_BuildValue("{sOsOsO}", "inputs", in, "outcome", outcome, "home", home) : NULL;
	PyObject *fs = msg ? fs_form(msg) : NULL;
	PyObject *blob = fs ? PyMarshal_WriteObjectToString(fs, 2) : NULL;
	ok = blob && PyDict_SetItemString(d, "portable", blob) == 0 ? 0 : -1;
	Py_XDECREF(blob);
	Py_XDECREF(fs);
	Py_XDECREF(msg);
	Py_XDECREF(in);
done:
	Py_XDECREF(preview);
	Py_XDECREF(plan);
	Py_XDECREF(outcome);
	Py_XDECREF(computed);
	Py_DECREF(before);
	if (ok < 0) {
		Py_XDECREF(d);
		return NULL;
	}
	return d;
}

// pyhost_adopt_paths adopts the plan another process computed (the
// "portable" bytes of its pyhost_compute_paths) when this process's inputs
// are the same: 1 adopted, 0 not (the inputs differ, or the bytes are not
// a plan: nothing is changed), -1 with an exception set.
int pyhost_adopt_paths(const char *buf, Py_ssize_t n) {
	PyObject *msg = PyMarshal_ReadObjectFromString(buf, n);
	if (msg == NULL || !PyDict_Check(msg)) {
		PyErr_Clear();
		Py_XDECREF(msg);
		return 0;
	}
	PyObject *theirs = PyDict_GetItemString(msg, "inputs");
	PyObject *fs_outcome = PyDict_GetItemString(msg, "outcome");
	PyObject *fs_home = PyDict_GetItemString(msg, "home");
	if (theirs == NULL || fs_outcome == NULL || !PyDict_Check(fs_outcome) || fs_home == NULL) {
		Py_DECREF(msg);
		return 0;
	}
	int rc = -1;
	PyObject *plan = NULL, *mine = NULL, *outcome = NULL, *home = NULL;
	PyObject *before = _PyConfig_AsDict(live_config());
	PyObject *in = before ? inputs(before) : NULL;
	if (in != NULL && (mine = fs_form(in)) != NULL) {
		rc = PyObject_RichCompareBool(mine, theirs, Py_EQ);
		if (rc == 1) {
			outcome = str_form(fs_outcome);
			home = outcome ? str_form(fs_home) : NULL;
			plan = home ? plan_of(before, outcome) : NULL;
			rc = plan && keep_plan(plan, home) == 0 ? 1 : -1;
		}
	}
	Py_XDECREF(plan);
	Py_XDECREF(home);
	Py_XDECREF(outcome);
	Py_XDECREF(mine);
	Py_XDECREF(in);
	Py_XDECREF(before);
	Py_DECREF(msg);
	return rc;
}

// pyhost_paths_after_main puts home back as the computation without a
// plan would have left it.
void pyhost_paths_after_main(void) {
	if (!planned) {
		return;
	}
	planned = 0;
	PyConfig *live = live_config();
	wchar_t *home = NULL;
	if (home_after != NULL && PyUnicode_Check(home_after)) {
		home = PyUnicode_AsWideCharString(home_after, NULL);
	}
	PyStatus st = PyConfig_SetString(live, &live->home, home);
	if (PyStatus_Exception(st)) {
		PyErr_Clear();
	}
#if PY_VERSION_HEX < 0x030D0000
	// The global path configuration (Py_GetPythonHome, and what a
	// subinterpreter's computation reads) took home from the main phase.
	// Deprecated since 3.11, the only way to reach it before 3.13.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	Py_SetPythonHome(home);
#pragma GCC diagnostic pop
#endif
	PyMem_Free(home);
	Py_CLEAR(home_after);
}

int pyhost_append_paths(int n, char **paths) {
	PyConfig c;
	if (compute_paths() < 0) {
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
