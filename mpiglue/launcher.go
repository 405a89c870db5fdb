package mpiglue

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// launcherVars are environment variables that MPI launchers set in the
// processes they start, and that a plain shell does not:
//
//   - OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_RANK: Open MPI's mpirun/mpiexec
//     (orterun in 4.x, prterun in 5.x).
//   - PMIX_RANK: any PMIx launcher (Open MPI >= 4, prterun, srun --mpi=pmix).
//   - PMI_RANK, PMI_SIZE, PMI_FD: PMI-1/PMI-2 launchers (MPICH's and Intel
//     MPI's Hydra mpiexec, srun --mpi=pmi2).
//   - MPI_LOCALNRANKS, MPI_LOCALRANKID: Hydra.
//
// Slurm's SLURM_PROCID is deliberately absent: sbatch sets it for serial
// batch steps too, where initializing MPI would be wrong.
var launcherVars = []string{
	"OMPI_COMM_WORLD_SIZE",
	"OMPI_COMM_WORLD_RANK",
	"PMIX_RANK",
	"PMI_RANK",
	"PMI_SIZE",
	"PMI_FD",
	"MPI_LOCALNRANKS",
	"MPI_LOCALRANKID",
}

// MarkVar is the variable a launched process sets in its own environment
// ([Launch.Mark]) so that its descendants, which inherit the launcher's
// variables unchanged, can tell that they were not started by the
// launcher. Its value is the launch's identity ([Launch.ID]) and the pid
// of the process that set it.
const MarkVar = "PYHOST_MPI_LAUNCHED"

// LauncherDetected reports whether any launcher variable is set (see
// [Detect] for what they are). It is true in a rank and in every process
// a rank starts; [Detect] tells them apart.
func LauncherDetected() bool {
	for _, name := range launcherVars {
		if os.Getenv(name) != "" {
			return true
		}
	}
	return false
}

// Role is what the environment makes of this process.
type Role int

const (
	// Alone: no launcher variable is set; a plain process.
	Alone Role = iota
	// Launched: a launcher started this process; it is an MPI rank.
	Launched
	// Descendant: the launcher variables were inherited from a rank
	// (subprocess, multiprocessing spawn or forkserver, os.exec): a plain
	// process, as python3 would be until it calls MPI_Init.
	Descendant
	// Stale: launcher variables name a launch that is gone or was never
	// there (a replayed environment): a plain process, with a warning.
	Stale
)

