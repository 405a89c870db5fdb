package latencyfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// ErrUnavailable is wrapped by the errors of [New] when FUSE cannot be
// used on this machine at all (no /dev/fuse, no permission to mount, no
// fusermount helper); tests skip on it.
var ErrUnavailable = errors.New("FUSE unavailable")

// Options configure a mount. The zero value is a passthrough without
// delay and without kernel caching.
type Options struct {
	// Latency is the service time of each metadata request. Ignored when
	// Queue is set.
	Latency time.Duration
	// Queue, when not nil, is shared with other mounts, which then model
	// the same metadata server.
	Queue *Queue
	// Cache turns on the kernel's dentry and attribute caches
	// (CacheTimeout each); off, every path walk revalidates every
	// component with a LOOKUP.
	Cache bool
	// NegativeCache lets the kernel remember failed lookups for
	// CacheTimeout.
	NegativeCache bool
	// CacheTimeout is the entry/attribute/negative timeout when caching
	// is on; default 1 minute.
	CacheTimeout time.Duration
	// ReadOnly mounts read-only: nothing written through the mount can
	// reach the source (a passthrough of /usr must not be written to).
	ReadOnly bool
	// AllowOther lets users other than the mounting one use the mount.
	AllowOther bool
	// Passthrough lets the kernel read file data straight from the
	// source file (FUSE passthrough, Linux >= 6.9, root): reads then
	// cost nothing and are not counted. Off, every read of data that is
	// not in the page cache reaches the server as a READ and is counted.
	Passthrough bool
	// Debug logs every request (go-fuse's debug output).
	Debug bool
}

// Mount is a mounted latencyfs. Its methods are safe for concurrent use.
type Mount struct {
	src, dir string
	queue    *Queue
	server   *fuse.Server
	started  time.Time

	counts    [numOps]atomic.Uint64
	readBytes atomic.Uint64
	callers   callers

	unmountOnce sync.Once
	unmountErr  error
}

// New mounts src on the existing directory dir and serves it until
// Unmount. On error nothing is left mounted.
func New(src, dir string, opt Options) (*Mount, error) {
	src, err := checkDir("source", src)
	if err != nil {
		return nil, err
	}
	dir, err = checkDir("mount point", dir)
	if err != nil {
		return nil, err
	}
	if src == dir {
		return nil, fmt.Errorf("latencyfs: source and mount point are the same directory %q", src)
	}
	if mounted, err := isMountPoint(dir); err != nil {
		return nil, err
	} else if mounted {
		return nil, fmt.Errorf("latencyfs: mount point %q is in use (already a mount point)", dir)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, fmt.Errorf("latencyfs: %w: %v", ErrUnavailable, err)
	}

	q := opt.Queue
	if q == nil {
		q = NewQueue(opt.Latency)
	}
	m := &Mount{src: src, dir: dir, queue: q}

	root, err := gofs.NewLoopbackRoot(src)
	if err != nil {
		return nil, fmt.Errorf("latencyfs: loopback %q: %w", src, err)
	}
	ttl := opt.CacheTimeout
	if ttl <= 0 {
		ttl = time.Minute
	}
	var zero time.Duration
	entry, attr, neg := zero, zero, zero
	if opt.Cache {
		entry, attr = ttl, ttl
	}
	if opt.NegativeCache {
		neg = ttl
	}
	fsopts := &gofs.Options{
		EntryTimeout:    &entry,
		AttrTimeout:     &attr,
		NegativeTimeout: &neg,
		MountOptions: fuse.MountOptions{
			FsName:     src,
			Name:       "slowfs",
			AllowOther: opt.AllowOther,
			Debug:      opt.Debug,
			// As root, mount(2) directly; fusermount otherwise.
			DirectMount: os.Geteuid() == 0,
		},
	}
	if !opt.Passthrough {
		fsopts.MountOptions.DisabledCapabilities = fuse.CAP_PASSTHROUGH
	}
	if opt.ReadOnly {
		fsopts.MountOptions.Options = append(fsopts.MountOptions.Options, "ro")
	}
	raw := &slowRaw{RawFileSystem: gofs.NewNodeFS(root, fsopts), m: m}
	server, err := fuse.NewServer(raw, dir, &fsopts.MountOptions)
	if err != nil {
		return nil, classifyMountError(dir, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		_ = server.Unmount()
		return nil, fmt.Errorf("latencyfs: mount %q: %w", dir, err)
	}
	m.server = server
	m.started = time.Now()
	closeOnExec()
	return m, nil
}

// closeOnExec marks every descriptor of /dev/fuse close-on-exec. go-fuse
// opens it with syscall.Open, without O_CLOEXEC, so every child started
// afterwards (mpirun, the interpreters, a squashfuse daemon) would hold
// the FUSE connection open: if this process were then killed, the mount
// would not be aborted with it, and a child blocked on it (squashfuse
// closing its image file) would wait forever in uninterruptible sleep.
func closeOnExec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || target != "/dev/fuse" {
			continue
		}
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			syscall.CloseOnExec(fd)
		}
	}
}

