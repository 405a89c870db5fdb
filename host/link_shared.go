//go:build sharedpython

package host

// The system's shared libpython, found by pkg-config (see link_static.go).

// #cgo pkg-config: python3-embed
import "C"
