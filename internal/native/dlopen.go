package native

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <stdio.h>

// pyhost_preload dlopens path and keeps the handle for the rest of the
// process (as Python keeps its extension modules'); the error text is
// dlerror's, copied before another dl call can overwrite it.
static int pyhost_preload(const char *path, int flags, char *err, size_t errlen) {
	void *h = dlopen(path, flags);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e != NULL ? e : "dlopen failed");
		return -1;
	}
	return 0;
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// dlopen loads the library at path (a full path: the loader does not
// search) with flags, for good: its handle is never closed.
func dlopen(path string, flags int) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var buf [512]C.char
	if C.pyhost_preload(cpath, C.int(flags), &buf[0], C.size_t(len(buf))) != 0 {
		return errors.New(C.GoString(&buf[0]))
	}
	return nil
}
