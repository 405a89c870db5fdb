// Resource limits and the plain run, read and chosen by C constructors
// before Go's runtime starts.
//
// Go's runtime costs a process about 1.3 GB of address space, some 100 MB
// of committed data, five threads and, on this project's machine, some
// 7 ms of start-up: under a finite limit on any of them, a program
// python3 runs can fail under pyhost, however large the limit, and where
// pyhost's importer has nothing to save (nothing_to_save: no directory its
// search path starts from on a file system whose metadata leaves the
// node) its start-up is pure cost. So a process
// alone (no MPI launcher) under such a limit, or with nothing to save,
// runs as python3 runs: CPython's own Py_BytesMain, called from the first
// constructor (run_plain_where_limited), before anything else in this
// program has run; Go's runtime never starts, and nothing of pyhost's
// (its finder, its cache) is there but its `pyhost` module, built in
// (plain.c), answering for a process alone. A limit found
// only when a thread cannot start (a cgroup's pids.max) gets the same
// through one exec of the program (pyhost_exec_plain, from shim.c). So
// does a start with a fault signal blocked and pending (fault_pending).
// -X pyhost.<name> on the command line asks for pyhost itself, and an MPI
// rank needs it to share its start-up: those keep Go's runtime, and
// where it cannot start at all, pyhost says so in one line and exits with
// status 1, instead of the runtime's crash with a stack trace
// (check_limits).
#include <Python.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

// A process limit (ulimit -u) below this is small: a process alone runs
// plain under it (small_process_limit), and one that keeps Go's runtime
// counts the user's threads against it (too_few_threads).
#define PYHOST_PLAIN_BELOW_NPROC 256

// Defined by the pyhost command (cmd/pyhost) alone.
extern const int pyhost_hands_over __attribute__((weak));

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

// Launchers' variables (mpiglue/launcher.go's launcherVars): a process
// that has one is, or descends from, an MPI rank.
static const char *const launcher_vars[] = {
	"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
	"PMI_SIZE", "PMI_FD", "MPI_LOCALNRANKS", "MPI_LOCALRANKID",
};

static int under_launcher(void) {
	for (size_t i = 0; i < sizeof launcher_vars / sizeof launcher_vars[0]; i++) {
		const char *v = getenv(launcher_vars[i]);
		if (v != NULL && *v != '\0') {
			return 1;
		}
	}
	return 0;
}

// asks_for_pyhost reports whether python3's options on the command line
// ask for pyhost itself: an -X pyhost.<name> among them, and nothing that
// makes CPython print its help, its version or a usage error and exit.
// The options are read as CPython 3.11 reads them (_PyOS_GetOpt, then
// config_parse_cmdline): short options may be joined (-BX pyhost.stats,
// -Xpyhost.stats); -c, -m, -W and -X take an argument, joined or the next
// one, and -c and -m end the options; a "-" inside a group starts a long
// option named by the rest of the argument (-B-check-hash-based-pycs is
// --check-hash-based-pycs), and one with no name ends the options, as do
// "-", "--" and the first argument that is not an option.
// It also fills c: ignore_env when -E or -I is among them (PYHOST_*
// variables are ignored then, as PYTHON* are), env_importer cleared when
// -X pyhost.importer is (the command line wins), no_user_site for -s and
// -I, and script, the program's file when one is named (NULL for -c, -m,
// "-", none, or a command line CPython refuses). -X pyhost.importer=auto,
// which leaves the choice to pyhost (nothing_to_save), does not ask.
struct command_line {
	int ignore_env, env_importer, no_user_site;
	const char *script;
};

