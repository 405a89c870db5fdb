package cpython

// #include <stdlib.h>
// int pyhost_remote_mounts(const char *mountinfo);
// extern const char pyhost_plain_version[];
// const char *pyhost_env_option(int i);
// static const char *plain_version(void) { return pyhost_plain_version; }
import "C"

import "unsafe"

// RemoteMounts reports whether the mount table in the file mountinfo (the
// format of /proc/<pid>/mountinfo) has a file system whose metadata is
// not local: what makes a process alone start Go's runtime and pyhost's
// importer instead of running plain (limits.c's nothing_to_save).
func RemoteMounts(mountinfo string) bool {
	p := C.CString(mountinfo)
	defer C.free(unsafe.Pointer(p))
	return C.pyhost_remote_mounts(p) != 0
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
	var names []string
	for i := 0; ; i++ {
		p := C.pyhost_env_option(C.int(i))
		if p == nil {
			return names
		}
		names = append(names, C.GoString(p))
	}
}
