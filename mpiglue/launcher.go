package mpiglue

import "os"

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

// LauncherDetected reports whether an MPI launcher started this process,
// judged from the environment alone (see the list below): it loads nothing
// and costs a few getenv calls, so a plain run can call it unconditionally.
// A variable counts when it is set and non-empty.
//
// Variables checked: OMPI_COMM_WORLD_SIZE and OMPI_COMM_WORLD_RANK (Open
// MPI's mpirun), PMIX_RANK (PMIx launchers: Open MPI, prterun,
// srun --mpi=pmix), PMI_RANK, PMI_SIZE and PMI_FD (Hydra mpiexec of MPICH
// and Intel MPI, srun --mpi=pmi2), MPI_LOCALNRANKS and MPI_LOCALRANKID
// (Hydra).
//
// It is the same in builds without MPI, so the CLI can warn that it was
// launched by mpirun but cannot take part.
func LauncherDetected() bool {
	for _, name := range launcherVars {
		if os.Getenv(name) != "" {
			return true
		}
	}
	return false
}