static int asks_for_pyhost(int argc, char **argv, struct command_line *c) {
	int asks = 0, version = 0, i = 1;
	int importer = 0; // the last -X pyhost.importer: 0 none, 1 auto, 2 any other value
	*c = (struct command_line){.env_importer = 1};
	int *ignore_env = &c->ignore_env, *env_importer = &c->env_importer;
	const char *p = ""; // the rest of the current group of short options
	for (;;) {
		if (*p == '\0') {
			if (i >= argc) {
				break;
			}
			const char *a = argv[i];
			if (a[0] != '-') {
				c->script = a;
				break;
			}
			if (a[1] == '\0' || strcmp(a, "--") == 0) {
				c->script = a[1] == '-' && i + 1 < argc ? argv[i + 1] : NULL;
				break;
			}
			i++;
			if (strcmp(a, "--help") == 0) {
				return 0;
			}
			if (strcmp(a, "--version") == 0) {
				version = 1;
				continue;
			}
			p = a + 1;
		}
		char o = *p++;
		if (o == '-') {
			if (*p == '\0') {
				// "expected long option": CPython says so, and the options
				// end there; what follows is run.
				c->script = i < argc ? argv[i] : NULL;
				break;
			}
			if (strcmp(p, "check-hash-based-pycs") != 0 || i >= argc) {
				return 0; // --help-all, --help-env, --help-xoptions, or a usage error
			}
			const char *v = argv[i++];
			if (strcmp(v, "default") != 0 && strcmp(v, "always") != 0 && strcmp(v, "never") != 0) {
				return 0;
			}
			p = "";
			continue;
		}
		if (o == 'V') {
			version = 1;
			continue;
		}
		if (strchr("bBdEiIOPqRsStuvx", o) != NULL) {
			if (o == 'E' || o == 'I') {
				*ignore_env = 1;
			}
			if (o == 's' || o == 'I') {
				c->no_user_site = 1;
			}
			continue;
		}
		if (o == 'c' || o == 'm' || o == 'W' || o == 'X') {
			const char *arg;
			if (*p != '\0') {
				arg = p, p = "";
			} else if (i < argc) {
				arg = argv[i++];
			} else {
				return 0; // "Argument expected"
			}
			if (o == 'c' || o == 'm') {
				break;
			}
			if (o == 'X' && strncmp(arg, "pyhost.importer", 15) == 0 && (arg[15] == '\0' || arg[15] == '=')) {
				// The last one counts, as for CPython and pyhost's settings.
				importer = arg[15] == '=' && strcasecmp(arg + 16, "auto") == 0 ? 1 : 2;
				*env_importer = 0;
			} else if (o == 'X' && strncmp(arg, "pyhost.", 7) == 0) {
				asks = 1;
			}
			continue;
		}
		return 0; // -h, -?, -J or an unknown option
	}
	return (asks || importer == 2) && !version;
}

// The variable one exec of the program sets (pyhost_exec_plain) to have
// it run plain: "<pid>:<name>", the process's pid (exec keeps it) and its
// name (/proc/self/comm: the file it was started from, which the exec of
// /proc/self/exe would make "exe").
#define PLAIN_EXEC_VAR "PYHOST_PLAIN_EXEC"

static int saved_argc;
static char **saved_argv;

// plain_exec_asked reports (and takes from the environment) the mark of
// pyhost_exec_plain: this process was pyhost a moment ago. Its name is
// given back.
static int plain_exec_asked(void) {
	const char *v = getenv(PLAIN_EXEC_VAR);
	if (v == NULL) {
		return 0;
	}
	char *end;
	long pid = strtol(v, &end, 10);
	if (*end != ':' || pid != (long)getpid()) {
		return 0;
	}
	char name[16];
	snprintf(name, sizeof name, "%s", end + 1);
	unsetenv(PLAIN_EXEC_VAR);
	if (name[0] != '\0') {
		prctl(PR_SET_NAME, name, 0, 0, 0);
	}
	return 1;
}

// command_line is the program's command line as asks_for_pyhost reads
// it, read once (asks: whether it asks for pyhost).
static const struct command_line *command_line(int *asks) {
	static struct command_line c;
	static int read = 0, asked;
	if (!read) {
		asked = asks_for_pyhost(saved_argc, saved_argv, &c);
		read = 1;
	}
	*asks = asked;
	return &c;
}

// may_run_plain: this process may run as python3 would (see the top).
static int may_run_plain(void) {
	if (&pyhost_hands_over == NULL || !pyhost_hands_over || saved_argv == NULL || under_launcher()) {
		return 0;
	}
	int asks;
	command_line(&asks);
	return !asks;
}

