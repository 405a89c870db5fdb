package launch

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"time"
)

// openFile opens name as os.OpenFile does, but through os.NewFile: Go's
// os package registers every file it opens itself with the runtime's
// poller, whose first use opens two descriptors (epoll, eventfd) that
// stay open for the rest of the run. Python would see them: they shift
// the numbers its files get, a child started by subprocess finds them
// open (and a process started with fds 0-2 closed would get them as its
// standard streams). os.NewFile of a blocking descriptor leaves the
// poller alone.
func openFile(name string, flag int, perm uint32) (*os.File, error) {
	for {
		fd, err := syscall.Open(name, flag|syscall.O_CLOEXEC, perm)
		if err == nil {
			return os.NewFile(uintptr(fd), name), nil
		}
		if err != syscall.EINTR {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
}

// createTemp creates a new file named dir/prefix<random>suffix, mode
// 0600, as os.CreateTemp does (see openFile).
func createTemp(dir, prefix, suffix string) (*os.File, error) {
	seed := uint64(time.Now().UnixNano()) ^ uint64(os.Getpid())<<32
	for i := 0; ; i++ {
		seed = seed*6364136223846793005 + 1442695040888963407
		name := dir + "/" + prefix + strconv.FormatUint(seed>>33, 36) + suffix
		f, err := openFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil || !errors.Is(err, os.ErrExist) || i == 100 {
			return f, err
		}
	}
}
