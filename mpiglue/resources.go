package mpiglue

import (
	"fmt"
	"os"
	"syscall"
)

// initFDs is how many file descriptors pyhost keeps free for MPI_Init and
// what follows it before the script runs. Open MPI's MPI_Init holds about
// 15 for 2 ranks on one node (sockets to its daemon and PMIx server,
// shared-memory segments, event pipes), and the interpreter's start-up
// (encodings, site, .pth files) and the index's listing need a few more
// at a time. python3 with mpi4py meets MPI_Init only after its start-up,
// so it runs under limits where pyhost, initializing MPI first, would fail
// half-way through its own start-up.
const initFDs = 64

// CheckResources reports whether this process can afford to initialize
// MPI before the interpreter's start-up: an error saying why not (the
// file-descriptor limit, `ulimit -n`) or nil. pyhost then leaves MPI to
// the application (mpi4py initializes it later, as under python3) and
// shares nothing.
func CheckResources() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	used := len(ents) - 1 // ReadDir's own descriptor
	if free := int(lim.Cur) - used; free < initFDs {
		return fmt.Errorf("only %d file descriptors are free (ulimit -n %d, %d open); initializing MPI at start-up needs about %d", max(free, 0), lim.Cur, used, initFDs)
	}
	return nil
}