static int small_process_limit(struct rlimit *r);
static int too_few_threads(struct rlimit *r, long *used);

// Below this open-files limit python3 itself has a descriptor or two to
// spare at start-up, and pyhost's (the search path computed ahead of
// CPython's main phase, its cache) needs them: at ulimit -n 4 python3
// failed in its traceback module, pyhost earlier, with its own message.
#define PYHOST_PLAIN_BELOW_NOFILE 8

// fault_pending reports whether a synchronous fault signal is blocked and
// pending at start (sent by another process before an exec). Go's
// runtime unblocks these on every thread it runs, whatever the process
// inherited, and one pending is taken at once, with the default action:
// pyhost died of it where python3 keeps it pending.
static int fault_pending(void) {
	static const int faults[] = {SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV};
	sigset_t mask, pending;
	if (pthread_sigmask(SIG_BLOCK, NULL, &mask) != 0 || sigpending(&pending) != 0) {
		return 0;
	}
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
		if (sigismember(&mask, faults[i]) == 1 && sigismember(&pending, faults[i]) == 1) {
			return 1;
		}
	}
	return 0;
}

// go_cannot_run reports whether the process starts in a state Go's
// runtime does not live with: a limit it counts against, one too small
// for pyhost's start-up, or a fault signal pending.
static int go_cannot_run(void) {
	struct rlimit r;
	return fault_pending() || getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY ||
	       getrlimit(RLIMIT_DATA, &r) == 0 && r.rlim_cur != RLIM_INFINITY ||
	       getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < PYHOST_PLAIN_BELOW_NOFILE || small_process_limit(&r);
}

// The file system types whose metadata calls a node answers itself, at
// the speed of memory or of a local disk. Where every file system a
// process could import from is one of these, pyhost's index has nothing
// to save: its lookups cost what python3's stat calls cost, and starting
// Go's runtime costs more (README, Figures).
static const char *const local_types[] = {
	"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "reiserfs", "zfs", "bcachefs", "nilfs2", "tmpfs", "ramfs",
	"overlay", "squashfs", "erofs", "iso9660", "udf", "vfat", "msdos", "exfat", "ntfs", "ntfs3", "hfsplus",
};

// Kernel interfaces, and LXC's FUSE stand-in for some of them (lxcfs, at
// /var/lib/lxcfs in a container): never a place a program imports from.
static const char *const pseudo_types[] = {
	"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "debugfs", "tracefs", "securityfs", "pstore",
	"bpf", "configfs", "fusectl", "hugetlbfs", "binfmt_misc", "nsfs", "efivarfs", "selinuxfs", "rpc_pipefs", "nfsd",
	"fuse.lxcfs",
};

static int listed(const char *const *names, size_t n, const char *name) {
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], name) == 0) {
			return 1;
		}
	}
	return 0;
}