func (r Role) String() string {
	switch r {
	case Alone:
		return "alone"
	case Launched:
		return "launched"
	case Descendant:
		return "descendant"
	case Stale:
		return "stale"
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// Launch describes how this process was started, judged from its
// environment by [Detect].
type Launch struct {
	Role Role
	// Launcher names the launcher family: "openmpi" (mpirun of Open MPI,
	// PMIx), "hydra" (MPICH's mpiexec), "slurm-pmix", "slurm-pmi2",
	// "pmix" or "pmi" (another launcher of that protocol), or "" for
	// Alone.
	Launcher string
	// ID identifies this launch and rank: the same in a rank and in
	// everything it starts, different in a process a new launcher
	// started. Empty if it cannot be computed (Stale).
	ID string
	// Size is the number of processes the launcher says it started, or 0
	// if it does not say.
	Size int
	// Why says, for Descendant and Stale, what decided it.
	Why string
	// Held, for a Descendant: the rank it descends from initialised MPI
	// at start-up (pyhost does, [Launch.MarkHeld]), so this process
	// cannot join the job as that rank, as it could under python3 if the
	// rank never initialised MPI (see [RefuseAppInit]).
	Held bool
}

// Detect classifies this process from its environment alone, without
// loading MPI. The rule: a process is a rank when launcher variables are
// set, the launch they name is alive, and no ancestor under the same
// launch marked the environment ([Launch.Mark]).
//
// A launch is identified by its job and rank: PMIX_NAMESPACE and PMIX_RANK
// under PMIx (Open MPI, srun --mpi=pmix), which are new for every mpirun;
// under PMI-1/2 (Hydra, srun --mpi=pmi2), which has no job name in the
// environment, by PMI_RANK and the inode of the PMI_FD socket, which a
// nested launcher creates anew and a descendant inherits (or, closed by
// subprocess's close_fds, does not have: then it is a descendant if the
// environment is marked, stale if not).
//
// Liveness is checked as cheaply as it can be: PMI_FD must be an open
// socket; PMIX_SERVER_TMPDIR, if set, must exist (the launcher removes it
// at the end of the job).
func Detect() Launch {
	return detect(os.Getenv, fdIsSocket, dirExists)
}

// detect is Detect with its system calls as parameters, for tests.
func detect(getenv func(string) string, socketInode func(fd int) (uint64, bool), dirExists func(string) bool) Launch {
	set := func(name string) bool { return getenv(name) != "" }
	any := false
	for _, name := range launcherVars {
		any = any || set(name)
	}
	if !any {
		return Launch{Role: Alone}
	}
	l := Launch{Role: Launched}
	slurm := set("SLURM_JOB_ID") && set("SLURM_STEP_ID")
	mark, markRest, _ := strings.Cut(getenv(MarkVar), "@")
	gone := ""
	switch {
	case set("PMIX_RANK") && set("PMIX_NAMESPACE"):
		switch {
		case set("OMPI_COMM_WORLD_RANK"):
			l.Launcher = "openmpi"
		case slurm:
			l.Launcher = "slurm-pmix"
		default:
			l.Launcher = "pmix"
		}
		l.ID = "pmix:" + getenv("PMIX_NAMESPACE") + ":" + getenv("PMIX_RANK")
		if dir := getenv("PMIX_SERVER_TMPDIR"); dir != "" && !dirExists(dir) {
			gone = "PMIX_SERVER_TMPDIR " + dir + " does not exist"
		}
	case set("OMPI_COMM_WORLD_RANK"):
		// Open MPI without PMIx variables (older mpirun).
		l.Launcher = "openmpi"
		l.ID = "ompi:" + getenv("OMPI_MCA_ess_base_jobid") + ":" + getenv("OMPI_COMM_WORLD_RANK")
		if dir := getenv("OMPI_MCA_orte_jobfam_session_dir"); dir != "" && !dirExists(dir) {
			gone = "OMPI_MCA_orte_jobfam_session_dir " + dir + " does not exist"
		}
	case set("PMI_RANK") || set("PMI_FD") || set("PMI_SIZE"):
		switch {
		case slurm:
			l.Launcher = "slurm-pmi2"
		case set("HYDI_CONTROL_FD") || set("MPI_LOCALNRANKS"):
			l.Launcher = "hydra"
		default:
			l.Launcher = "pmi"
		}
		if fdText := getenv("PMI_FD"); fdText != "" {
			fd, err := strconv.Atoi(fdText)
			ino, ok := uint64(0), false
			if err == nil {
				ino, ok = socketInode(fd)
			}
			if !ok {
				gone = "PMI_FD " + fdText + " is not an open socket"
			} else {
				l.ID = fmt.Sprintf("pmi:%s:fd%d:ino%d", getenv("PMI_RANK"), fd, ino)
			}
		} else {
			// PMI_PORT (host:port) instead of an inherited socket: no
			// cheap liveness check; the port names the launch.
			l.ID = "pmi:" + getenv("PMI_RANK") + ":" + getenv("PMI_PORT")
		}
	default:
		// Variables of a launch without those that name a rank: Hydra's
		// MPI_LOCAL* alone, PMIX_RANK without PMIX_NAMESPACE,
		// OMPI_COMM_WORLD_SIZE without its rank. No launcher starts a
		// process so.
		var names []string
		hydra := true
		for _, name := range launcherVars {
			if set(name) {
				names = append(names, name)
				hydra = hydra && strings.HasPrefix(name, "MPI_LOCAL")
			}
		}
		l.Launcher = "MPI"
		if hydra {
			l.Launcher = "hydra"
		}
		gone = strings.Join(names, ", ") + " set without the variables that name a rank"
	}
	for _, v := range []string{"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"} {
		if n, err := strconv.Atoi(getenv(v)); err == nil && n > 0 {
			l.Size = n
			break
		}
	}
	switch {
	case mark != "" && (l.ID == mark || gone != ""):
		// Inherited: the mark of a rank of this launch, or of some rank
		// whose launcher's socket or directory this process lacks.
		l.Role = Descendant
		l.Why = MarkVar + " is set by an ancestor started by the same launcher"
		_, held, _ := strings.Cut(markRest, "@")
		l.Held = l.ID == mark && held == heldMark
	case gone != "":
		l.Role = Stale
		l.ID = ""
		l.Why = gone
	}
	return l
}

// Mark records in this process's environment that it is the process the
// launcher started, so that every process it starts, which inherits the
// launcher's variables, is a [Descendant]. Call it on a [Launched] process before
// Python's os module copies the environment (pyhost: in Setup). It uses
// os.Setenv, which in a cgo program also sets the C environment that
// execve and posix_spawn pass on.
func (l Launch) Mark() error {
	if l.Role != Launched {
		return nil
	}
	return os.Setenv(MarkVar, l.ID+"@"+strconv.Itoa(os.Getpid()))
}

// heldMark ends the mark of a rank whose pyhost initialised MPI.
const heldMark = "mpi"

// MarkHeld marks this [Launched] process's environment as [Launch.Mark]
// does, adding that it has initialised MPI: its descendants then refuse
// their application's MPI_Init (see [RefuseAppInit]). Call it right after
// [Init] succeeds, before Python's os module copies the environment.
func (l Launch) MarkHeld() error {
	if l.Role != Launched {
		return nil
	}
	return os.Setenv(MarkVar, l.ID+"@"+strconv.Itoa(os.Getpid())+"@"+heldMark)
}

// Warning is the one line to print for a [Stale] launch, "" otherwise.
func (l Launch) Warning() string {
	if l.Role != Stale {
		return ""
	}
	return fmt.Sprintf("pyhost: MPI launcher variables are set but name no live %s launch (%s): running as a single process", l.Launcher, l.Why)
}

// libraries returns the MPI libraries to try, in order, for this launch:
// the family the launcher belongs to first. MPICH's Hydra and srun's PMI-2
// plugin form jobs with MPICH (Open MPI 4 under srun needs PMIx); Open
// MPI's mpirun and PMIx launchers with Open MPI.
func (l Launch) libraries() []string {
	switch l.Launcher {
	case "hydra", "slurm-pmi2", "pmi":
		return []string{"libmpich.so.12", "libmpi.so.12", "libmpi.so.40", "libmpi.so"}
	}
	return []string{"libmpi.so.40", "libmpi.so.12", "libmpich.so.12", "libmpi.so"}
}

// fdIsSocket reports whether fd is an open socket, and its inode.
func fdIsSocket(fd int) (uint64, bool) {
	var st syscall.Stat_t
	if fd < 0 || syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return 0, false
	}
	return st.Ino, true
}

func dirExists(dir string) bool {
	st, err := os.Stat(dir)
	return err == nil && st.IsDir()
}
