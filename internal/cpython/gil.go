package cpython

// #include "safety.h"
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

// gate bounds the goroutines that hold the GIL or wait for it inside C:
// a goroutine waiting in C pins its OS thread, and Go ends the process
// at 10,000 threads. The others wait here, in Go, where a blocked
// goroutine costs no thread. One runs Python at a time; the rest of the
// tokens keep a successor waiting in C for a quick hand-over.
var gate = make(chan struct{}, gateSize)

const gateSize = 4

// WithGIL runs fn with the GIL held and the goroutine locked to its OS
// thread: the one place that takes the two together. A thread that holds
// the GIL already (nested calls) runs fn as it is. Other callers first
// take a token of the gate (waiting in Go, unlocked, when all are taken),
// so that however many goroutines call at once, few OS threads wait. The
// thread state made for an OS thread the first time is kept for it:
// making and deleting one per call would cost more than the call.
// References queued by Release are released first. It returns
// ErrNotRunning without running fn when Python is not running.
func WithGIL(fn func() error) error { return WithGILDone(nil, fn) }

// ErrGaveUp is returned by WithGILDone when done was closed while the
// call waited for its turn: fn did not run.
var ErrGaveUp = errors.New("cpython: gave up waiting for the GIL")

// WithGILDone is WithGIL that stops waiting for a gate token when done is
// closed (a context's Done), returning ErrGaveUp without running fn. A
// call that has its token waits for the GIL itself to the end.
func WithGILDone(done <-chan struct{}, fn func() error) error {
	select {
	case gate <- struct{}{}:
		// A token at once (the common case): if this thread holds the
		// GIL already, pyhost_acquire_gated says so below.
	default:
		switch HoldsGIL() {
		case GILHeld:
			// Nested: the goroutine is locked to this thread already
			// (an unlocked goroutine never runs on a thread that holds
			// the GIL), and must not wait for a token.
			return fn()
		case GILNotRunning:
			return ErrNotRunning
		}
		select {
		case gate <- struct{}{}:
		case <-done:
			return ErrGaveUp
		}
	}
	runtime.LockOSThread()
	switch C.pyhost_acquire_gated() {
	case -1:
		runtime.UnlockOSThread()
		<-gate
		return ErrNotRunning
	case 0: // nested
		runtime.UnlockOSThread()
		<-gate
		return fn()
	}
	gilEpoch.Add(1)
	defer func() {
		gilEpoch.Add(1)
		C.pyhost_release_gated()
		runtime.UnlockOSThread()
		<-gate
	}()
	DrainReleases()
	return fn()
}

// WithGILUngated is WithGIL without the gate: for the few calls that
// must get the GIL while the gate's tokens may all be held by calls
// that run for ever (cancelling them). It waits in C, on its own thread.
func WithGILUngated(fn func() error) error {
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
// locked it). A hold that came through WithGIL gives its gate token back
// for the wait, so that waiting callers can run, and takes one again
// before it takes the GIL back (keeping its thread meanwhile).
func AllowThreads(fn func()) {
	gated := C.pyhost_gate_held() != 0
	gilEpoch.Add(1)
	ts := C.PyEval_SaveThread()
	if gated {
		C.pyhost_set_gate_held(0)
		<-gate
	}
	defer func() {
		if gated {
			gate <- struct{}{}
			C.pyhost_set_gate_held(1)
		}
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
