package launch

import (
	"fmt"
	"os"

	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/internal/share"
	"github.com/pyhost/pyhost/mpiglue"
)

// startMPI is step 3: MPI is initialised when a launcher started this
// process, which is exactly when python3 + mpi4py would be an MPI rank:
// the process a launcher started, not its descendants (mpiglue.Detect).
// It runs before Python's os module copies the environment, so that
// Mark's variable (what tells this process's children they were not
// launched) reaches os.environ. Afterwards l.job is this rank among its
// peers: the ranks of its app context with the same sharing settings.
func (l *launcher) startMPI() error {
	run := mpiglue.Detect()
	// Whatever the settings, what this process starts is not launched.
	if err := run.Mark(); err != nil {
		return err
	}
	s := l.settings
	if run.Role == mpiglue.Descendant && run.Held && s.MPI != "on" {
		mpiglue.RefuseAppInit("this process descends from an MPI rank whose pyhost initialised MPI at start-up, " +
			"so it cannot join the job as that rank (python3 lets it when the rank itself never initialises MPI): " +
			"initialise MPI in the rank, or run the rank with -X pyhost.mpi=off")
	}
	if s.MPI == "off" || run.Role != mpiglue.Launched && s.MPI != "on" {
		if w := run.Warning(); w != "" && s.MPI != "off" {
			fmt.Fprintln(os.Stderr, w)
		}
		return nil
	}
	if !mpiglue.Available() {
		fmt.Fprintln(os.Stderr, "pyhost: started by an MPI launcher, but this pyhost was built without MPI (-tags nompi): each rank runs as a single process")
		return nil
	}
	if err := mpiglue.CheckResources(); err != nil {
		fmt.Fprintf(os.Stderr, "pyhost: %v: MPI is left to the application; pyhost shares nothing\n", err)
		return nil
	}
	opts := mpiglue.Options{ShareKey: shareKey(s), Launch: run}
	if !l.ignoreEnv {
		// It loads code: ignored under -E and -I, as every PYHOST_* is.
		opts.Library = os.Getenv("PYHOST_LIBMPI")
	}
	if err := mpiglue.Init(opts); err != nil {
		return fmt.Errorf("MPI initialization failed: %w", err)
	}
	if err := run.MarkHeld(); err != nil {
		return err
	}
	// The application's MPI_Finalize (mpi4py's at exit, or its own call)
	// finalizes for real, as python3 + mpi4py's does, except when this
	// rank is ending with sys.exit(n), n not 0: then the job is aborted
	// with n (see abortOnFailedExit), not left waiting in MPI_Finalize;
	// and the stats' gather at exit needs MPI until then. The hook may
	// run after Python is finalized (mpi4py finalizes from Py_AtExit): it
	// uses no Python.
	interactive := l.interactive()
	mpiglue.OnAppFinalize(func() bool {
		if st := cpython.RequestedExitStatus(); st != 0 && !interactive {
			mpiglue.Abort(st)
		}
		return s.Stats
	})
	// Registered first, so it runs last: after the stats are gathered.
	if err := cpython.AtExit(func() { _ = mpiglue.Finalize() }); err != nil {
		return err
	}
	l.mpi = true
	l.job = share.MPIJob()
	return nil
}

// shareKey is what peers must agree on to share: every pyhost setting
// that decides which collectives a rank makes (importer, cache, stats,
// ...). Ranks whose keys differ get different communicators.
func shareKey(s Settings) string {
	s.Concurrency = 0 // the root's own business
	return fmt.Sprintf("%+v", s)
}
