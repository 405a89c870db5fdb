// Package latencyfs mounts a directory through FUSE as a read-through
// passthrough whose metadata requests are slow: each lookup, getattr,
// open, opendir, readdir, readlink, statfs, access or xattr request waits
// for a fixed service time in one [Queue] shared by every requester, as if
// a single busy metadata server answered them one after another. It exists
// to make the import storms of many Python processes measurable on one
// machine; it is benchmark tooling, not a file system to keep data on.
//
// # Model
//
// The queue is a virtual server clock, not a mutex held across a sleep:
// a request is scheduled at max(now, end of the previous request) and
// sleeps until its own end. Sleep overshoot therefore does not accumulate
// under load: n concurrent requests take n×latency in total, give or take
// one timer slack. [NewPerClient] is the other model: each request waits
// the latency on its own, none waits for another (each client's latency
// is its own, the server has capacity to spare). File data (read, write) is counted but never delayed:
// data is not metadata, and a parallel file system streams it from many
// servers.
//
// Kernel caching of entries, attributes and negative lookups is off by
// default (all timeouts 0), so every path walk reaches the server, as on
// a cluster file system whose clients must revalidate. [Options.Cache] and
// [Options.NegativeCache] turn the kernel caches back on.
//
// # Counting
//
// Every FUSE request is counted by operation name. [Mount.Stats] returns a
// snapshot at any time; it is safe to call from any goroutine while the
// file system is mounted and after it is unmounted.
//
// # Lifetime
//
// [New] mounts and starts serving; [Mount.Unmount] must be called to
// detach it (retrying while the kernel still holds files open, then
// detaching lazily), after which the mount point is an empty directory
// again. A process that exits without Unmount leaves a dead mount
// ("Transport endpoint is not connected"); the slowfs command therefore
// unmounts on SIGINT and SIGTERM.
package latencyfs
