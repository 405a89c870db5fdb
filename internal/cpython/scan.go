package cpython

// #cgo noescape pyhost_scan_path
// #include "shim.h"
import "C"

import "unsafe"

// MetaNextIs is 1 when self is absent from sys.meta_path (called
// directly) or is followed by next there, 0 otherwise, -1 with an
// exception set. The GIL must be held.
func MetaNextIs(self, next Ref) int { return int(C.pyhost_meta_next_is(self.p, next.p)) }

// SysPath is sys.path, borrowed from sys, or NULL.
func SysPath() Ref { return Ref{C.pyhost_sys_path()} }

// PathScan is the importer's walk of a search path, in C: one per
// finder, reused by every lookup (its buffers are C memory, kept for the
// life of the process). It must be used with the GIL held, by one thread
// at a time (the GIL sees to that).
type PathScan struct {
	dirs    []C.pyhost_strref // C memory: cgo need not check a Go buffer of pointers per call
	finders []*C.PyObject     // C memory; borrowed references
	goDirs  []string
}

// scanCap bounds the indexed entries one scan collects; a longer run of
// them ends the scan as an entry of another type does.
const scanCap = 256

// Scan walks path as PathFinder._get_spec does, collecting the
// consecutive path entry finders of type indexed until an entry that is
// not a str or whose finder is of another type. An entry not yet in
// sys.path_importer_cache is handed to slow(entry), which makes and
// caches its finder as PathFinder would. It returns the finders' path
// attributes (strings that alias Python memory: valid until the finders
// go, so only during the caller's lookup; clear them after use) and
// whether every entry was consumed. ok false with an exception set.
func (s *PathScan) Scan(path, indexed, slow Ref) (dirs []string, complete, ok bool) {
	if s.dirs == nil {
		s.dirs = unsafe.Slice((*C.pyhost_strref)(C.calloc(scanCap, C.size_t(unsafe.Sizeof(C.pyhost_strref{})))), scanCap)
		s.finders = unsafe.Slice((**C.PyObject)(C.calloc(scanCap, C.size_t(unsafe.Sizeof((*C.PyObject)(nil))))), scanCap)
		s.goDirs = make([]string, scanCap)
	}
	var status C.int
	n := C.pyhost_scan_path(path.p, indexed.p, slow.p, &s.dirs[0], &s.finders[0], scanCap, &status)
	if n < 0 {
		return nil, false, false
	}
	dirs = s.goDirs[:n]
	for i := range dirs {
		dirs[i] = unsafe.String((*byte)(unsafe.Pointer(s.dirs[i].p)), int(s.dirs[i].n))
	}
	return dirs, status == C.PYHOST_SCAN_COMPLETE, true
}

// Finder is the finder of dirs[i] of the last Scan, borrowed from
// sys.path_importer_cache.
func (s *PathScan) Finder(i int) Ref { return Ref{s.finders[i]} }
