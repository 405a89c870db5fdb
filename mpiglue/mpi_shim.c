//go:build cgo && !nompi

/* mpi_shim.c: every MPI call pyhost makes, through dlsym'd pointers, for
 * both MPI ABIs in one binary.
 *
 * The binary must not list libmpi as NEEDED (a plain run would pay for
 * loading MPI), and one pyhost must run under Open MPI's mpirun and under
 * MPICH's hydra, whose libraries differ in ABI: Open MPI's handles
 * (MPI_COMM_WORLD, MPI_BYTE, ...) are addresses of global objects, found
 * here with dlsym; MPICH's (and its ABI's: libmpi.so.12) are integer
 * constants. So this file includes no mpi.h: a handle is a uintptr_t, which
 * the x86-64 and AArch64 calling conventions pass in the same register as
 * MPICH's int or Open MPI's pointer; handles an MPI call writes back
 * (MPI_Comm *, MPI_Group *) land in a zeroed uintptr_t, whose low half is
 * MPICH's int on these little-endian machines. The few constants that
 * differ are in struct abi below, from each implementation's mpi.h.
 *
 * The second half interposes MPI_Init and friends for the application
 * (see mpi_interpose below).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi_shim.h"
#include "_cgo_export.h"

typedef uintptr_t handle;

static void *lib;

static int (*p_initialized)(int *);
static int (*p_finalized)(int *);
static int (*p_init_thread)(int *, char ***, int, int *);
static int (*p_query_thread)(int *);
static int (*p_comm_set_errhandler)(handle, handle);
static int (*p_comm_rank)(handle, int *);
static int (*p_comm_size)(handle, int *);
static int (*p_comm_get_attr)(handle, int, void *, int *);
static int (*p_comm_group)(handle, handle *);
static int (*p_group_incl)(handle, int, const int *, handle *);
static int (*p_group_free)(handle *);
static int (*p_comm_create_group)(handle, handle, int, handle *);
static int (*p_comm_split)(handle, int, int, handle *);
static int (*p_bcast)(void *, int, handle, int, handle);
static int (*p_allgather)(const void *, int, handle, void *, int, handle, handle);
static int (*p_gatherv)(const void *, int, handle, void *, const int *, const int *, handle, int, handle);
static int (*p_barrier)(handle);
/* Optional (MPI-3): without them the waits below are the blocking calls. */
static int (*p_ibcast)(void *, int, handle, int, handle, handle *);
static int (*p_ibarrier)(handle, handle *);
static int (*p_test)(handle *, int *, void *);
static int (*p_abort)(handle, int);
static int (*p_finalize)(void);
static int (*p_error_string)(int, char *, int *);
static int (*p_get_library_version)(char *, int *);

/* The ABI's handles and constants. */
static struct {
	int ompi; /* 1: Open MPI, 0: MPICH ABI */
	handle comm_world, comm_null, byte, int64, errors_return;
	void *status_ignore; /* MPI_STATUS_IGNORE */
	int appnum_keyval, err_other;
} abi;

/* pyhost's own communicator (MPI_COMM_NULL until pyhost_mpi_make_peers). */
static handle peers;

/* resolve fills the pointers from handle h; on failure it names the missing
 * symbol and leaves the shim unusable (lib stays NULL). */
