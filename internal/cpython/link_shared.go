//go:build sharedpython

package cpython

// The system's shared libpython, found by pkg-config (see link_static.go).

// #cgo pkg-config: python3-embed
import "C"

// RequestedExitStatus is always 0 with the shared library: its own calls
// of Py_Exit cannot be wrapped (see link_static.go).
func RequestedExitStatus() int { return 0 }
