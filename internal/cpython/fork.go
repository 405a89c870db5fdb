package cpython

// #include "shim.h"
import "C"

import (
	"runtime/debug"
	"sync"
)

// A process that forks without exec (os.fork, multiprocessing's fork
// start method, a daemon's double fork) leaves its child one thread: the
// one that forked. Go's runtime in the child still counts the others (its
// system monitor, its idle threads, the thread that starts new ones) and
// waits for them, forever, as soon as Go code there must be scheduled: a
// garbage collection (its mark workers run on other threads), a goroutine
// waited for, a preemption request left pending by the parent's system
// monitor (seen in a child forked from a Python thread, in the handler
// below when it still called Go). So no Go code runs in a child unless the
// program calls pyhost's own functions there: the handler that marks the
// child is C, the importer leaves it (finder.py's fork hook: CPython's own
// machinery answers its imports), and the work Go does at exit (AtExit:
// the cache, MPI) and at an uncaught exception (MPI_Abort) is the
// parent's. And, in case Go code runs there anyway, the collector is
// turned off around every fork() (SetGCPercent waits for a collection
// under way to end first, so that none is half done in the child) and on
// again in the parent; the child keeps it off.
var forks struct {
	sync.Mutex
	n     int // forks under way in the parent
	saved int // the collector's setting before the first of them
}

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

var atforkOnce sync.Once

// registerAtFork installs the fork handlers above, once.
func registerAtFork() {
	atforkOnce.Do(func() { C.pyhost_register_atfork() })
}
