//go:build nompi || !cgo

package mpiglue

import (
	"fmt"
	"os"
)

// This file is the API of a build without MPI (tag nompi, or cgo off): no
// mpi.h is needed, nothing is loaded, and callers detect it with Available.

func notBuilt(op string) error { return fmt.Errorf("mpiglue: %s: %w", op, ErrNotBuilt) }

// Available reports whether this build of pyhost has MPI support: false.
func Available() bool { return false }

// Init fails with an error wrapping [ErrNotBuilt].
func Init(opts Options) error { return notBuilt("init") }

// PeerRank is 0.
func PeerRank() int { return 0 }

// PeerSize is 1.
func PeerSize() int { return 1 }

// Peers is "".
func Peers() string { return "" }

// AppState reports an application that never initialized MPI.
func AppState() (initialized, finalized bool, level int) { return false, false, -1 }

// Initialized is false: this build never initializes MPI.
func Initialized() bool { return false }

// Finalized is false.
func Finalized() bool { return false }

// Rank is 0.
func Rank() int { return 0 }

// Size is 1.
func Size() int { return 1 }

// ThreadLevel is -1: MPI was never initialized.
func ThreadLevel() int { return -1 }

// Library is "".
func Library() string { return "" }

// Bcast fails with an error wrapping [ErrNotBuilt].
func Bcast(data []byte) ([]byte, error) { return nil, notBuilt("bcast") }

// BcastInto fails with an error wrapping [ErrNotBuilt].
func BcastInto(data []byte, alloc func(n int) []byte) ([]byte, error) {
	return nil, notBuilt("bcast")
}

// Gather fails with an error wrapping [ErrNotBuilt].
func Gather(data []byte) ([][]byte, error) { return nil, notBuilt("gather") }

// Barrier fails with an error wrapping [ErrNotBuilt].
func Barrier() error { return notBuilt("barrier") }

// Abort exits this process with code.
func Abort(code int) { os.Exit(code) }

// Finalize does nothing and returns nil, so that exit paths need no build
// tag.
func Finalize() error { return nil }

// LibraryVersion is "".
func LibraryVersion(library string) string { return "" }

// RefuseAppInit does nothing without MPI: nothing of MPI is interposed.
func RefuseAppInit(why string) {}

// OnAppFinalize does nothing without MPI.
func OnAppFinalize(hook func() (keep bool)) {}
