// Forks: a count of the forks that made this process, for what Go keeps
// per process (an inotify instance shared with the parent after a fork,
// pathscan's watcher) and must renew in a child.
#include <pthread.h>

unsigned long pyhost_fork_generation;

static void count_fork(void) { pyhost_fork_generation++; }

__attribute__((constructor)) static void watch_forks(void) {
	pthread_atfork(NULL, NULL, count_fork);
}