static int under(const char *path, const char *dir) {
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

// mount_fields splits a line of a mount table (ID parent major:minor root
// mountpoint options [optional...] - type source super) in place; *type
// is NULL when the line is not in that format.
static void mount_fields(char *line, char **dev, char **mp, char **type) {
	char *save = NULL;
	int sep = 0, i = 0;
	*dev = *mp = *type = NULL;
	for (char *t = strtok_r(line, " \n", &save); t != NULL; t = strtok_r(NULL, " \n", &save), i++) {
		if (i == 2) {
			*dev = t;
		} else if (i == 4) {
			*mp = t;
		} else if (i > 5 && sep) {
			*type = t;
			return;
		} else if (i > 5 && strcmp(t, "-") == 0) {
			sep = 1;
		}
	}
}

// remote_type: a file system type in neither list above.
static int remote_type(const char *type) {
	return !listed(local_types, sizeof local_types / sizeof local_types[0], type) &&
	       !listed(pseudo_types, sizeof pseudo_types / sizeof pseudo_types[0], type);
}

// pyhost_remote_mounts reports whether a mount table (the format of
// /proc/<pid>/mountinfo) has a file system of a type in neither list
// above: a network or parallel file system (nfs, lustre, gpfs, beegfs,
// cephfs, ...), FUSE (sshfs, squashfuse, CVMFS, fuseblk, ...), an
// automount point, or a type unknown here. Mount points under /proc,
// /sys, /dev and /run do not count (a desktop's FUSE portals are in
// /run/user). A table that cannot be read counts as having one.
int pyhost_remote_mounts(const char *mountinfo) {
	FILE *f = fopen(mountinfo, "re");
	if (f == NULL) {
		return 1;
	}
	int remote = 0, lines = 0;
	char *line = NULL;
	size_t cap = 0;
	while (!remote && getline(&line, &cap, f) > 0) {
		lines++;
		char *dev, *mp, *type;
		mount_fields(line, &dev, &mp, &type);
		if (type == NULL) {
			remote = 1; // not the format: nothing can be told
			break;
		}
		if (under(mp, "/proc") || under(mp, "/sys") || under(mp, "/dev") || under(mp, "/run")) {
			continue;
		}
		remote = remote_type(type);
	}
	free(line);
	fclose(f);
	return remote || lines == 0;
}

// A mount table's file system of a device (major:minor, as in
// /proc/<pid>/mountinfo's third field): whether its metadata is remote.
struct device_fs {
	unsigned major, minor;
	int remote;
};

// passed_over: a directory that cannot be looked at for this reason
// holds nothing Python could import (absent, not searchable by this
// user, a symlink loop, a name too long); any other failure (EIO, ESTALE,
// a timeout) may be a network file system's, and counts as one.
static int passed_over(int err) {
	return err == ENOENT || err == ENOTDIR || err == EACCES || err == ELOOP || err == ENAMETOOLONG;
}

// stat_entry stats a search path entry: for a path inside a file (a zip
// file's directory: PYTHONPATH=/x/lib.zip/pkg), that file.
static int stat_entry(const char *path, struct stat *st) {
	if (stat(path, st) == 0) {
		return 0;
	}
	if (errno != ENOTDIR) {
		return -1;
	}
	char up[4096];
	if (snprintf(up, sizeof up, "%s", path) >= (int)sizeof up) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *slash = strrchr(up, '/'); slash != NULL && slash != up; slash = strrchr(up, '/')) {
		*slash = '\0';
		if (stat(up, st) == 0) {
			return S_ISREG(st->st_mode) ? 0 : (errno = ENOTDIR, -1);
		}
		if (errno != ENOTDIR) {
			return -1;
		}
	}
	errno = ENOTDIR;
	return -1;
}

// pyhost_remote_paths reports whether any of the n directories paths is
// on a file system that pyhost_remote_mounts would count, found by its
// device (one stat each) in the mount table mountinfo: 1 when one is, or
// when the table cannot be read or a directory cannot be looked at for a
// reason other than its absence (which holds no module: skipped); -1
// when none is but one is on a device the table does not list (a btrfs
// subvolume's), so that nothing can be told from the directories; 0
// when every one that exists is on a local file system or a kernel
// interface.
int pyhost_remote_paths(const char *mountinfo, const char *const *paths, int n) {
	FILE *f = fopen(mountinfo, "re");
	if (f == NULL) {
		return 1;
	}
	struct device_fs *devs = NULL;
	size_t ndevs = 0, capdevs = 0;
	int bad = 0;
	char *line = NULL;
	size_t cap = 0;
	while (!bad && getline(&line, &cap, f) > 0) {
		char *dev, *mp, *type;
		mount_fields(line, &dev, &mp, &type);
		struct device_fs d;
		char end;
		if (type == NULL || sscanf(dev, "%u:%u%c", &d.major, &d.minor, &end) != 2) {
			bad = 1; // not the format: nothing can be told
			break;
		}
		d.remote = remote_type(type);
		if (ndevs == capdevs) {
			capdevs = capdevs ? 2 * capdevs : 64;
			struct device_fs *grown = realloc(devs, capdevs * sizeof *devs);
			if (grown == NULL) {
				bad = 1;
				break;
			}
			devs = grown;
		}
		devs[ndevs++] = d;
	}
	free(line);
	fclose(f);
	int result = bad || ndevs == 0;
	int unknown = 0;
	for (int i = 0; !result && i < n; i++) {
		struct stat st;
		if (stat_entry(paths[i], &st) != 0) {
			result = !passed_over(errno);
			continue;
		}
		int found = 0;
		for (size_t j = 0; j < ndevs && !result; j++) {
			if (devs[j].major == major(st.st_dev) && devs[j].minor == minor(st.st_dev)) {
				found = 1;
				result = devs[j].remote;
			}
		}
		unknown = unknown || !found;
	}
	free(devs);
	return result ? 1 : unknown ? -1 : 0;
}

