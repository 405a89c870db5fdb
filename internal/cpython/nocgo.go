//go:build !cgo

package cpython

// Package cpython is cgo over libpython: without cgo nothing can be
// built. This names the cause in the compiler's message.
var _ = pyhost_needs_cgo_and_libpython__build_with_CGO_ENABLED_1_and_libpython3_dev_installed