static int resolve(void *h, char *err, int errlen) {
	const char *missing = NULL;
#define SYM(dst, name)                                    \
	do {                                                  \
		void *s = dlsym(h, name);                         \
		if (s == NULL && missing == NULL) missing = name; \
		*(void **)(&dst) = s;                             \
	} while (0)
	/* The PMPI_ names: the application's MPI_Init and friends may be
	 * pyhost's own interposers (exported by the executable). */
	SYM(p_initialized, "PMPI_Initialized");
	SYM(p_finalized, "PMPI_Finalized");
	SYM(p_init_thread, "PMPI_Init_thread");
	SYM(p_query_thread, "PMPI_Query_thread");
	SYM(p_comm_set_errhandler, "PMPI_Comm_set_errhandler");
	SYM(p_comm_rank, "PMPI_Comm_rank");
	SYM(p_comm_size, "PMPI_Comm_size");
	SYM(p_comm_get_attr, "PMPI_Comm_get_attr");
	SYM(p_comm_group, "PMPI_Comm_group");
	SYM(p_group_incl, "PMPI_Group_incl");
	SYM(p_group_free, "PMPI_Group_free");
	SYM(p_comm_create_group, "PMPI_Comm_create_group");
	SYM(p_comm_split, "PMPI_Comm_split");
	SYM(p_bcast, "PMPI_Bcast");
	SYM(p_allgather, "PMPI_Allgather");
	SYM(p_gatherv, "PMPI_Gatherv");
	SYM(p_barrier, "PMPI_Barrier");
	SYM(p_abort, "PMPI_Abort");
	SYM(p_finalize, "PMPI_Finalize");
	SYM(p_error_string, "PMPI_Error_string");
	SYM(p_get_library_version, "PMPI_Get_library_version");
#undef SYM
	*(void **)(&p_ibcast) = dlsym(h, "PMPI_Ibcast");
	*(void **)(&p_ibarrier) = dlsym(h, "PMPI_Ibarrier");
	*(void **)(&p_test) = dlsym(h, "PMPI_Test");
	if (missing == NULL) {
		void *world = dlsym(h, "ompi_mpi_comm_world");
		if (world != NULL) {
			/* Open MPI 4.x mpi.h: handles are &ompi_mpi_<name>; MPI_APPNUM
			 * is the fifth predefined attribute key (enum value 4). */
			abi.ompi = 1;
			abi.comm_world = (handle)world;
			abi.comm_null = (handle)dlsym(h, "ompi_mpi_comm_null");
			abi.byte = (handle)dlsym(h, "ompi_mpi_byte");
			abi.int64 = (handle)dlsym(h, "ompi_mpi_int64_t");
			abi.errors_return = (handle)dlsym(h, "ompi_mpi_errors_return");
			abi.appnum_keyval = 4;
			abi.err_other = 16;
			abi.status_ignore = (void *)0;
			if (!abi.comm_null || !abi.byte || !abi.int64 || !abi.errors_return)
				missing = "ompi_mpi_* predefined handles";
		} else if (dlsym(h, "MPIR_Err_return_comm") != NULL || dlsym(h, "MPICH_Version") != NULL ||
			dlsym(h, "MPIR_Process") != NULL) {
			/* MPICH ABI (MPICH, Intel MPI, MVAPICH): mpich/mpi.h. */
			abi.ompi = 0;
			abi.comm_world = 0x44000000;
			abi.comm_null = 0x04000000;
			abi.byte = 0x4c00010d;
			abi.int64 = 0x4c00083a;
			abi.errors_return = 0x54000001;
			abi.appnum_keyval = 0x6440000d;
			abi.err_other = 15;
			abi.status_ignore = (void *)1;
		} else {
			missing = "ompi_mpi_comm_world or MPICH's MPIR_Process (neither Open MPI nor MPICH ABI)";
		}
	}
	if (missing != NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, (size_t)errlen, "symbol %s not found", missing);
		return -1;
	}
	peers = abi.comm_null;
	lib = h;
	return 0;
}

/* make_global puts Open MPI's library in the global scope: its plugins
 * (mca_*.so) resolve libmpi's symbols from there. Any other stays local:
 * in the global scope, loaded before the application's own MPI library
 * (mpi4py built for Open MPI while MPICH's mpiexec launched pyhost), its
 * MPI_* symbols would come before that library's for the application's
 * calls, which would then mix two ABIs and crash; kept local, the
 * application gets its own library, whatever it makes of the launch, as
 * under python3. (An application built for this library binds to it
 * anyway: it is the object its DT_NEEDED names.) */
static void make_global(const char *name) {
	if (abi.ompi)
		dlopen(name, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD); /* a reference kept for good */
}