// The interpreter's own trees, where its search path starts for the
// library pyhost links (Debian's python3.11: prefix /usr, its
// dist-packages and /usr/local's); internal/cpython's tests hold them to
// a plain run's sys.path.
#define PYHOST_PY_VERSION Py_STRINGIFY(PY_MAJOR_VERSION) "." Py_STRINGIFY(PY_MINOR_VERSION)
static const char *const interpreter_trees[] = {
	"/usr/lib/python" PYHOST_PY_VERSION,
	"/usr/lib/python" Py_STRINGIFY(PY_MAJOR_VERSION),
	"/usr/local/lib/python" PYHOST_PY_VERSION,
};

const char *pyhost_interpreter_tree(int i) {
	return i >= 0 && (size_t)i < sizeof interpreter_trees / sizeof interpreter_trees[0] ? interpreter_trees[i] : NULL;
}

// A growing list of directories (each its own allocation); failed: out
// of memory, when the caller counts them as remote.
struct dirs {
	char **v;
	int n, cap, failed;
};

static void dirs_add(struct dirs *d, const char *path, size_t len) {
	if (len == 0 || d->failed) {
		return;
	}
	// One stat is enough for the directories named twice (the executable's,
	// as started and as resolved); a long PYTHONPATH is not searched.
	for (int i = 0; i < d->n && i < 32; i++) {
		if (strncmp(d->v[i], path, len) == 0 && d->v[i][len] == '\0') {
			return;
		}
	}
	if (d->n == d->cap) {
		int cap = d->cap ? 2 * d->cap : 32;
		char **grown = realloc(d->v, (size_t)cap * sizeof *grown);
		if (grown == NULL) {
			d->failed = 1;
			return;
		}
		d->v = grown, d->cap = cap;
	}
	char *s = strndup(path, len);
	if (s == NULL) {
		d->failed = 1;
		return;
	}
	d->v[d->n++] = s;
}

// dirs_add_parents adds the directory a file is in, and that directory's
// parent (an installation's prefix, a virtual environment), both resolved
// (a relative name's parent is the working directory's).
static void dirs_add_parents(struct dirs *d, const char *file) {
	const char *slash = strrchr(file, '/');
	char dir[4096];
	if (slash == NULL) {
		snprintf(dir, sizeof dir, ".");
	} else if ((size_t)(slash - file) + 1 < sizeof dir) {
		snprintf(dir, sizeof dir, "%.*s", slash == file ? 1 : (int)(slash - file), file);
	} else {
		d->failed = 1; // a name no directory can have: count it as remote
		return;
	}
	char *abs = realpath(dir, NULL);
	if (abs == NULL) {
		dirs_add(d, dir, strlen(dir)); // its stat tells
		return;
	}
	dirs_add(d, abs, strlen(abs));
	char *up = strrchr(abs, '/');
	if (up != NULL && up != abs) {
		dirs_add(d, abs, (size_t)(up - abs));
	} else if (up == abs && abs[1] != '\0') {
		dirs_add(d, "/", 1);
	}
	free(abs);
}

// dirs_add_script adds where a script's directory is on sys.path: the
// script itself (a directory or zip file run as __main__), the directory
// it is named in and the one it resolves to (CPython follows a symlinked
// script), with their parents.
static void dirs_add_script(struct dirs *d, const char *script) {
	dirs_add(d, script, strlen(script));
	dirs_add_parents(d, script);
	char *abs = realpath(script, NULL);
	if (abs != NULL) {
		dirs_add(d, abs, strlen(abs));
		dirs_add_parents(d, abs);
		free(abs);
	}
}

