package mpiglue_test

import (
	"errors"
	"fmt"
	"log"
	"runtime"

	"github.com/pyhost/pyhost/mpiglue"
)

// The start-up sequence of an MPI-aware host: initialize only in the
// process a launcher started (not in its children), broadcast peer 0's
// index once, finalize at exit.
func Example() {
	run := mpiglue.Detect()
	if err := run.Mark(); err != nil { // what this process starts is no rank
		log.Fatal(err)
	}
	if w := run.Warning(); w != "" {
		log.Print(w) // stale launcher variables: run alone
	}
	if run.Role != mpiglue.Launched {
		return // a plain run: MPI is never loaded
	}
	runtime.LockOSThread() // Init and Finalize on one OS thread
	defer runtime.UnlockOSThread()
	if err := mpiglue.Init(mpiglue.Options{Launch: run, ShareKey: "settings"}); err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := mpiglue.Finalize(); err != nil {
			log.Print(err)
		}
	}()

	var index []byte
	if mpiglue.PeerRank() == 0 {
		index = []byte("...listing of sys.path...")
	}
	index, err := mpiglue.Bcast(index) // exactly once, on every rank
	if err != nil {
		log.Print(err)
		mpiglue.Abort(1) // ranks may now disagree: end the job
	}
	fmt.Printf("rank %d of %d (peer %d of %d) has %d bytes of index\n",
		mpiglue.Rank(), mpiglue.Size(), mpiglue.PeerRank(), mpiglue.PeerSize(), len(index))
}

func ExampleErrCode() {
	err := fmt.Errorf("mpiglue: MPI_Barrier: %w", &mpiglue.Error{Code: 5, Msg: "MPI_ERR_COMM: invalid communicator"})
	var mpiErr *mpiglue.Error
	fmt.Println(mpiglue.ErrCode(err), errors.As(err, &mpiErr), mpiErr.Msg)
	// Output: 5 true MPI_ERR_COMM: invalid communicator
}