int pyhost_mpi_load(const char *name, char *err, int errlen) {
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, (size_t)errlen, "%s", e != NULL ? e : "dlopen failed");
		return -1;
	}
	if (resolve(h, err, errlen) != 0) {
		dlclose(h);
		return -1;
	}
	make_global(name);
	return 0;
}

int pyhost_mpi_adopt(const char *name) {
	void *h = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL)
		return -1;
	if (resolve(h, NULL, 0) != 0) {
		dlclose(h);
		return -1;
	}
	make_global(name);
	return 0;
}

int pyhost_mpi_is_openmpi(void) { return abi.ompi; }

int pyhost_mpi_initialized(int *flag) { return p_initialized(flag); }
int pyhost_mpi_finalized(int *flag) { return p_finalized(flag); }

/* owned: pyhost initialized MPI itself, so it also finalizes it, and the
 * application's MPI_Init and MPI_Finalize calls are answered on top. */
static int owned;

/* owner: the process that initialized MPI (not a child of it). */
static pid_t owner;

int pyhost_mpi_init_thread(int required, int *provided) {
	*provided = 0;
	/* argc/argv may be NULL since MPI-2. Thread levels are 0..3 in both
	 * ABIs. */
	int rc = p_init_thread(NULL, NULL, required, provided);
	if (rc == 0) {
		owned = 1;
		owner = getpid();
	}
	return rc;
}

int pyhost_mpi_query_thread(int *provided) { return p_query_thread(provided); }

int pyhost_mpi_world_errors_return(void) {
	return p_comm_set_errhandler(abi.comm_world, abi.errors_return);
}

int pyhost_mpi_world_rank(int *rank) { return p_comm_rank(abi.comm_world, rank); }
int pyhost_mpi_world_size(int *size) { return p_comm_size(abi.comm_world, size); }

int pyhost_mpi_appnum(int *appnum, int *flag) {
	int *v = NULL;
	*flag = 0;
	int rc = p_comm_get_attr(abi.comm_world, abi.appnum_keyval, &v, flag);
	if (rc == 0 && *flag && v != NULL)
		*appnum = *v;
	else
		*flag = 0;
	return rc;
}

int pyhost_mpi_make_peers(const int *ranks, int n, int color, int *rank, int *size) {
	handle world_group = 0, group = 0, app = 0, split = 0;
	int rc = p_comm_group(abi.comm_world, &world_group);
	if (rc != 0)
		return rc;
	rc = p_group_incl(world_group, n, ranks, &group);
	p_group_free(&world_group);
	if (rc != 0)
		return rc;
	/* Collective over the group's members only (MPI-3): ranks of other
	 * programs never take part. The tag keeps it apart from any other
	 * creation under way. */
	rc = p_comm_create_group(abi.comm_world, group, 0x7079, &app);
	p_group_free(&group);
	if (rc != 0)
		return rc;
	/* Ranks of one app context with different sharing settings end in
	 * different communicators. */
	rc = p_comm_split(app, color, 0, &split);
	if (rc != 0)
		return rc;
	rc = p_comm_set_errhandler(split, abi.errors_return);
	if (rc == 0)
		rc = p_comm_rank(split, rank);
	if (rc == 0)
		rc = p_comm_size(split, size);
	if (rc == 0)
		peers = split;
	return rc;
}

int pyhost_mpi_bcast_bytes(void *buf, int count) {
	return p_bcast(buf, count, abi.byte, 0, peers);
}

/* Waiting without the CPU. A rank blocked in an MPI call polls for its
 * message at full speed (Open MPI and MPICH busy-wait); in pyhost's start-up
 * the other ranks wait so for rank 0 to list, verify and read for them, and
 * with more ranks than cores on a node they took the CPU rank 0 needed
 * (measured: mpirun -np 8 on 2 cores, the heavy import, about 1 s more CPU
 * for the job than python3 + mpi4py). So the waits that can be long are
 * nonblocking calls, tested between sleeps that grow from 20 us to 1 ms:
 * at most about 1 ms later than a busy wait, per level of the broadcast's
 * tree. Rank 0, which only sends, tests without sleeping. */
