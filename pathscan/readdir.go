package pathscan

import (
	"errors"
	"fmt"
	"github.com/pyhost/pyhost/internal/dirfd"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reading a directory costs one path resolution: it is opened, and
// everything else (its mtime, its entries, the targets of its links) is
// asked of the open descriptor. On a parallel file system without a client
// cache every path resolution is a lookup per component, so ListTree also
// opens each directory relative to its parent's descriptor.

func fstat(fd int, st *syscall.Stat_t) error {
	for {
		err := syscall.Fstat(fd, st)
		if err != syscall.EINTR {
			return err
		}
	}
}

// readListingFd reads the open directory fd (named dir) whose fstat is st.
func readListingFd(fd int, dir string, st *syscall.Stat_t) (*listing, error) {
	l := &listing{
		dir:      strings.Clone(dir), // callers may pass strings that alias Python memory
		mtime:    st.Mtim.Sec*1e9 + st.Mtim.Nsec,
		listedAt: time.Now().UnixNano(),
		state:    stateOK,
	}
	l.setIdentity(identityOf(st))
	// In a directory we may read but not search (r without x), every stat
	// of an entry fails: names are there, but nothing is a file or a
	// directory.
	searchable := st.Mode&0o111 == 0o111 || syscall.Access(dir, 1 /* X_OK */) == nil
	buf := make([]byte, 32<<10)
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			// os.listdir would raise; FileFinder would see nothing.
			l.state, l.entries = stateUnreadable, nil
			return l, fmt.Errorf("pathscan: list %q: %w", dir, err)
		}
		if n <= 0 {
			break
		}
		l.entries = appendDirents(l.entries, buf[:n], fd, searchable)
	}
	slices.SortFunc(l.entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return l, nil
}

// appendDirents parses linux_dirent64 records: d_ino (8), d_off (8),
// d_reclen (2), d_type (1), d_name (NUL-terminated).
func appendDirents(out []entry, b []byte, fd int, searchable bool) []entry {
	for len(b) >= 19 {
		reclen := int(*(*uint16)(unsafe.Pointer(&b[16])))
		if reclen < 19 || reclen > len(b) {
			break
		}
		typ := b[18]
		name := b[19:reclen]
		if i := slices.Index(name, 0); i >= 0 {
			name = name[:i]
		}
		b = b[reclen:]
		if len(name) == 0 || string(name) == "." || string(name) == ".." {
			continue
		}
		e := entry{name: string(name), typ: typeOther}
		if typ == syscall.DT_LNK {
			e.typ |= typeLink
		}
		if searchable {
			e.typ = direntType(fd, e.name, typ)
		}
		out = append(out, e)
	}
	return out
}

// direntType is what _path_isfile and _path_isdir would say of name: d_type
// when it is conclusive, else a stat relative to the directory (following
// links), with typeLink for a symbolic link. Where the file system gives
// no d_type, an lstat comes first, so that a link is known for one.
func direntType(fd int, name string, dtype byte) entryType {
	switch dtype {
	case syscall.DT_DIR:
		return typeDir
	case syscall.DT_REG:
		return typeFile
	case syscall.DT_UNKNOWN:
		var st unix.Stat_t
		if !fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) {
			return typeOther
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return typeOf(&st)
		}
		fallthrough
	case syscall.DT_LNK:
		var st unix.Stat_t
		if !fstatat(fd, name, &st, 0) {
			return typeOther | typeLink
		}
		return typeOf(&st) | typeLink
	}
	return typeOther
}

func fstatat(fd int, name string, st *unix.Stat_t, flags int) bool {
	for {
		err := unix.Fstatat(fd, name, st, flags)
		if err != syscall.EINTR {
			return err == nil
		}
	}
}

func typeOf(st *unix.Stat_t) entryType {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return typeDir
	case unix.S_IFREG:
		return typeFile
	}
	return typeOther
}

// readListing reads dir the way FileFinder._fill_cache does, plus the types
// of its entries. The returned listing is always usable; the error says why
// it is empty.
func readListing(dir string) (*listing, error) {
	fd, err := dirfd.OpenAt(atFDCWD, dir)
	if err != nil {
		return failedListing(dir, err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := fstat(fd, &st); err != nil {
		return failedListing(dir, err)
	}
	return readListingFd(fd, dir, &st)
}

// atFDCWD is AT_FDCWD: paths resolve from the working directory.
const atFDCWD = unix.AT_FDCWD

// failedListing is the listing of a directory that could not be opened:
// missing (or not a directory) with the mtime a stat finds, or there but
// unreadable.
func failedListing(dir string, openErr error) (*listing, error) {
	l := &listing{dir: strings.Clone(dir), mtime: -1, state: stateMissing, transient: transientError(openErr)}
	if l.transient {
		l.openErr = openErr
	}
	st, err := os.Stat(dir)
	if err != nil {
		return l, fmt.Errorf("pathscan: list %q: %w", dir, err)
	}
	l.mtime = st.ModTime().UnixNano()
	l.listedAt = time.Now().UnixNano()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		l.setIdentity(identityOf(sys))
	}
	if st.IsDir() {
		l.state = stateUnreadable
	}
	return l, fmt.Errorf("pathscan: list %q: %w", dir, openErr)
}

// transientError reports whether a directory that could not be opened may
// open next time: anything but its absence, its not being a directory and
// a refusal of access, which FileFinder takes as final answers.
func transientError(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, syscall.ENOENT),
		errors.Is(err, syscall.ENOTDIR),
		errors.Is(err, syscall.EACCES),
		errors.Is(err, syscall.EPERM):
		return false
	}
	return true
}
