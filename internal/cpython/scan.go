package cpython

// #include "shim.h"
import "C"

import "unsafe"

// MetaNextIs is 1 when self is absent from sys.meta_path (called
// directly) or is followed by next there, 0 otherwise, -1 with an
// exception set. The GIL must be held.
func MetaNextIs(self, next Ref) int { return int(C.pyhost_meta_next_is(self.p, next.p)) }

// SnapshotMachinery records, from the module _frozen_importlib_external,
// the stock machinery's state that MachineryAltered compares with: the
// PathFinder and FileFinder methods whose work the importer does (see
// shim.c's mach_methods) and the loader suffixes a program can change in
// place. false with an exception set. The GIL must
// be held.
func SnapshotMachinery(bse Ref) bool { return C.pyhost_machinery_snapshot(bse.p) == 0 }

// MachineryAltered says whether the program has changed that state since
// (one of those methods wrapped or replaced, a loader suffix added, as Hy adds
// ".hy"): an importer that answers from its own index must then leave the
// search to the machinery as changed. The GIL must be held.
func MachineryAltered() bool { return C.pyhost_machinery_altered() != 0 }

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

// ScanStatus is what a Scan found at its end.
type ScanStatus int

const (
	ScanComplete  ScanStatus = C.PYHOST_SCAN_COMPLETE  // every entry consumed
	ScanStopped   ScanStatus = C.PYHOST_SCAN_STOPPED   // an entry only PathFinder can answer for
	ScanUnreached ScanStatus = C.PYHOST_SCAN_UNREACHED // an entry with no finder yet, at next
)

// Scan walks path from entry start as PathFinder._get_spec does,
// collecting the consecutive path entry finders of type indexed until an
// entry that is not a str or whose finder is of another type, or an entry
// not yet in sys.path_importer_cache (ScanUnreached, at next): PathFinder
// makes an entry's finder only when its search reaches it, so the caller
// searches the finders collected and, on a miss, scans again from next.
// The entry at start, if it has no finder, is handed to slow(entry),
// which makes and caches it as PathFinder would. It returns the finders'
// path attributes (strings that alias Python memory: valid until the
// finders go, so only during the caller's lookup; clear them after use).
// ok false with an exception set.
func (s *PathScan) Scan(path Ref, start int, indexed, slow Ref) (dirs []string, status ScanStatus, next int, ok bool) {
	if s.dirs == nil {
		s.dirs = unsafe.Slice((*C.pyhost_strref)(C.calloc(scanCap, C.size_t(unsafe.Sizeof(C.pyhost_strref{})))), scanCap)
		s.finders = unsafe.Slice((**C.PyObject)(C.calloc(scanCap, C.size_t(unsafe.Sizeof((*C.PyObject)(nil))))), scanCap)
		s.goDirs = make([]string, scanCap)
	}
	r := C.pyhost_scan_path_r(path.p, C.Py_ssize_t(start), indexed.p, slow.p, &s.dirs[0], &s.finders[0], scanCap)
	if r.n < 0 {
		return nil, 0, 0, false
	}
	dirs = s.goDirs[:r.n]
	for i := range dirs {
		dirs[i] = unsafe.String((*byte)(unsafe.Pointer(s.dirs[i].p)), int(s.dirs[i].n))
	}
	return dirs, ScanStatus(r.status), int(r.next), true
}

// Finder is the finder of dirs[i] of the last Scan, borrowed from
// sys.path_importer_cache.
func (s *PathScan) Finder(i int) Ref { return Ref{s.finders[i]} }