// dirs_add_list adds each entry of a colon-separated list.
static void dirs_add_list(struct dirs *d, const char *list) {
	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		dirs_add(d, p, len);
		p = colon ? colon + 1 : NULL;
	}
}

// imports_may_leave_the_node reports whether a process alone may import
// from a file system whose metadata calls leave the node, the one place
// where pyhost's importer saves more than Go's runtime costs. It looks
// where the search path comes from: the working directory, the script
// (dirs_add_script), the executable's directory and its parent (as
// started, found on PATH for a bare name, and as resolved: a relocated
// installation, a virtual environment), PYTHONHOME and PYTHONPATH (but
// under -E or -I), the user's site directory as site.py finds it (but
// under -s or -I), and the interpreter's own trees; a directory Python
// could not import from is passed over (passed_over). When the mount table
// cannot tell these directories' file systems, any file system mounted
// that is not local counts (pyhost_remote_mounts). A directory a program
// adds to sys.path itself, or a .pth file, is not seen: such a program
// runs plain, at python3's speed.
static int imports_may_leave_the_node(const struct command_line *c) {
	struct dirs d = {0};
	dirs_add(&d, ".", 1);
	if (c->script != NULL && strcmp(c->script, "-") != 0) {
		dirs_add_script(&d, c->script);
	}
	// The program's name: argv[0], or CPython's default for an empty one.
	const char *argv0 = saved_argc > 0 && saved_argv[0][0] != '\0' ? saved_argv[0] : "python3";
	if (strchr(argv0, '/') != NULL) {
		dirs_add_parents(&d, argv0);
	} else {
		// Found on PATH, as the shell found it and CPython's getpath does:
		// the first regular file of that name that may be executed (an
		// empty entry is the working directory).
		const char *path = getenv("PATH");
		for (const char *p = path; p != NULL;) {
			const char *colon = strchr(p, ':');
			size_t len = colon ? (size_t)(colon - p) : strlen(p);
			char file[4096];
			struct stat st;
			int n = len ? snprintf(file, sizeof file, "%.*s/%s", (int)len, p, argv0)
				    : snprintf(file, sizeof file, "./%s", argv0);
			if (n > 0 && (size_t)n < sizeof file && stat(file, &st) == 0 && S_ISREG(st.st_mode) &&
			    access(file, X_OK) == 0) {
				dirs_add_parents(&d, file);
				break;
			}
			p = colon ? colon + 1 : NULL;
		}
	}
	char exe[4096];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len > 0) {
		exe[len] = '\0';
		dirs_add_parents(&d, exe);
	}
	if (!c->ignore_env) {
		dirs_add_list(&d, getenv("PYTHONHOME"));
		dirs_add_list(&d, getenv("PYTHONPATH"));
	}
	// site.py's user site: PYTHONUSERBASE (read even under -E), else the
	// home directory (HOME, or the password entry's when HOME is unset).
	const char *nouser = c->ignore_env ? NULL : getenv("PYTHONNOUSERSITE");
	if (!c->no_user_site && (nouser == NULL || *nouser == '\0')) {
		const char *base = getenv("PYTHONUSERBASE");
		const char *home = getenv("HOME");
		if (home == NULL) {
			struct passwd *pw = getpwuid(getuid());
			home = pw != NULL ? pw->pw_dir : NULL;
		}
		char site[4096];
		int n = base != NULL && *base != '\0' ? snprintf(site, sizeof site, "%s/lib/python" PYHOST_PY_VERSION, base)
			: home != NULL ? snprintf(site, sizeof site, "%s/.local/lib/python" PYHOST_PY_VERSION, home)
			: 0;
		if (n > 0 && (size_t)n < sizeof site) {
			dirs_add(&d, site, (size_t)n);
		}
	}
	for (size_t i = 0; i < sizeof interpreter_trees / sizeof interpreter_trees[0]; i++) {
		dirs_add(&d, interpreter_trees[i], strlen(interpreter_trees[i]));
	}
	int remote = d.failed ? 1 : pyhost_remote_paths("/proc/self/mountinfo", (const char *const *)d.v, d.n);
	if (remote < 0) {
		remote = pyhost_remote_mounts("/proc/self/mountinfo");
	}
	for (int i = 0; i < d.n; i++) {
		free(d.v[i]);
	}
	free(d.v);
	return remote;
}

