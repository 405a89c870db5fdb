package host

/*
#include "shim.h"
#include <errno.h>
#include <limits.h>
#include <unistd.h>

// What pyhost_scan_path found.
enum { SCAN_COMPLETE = 0, SCAN_STOPPED = 1 };

typedef struct {
	const char *p;
	Py_ssize_t n;
} pyhost_strref;

// 1 when self is absent from sys.meta_path (called directly) or is
// followed by next; 0 otherwise; -1 with an exception set.
static int pyhost_meta_next_is(PyObject *self, PyObject *next) {
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

// Walks a search path as PathFinder._get_spec does, collecting the
// consecutive path entry finders of type indexed (their path attribute as
// UTF-8, valid while the finder lives) until an entry that is not a str or
// whose finder is of another type. An entry not yet in the cache is handed
// to slow(entry), which creates and caches its finder as PathFinder would.
// Returns the number of finders collected, or -1 with an exception set;
// *status says whether every entry was consumed.
static Py_ssize_t pyhost_scan_path(PyObject *path, PyObject *indexed, PyObject *slow,
		pyhost_strref *dirs, PyObject **finders, Py_ssize_t cap, int *status) {
	PyObject *cache = PySys_GetObject("path_importer_cache"); // borrowed
	PyObject *seq = PySequence_Fast(path, "search path must be iterable");
	if (seq == NULL) {
		return -1;
	}
	Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), count = 0;
	*status = SCAN_COMPLETE;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *entry = PySequence_Fast_GET_ITEM(seq, i);
		if (!PyUnicode_Check(entry) || count == cap || cache == NULL || !PyDict_Check(cache)) {
			*status = SCAN_STOPPED;
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
		if (finder == NULL && !PyErr_Occurred()) {
			PyObject *made = PyObject_CallOneArg(slow, entry);
			Py_XDECREF(made);
			if (made != NULL) {
				// Use the one the cache holds: it lives as long as this call.
				finder = PyDict_GetItemWithError(cache, key);
				if (finder == NULL && !PyErr_Occurred()) {
					Py_DECREF(key);
					*status = SCAN_STOPPED;
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
			*status = SCAN_STOPPED;
			break;
		}
		PyObject *p = PyObject_GetAttrString(finder, "path");
		if (p == NULL) {
			Py_DECREF(seq);
			return -1;
		}
		if (!PyUnicode_Check(p)) {
			Py_DECREF(p);
			*status = SCAN_STOPPED;
			break;
		}
		// The finder's instance dict keeps the str alive; so does its UTF-8.
		dirs[count].p = PyUnicode_AsUTF8AndSize(p, &dirs[count].n);
		Py_DECREF(p);
		if (dirs[count].p == NULL) {
			PyErr_Clear();
			*status = SCAN_STOPPED;
			break;
		}
		finders[count] = finder;
		count++;
	}
	Py_DECREF(seq);
	return count;
}

static PyObject *pyhost_sys_path(void) {
	return PySys_GetObject("path"); // borrowed
}
*/
import "C"

import (
	"unsafe"
)

// FastFinder holds what a meta path finder written in Go needs to answer
// find_spec without a Python frame of its own: it walks the search path
// in C, hands the directories of the indexed path entry finders on it to
// Find, and makes the spec of a hit by calling MakeSpec.
//
// The Objects are owned by the FastFinder and live as long as the
// process. FindSpec must be called from the Func registered as the
// finder's find_spec (with the GIL held).
type FastFinder struct {
	Self       *Object // the finder class, as it stands in sys.meta_path
	PathFinder *Object // the finder that must follow it there
	Indexed    *Object // the type of the path entry finders it answers for
	Slow       *Object // slow(entry) -> finder: makes and caches an entry's finder
	MakeSpec   *Object // make_spec(finder, fullname, kind, filename, location) -> spec
	// SysPathChanged, if set, is called when sys.path differs from the last
	// search of it, with its str entries.
	SysPathChanged func(entries []string)

	// Find gets the module's last name and the directories of the indexed
	// finders, in order (strings valid only during the call), and says
	// which one has the module. complete is false when the search path
	// goes on past dirs with entries that are not indexed.
	Find func(tail string, dirs []string, complete bool) (i, kind int, filename, location string, found bool)

	lastSysPath *C.PyObject       // owned copy of sys.path as last searched
	dirs        []C.pyhost_strref // C memory, never freed (one FastFinder per process)
	finders     []*C.PyObject     // C memory; borrowed references, valid during FindSpec
	goDirs      []string
}