static int patient_wait(handle *req, int sleeps) {
	long ns = 20000;
	for (;;) {
		int done = 0;
		int rc = p_test(req, &done, abi.status_ignore);
		if (rc != 0 || done) {
			return rc;
		}
		if (sleeps) {
			struct timespec ts = {0, ns};
			nanosleep(&ts, NULL);
			if (ns < 1000000) {
				ns *= 2;
			}
		}
	}
}

int pyhost_mpi_bcast_int64(int64_t *value) {
	if (p_ibcast == NULL || p_test == NULL) {
		return p_bcast(value, 1, abi.int64, 0, peers);
	}
	int rank = 0;
	int rc = p_comm_rank(peers, &rank);
	handle req = 0;
	if (rc == 0) {
		rc = p_ibcast(value, 1, abi.int64, 0, peers, &req);
	}
	if (rc == 0) {
		rc = patient_wait(&req, rank != 0);
	}
	return rc;
}

int pyhost_mpi_allgather_int64(int64_t value, int64_t *all) {
	return p_allgather(&value, 1, abi.int64, all, 1, abi.int64, peers);
}

int pyhost_mpi_gatherv_bytes(const void *send, int count, void *recv,
	const int *counts, const int *displs) {
	return p_gatherv(send, count, abi.byte, recv, counts, displs, abi.byte, 0, peers);
}

int pyhost_mpi_barrier(void) {
	if (p_ibarrier == NULL || p_test == NULL) {
		return p_barrier(peers);
	}
	handle req = 0;
	int rc = p_ibarrier(peers, &req);
	if (rc == 0) {
		rc = patient_wait(&req, 1);
	}
	return rc;
}
int pyhost_mpi_abort(int code) { return p_abort(abi.comm_world, code); }

int pyhost_mpi_finalize(void) {
	owned = 0;
	return p_finalize();
}

int pyhost_mpi_error_string(int code, char *buf, int len) {
	char s[8192 + 1];
	int n = 0;
	int rc = p_error_string(code, s, &n);
	if (rc != 0 || n < 0) n = 0;
	if (n > 8192) n = 8192;
	s[n] = '\0';
	snprintf(buf, (size_t)len, "%s", s);
	return rc;
}

int pyhost_mpi_library_version(char *buf, int len) {
	char s[8192 + 1];
	int n = 0;
	int rc = p_get_library_version(s, &n);
	if (rc != 0 || n < 0) n = 0;
	if (n > 8192) n = 8192;
	s[n] = '\0';
	snprintf(buf, (size_t)len, "%s", s);
	return rc;
}

/* mpi_interpose: the application's view of MPI's lifetime.
 *
 * pyhost initializes MPI before the script runs (it shares its import
 * index at start-up). The executable links with --export-dynamic, so these
 * definitions come first in the global scope and mpi4py's MPI.so (or any
 * extension calling MPI) binds its MPI_Init, MPI_Init_thread,
 * MPI_Initialized, MPI_Finalize, MPI_Finalized and MPI_Query_thread to
 * them. While pyhost owns MPI they answer as an MPI that the application
 * alone initializes would: not initialized until the application calls
 * MPI_Init or MPI_Init_thread, then initialized at the level it asked for
 * (at most what the library provided pyhost, MPI_THREAD_MULTIPLE when the
 * library supports it), finalized once it calls MPI_Finalize; the real
 * MPI_Finalize runs at pyhost's exit. When pyhost does not own MPI (a plain
 * process, a descendant of a rank, -X pyhost.mpi=off) they pass every call
 * to the library's PMPI_ entry points, found among the loaded objects. */

static int app_initialized, app_finalized, app_level;

/* find_pmpi looks for a loaded object defining PMPI_Init_thread other than
 * *skip (NULL: any). */
