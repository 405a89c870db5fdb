//go:build cgo && !nompi

/* mpi_shim.c: every MPI call pyhost makes, through dlsym'd pointers.
 *
 * The binary must not list libmpi as NEEDED (a plain run would pay for
 * loading Open MPI), so this file never references an MPI symbol: function
 * pointer types come from mpi.h's prototypes via __typeof__ (unevaluated, so
 * no relocation), and in Open MPI the predefined handles, which mpi.h defines
 * as addresses of global objects, are looked up with dlsym too. In MPICH the
 * handles are integer constants and are used as is.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <mpi.h>

#include "mpi_shim.h"

static void *lib;

#define FN(name) static __typeof__(name) *p_##name
FN(MPI_Initialized);
FN(MPI_Finalized);
FN(MPI_Init_thread);
FN(MPI_Query_thread);
FN(MPI_Comm_set_errhandler);
FN(MPI_Comm_rank);
FN(MPI_Comm_size);
FN(MPI_Bcast);
FN(MPI_Allgather);
FN(MPI_Gatherv);
FN(MPI_Barrier);
FN(MPI_Abort);
FN(MPI_Finalize);
FN(MPI_Error_string);
FN(MPI_Get_library_version);
#undef FN

static MPI_Comm h_comm_world;
static MPI_Datatype h_byte;
static MPI_Datatype h_int64;
static MPI_Errhandler h_errors_return;

/* resolve fills the pointers from handle h; on failure it names the missing
 * symbol and leaves the shim unusable (lib stays NULL). */
static int resolve(void *h, char *err, int errlen) {
	const char *missing = NULL;
#define SYM(dst, name)                                   \
	do {                                                 \
		void *s = dlsym(h, name);                        \
		if (s == NULL && missing == NULL) missing = name; \
		*(void **)(&dst) = s;                            \
	} while (0)
	SYM(p_MPI_Initialized, "MPI_Initialized");
	SYM(p_MPI_Finalized, "MPI_Finalized");
	SYM(p_MPI_Init_thread, "MPI_Init_thread");
	SYM(p_MPI_Query_thread, "MPI_Query_thread");
	SYM(p_MPI_Comm_set_errhandler, "MPI_Comm_set_errhandler");
	SYM(p_MPI_Comm_rank, "MPI_Comm_rank");
	SYM(p_MPI_Comm_size, "MPI_Comm_size");
	SYM(p_MPI_Bcast, "MPI_Bcast");
	SYM(p_MPI_Allgather, "MPI_Allgather");
	SYM(p_MPI_Gatherv, "MPI_Gatherv");
	SYM(p_MPI_Barrier, "MPI_Barrier");
	SYM(p_MPI_Abort, "MPI_Abort");
	SYM(p_MPI_Finalize, "MPI_Finalize");
	SYM(p_MPI_Error_string, "MPI_Error_string");
	SYM(p_MPI_Get_library_version, "MPI_Get_library_version");
#ifdef OPEN_MPI
	/* Open MPI: MPI_COMM_WORLD is &ompi_mpi_comm_world, and so on. */
	void *s;
#define HANDLE(dst, type, name)                          \
	do {                                                 \
		s = dlsym(h, name);                              \
		if (s == NULL && missing == NULL) missing = name; \
		dst = (type)s;                                   \
	} while (0)
	HANDLE(h_comm_world, MPI_Comm, "ompi_mpi_comm_world");
	HANDLE(h_byte, MPI_Datatype, "ompi_mpi_byte");
	HANDLE(h_int64, MPI_Datatype, "ompi_mpi_int64_t");
	HANDLE(h_errors_return, MPI_Errhandler, "ompi_mpi_errors_return");
#undef HANDLE
#else
	/* MPICH and derivatives: handles are compile-time integer constants. */
	h_comm_world = MPI_COMM_WORLD;
	h_byte = MPI_BYTE;
	h_int64 = MPI_INT64_T;
	h_errors_return = MPI_ERRORS_RETURN;
#endif
#undef SYM
	if (missing != NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, (size_t)errlen, "symbol %s not found", missing);
		return -1;
	}
	lib = h;
	return 0;
}

int pyhost_mpi_load(const char *name, char *err, int errlen) {
	/* RTLD_GLOBAL: Open MPI's plugins (mca_*.so) and mpi4py resolve libmpi's
	 * symbols from the global scope. */
	void *h = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, (size_t)errlen, "%s", e != NULL ? e : "dlopen failed");
		return -1;
	}
	if (resolve(h, err, errlen) != 0) {
		dlclose(h);
		return -1;
	}
	return 0;
}