// pyhost's settings as variables: launch/settings.go's optionNames, as
// PYHOST_<NAME> (launch's tests hold the two lists equal).
static const char *const env_options[] = {
	"PYHOST_IMPORTER", "PYHOST_MISSES", "PYHOST_STATS", "PYHOST_VERSION", "PYHOST_MPI", "PYHOST_CACHE",
	"PYHOST_CACHEDIR", "PYHOST_CONCURRENCY", "PYHOST_NODEDIR", "PYHOST_NODECOPIES", "PYHOST_ROOTREADS", "PYHOST_WARM",
};

const char *pyhost_env_option(int i) {
	return i >= 0 && (size_t)i < sizeof env_options / sizeof env_options[0] ? env_options[i] : NULL;
}

static int is_on(const char *v) {
	return strcasecmp(v, "1") == 0 || strcasecmp(v, "on") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0;
}

// nothing_to_save reports whether a process alone that did not ask for
// pyhost on its command line has nothing to gain from Go's runtime: the
// environment does not ask for it either, and the directories its imports
// start from are on local file systems (imports_may_leave_the_node). A PYHOST_<NAME> setting asks, as
// -X pyhost.<name> does, but PYHOST_IMPORTER=auto (or a -X
// pyhost.importer on the command line, which wins): it is then read and
// checked as pyhost reads it, so a setting behaves the same on every
// machine (a bad value is the same error; PYHOST_MPI=on initialises MPI).
// Under -E and -I pyhost ignores these variables, and so does the choice,
// but for PYHOST_IMPORTER=on: it marks a whole tree of processes (a job,
// a test suite) as wanting the importer, and children are often started
// with -I; there the importer is on, as by default. A process with
// nothing to save is python3 with a builtin pyhost module: its speed, its
// footprint, its outcome under any limit.
static int nothing_to_save(void) {
	int asks;
	const struct command_line *c = command_line(&asks);
	int ignore_env = c->ignore_env, env_importer = c->env_importer;
	const char *importer = getenv("PYHOST_IMPORTER");
	if (ignore_env) {
		if (env_importer && importer != NULL && is_on(importer)) {
			return 0;
		}
	} else {
		for (size_t i = 0; i < sizeof env_options / sizeof env_options[0]; i++) {
			const char *v = getenv(env_options[i]);
			if (v == NULL || *v == '\0') {
				continue; // unset, as pyhost reads it
			}
			if (i == 0 && (!env_importer || strcasecmp(v, "auto") == 0)) {
				continue;
			}
			return 0;
		}
	}
	return !imports_may_leave_the_node(c);
}

void pyhost_plain_module_add(void);

// Before every other constructor (they prepare Go's runtime): glibc calls
// the executable's with the program's arguments.
__attribute__((constructor(101))) static void run_plain_where_limited(int argc, char **argv, char **envp) {
	(void)envp;
	saved_argc = argc, saved_argv = argv;
	if (&pyhost_hands_over == NULL || !pyhost_hands_over) {
		return;
	}
	if (plain_exec_asked() || may_run_plain() && (go_cannot_run() || nothing_to_save())) {
		pyhost_plain_module_add();
		exit(Py_BytesMain(argc, argv));
	}
}

// The variables Go's runtime reads at its start (GOMAXPROCS, GOGC,
// GOMEMLIMIT, GODEBUG, GOTRACEBACK) are the user's for Go programs, not
// settings of python3's: under pyhost they reached its runtime, where
// they printed traces (GODEBUG=gctrace=1), ended the start with a Go
// stack trace (GOMEMLIMIT=abc, GODEBUG=cgocheck=2), made hundreds of
// threads (GOMAXPROCS=1024) or hung (GOMAXPROCS=100000). Hidden from it:
// the first byte of each such entry of the environment is changed before
// the runtime copies the environment (its first act, after these
// constructors) and put back once it has (pyhost_restore_go_settings,
// before Python reads the environment), so Python, os.environ and the
// program's children see the environment as it was, in its order.
static const char *const go_settings[] = {"GOMAXPROCS=", "GOGC=", "GOMEMLIMIT=", "GODEBUG=", "GOTRACEBACK="};
#define HIDDEN_MAX 16
static char *hidden[HIDDEN_MAX]; // the entries changed, first byte 'G' to '\1'
static int nhidden;