struct pmpi_search {
	void *skip; /* a PMPI_Init_thread address to pass over */
	void *found;
};

static int find_pmpi(struct dl_phdr_info *info, size_t size, void *data) {
	(void)size;
	struct pmpi_search *q = data;
	if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0')
		return 0;
	void *h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
	if (h == NULL)
		return 0;
	void *f = dlsym(h, "PMPI_Init_thread");
	if (f != NULL && f != q->skip) {
		q->found = h;
		return 1;
	}
	dlclose(h);
	return 0;
}

/* foreign returns another MPI library than pyhost's, if the application
 * brought one (mpi4py built for Open MPI while pyhost runs MPICH under
 * srun --mpi=pmi2): the application's calls then go to it, as they would
 * under python3, whatever it makes of them. */
static int read_adds(struct dl_phdr_info *info, size_t size, void *data) {
	(void)size;
	*(unsigned long long *)data = info->dlpi_adds;
	return 1;
}

static void *foreign(void) {
	/* Rescanned only when objects were loaded since the last scan (mpi4py
	 * calls MPI_Initialized and MPI_Finalized often: every deallocation). */
	static void *h;
	static unsigned long long scanned;
	unsigned long long adds = 0;
	if (h != NULL || lib == NULL)
		return h;
	dl_iterate_phdr(read_adds, &adds);
	if (adds == scanned)
		return NULL;
	scanned = adds;
	struct pmpi_search q = {(void *)p_init_thread, NULL};
	dl_iterate_phdr(find_pmpi, &q);
	h = q.found;
	return h;
}

/* real returns the library's PMPI_ function name, or NULL. */
static void *real(const char *name) {
	static void *h;
	void *f = foreign();
	if (f != NULL)
		return dlsym(f, name);
	if (lib != NULL)
		return dlsym(lib, name);
	if (h == NULL) {
		struct pmpi_search q = {NULL, NULL};
		dl_iterate_phdr(find_pmpi, &q);
		h = q.found;
	}
	return h != NULL ? dlsym(h, name) : NULL;
}

/* answered: pyhost answers the application's calls itself. */
static int answered(void) { return owned && foreign() == NULL; }

typedef int (*init_thread_fn)(int *, char ***, int, int *);
typedef int (*init_fn)(int *, char ***);
typedef int (*flag_fn)(int *);
typedef int (*void_fn)(void);

#define PASS(type, name, ...)                                  \
	do {                                                       \
		type f = (type)real("P" name);                         \
		if (f == NULL) {                                       \
			fprintf(stderr, "pyhost: %s: no MPI library is loaded\n", name); \
			return 16;                                         \
		}                                                      \
		return f(__VA_ARGS__);                                 \
	} while (0)

/* refused: the application's MPI_Init fails with this line (see
 * RefuseAppInit in mpi.go); NULL: not refused. */
static const char *refused;

void pyhost_mpi_refuse_app_init(const char *why) { refused = why; }

#define REFUSE(name)                                             \
	do {                                                         \
		if (refused != NULL) {                                   \
			fprintf(stderr, "pyhost: %s: %s\n", name, refused); \
			fflush(stderr);                                      \
			return 16; /* MPI_ERR_OTHER (Open MPI's numbering) */ \
		}                                                        \
	} while (0)

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided) {
	REFUSE("MPI_Init_thread");
	if (!answered())
		PASS(init_thread_fn, "MPI_Init_thread", argc, argv, required, provided);
	if (app_finalized) /* the library's own answer: an error, as under python3 */
		PASS(init_thread_fn, "MPI_Init_thread", argc, argv, required, provided);
	if (app_initialized) {
		fprintf(stderr, "pyhost: MPI_Init_thread: MPI is already initialized\n");
		return abi.err_other;
	}
	int got = 0;
	int rc = p_query_thread(&got);
	if (rc != 0)
		return rc;
	app_level = required < got ? required : got;
	app_initialized = 1;
	if (provided != NULL)
		*provided = app_level;
	return 0;
}

