package cpython

// #include "safety.h"
import "C"

import (
	"errors"
	"runtime"
	"sync/atomic"
	"time"
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
//
// When no token has come back for overflowAfter while callers wait, the
// holders are stuck, not busy: they run long, or wait inside Python with
// the GIL released (queue.get, a lock, a socket), and the call that
// would end their wait must not be starved of a thread (four Do calls
// blocked in queue.get and a fifth that would put the items deadlocked).
// Then a waiter takes one of overflowSize more tokens, and the next may
// take another only after as long again (a stall that needs n more
// threads gets them at 20 a second). Many short calls give tokens back
// all the time and never overflow. Beyond both, callers wait in Go.
var gate = make(chan struct{}, gateSize)
var overflow = make(chan struct{}, overflowSize)

const (
	overflowSize  = 252
	overflowAfter = 50 * time.Millisecond
)

// token is the kind of gate token a hold has, as pyhost_gate_held
// records it for the thread: 0 none, 1 the gate's, 2 an overflow one.
type token int

// gaveAt is when a token last came back (time.Since(gateEpoch)).
var (
	gateEpoch = time.Now()
	gaveAt    atomic.Int64
)

// waitToken takes a token: the gate's, or an overflow one once no token
// has come back for overflowAfter; false if done was closed first.
func waitToken(done <-chan struct{}) (token, bool) {
	t := time.NewTimer(overflowAfter)
	defer t.Stop()
	for {
		select {
		case gate <- struct{}{}:
			return 1, true
		case <-done:
			return 0, false
		case <-t.C:
		}
		if idle := time.Since(gateEpoch) - time.Duration(gaveAt.Load()); idle >= overflowAfter {
			select {
			case gate <- struct{}{}:
				return 1, true
			case overflow <- struct{}{}:
				gaveAt.Store(int64(time.Since(gateEpoch))) // one at a time
				return 2, true
			case <-done:
				return 0, false
			}
		} else {
			t.Reset(overflowAfter - idle)
		}
	}
}

// give puts the token back.
func (t token) give() {
	gaveAt.Store(int64(time.Since(gateEpoch)))
	switch t {
	case 1:
		<-gate
	case 2:
		<-overflow
	}
}

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
	tok := token(1)
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
		var ok bool
		if tok, ok = waitToken(done); !ok {
			return ErrGaveUp
		}
	}
	runtime.LockOSThread()
	switch C.pyhost_acquire_gated(C.int(tok)) {
	case -1:
		runtime.UnlockOSThread()
		tok.give()
		return ErrNotRunning
	case 0: // nested
		runtime.UnlockOSThread()
		tok.give()
		return fn()
	}
	gilEpoch.Add(1)
	defer func() {
		gilEpoch.Add(1)
		held := token(C.pyhost_gate_held()) // AllowThreads may have changed it
		C.pyhost_release_gated()
		runtime.UnlockOSThread()
		held.give()
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
	held := token(C.pyhost_gate_held())
	gilEpoch.Add(1)
	ts := C.PyEval_SaveThread()
	if held != 0 {
		C.pyhost_set_gate_held(0)
		held.give()
	}
	defer func() {
		if held != 0 {
			t, _ := waitToken(nil)
			C.pyhost_set_gate_held(C.int(t))
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
