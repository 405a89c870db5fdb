//go:build !sharedpython

package cpython

// By default pyhost links Debian's static libpython3.11.a, as Debian's own
// /usr/bin/python3.11 does: the shared library is built position
// independent and calls through the PLT, which costs about 8% of the CPU
// time of a heavy import. Extension modules find the interpreter's symbols
// in the executable (--export-dynamic, in interp.go). Build with
// -tags sharedpython to link the shared library found by
// pkg-config python3-embed instead (any CPython 3.10 to 3.13).

// #cgo CFLAGS: -I/usr/include/python3.11
// #cgo LDFLAGS: -l:libpython3.11.a -lexpat -lz -lm -ldl
import "C"
