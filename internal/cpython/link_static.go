//go:build !sharedpython

package cpython

// By default pyhost links Debian's static libpython3.11.a, as Debian's own
// /usr/bin/python3.11 does: the shared library is built position
// independent and calls through the PLT, which costs about 8% of the CPU
// time of a heavy import. Extension modules find the interpreter's symbols
// in the executable (--export-dynamic, in interp.go). Build with
// -tags sharedpython to link the shared library found by
// pkg-config python3-embed instead (any CPython 3.10 to 3.13). The
// libraries come in python3.11's order (libm, libz, libexpat): the
// dynamic loader opens them in that order, and where it cannot (ulimit -n
// 3) it names the first, as for python3.11.

// #cgo CFLAGS: -I/usr/include/python3.11
// #cgo LDFLAGS: -l:libpython3.11.a -lm -lz -lexpat -ldl -Wl,--wrap=Py_Exit -Wl,--wrap=_Py_HandleSystemExit
// int pyhost_requested_exit_status(void);
import "C"

// RequestedExitStatus is the status a SystemExit that reached the top of
// the program asked for (sys.exit(n) in a script, -c or -m), once Python
// is ending the process with it; 0 before that, and when the program
// ended otherwise. For exit hooks (AtExit).
func RequestedExitStatus() int { return int(C.pyhost_requested_exit_status()) }
