package share

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The cache's files are opened with open(2) and wrapped by os.NewFile in
// blocking mode, never with os.Open, os.CreateTemp or os.ReadDir: those
// start Go's poller at their first use (an epoll and an eventfd
// descriptor, kept for the life of the process, which python3 does not
// have), and when no descriptor is left for it, as under a small
// ulimit -n, the runtime ends the process with a fatal error instead of
// returning one.

// openFile opens name with flags (O_CLOEXEC added) as a file Go's poller
// never sees; O_NONBLOCK, if given, is used for the open only.
func openFile(name string, flags int, perm uint32) (*os.File, error) {
	fd, err := syscall.Open(name, flags|syscall.O_CLOEXEC, perm)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	if flags&syscall.O_NONBLOCK != 0 {
		if err := syscall.SetNonblock(fd, false); err != nil {
			syscall.Close(fd)
			return nil, &os.PathError{Op: "fcntl", Path: name, Err: err}
		}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// createTemp is os.CreateTemp(dir, pattern) (pattern has one "*"), mode
// 0600, through openFile.
func createTemp(dir, pattern string) (*os.File, error) {
	prefix, suffix, _ := strings.Cut(pattern, "*")
	seed := uint64(time.Now().UnixNano()) ^ uint64(os.Getpid())<<32
	for try := 0; ; try++ {
		seed = seed*6364136223846793005 + 1442695040888963407
		name := filepath.Join(dir, prefix+strconv.FormatUint(seed>>16, 36)+suffix)
		f, err := openFile(name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err == nil || !os.IsExist(err) || try == 100 {
			return f, err
		}
	}
}

// readDir is os.ReadDir(dir) (unsorted) through openFile.
func readDir(dir string) ([]os.DirEntry, error) {
	f, err := openFile(dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}
