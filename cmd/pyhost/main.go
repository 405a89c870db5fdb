// Container-aware GOMAXPROCS would poll cgroup files while the program
// runs: file-system traffic python3 does not make. (Go's runtime still
// reads them once at start-up, before any setting is consulted.)

//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command pyhost is a drop-in python3 that embeds CPython and resolves
// imports from an in-memory index of sys.path (see the README).
//
// It is a thin main over package launch, which assembles the same
// packages an embedding application uses; every python3 option and
// PYTHON* variable is parsed by CPython itself.
package main

// pyhost_hands_over tells internal/cpython's start-up code, which runs
// before Go's runtime, that this program hands the process over to Python
// (cpython.Main): see internal/cpython/shim.c. This cgo preamble declares
// that one constant and no CPython API: internal/cpython remains the only
// package that speaks CPython's C API.

// const int pyhost_hands_over = 1;
import "C"

import (
	"os"
	"runtime"

	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/launch"
)

// CPython handles signals on the thread that started it, and the kernel
// delivers a process's signals to its main thread: Python runs there.
func init() { runtime.LockOSThread() }

func main() {
	cpython.Exit(launch.Main(os.Args))
}
