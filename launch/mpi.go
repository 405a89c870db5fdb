package launch

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/internal/dirfd"
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
		if interactive {
			return s.Stats
		}
		if uncaught.Load() {
			mpiglue.Abort(1) // an uncaught exception (abortSource)
		}
		if st := cpython.RequestedExitStatus(); st != 0 {
			mpiglue.Abort(st)
		}
		return s.Stats
	})
	// Registered first, so it runs last: after the stats are gathered.
	pid := os.Getpid()
	if err := cpython.AtExit(func() {
		if app, _, _ := mpiglue.AppState(); !app && os.Getpid() == pid {
			l.releaseProgramFiles()
		}
		_ = mpiglue.Finalize()
	}); err != nil {
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

// A program that never initialises MPI is no MPI process under python3:
// when it ends, its process ends, and what it held goes with it. Under
// pyhost its rank then waits in MPI_Finalize, which Open MPI makes wait
// for every rank, and a rank that waits for this one's end (for a lock
// it held, for the end of a pipe it writes) waited forever. So before
// that wait, the files the program opened and left open (its raw
// descriptors: os.open, fcntl.flock's, a FIFO's write end) are closed,
// as its exit would close them: those opened after start-up, when
// pyhost's own and MPI's were open already, that are not sockets or
// shared memory (MPI's own traffic may open those later). The process
// itself still lives until the other ranks finalise (a rank that waits
// for its pid to go still waits; README).

// fileID is what a descriptor refers to, and its type.
type fileID struct {
	dev, ino uint64
	mode     uint32
}

// openFiles is this process's open descriptors and what each refers to
// (nil when /proc cannot tell).
func openFiles() map[int]fileID {
	names, err := dirfd.ReadDirNames("/proc/self/fd")
	if err != nil {
		return nil
	}
	out := make(map[int]fileID, len(names))
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil {
			out[fd] = fileID{uint64(st.Dev), st.Ino, st.Mode & unix.S_IFMT}
		}
	}
	return out
}

// noteStartFiles records the descriptors open when the program starts.
func (l *launcher) noteStartFiles() {
	if l.mpi {
		l.startFiles = openFiles()
	}
}

// releaseProgramFiles closes the descriptors the program opened and left
// open (see above).
func (l *launcher) releaseProgramFiles() {
	if l.startFiles == nil {
		return
	}
	for fd, id := range openFiles() {
		if fd <= 2 {
			continue
		}
		if was, ok := l.startFiles[fd]; ok && was == id {
			continue
		}
		switch id.mode {
		case unix.S_IFREG, unix.S_IFDIR, unix.S_IFIFO, unix.S_IFCHR, unix.S_IFBLK:
		default:
			continue // sockets, event and memory descriptors: maybe MPI's
		}
		if target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil && strings.HasPrefix(target, "/dev/shm/") {
			continue // shared memory: maybe MPI's
		}
		unix.Close(fd)
	}
}
