package share

import (
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Node awareness. A directory on a node-local file system (tmpfs, a local
// disk: /tmp, /dev/shm, node-local scratch) may hold different things on
// every node at the same path, so in a job whose peers run on more than one
// node, the root never shares what it read there: such listings stay out of
// the index broadcast and such modules out of the bytecode bundle, and
// every rank reads them from its own node, as python3 does. What a job on
// one node shares is unchanged.
//
// A file system counts as shared by all nodes when its type (statfs) is one
// a cluster shares: NFS, Lustre, GPFS (Spectrum Scale), BeeGFS, CephFS,
// PanFS, OrangeFS/PVFS2, GlusterFS through FUSE, CVMFS and FUSE in general
// (squashfuse images, pyhost's own bench/slowfs). Anything else is
// node-local: the safe default, whose price is that a shared file system
// of a type not listed is read by every node, as without pyhost.
var sharedFSTypes = map[int64]string{
	0x6969:     "nfs",
	0x0BD00BD0: "lustre",
	0x47504653: "gpfs",
	0x19830326: "beegfs",
	0x00C36400: "ceph",
	0xAAD7AAEA: "panfs",
	0x20030528: "pvfs2",
	0x65735546: "fuse",
	0x517B:     "smb",
	0xFF534D42: "cifs",
	0xFE534D42: "smb2",
}

// sharedFS reports whether the directory dir is on a file system shared by
// all nodes.
func sharedFS(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	_, ok := sharedFSTypes[int64(st.Type)]
	return ok
}

// OnSharedFS reports whether path (a file or a directory) is on a file
// system shared by all nodes (see sharedFSTypes).
func OnSharedFS(path string) bool { return sharedFS(path) }

// SharedFSByDir is OnSharedFS for files, asked once per directory (the
// file system of a file's directory is the file's, but for a file that is
// a mount point of its own); safe for concurrent use.
func SharedFSByDir() func(path string) bool {
	var mu sync.Mutex
	byDir := map[string]bool{}
	return func(path string) bool {
		dir := filepath.Dir(path)
		mu.Lock()
		ok, seen := byDir[dir]
		mu.Unlock()
		if !seen {
			ok = sharedFS(dir)
			mu.Lock()
			byDir[dir] = ok
			mu.Unlock()
		}
		return ok
	}
}

// nodeFilter says, for the root of a job over several nodes, what it may
// share: whether a directory, known by its device, is on a shared file
// system (one statfs per device).
type nodeFilter struct {
	byDev map[uint64]bool
}

func newNodeFilter() *nodeFilter { return &nodeFilter{byDev: map[uint64]bool{}} }

// dir reports whether dir (on device dev, 0 if unknown) may be shared.
func (f *nodeFilter) dir(dir string, dev uint64) bool {
	if dev == 0 {
		return sharedFS(dir)
	}
	ok, seen := f.byDev[dev]
	if !seen {
		ok = sharedFS(dir)
		f.byDev[dev] = ok
	}
	return ok
}

// file reports whether the file path may be shared (its directory's file
// system).
func (f *nodeFilter) file(path string) bool {
	var st unix.Stat_t
	dir := path
	if i := lastSlash(path); i > 0 {
		dir = path[:i]
	}
	if unix.Stat(dir, &st) != nil {
		return false
	}
	return f.dir(dir, uint64(st.Dev))
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// hostname names this node for the peers' comparison.
func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "?"
	}
	return h
}
