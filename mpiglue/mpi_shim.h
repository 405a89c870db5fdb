/* mpi_shim.h: the C surface of mpiglue.
 *
 * Nothing here mentions an MPI type: cgo sees plain ints and pointers, and
 * no file includes mpi.h (see mpi_shim.c for why). Every function returns an MPI error code
 * (0 is success) unless documented otherwise. None of them may be called
 * before pyhost_mpi_load or pyhost_mpi_adopt has succeeded.
 */
#ifndef PYHOST_MPI_SHIM_H
#define PYHOST_MPI_SHIM_H

#include <stdint.h>

/* Portable thread levels, independent of the implementation's enum. */
enum {
	PYHOST_MPI_THREAD_SINGLE = 0,
	PYHOST_MPI_THREAD_FUNNELED = 1,
	PYHOST_MPI_THREAD_SERIALIZED = 2,
	PYHOST_MPI_THREAD_MULTIPLE = 3
};

/* pyhost_mpi_load dlopens name with RTLD_NOW|RTLD_GLOBAL and resolves every
 * function and predefined handle the shim uses. Returns 0 on success;
 * otherwise -1 with a message in err (always NUL-terminated). */
int pyhost_mpi_load(const char *name, char *err, int errlen);

/* pyhost_mpi_adopt is pyhost_mpi_load for a library that is already in the
 * process (RTLD_NOLOAD): it never maps a new library. Returns 0 on success,
 * -1 if name is not loaded or lacks a symbol. */
int pyhost_mpi_adopt(const char *name);

int pyhost_mpi_initialized(int *flag);
int pyhost_mpi_finalized(int *flag);
int pyhost_mpi_init_thread(int required, int *provided);
int pyhost_mpi_query_thread(int *provided);
int pyhost_mpi_world_errors_return(void);
int pyhost_mpi_world_rank(int *rank);
int pyhost_mpi_world_size(int *size);
int pyhost_mpi_is_openmpi(void); /* 1: Open MPI's ABI, 0: MPICH's */

/* pyhost_mpi_appnum reads MPI_COMM_WORLD's MPI_APPNUM attribute; *flag is 0
 * if the launcher did not set it. */
int pyhost_mpi_appnum(int *appnum, int *flag);

/* pyhost_mpi_make_peers makes pyhost's own communicator: the world ranks
 * listed (ascending; collective over them only), split by color. Every
 * collective below runs on it; before it, on MPI_COMM_NULL (an error). */
int pyhost_mpi_make_peers(const int *ranks, int n, int color, int *rank, int *size);

/* pyhost_mpi_app_state is the application's view kept by the interposed
 * MPI_Init and friends (level -1 before the application initialized). */
void pyhost_mpi_app_state(int *initialized, int *finalized, int *level);

/* Collectives on pyhost's own communicator, root 0, datatype MPI_BYTE or MPI_INT64_T. */
int pyhost_mpi_bcast_bytes(void *buf, int count);
int pyhost_mpi_bcast_int64(int64_t *value);
int pyhost_mpi_allgather_int64(int64_t value, int64_t *all);
int pyhost_mpi_gatherv_bytes(const void *send, int count, void *recv,
	const int *counts, const int *displs);
int pyhost_mpi_barrier(void);
int pyhost_mpi_abort(int code); /* MPI_Abort(MPI_COMM_WORLD) */
int pyhost_mpi_finalize(void);

/* String results are copied into buf (NUL-terminated, truncated to len). */
int pyhost_mpi_error_string(int code, char *buf, int len);
int pyhost_mpi_library_version(char *buf, int len);

void pyhost_mpi_refuse_app_init(const char *why);

#endif
