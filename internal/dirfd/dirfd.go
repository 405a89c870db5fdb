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
//
// # No poller
//
// Every file here is opened with system calls and, when an *os.File is
// wanted, wrapped in blocking mode with os.NewFile. Go's os package
// registers the files it opens itself with the runtime's poller, whose
// first use opens two descriptors (epoll, eventfd) that stay open for the
// rest of the run, and Python would see them: they shift the numbers its
// files get, a child started by subprocess finds them open, and a process
// started with fds 0-2 closed would get them as its standard streams.
// So pyhost's run-time code never calls os.Open, os.OpenFile,
// os.ReadFile or os.CreateTemp.
package dirfd

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
	fd, rel := t.anchor(path)
	return unix.Fstatat(fd, rel, st, 0)
}

// anchor is the descriptor of path's nearest ancestor the Tree holds open
// and path relative to it, or AT_FDCWD and path: a full Tree still spares
// the lookups of the components it holds (one request each on a file
// system whose client caches none).
func (t *Tree) anchor(path string) (int, string) {
	for dir := filepath.Dir(path); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		if fd, ok := t.fds[dir]; ok && fd >= 0 && strings.HasPrefix(path, dir+"/") {
			return fd, path[len(dir)+1:]
		}
	}
	return unix.AT_FDCWD, path
}

// ReadFile reads at most limit bytes of the regular file path, reached
// through its directory's descriptor and opened with the extra flags (for
// example O_NOFOLLOW), with the fstat of the descriptor it read from. A
// FIFO or device there is refused without blocking.
func (t *Tree) ReadFile(path string, flags int, limit int64) ([]byte, *unix.Stat_t, error) {
	if fd := t.Dir(filepath.Dir(path)); fd >= 0 {
		return readAt(fd, filepath.Base(path), path, flags, limit)
	}
	dirfd, name := t.anchor(path)
	return readAt(dirfd, name, path, flags, limit)
}

// ReadFile reads at most limit bytes of the regular file path, opened with
// the extra flags (for example O_NOFOLLOW), never blocking on a FIFO. The
// stat is returned whenever the open succeeded, with an error for what is
// not a regular file.
func ReadFile(path string, flags int, limit int64) ([]byte, *unix.Stat_t, error) {
	return readAt(unix.AT_FDCWD, path, path, flags, limit)
}

func readAt(dirfd int, name, path string, flags int, limit int64) ([]byte, *unix.Stat_t, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|flags, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &st, &os.PathError{Op: "read", Path: path, Err: ErrNotRegular}
	}
	n := st.Size
	if n > limit {
		n = limit
	}
	buf := make([]byte, 0, n+1)
	for int64(len(buf)) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := buf[len(buf):cap(buf)]
		if rest := limit - int64(len(buf)); int64(len(room)) > rest {
			room = room[:rest]
		}
		k, err := unix.Read(fd, room)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &st, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if k == 0 {
			break
		}
		buf = buf[:len(buf)+k]
	}
	return buf, &st, nil
}

// ErrNotRegular is wrapped by ReadFile's error for what is not a regular
// file.
var ErrNotRegular = errors.New("not a regular file")

// OpenFile opens name as os.OpenFile does, but wrapped with os.NewFile in
// blocking mode (see the package doc: no poller). flag must not hold
// O_NONBLOCK.
func OpenFile(name string, flag int, perm uint32) (*os.File, error) {
	for {
		fd, err := unix.Open(name, flag|unix.O_CLOEXEC, perm)
		if err == nil {
			return os.NewFile(uintptr(fd), name), nil
		}
		if err != unix.EINTR {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
}

// CreateTemp creates a new file named dir/prefix<random>suffix, mode
// 0600, as os.CreateTemp does (see OpenFile).
func CreateTemp(dir, prefix, suffix string) (*os.File, error) {
	seed := uint64(time.Now().UnixNano()) ^ uint64(os.Getpid())<<32
	for i := 0; ; i++ {
		seed = seed*6364136223846793005 + 1442695040888963407
		name := dir + "/" + prefix + strconv.FormatUint(seed>>33, 36) + suffix
		f, err := OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil || !errors.Is(err, os.ErrExist) || i == 100 {
			return f, err
		}
	}
}

// Replace writes the file dst through a temporary file in dir (named
// prefix<random>suffix, mode 0600) filled by write and renamed over dst,
// so that dst is whole or as it was; the temporary file is removed when
// anything fails.
func Replace(dir, prefix, suffix, dst string, write func(*os.File) error) error {
	tmp, err := CreateTemp(dir, prefix, suffix)
	if err != nil {
		return err
	}
	err = write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// ReadDirNames lists the names in dir (no "." or ".."), without os.ReadDir
// (see the package doc).
func ReadDirNames(dir string) ([]string, error) {
	fd, err := OpenAt(unix.AT_FDCWD, dir)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "readdirent", Path: dir, Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}