// Dir is the mount point.
func (m *Mount) Dir() string { return m.dir }

// Source is the directory being passed through.
func (m *Mount) Source() string { return m.src }

// Queue is the queue metadata requests wait in.
func (m *Mount) Queue() *Queue { return m.queue }

// Wait blocks until the file system is unmounted, by Unmount or from
// outside (fusermount -u).
func (m *Mount) Wait() { m.server.Wait() }

// Unmount detaches the file system. It retries while the kernel still
// holds files open and falls back to a lazy detach, so that the mount
// point is usable again when it returns. Later calls return the first
// result.
func (m *Mount) Unmount() error {
	m.unmountOnce.Do(func() {
		err := m.server.Unmount()
		if err == nil {
			return
		}
		// Busy: a process still has a file or its cwd inside. Detach
		// lazily; the kernel finishes when the last user goes away.
		if lerr := lazyUnmount(m.dir); lerr != nil {
			m.unmountErr = fmt.Errorf("latencyfs: unmount %q: %v; lazy unmount: %w", m.dir, err, lerr)
		}
	})
	return m.unmountErr
}

func lazyUnmount(dir string) error {
	if os.Geteuid() == 0 {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err == nil {
			return nil
		}
	}
	for _, helper := range []string{"fusermount3", "fusermount"} {
		if path, err := exec.LookPath(helper); err == nil {
			out, err := exec.Command(path, "-u", "-z", dir).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %v: %s", helper, err, strings.TrimSpace(string(out)))
			}
			return nil
		}
	}
	return errors.New("no fusermount helper")
}

func checkDir(what, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("latencyfs: no %s given", what)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("latencyfs: %s %q: %w", what, path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("latencyfs: %s: %w", what, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("latencyfs: %s %q is not a directory", what, abs)
	}
	return abs, nil
}

// isMountPoint reports whether dir appears as a mount point in
// /proc/self/mountinfo. FUSE would happily mount over it, hiding the
// mount below and leaving a stack that is easy to get wrong on unmount.
func isMountPoint(dir string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, nil // not Linux-like: let the mount itself decide
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		if UnescapeMountinfo(fields[4]) == dir {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("latencyfs: read mountinfo: %w", err)
	}
	return false, nil
}

// UnescapeMountinfo undoes the kernel's octal escapes (\040 for space) in
// a path field of /proc/self/mountinfo.
func UnescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func classifyMountError(dir string, err error) error {
	msg := err.Error()
	unavailable := errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) ||
		errors.Is(err, exec.ErrNotFound) ||
		strings.Contains(msg, "fusermount") || strings.Contains(strings.ToLower(msg), "permission")
	if unavailable {
		return fmt.Errorf("latencyfs: mount %q: %w: %v", dir, ErrUnavailable, err)
	}
	return fmt.Errorf("latencyfs: mount %q: %w", dir, err)
}
