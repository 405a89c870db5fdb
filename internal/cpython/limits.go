package cpython

// #include <stdlib.h>
// int pyhost_remote_mounts(const char *mountinfo);
// int pyhost_remote_paths(const char *mountinfo, const char *const *paths, int n);
// const char *pyhost_interpreter_tree(int i);
// extern const char pyhost_plain_version[];
// const char *pyhost_env_option(int i);
// static const char *plain_version(void) { return pyhost_plain_version; }
import "C"

import "unsafe"

// RemoteMounts reports whether the mount table in the file mountinfo (the
// format of /proc/<pid>/mountinfo) has a file system whose metadata is
// not local: what makes a process alone start Go's runtime and pyhost's
// importer instead of running plain (limits.c's nothing_to_save) when its
// search path's directories cannot be told apart (RemotePaths is -1).
func RemoteMounts(mountinfo string) bool {
	p := C.CString(mountinfo)
	defer C.free(unsafe.Pointer(p))
	return C.pyhost_remote_mounts(p) != 0
}

// RemotePaths reports, from the mount table in the file mountinfo, where
// the directories paths are (limits.c's pyhost_remote_paths, which a
// process alone asks of the directories its search path starts from):
// 1 when one is on a file system RemoteMounts counts (or the table cannot
// be read, or a directory cannot be looked at for a reason other than its
// absence), -1 when none is but one is on a device the table does not
// list, 0 when every one that exists is local.
func RemotePaths(mountinfo string, paths []string) int {
	p := C.CString(mountinfo)
	defer C.free(unsafe.Pointer(p))
	// The array in C memory: cgo passes no Go memory holding Go pointers.
	var one *C.char
	ptrs := (**C.char)(C.malloc(C.size_t(len(paths)+1) * C.size_t(unsafe.Sizeof(one))))
	defer C.free(unsafe.Pointer(ptrs))
	arr := unsafe.Slice(ptrs, len(paths)+1)
	for i, path := range paths {
		arr[i] = C.CString(path)
		defer C.free(unsafe.Pointer(arr[i]))
	}
	return int(C.pyhost_remote_paths(p, ptrs, C.int(len(paths))))
}

// InterpreterTrees are the directories a process alone looks at for the
// interpreter's own part of the search path (limits.c's
// interpreter_trees).
func InterpreterTrees() []string {
	return cList(func(i C.int) *C.char { return C.pyhost_interpreter_tree(i) })
}

// cList gives a C list's strings, item(0), item(1), ... up to the first
// NULL.
func cList(item func(i C.int) *C.char) []string {
	var out []string
	for i := C.int(0); ; i++ {
		p := item(i)
		if p == nil {
			return out
		}
		out = append(out, C.GoString(p))
	}
}

// PlainVersion is the version a plain run's pyhost module reports
// (plain.c), which must be launch.Version.
func PlainVersion() string {
	return C.GoString(C.plain_version())
}

// EnvOptions are the PYHOST_<NAME> variables that ask for pyhost's
// importer in a process alone (limits.c's env_options), which must name
// launch's options.
func EnvOptions() []string {
	return cList(func(i C.int) *C.char { return C.pyhost_env_option(i) })
}
