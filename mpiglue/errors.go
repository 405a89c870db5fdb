package mpiglue

import (
	"errors"
	"fmt"
)

// Error is an error code returned by an MPI call, with the text
// MPI_Error_string gives for it. mpiglue returns it wrapped with the
// operation that failed ("mpiglue: MPI_Bcast: ..."); reach it with
// [errors.As] or read the code with [ErrCode].
type Error struct {
	Code int    // the implementation's error code (not portable across MPIs)
	Msg  string // from MPI_Error_string; may be empty
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("MPI error %d", e.Code)
	}
	return fmt.Sprintf("MPI error %d: %s", e.Code, e.Msg)
}

// ErrCode returns the MPI error code carried by err, or 0 (MPI_SUCCESS) if
// err holds no [*Error].
func ErrCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

var (
	// ErrNotBuilt is returned (wrapped) by every operation of a build
	// without MPI support: build tag nompi, or cgo disabled.
	ErrNotBuilt = errors.New("pyhost was built without MPI support (build tag nompi or CGO_ENABLED=0)")

	// ErrNoLibrary is returned (wrapped) when no MPI library could be
	// dlopened. See [Init] for the names tried.
	ErrNoLibrary = errors.New("no MPI library could be loaded")

	// ErrNotInitialized is returned (wrapped) by collectives called before
	// [Init] succeeded or after MPI was finalized.
	ErrNotInitialized = errors.New("MPI is not initialized")
)

// Thread support levels, as returned by [ThreadLevel]. They are mpiglue's
// own numbering, the same for every MPI implementation.
const (
	ThreadSingle     = 0
	ThreadFunneled   = 1
	ThreadSerialized = 2
	ThreadMultiple   = 3
)
