//go:build sharedpython

package cpython

// The system's shared libpython, found by pkg-config (see link_static.go).

// #cgo pkg-config: python3-embed
import "C"