int MPI_Init(int *argc, char ***argv) {
	REFUSE("MPI_Init");
	if (!answered() || app_finalized)
		PASS(init_fn, "MPI_Init", argc, argv);
	int provided;
	return MPI_Init_thread(argc, argv, 0 /* MPI_THREAD_SINGLE */, &provided);
}

int MPI_Initialized(int *flag) {
	if (!answered())
		PASS(flag_fn, "MPI_Initialized", flag);
	*flag = app_initialized;
	return 0;
}

int MPI_Finalized(int *flag) {
	if (!answered())
		PASS(flag_fn, "MPI_Finalized", flag);
	*flag = app_finalized;
	return 0;
}

int MPI_Finalize(void) {
	if (!answered())
		PASS(void_fn, "MPI_Finalize", );
	if (!app_initialized || app_finalized) {
		fprintf(stderr, "pyhost: MPI_Finalize: MPI is not initialized or already finalized\n");
		return abi.err_other;
	}
	app_finalized = 1;
	/* Finalized for real now, as the application's own MPI would be (a
	 * call after it fails at once; with the finalization only marked, a
	 * rank's collective after it waited for ranks gone into pyhost's
	 * MPI_Finalize at exit), unless pyhost's exit still needs MPI
	 * (goAppFinalize, which may also abort the job instead). */
	if (goAppFinalize() != 0)
		return 0;
	fflush(NULL);
	return p_finalize();
}

int MPI_Query_thread(int *provided) {
	if (!answered() || !app_initialized)
		PASS(flag_fn, "MPI_Query_thread", provided);
	*provided = app_level;
	return 0;
}

void pyhost_mpi_app_state(int *initialized, int *finalized, int *level) {
	*initialized = app_initialized;
	*finalized = app_finalized;
	*level = app_initialized ? app_level : -1;
}

/* A rank that leaves without Python's exit (os._exit) or replaces itself
 * (os.execv, os.execve): under python3 a program that never initialized
 * MPI is no MPI process, and leaving so is clean; with pyhost's MPI
 * initialized and never finalized, mpirun would report that the rank
 * "exited improperly" and fail the job. So MPI is finalized first, unless
 * the application holds it (initialized and not finalized: leaving without
 * MPI_Finalize is then its doing, as under python3 + mpi4py). In a child
 * (subprocess's vfork child, a fork) nothing is done. The finalization
 * waits for the other ranks to finalize too, as MPI_Finalize does: the
 * rank's process ends when theirs do (with a status other than 0, mpirun
 * then ends the job with it as it ends python3's, only later). Python's calls reach these through
 * -Wl,--wrap (mpi.go); an MPI program a rank executes still cannot
 * initialize MPI as that rank (see the README). */
static void finalize_for_app_exit(void) {
	if (!owned || getpid() != owner || (app_initialized && !app_finalized))
		return;
	int fin = 1;
	if (p_finalized != NULL && p_finalized(&fin) == 0 && !fin && p_finalize != NULL) {
		fflush(NULL);
		p_finalize();
	}
}

void __real__exit(int status) __attribute__((noreturn));
void __wrap__exit(int status) {
	/* A failure too: left unfinalized, the rank would leave the others
	 * waiting for it in MPI_Finalize under srun (mpirun ends the job). */
	finalize_for_app_exit();
	__real__exit(status);
}

int __real_execv(const char *path, char *const argv[]);
int __wrap_execv(const char *path, char *const argv[]) {
	finalize_for_app_exit();
	return __real_execv(path, argv);
}

int __real_execve(const char *path, char *const argv[], char *const envp[]);
int __wrap_execve(const char *path, char *const argv[], char *const envp[]) {
	finalize_for_app_exit();
	return __real_execve(path, argv, envp);
}

int __real_fexecve(int fd, char *const argv[], char *const envp[]);
int __wrap_fexecve(int fd, char *const argv[], char *const envp[]) {
	finalize_for_app_exit();
	return __real_fexecve(fd, argv, envp);
}
