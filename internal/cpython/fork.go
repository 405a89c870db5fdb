package cpython

// #include "shim.h"
import "C"

import (
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// A process that forks without exec (os.fork, multiprocessing's fork
// start method, a daemon's double fork) leaves its child one thread: the
// one that forked. Go's runtime in the child still counts the others (its
// system monitor, its idle threads, the thread that starts new ones) and
// waits for them, forever, as soon as Go code there needs one: a garbage
// collection (its mark workers run on other threads), a goroutine waited
// for. Python's own code runs on in the child, and so must the importer's
// calls into Go; so, around every fork(), the collector is turned off
// (SetGCPercent waits for a collection under way to end first, so that
// none is half done in the child) and, in the parent, on again: the child
// keeps it off (the importer allocates little). And the work Go does at
// exit (AtExit: the cache, MPI) is the parent's alone: a child that ends
// normally skips it, as it would have hung in it.
var forks struct {
	sync.Mutex
	n     int // forks under way in the parent
	saved int // the collector's setting before the first of them
}

// forkedChild is set in a child of fork() (see above).
var forkedChild atomic.Bool

//export goBeforeFork
func goBeforeFork() {
	forks.Lock()
	defer forks.Unlock()
	if forks.n == 0 {
		forks.saved = debug.SetGCPercent(-1)
	}
	forks.n++
}

//export goAfterForkParent
func goAfterForkParent() {
	forks.Lock()
	defer forks.Unlock()
	forks.n--
	if forks.n == 0 {
		debug.SetGCPercent(forks.saved)
	}
}

//export goAfterForkChild
func goAfterForkChild() {
	forkedChild.Store(true)
	// The mutex was not held across the fork (goBeforeFork returned), and
	// the child's count is its own.
	forks.n = 0
}

// ForkedChild reports whether this process is a child of fork() (without
// exec) of the process Go's runtime started in.
func ForkedChild() bool { return forkedChild.Load() }

var atforkOnce sync.Once

// registerAtFork installs the fork handlers above, once.
func registerAtFork() {
	atforkOnce.Do(func() { C.pyhost_register_atfork() })
}