__attribute__((constructor(102))) static void hide_go_settings(void) {
	if (&pyhost_hands_over == NULL || !pyhost_hands_over) {
		return;
	}
	for (char **e = environ; e != NULL && *e != NULL && nhidden < HIDDEN_MAX; e++) {
		for (size_t i = 0; i < sizeof go_settings / sizeof go_settings[0]; i++) {
			if (strncmp(*e, go_settings[i], strlen(go_settings[i])) == 0) {
				hidden[nhidden++] = *e;
				(*e)[0] = '\1';
				break;
			}
		}
	}
}

void pyhost_restore_go_settings(void) {
	for (; nhidden > 0; nhidden--) {
		hidden[nhidden - 1][0] = 'G';
	}
}

int pyhost_plain_possible(void) {
	// A mark already there (set by someone else) is not overwritten.
	return may_run_plain() && getenv(PLAIN_EXEC_VAR) == NULL;
}

void pyhost_exec_plain(void) {
	char name[32] = "", mark[64];
	FILE *f = fopen("/proc/self/comm", "re");
	if (f != NULL) {
		if (fgets(name, sizeof name, f) == NULL) {
			name[0] = '\0';
		}
		name[strcspn(name, "\n")] = '\0';
		fclose(f);
	}
	snprintf(mark, sizeof mark, "%ld:%s", (long)getpid(), name);
	pyhost_restore_go_settings();
	if (setenv(PLAIN_EXEC_VAR, mark, 1) != 0) {
		return;
	}
	execv("/proc/self/exe", saved_argv);
	unsetenv(PLAIN_EXEC_VAR);
}

// small_process_limit reports whether RLIMIT_NPROC (got into r) is below
// PYHOST_PLAIN_BELOW_NPROC for a user it holds (not root): then the
// threads Go's runtime starts take what the program's own threads may
// need (a limit that leaves Go's four room and the program's three none,
// ulimit -u 7 for a user running nothing else, failed them), and a
// process alone runs plain.
static int small_process_limit(struct rlimit *r) {
	return getrlimit(RLIMIT_NPROC, r) == 0 && r->rlim_cur != RLIM_INFINITY && r->rlim_cur < PYHOST_PLAIN_BELOW_NPROC &&
	       getuid() != 0;
}

// too_few_threads reports whether RLIMIT_NPROC (got into r) leaves room
// for fewer than the threads Go's runtime starts (used: the user's
// threads now). Root is not held to RLIMIT_NPROC. Only a small limit is
// worth the count (a read of /proc/<pid>/status for every process): a
// large one that the user's processes nearly fill is not noticed here.
static int too_few_threads(struct rlimit *r, long *used) {
	if (getrlimit(RLIMIT_NPROC, r) != 0 || r->rlim_cur == RLIM_INFINITY || r->rlim_cur >= PYHOST_PLAIN_BELOW_NPROC ||
	    getuid() == 0) {
		return 0;
	}
	*used = threads_of(getuid());
	// used counts this process's main thread already.
	return *used >= 0 && *used + PYHOST_GO_THREADS > (long)r->rlim_cur;
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
	long used;
	if (too_few_threads(&r, &used)) {
		snprintf(what, sizeof what,
			"the process limit (ulimit -u %llu) leaves room for %ld more threads, and pyhost's runtime starts up to %d",
			(unsigned long long)r.rlim_cur, (long)r.rlim_cur - used, PYHOST_GO_THREADS);
		snprintf(fix, sizeof fix, "raise it to at least ulimit -u %ld", used + PYHOST_GO_THREADS);
		refuse(what, fix);
	}
}
