// Package dirfd reaches files through descriptors of their directories,
// the one way pyhost opens what it lists or reads ahead of the loaders.
//
// On a parallel file system without a client cache, every path resolution
// costs a lookup per component. A directory opened relative to its parent's
// descriptor costs one lookup; a file reached relative to its directory's
// descriptor costs one more. [OpenAt] is that single step; a [Tree] keeps
// the descriptors of the directories it has opened so that many files of
// the same directories cost one lookup each.
//
// It never follows a name the caller did not give, and it never keeps more
// than a bounded number of descriptors open.
package dirfd

import (
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NONBLOCK

// OpenAt opens name, relative to the directory dirfd (or a path, with
// unix.AT_FDCWD), as a directory, retrying on EINTR.
func OpenAt(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, dirFlags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// A Tree opens directories once each, every one relative to its parent,
// and reaches files relative to them. It is not safe for concurrent use.
type Tree struct {
	fds map[string]int // directory -> descriptor, or -1 if it cannot be opened
	max int
}

// NewTree makes a Tree that keeps at most max descriptors open; past that,
// paths are resolved whole.
func NewTree(max int) *Tree { return &Tree{fds: map[string]int{"/": -1}, max: max} }

// Close closes every descriptor the Tree opened.
func (t *Tree) Close() {
	for dir, fd := range t.fds {
		if fd >= 0 {
			unix.Close(fd)
		}
		delete(t.fds, dir)
	}
}

// Dir returns a descriptor of the absolute directory dir, or -1 when it
// cannot be opened (or the Tree is full).
func (t *Tree) Dir(dir string) int {
	if fd, ok := t.fds[dir]; ok {
		return fd
	}
	fd := -1
	if len(t.fds) < t.max {
		parent, name := filepath.Split(dir)
		var err error
		if pfd := t.Dir(filepath.Clean(parent)); pfd >= 0 {
			fd, err = OpenAt(pfd, name)
		} else {
			fd, err = OpenAt(unix.AT_FDCWD, dir)
		}
		if err != nil {
			fd = -1
		}
	}
	t.fds[dir] = fd
	return fd
}

// Stat stats the absolute path, following a final symlink as stat does.
func (t *Tree) Stat(path string, st *unix.Stat_t) error {
	if fd := t.Dir(filepath.Dir(path)); fd >= 0 {
		return unix.Fstatat(fd, filepath.Base(path), st, 0)
	}
	return unix.Stat(path, st)
}

// Open opens the absolute path for reading.
func (t *Tree) Open(path string) (*os.File, error) {
	dirfd, name := unix.AT_FDCWD, path
	if fd := t.Dir(filepath.Dir(path)); fd >= 0 {
		dirfd, name = fd, filepath.Base(path)
	}
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		// Blocking again before it becomes an *os.File, which would
		// otherwise start Go's poller (two descriptors for the life of
		// the process). Callers read only regular files.
		if err := unix.SetNonblock(fd, false); err != nil {
			unix.Close(fd)
			return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// ReadFile reads at most limit bytes of the regular file path, with the
// fstat of the descriptor it read from.
func (t *Tree) ReadFile(path string, limit int64) ([]byte, *unix.Stat_t, error) {
	f, err := t.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, nil, &os.PathError{Op: "read", Path: path, Err: syscall.EINVAL}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit))
	return data, &st, err
}
