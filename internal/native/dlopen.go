package native

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
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

#include <link.h>
#include <string.h>

struct pyhost_find { const char *name; int found; };

static int pyhost_find_cb(struct dl_phdr_info *info, size_t size, void *data) {
	struct pyhost_find *f = data;
	const char *n = info->dlpi_name;
	if (n == NULL || n[0] == 0) {
		return 0;
	}
	const char *base = strrchr(n, '/');
	base = base != NULL ? base + 1 : n;
	if (strcmp(base, f->name) == 0) {
		f->found = 1;
		return 1;
	}
	return 0;
}

// pyhost_name_loaded reports whether an object whose file name is name is
// mapped in this process (what the loader would match a DT_NEEDED of that
// name against, for the libraries whose file is named after their SONAME).
static int pyhost_name_loaded(const char *name) {
	struct pyhost_find f = {name, 0};
	dl_iterate_phdr(pyhost_find_cb, &f);
	return f.found;
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

// nameLoaded reports whether an object whose file is named name is mapped
// in this process already (from anywhere): a copy preloaded under that
// SONAME would be a second one where the loader would reuse the first.
func nameLoaded(name string) bool {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return C.pyhost_name_loaded(cname) != 0
}