int pyhost_mpi_adopt(const char *name) {
	void *h = dlopen(name, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
	if (h == NULL)
		return -1;
	if (resolve(h, NULL, 0) != 0) {
		dlclose(h);
		return -1;
	}
	return 0;
}

int pyhost_mpi_initialized(int *flag) { return p_MPI_Initialized(flag); }
int pyhost_mpi_finalized(int *flag) { return p_MPI_Finalized(flag); }

static int to_mpi_level(int level) {
	switch (level) {
	case PYHOST_MPI_THREAD_SINGLE: return MPI_THREAD_SINGLE;
	case PYHOST_MPI_THREAD_FUNNELED: return MPI_THREAD_FUNNELED;
	case PYHOST_MPI_THREAD_SERIALIZED: return MPI_THREAD_SERIALIZED;
	default: return MPI_THREAD_MULTIPLE;
	}
}

static int from_mpi_level(int level) {
	if (level == MPI_THREAD_SINGLE) return PYHOST_MPI_THREAD_SINGLE;
	if (level == MPI_THREAD_FUNNELED) return PYHOST_MPI_THREAD_FUNNELED;
	if (level == MPI_THREAD_SERIALIZED) return PYHOST_MPI_THREAD_SERIALIZED;
	if (level == MPI_THREAD_MULTIPLE) return PYHOST_MPI_THREAD_MULTIPLE;
	return -1;
}

int pyhost_mpi_init_thread(int required, int *provided) {
	int got = MPI_THREAD_SINGLE;
	/* argc/argv may be NULL since MPI-2; Open MPI takes its settings from
	 * the launcher's environment anyway. */
	int rc = p_MPI_Init_thread(NULL, NULL, to_mpi_level(required), &got);
	*provided = from_mpi_level(got);
	return rc;
}

int pyhost_mpi_query_thread(int *provided) {
	int got = MPI_THREAD_SINGLE;
	int rc = p_MPI_Query_thread(&got);
	*provided = from_mpi_level(got);
	return rc;
}

int pyhost_mpi_world_errors_return(void) {
	return p_MPI_Comm_set_errhandler(h_comm_world, h_errors_return);
}

int pyhost_mpi_world_rank(int *rank) { return p_MPI_Comm_rank(h_comm_world, rank); }
int pyhost_mpi_world_size(int *size) { return p_MPI_Comm_size(h_comm_world, size); }

int pyhost_mpi_bcast_bytes(void *buf, int count) {
	return p_MPI_Bcast(buf, count, h_byte, 0, h_comm_world);
}

int pyhost_mpi_bcast_int64(int64_t *value) {
	return p_MPI_Bcast(value, 1, h_int64, 0, h_comm_world);
}

int pyhost_mpi_allgather_int64(int64_t value, int64_t *all) {
	return p_MPI_Allgather(&value, 1, h_int64, all, 1, h_int64, h_comm_world);
}

int pyhost_mpi_gatherv_bytes(const void *send, int count, void *recv,
	const int *counts, const int *displs) {
	return p_MPI_Gatherv(send, count, h_byte, recv, counts, displs, h_byte, 0,
		h_comm_world);
}

int pyhost_mpi_barrier(void) { return p_MPI_Barrier(h_comm_world); }
int pyhost_mpi_abort(int code) { return p_MPI_Abort(h_comm_world, code); }
int pyhost_mpi_finalize(void) { return p_MPI_Finalize(); }

int pyhost_mpi_error_string(int code, char *buf, int len) {
	char s[MPI_MAX_ERROR_STRING + 1];
	int n = 0;
	int rc = p_MPI_Error_string(code, s, &n);
	if (rc != MPI_SUCCESS || n < 0) n = 0;
	if (n > MPI_MAX_ERROR_STRING) n = MPI_MAX_ERROR_STRING;
	s[n] = '\0';
	snprintf(buf, (size_t)len, "%s", s);
	return rc;
}

int pyhost_mpi_library_version(char *buf, int len) {
	char s[MPI_MAX_LIBRARY_VERSION_STRING + 1];
	int n = 0;
	int rc = p_MPI_Get_library_version(s, &n);
	if (rc != MPI_SUCCESS || n < 0) n = 0;
	if (n > MPI_MAX_LIBRARY_VERSION_STRING) n = MPI_MAX_LIBRARY_VERSION_STRING;
	s[n] = '\0';
	snprintf(buf, (size_t)len, "%s", s);
	return rc;
}
