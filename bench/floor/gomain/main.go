// Command gomain is the floor of start-up cost for any Go program that
// embeds CPython as pyhost does: a cgo main over the same static
// libpython, locked to the main thread, that hands its arguments to
// Py_BytesMain and does nothing else (no importer, no cache, no signal
// work). scripts/compare-start.py times it beside python3.11 and pyhost
// when FLOOR=1.
package main

// #cgo CFLAGS: -I/usr/include/python3.11
// #cgo LDFLAGS: -l:libpython3.11.a -lexpat -lz -lm -ldl -Wl,--export-dynamic
// #include <Python.h>
// static int run(int argc, char **argv) { return Py_BytesMain(argc, argv); }
import "C"

import (
	"os"
	"runtime"
	"unsafe"
)

func init() { runtime.LockOSThread() }

func main() {
	argv := make([]*C.char, len(os.Args)+1)
	for i, a := range os.Args {
		argv[i] = C.CString(a)
	}
	os.Exit(int(C.run(C.int(len(os.Args)), (**C.char)(unsafe.Pointer(&argv[0])))))
}
