// Resource limits that Go's runtime cannot start under, checked by a C
// constructor before it starts: where python3 would run and pyhost cannot,
// pyhost says so in one line and exits with status 1, instead of the Go
// runtime's crash with a stack trace (see check_limits).
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

// Go's runtime reserves about 1.2 GB of address space at start (page
// summaries, the scavenger's index, the arena map: reserved, never
// touched), and its threads need their stacks: below this limit on the
// address space (ulimit -v) it cannot start.
#define PYHOST_MIN_AS_MB 1344

// Below this address-space limit, malloc arenas are capped (check_limits).
#define PYHOST_ARENA_CAP_BELOW_MB 4096

// The data limit (ulimit -d: private writable memory, thread stacks and
// the memory Go's runtime and malloc have committed) below which pyhost
// cannot start: measured, with the arenas capped, and rounded up.
#define PYHOST_MIN_DATA_MB 128

// The address space of one more malloc arena (HEAP_MAX_SIZE on 64-bit).
#define PYHOST_ARENA_MB 64

// Go's runtime starts up to five threads besides the main one (the
// system monitor, the template thread, the workers of its two
// processors, one more while a call blocks in C).
#define PYHOST_GO_THREADS 5

static void refuse(const char *what, const char *fix) {
	fprintf(stderr, "pyhost: %s; %s\n", what, fix);
	fflush(stderr);
	_exit(1);
}

// threads_of counts the threads of the processes whose real user is uid
// (what RLIMIT_NPROC counts), or -1 when /proc cannot tell.
static long threads_of(uid_t uid) {
	DIR *d = opendir("/proc");
	if (d == NULL) {
		return -1;
	}
	long n = 0;
	struct dirent *e;
	char path[64], line[256];
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9') {
			continue;
		}
		snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
		FILE *f = fopen(path, "re");
		if (f == NULL) {
			continue;
		}
		long real = -1, threads = 0;
		while (fgets(line, sizeof line, f) != NULL) {
			if (strncmp(line, "Uid:", 4) == 0) {
				real = strtol(line + 4, NULL, 10);
			} else if (strncmp(line, "Threads:", 8) == 0) {
				threads = strtol(line + 8, NULL, 10);
				break;
			}
		}
		fclose(f);
		if (real == (long)uid) {
			n += threads;
		}
	}
	closedir(d);
	return n;
}

// arenas_allowed is the number of malloc arenas MALLOC_ARENA_MAX allows
// (0: it is not set, or not a number).
static long arenas_allowed(void) {
	const char *v = getenv("MALLOC_ARENA_MAX");
	if (v == NULL || *v == '\0') {
		return 0;
	}
	char *end;
	long n = strtol(v, &end, 10);
	return *end == '\0' && n > 0 ? n : 0;
}

__attribute__((constructor)) static void check_limits(void) {
	struct rlimit r;
	char what[256], fix[256];
	int as_set = 0, data_set = 0;
	unsigned long long as_kb = 0, data_kb = 0;
	if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY) {
		as_set = 1, as_kb = (unsigned long long)r.rlim_cur >> 10;
	}
	if (getrlimit(RLIMIT_DATA, &r) == 0 && r.rlim_cur != RLIM_INFINITY) {
		data_set = 1, data_kb = (unsigned long long)r.rlim_cur >> 10;
	}
	unsigned long long as_mb = as_kb >> 10, data_mb = data_kb >> 10;
	// Under a tight limit, glibc's malloc arenas (64 MB of address space
	// for each thread that allocates, Go's four included, and what each
	// commits) would take what the runtime and the program need: one
	// arena, as MALLOC_ARENA_MAX=1 gives. Not under a limit as large as a
	// node's memory, where the arenas cost nothing that counts and threads
	// allocate in parallel. A MALLOC_ARENA_MAX the user set stands, and
	// the address space its arenas take beyond the first is added to what
	// pyhost needs.
	long arenas = arenas_allowed();
	if ((as_set && as_mb < PYHOST_ARENA_CAP_BELOW_MB || data_set && data_mb < PYHOST_ARENA_CAP_BELOW_MB) && arenas == 0 &&
	    getenv("MALLOC_ARENA_MAX") == NULL) {
		mallopt(M_ARENA_MAX, 1);
	}
	if (as_set) {
		long extra = arenas > 1 ? (arenas < PYHOST_GO_THREADS + 1 ? arenas : PYHOST_GO_THREADS + 1) - 1 : 0;
		unsigned long long need = PYHOST_MIN_AS_MB + extra * PYHOST_ARENA_MB;
		if (as_mb < need) {
			snprintf(what, sizeof what,
				"the address-space limit (ulimit -v %llu) is below the %llu MB that pyhost needs to start%s",
				as_kb, need, extra ? " with MALLOC_ARENA_MAX's arenas" : "");
			snprintf(fix, sizeof fix, "raise it to at least ulimit -v %llu plus what the program needs", need << 10);
			refuse(what, fix);
		}
	}
	if (data_set && data_mb < PYHOST_MIN_DATA_MB) {
		snprintf(what, sizeof what, "the data limit (ulimit -d %llu) is below the %d MB that pyhost needs to start",
			data_kb, PYHOST_MIN_DATA_MB);
		snprintf(fix, sizeof fix, "raise it to at least ulimit -d %d plus what the program needs", PYHOST_MIN_DATA_MB << 10);
		refuse(what, fix);
	}
	// Root is not held to RLIMIT_NPROC. Only a small limit is worth the
	// count (a read of /proc/<pid>/status for every process): a large
	// one that the user's processes nearly fill is not noticed here.
	if (getrlimit(RLIMIT_NPROC, &r) == 0 && r.rlim_cur != RLIM_INFINITY && r.rlim_cur < 256 && getuid() != 0) {
		long used = threads_of(getuid());
		// used counts this process's main thread already.
		if (used >= 0 && used + PYHOST_GO_THREADS > (long)r.rlim_cur) {
			snprintf(what, sizeof what,
				"the process limit (ulimit -u %llu) leaves room for %ld more threads, and pyhost's runtime starts up to %d",
				(unsigned long long)r.rlim_cur, (long)r.rlim_cur - used, PYHOST_GO_THREADS);
			snprintf(fix, sizeof fix, "raise it to at least ulimit -u %ld",
				used + PYHOST_GO_THREADS);
			refuse(what, fix);
		}
	}
}
