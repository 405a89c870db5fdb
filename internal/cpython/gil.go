package cpython

// #include "shim.h"
import "C"

import (
	"errors"
	"runtime"
	"sync/atomic"
)

// GIL is what HoldsGIL says of the calling thread.
type GIL int

const (
	GILNotRunning GIL = -1 // Python is not running (not started, or finalised)
	GILNotHeld    GIL = 0
	GILHeld       GIL = 1
)

// HoldsGIL says whether the calling thread holds the GIL. Safe at any
// time, from any thread (unlike PyGILState_Check, which answers 1 before
// start-up and after finalisation).
func HoldsGIL() GIL { return GIL(C.pyhost_holds_gil()) }

// ErrNotRunning is returned by WithGIL when Python is not running.
var ErrNotRunning = errors.New("cpython: the Python interpreter is not running")

// gilEpoch is touched with the GIL held on taking and before giving it
// back: the race detector does not see the GIL itself, and this atomic
// makes every hold happen after the previous one, as the GIL does.
var gilEpoch atomic.Int64

// WithGIL runs fn with the GIL held and the goroutine locked to its OS
// thread: the one place that takes the two together. A thread that holds
// the GIL already (nested calls) runs fn as it is. The thread state made
// for an OS thread the first time is kept for it: making and deleting one
// per call would cost more than the call. References queued by Release
// are released first. It returns ErrNotRunning without running fn when
// Python is not running.
func WithGIL(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	switch C.pyhost_acquire() {
	case -1:
		return ErrNotRunning
	case 1:
		gilEpoch.Add(1)
		defer func() {
			gilEpoch.Add(1)
			C.pyhost_release()
		}()
		DrainReleases()
	}
	return fn()
}

// AllowThreads runs fn with the GIL released (PyEval_SaveThread and
// RestoreThread around it), on the calling thread, which holds the GIL
// and stays locked to its goroutine (WithGIL, or a call from Python,
// locked it).
func AllowThreads(fn func()) {
	gilEpoch.Add(1)
	ts := C.PyEval_SaveThread()
	defer func() {
		C.PyEval_RestoreThread(ts)
		gilEpoch.Add(1)
	}()
	fn()
}

// ThreadIdent is the calling thread's id as CPython's thread states
// record it.
func ThreadIdent() uint64 { return uint64(C.pyhost_thread_ident()) }

// AsyncCancel schedules the private cancellation exception (see
// MakeCancelled) in thread tid (cancel true), or withdraws one not yet
// raised. The GIL must be held.
func AsyncCancel(tid uint64, cancel bool) {
	c := C.int(0)
	if cancel {
		c = 1
	}
	C.pyhost_async_cancel(C.ulong(tid), c)
}