// stolen is a new reference handed to Python as a Func's result.
type stolen struct{ p *C.PyObject }

// FindSpec answers find_spec(fullname, path=None, target=None) for the
// Func that was called with a (its arguments).
func (f *FastFinder) FindSpec(py *Py, a Args) (any, error) {
	fullname, err := a.at(0)
	if err != nil {
		return nil, err
	}
	if C.pyhost_unicode_check(fullname) != 1 {
		return nil, Raise("TypeError", "find_spec: name must be str, not %s", typeName(fullname))
	}
	var path *C.PyObject
	if len(a.pos) > 1 && C.pyhost_is_none(a.pos[1]) != 1 {
		path = a.pos[1]
	}
	switch C.pyhost_meta_next_is(f.Self.p, f.PathFinder.p) {
	case 0:
		return nil, nil // only PathFinder's answers are ours to give
	case -1:
		return nil, fetchError()
	}
	if path == nil {
		path = C.pyhost_sys_path()
		if path == nil {
			return nil, nil
		}
		if err := f.noteSysPath(path); err != nil {
			return nil, err
		}
	}
	if f.dirs == nil {
		// C memory: cgo need not check a Go buffer of pointers per call.
		const cap = 256
		f.dirs = unsafe.Slice((*C.pyhost_strref)(C.calloc(cap, C.size_t(unsafe.Sizeof(C.pyhost_strref{})))), cap)
		f.finders = unsafe.Slice((**C.PyObject)(C.calloc(cap, C.size_t(unsafe.Sizeof((*C.PyObject)(nil))))), cap)
		f.goDirs = make([]string, cap)
	}
	var status C.int
	n := C.pyhost_scan_path(path, f.Indexed.p, f.Slow.p, &f.dirs[0], &f.finders[0], C.Py_ssize_t(len(f.dirs)), &status)
	if n < 0 {
		return nil, fetchError()
	}
	dirs := f.goDirs[:n]
	for i := range dirs {
		dirs[i] = unsafe.String((*byte)(unsafe.Pointer(f.dirs[i].p)), int(f.dirs[i].n))
	}
	var tail string
	{
		// Names with lone surrogates (from undecodable file names) come as
		// os.fsencode gives them; owner keeps those bytes alive.
		var sz C.Py_ssize_t
		var owner *C.PyObject
		s := C.pyhost_str_as(fullname, &sz, &owner)
		if s == nil {
			return nil, fetchError()
		}
		if owner != nil {
			defer C.pyhost_decref(owner)
		}
		tail = unsafe.String((*byte)(unsafe.Pointer(s)), int(sz))
	}
	i, kind, filename, location, found := f.Find(tail, dirs, status == C.SCAN_COMPLETE)
	clear(dirs) // they alias Python memory
	if !found {
		return nil, nil
	}
	finder := f.finders[i]
	var loc any
	if location != "" {
		loc = location
	}
	args, err := tupleOf([]any{borrowedArg{finder}, borrowedArg{fullname}, kind, filename, loc}, 0)
	if err != nil {
		return nil, err
	}
	defer C.pyhost_decref(args)
	spec := C.PyObject_Call(f.MakeSpec.p, args, nil)
	if spec == nil {
		return nil, fetchError()
	}
	return stolen{spec}, nil
}

// borrowedArg passes a borrowed reference as an argument.
type borrowedArg struct{ p *C.PyObject }

func (f *FastFinder) noteSysPath(path *C.PyObject) error {
	if f.lastSysPath != nil {
		switch C.PyObject_RichCompareBool(path, f.lastSysPath, C.Py_EQ) {
		case 1:
			return nil
		case -1:
			return fetchError()
		}
		C.pyhost_decref(f.lastSysPath)
		f.lastSysPath = nil
	}
	cp := C.PySequence_List(path)
	if cp == nil {
		return fetchError()
	}
	f.lastSysPath = cp
	if f.SysPathChanged != nil {
		var entries []string
		for _, e := range sequenceItems(cp) {
			if C.pyhost_unicode_check(e) == 1 {
				if s, err := goString(e); err == nil {
					entries = append(entries, s)
				}
			}
		}
		f.SysPathChanged(entries)
	}
	return nil
}
