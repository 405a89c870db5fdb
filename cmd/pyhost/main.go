// Command pyhost is a drop-in python3 that embeds CPython and resolves
// imports from an in-memory index of sys.path (see the README).
//
// It is a thin main over package host, the same API an embedding
// application uses; every python3 option and PYTHON* variable is parsed
// by CPython itself. pyhost's own options are -X pyhost.<name>[=value]
// and PYHOST_* variables.
package main

import (
	"os"
	"runtime"

	"pyhost/host"
)

// CPython handles signals on the thread that started it, and the kernel
// delivers a process's signals to its main thread: Python runs there.
func init() { runtime.LockOSThread() }

func main() {
	code := host.Main(host.Options{Args: os.Args})
	host.Exit(code)
}
