package native

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/internal/dirfd"
)

// An Identity is what makes a copy the copy of one version of a file: the
// original's device, inode, size, mtime and ctime when it was planned. A
// file replaced or rewritten in place changes at least one of them, and
// so the name of its copy (CopyName): a stale copy is never looked up.
type Identity struct {
	Dev, Ino         uint64
	Size             int64
	MtimeNs, CtimeNs int64
}

// IdentityOf is st's identity.
func IdentityOf(st *unix.Stat_t) Identity {
	return Identity{Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size,
		MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano()}
}

// CopyName is the name of the copy of orig, of this identity, in a node
// directory: a hash of both, then the original's base name (which never
// equals a DT_NEEDED name, so that the loader's $ORIGIN searches from a
// copy never find another copy by accident).
func (id Identity) CopyName(orig string) string {
	h := fnv.New64a()
	h.Write([]byte(orig))
	for _, v := range []uint64{id.Dev, id.Ino, uint64(id.Size), uint64(id.MtimeNs), uint64(id.CtimeNs)} {
		h.Write([]byte(strconv.FormatUint(v, 16)))
		h.Write([]byte{0})
	}
	return strconv.FormatUint(h.Sum64(), 16) + "-" + filepath.Base(orig)
}

// DefaultBase is the node-local base directory: /dev/shm/pyhost-<uid>.
func DefaultBase() string { return "/dev/shm/pyhost-" + strconv.Itoa(os.Geteuid()) }

// OpenDir checks the node directory base/key, making both when create is
// set (mode 0700): each must be a directory (never a symlink: lstat), the
// user's own, writable by nobody else, on a file system that allows
// mapping code (not mounted noexec). The error says what is wrong.
func OpenDir(base, key string, create bool) (string, error) {
	dir := filepath.Join(base, key)
	for _, d := range []string{base, dir} {
		if err := checkDir(d, create); err != nil {
			return "", err
		}
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return "", fmt.Errorf("node directory %s: %w", dir, err)
	}
	if fs.Flags&unix.ST_NOEXEC != 0 {
		return "", fmt.Errorf("node directory %s is on a file system mounted noexec", dir)
	}
	return dir, nil
}

func checkDir(d string, create bool) error {
	var st unix.Stat_t
	err := unix.Lstat(d, &st)
	if err == unix.ENOENT && create {
		if err = unix.Mkdir(d, 0o700); err != nil && err != unix.EEXIST {
			return fmt.Errorf("node directory %s: %w", d, err)
		}
		err = unix.Lstat(d, &st)
	}
	switch {
	case err != nil:
		return fmt.Errorf("node directory %s: %w", d, err)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("node directory %s is not a directory (a symlink is never followed)", d)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("node directory %s belongs to another user (uid %d)", d, st.Uid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("node directory %s can be written by others (mode %04o)", d, st.Mode&0o777)
	}
	return nil
}

// validCopy reports whether the copy at path may be used for a file of
// identity id: a regular file (lstat), the user's own, writable by nobody
// else, of the original's size.
func validCopy(path string, id Identity) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG &&
		int(st.Uid) == os.Geteuid() && st.Mode&0o022 == 0 && st.Size == id.Size
}

// ErrChanged is returned by copyFile when the original no longer has the
// identity it was planned with.
var ErrChanged = errors.New("native: the original changed since it was planned")

// copyFile writes dir/name as a copy of orig, which must still have
// identity id: through a temporary file renamed over the name, so that a
// copy is whole or absent. A copy already there is kept.
func copyFile(dir, name, orig string, id Identity) error {
	dst := dir + "/" + name
	if validCopy(dst, id) {
		return nil
	}
	src, err := dirfd.OpenFile(orig, unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return err
	}
	if IdentityOf(&st) != id || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return ErrChanged
	}
	return dirfd.Replace(dir, ".tmp-", "", dst, func(tmp *os.File) error {
		n, err := io.Copy(tmp, io.LimitReader(src, id.Size+1))
		if err == nil && n != id.Size {
			err = ErrChanged
		}
		return err
	})
}

// staleTemp is the age past which a temporary file was left by a killed
// writer (another job's writer may be writing one right now).
const staleTemp = 10 * time.Minute

// removeStaleTemps removes the temporary files a killed writer left in dir.
func removeStaleTemps(dir string) {
	names, _ := dirfd.ReadDirNames(dir)
	for _, n := range names {
		if strings.HasPrefix(n, ".tmp-") {
			var st unix.Stat_t
			if unix.Lstat(dir+"/"+n, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && int(st.Uid) == os.Geteuid() &&
				time.Since(time.Unix(st.Mtim.Unix())) > staleTemp {
				os.Remove(dir + "/" + n)
			}
		}
	}
}

// Bounds of a node directory: copies no job has used (mapped or read:
// their access time, which tmpfs and relatime mounts update at least
// daily) for pruneAge go, then the least recently used beyond pruneBytes.
const (
	pruneAge   = 30 * 24 * time.Hour
	pruneBytes = 1 << 30
)

// Prune bounds the node directory dir (see pruneAge, pruneBytes), never
// removing the copies named in keep (this job's) nor anything that is not
// a regular file of the user's.
func Prune(dir string, keep map[string]bool, now time.Time) {
	names, err := dirfd.ReadDirNames(dir)
	if err != nil {
		return
	}
	type entry struct {
		name string
		used time.Time
		size int64
	}
	var files []entry
	var total int64
	for _, n := range names {
		var st unix.Stat_t
		if unix.Lstat(dir+"/"+n, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Geteuid() {
			continue
		}
		total += st.Size
		if !keep[n] && !strings.HasPrefix(n, ".tmp-") {
			files = append(files, entry{n, time.Unix(st.Atim.Unix()), st.Size})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].used.Before(files[j].used) })
	for _, f := range files {
		if now.Sub(f.used) < pruneAge && total <= pruneBytes {
			break
		}
		if os.Remove(dir+"/"+f.name) == nil {
			total -= f.size
		}
	}
}
