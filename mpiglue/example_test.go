package mpiglue_test

import (
	"errors"
	"fmt"
	"log"
	"runtime"

	"github.com/pyhost/pyhost/mpiglue"
)

// The start-up sequence of an MPI-aware host: initialize only under a
// launcher, broadcast rank 0's index once, finalize at exit.
func Example() {
	if !mpiglue.LauncherDetected() {
		return // a plain run: MPI is never loaded
	}
	runtime.LockOSThread() // Init and Finalize on one OS thread
	defer runtime.UnlockOSThread()
	if err := mpiglue.Init(mpiglue.Options{}); err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := mpiglue.Finalize(); err != nil {
			log.Print(err)
		}
	}()

	var index []byte
	if mpiglue.Rank() == 0 {
		index = []byte("...listing of sys.path...")
	}
	index, err := mpiglue.Bcast(index) // exactly once, on every rank
	if err != nil {
		log.Print(err)
		mpiglue.Abort(1) // ranks may now disagree: end the job
	}
	fmt.Printf("rank %d of %d has %d bytes of index\n", mpiglue.Rank(), mpiglue.Size(), len(index))
}

func ExampleErrCode() {
	err := fmt.Errorf("mpiglue: MPI_Barrier: %w", &mpiglue.Error{Code: 5, Msg: "MPI_ERR_COMM: invalid communicator"})
	var mpiErr *mpiglue.Error
	fmt.Println(mpiglue.ErrCode(err), errors.As(err, &mpiErr), mpiErr.Msg)
	// Output: 5 true MPI_ERR_COMM: invalid communicator
}
