package pathscan

import (
	"bytes"
	"errors"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Changes during a run. FileFinder stats its directory at every lookup
// and reads it again when the mtime moved, so python3 sees a module
// deleted, a package created beside a same-named module, or a module
// written ahead of another on sys.path while the program runs. An Index
// told to (Options.Watch) keeps an inotify watch on each directory whose
// listing a lookup uses: placed before the directory is read, or before
// the one stat that checks a listing read earlier (merged from a cache
// file or a broadcast, listed ahead, or inherited across fork), so a
// listing is trusted from then on exactly until the kernel reports a
// change of the kind that moves the directory's mtime (an entry created,
// deleted or renamed; the directory itself deleted or moved). Every
// lookup first takes the events queued since the last one (one read of
// the instance, which does not block). A directory that cannot be watched
// (no inotify instance: its limits, a small ulimit -n, or a seccomp
// filter; the watch limit; a missing or unreadable directory) is checked
// as FileFinder checks it: one stat at every use.
//
// inotify sees changes made through this kernel, which is every change
// to a local file system and this node's changes to a network one; a
// change another node makes to a network file system during the run is
// seen only by a stat (Options.Watch says where to watch).

// watchMode says how a listing is known to be current in this process.
type watchMode uint8

const (
	watchNone watchMode = iota // not checked in this process since it was read or merged
	watchOn                    // watched since before its content was checked
	watchStat                  // cannot be watched: a stat at every use
)

// watchMask: the events that move a directory's mtime, the watched
// directory's own end (IN_IGNORED, IN_Q_OVERFLOW and IN_UNMOUNT come
// anyway), and a change of its own mode: FileFinder lists a package's
// directory at its first submodule's import, later than the Index, which
// lists it to find the package, so a directory made unreadable (or
// readable) in between is read again, as FileFinder would first read it.
// Once searched, a directory is not read again for its mode, as
// FileFinder's is not (a chmod leaves the mtime).
const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ATTRIB | unix.IN_ONLYDIR

// minWatchFiles: below this soft RLIMIT_NOFILE the instance's descriptor
// is left to the program (python3 holds none).
const minWatchFiles = 64

// watcher is an Index's inotify instance. Used under the Index's mutex.
type watcher struct {
	fd     int  // the instance; -1 when not open
	pid    int  // the process that opened it, also set as its owner (F_SETOWN)
	failed bool // inotify is unusable in this process: every check is a stat
	wds    map[int32][]string
	dirWd  map[string]int32
	buf    []byte
}

func newWatcher() *watcher {
	return &watcher{fd: -1, wds: map[int32][]string{}, dirWd: map[string]int32{}}
}

// open starts the instance; false when inotify cannot be used here.
func (w *watcher) open() bool {
	if w.fd >= 0 {
		return true
	}
	if w.failed {
		return false
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < minWatchFiles {
		w.failed = true
		return false
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		w.failed = true
		return false
	}
	// Moved to 63, out of the way of the lowest-first numbering programs
	// count on (the next descriptor the program opens is the one it would
	// get under python3, and a closed standard stream stays closed), and
	// still in the descriptor table every process starts with (64 entries):
	// a higher number grows the table, which in a process with threads
	// waits for an RCU grace period (13 ms here). Anywhere at or above 3 if
	// that fails.
	for _, at := range []int{minWatchFiles - 1, 3} {
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, at)
		if err == nil {
			unix.Close(fd)
			fd = nfd
			break
		}
	}
	if fd < 3 {
		unix.Close(fd)
		w.failed = true
		return false
	}
	pid := unix.Getpid()
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETOWN, pid); err != nil {
		unix.Close(fd)
		w.failed = true
		return false
	}
	w.fd, w.pid = fd, pid
	if w.buf == nil {
		w.buf = make([]byte, 16<<10)
	}
	return true
}

// add watches dir (the path, following links, as FileFinder's stat does),
// before the caller reads it or checks its listing.
func (w *watcher) add(dir string) watchMode {
	if !w.open() {
		return watchStat
	}
	for {
		wd, err := unix.InotifyAddWatch(w.fd, dir, watchMask)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return watchStat
		}
		wd32 := int32(wd)
		if old, ok := w.dirWd[dir]; ok {
			if old == wd32 {
				return watchOn
			}
			w.unmap(old, dir)
		}
		dir = strings.Clone(dir)
		w.dirWd[dir] = wd32
		w.wds[wd32] = append(w.wds[wd32], dir)
		return watchOn
	}
}

// unmap forgets that dir was watched as wd.
func (w *watcher) unmap(wd int32, dir string) {
	ds := w.wds[wd]
	for i, d := range ds {
		if d == dir {
			ds = append(ds[:i], ds[i+1:]...)
			break
		}
	}
	if len(ds) == 0 {
		delete(w.wds, wd)
	} else {
		w.wds[wd] = ds
	}
}

// change is what one event means for the directories of its watch.
type change struct {
	dirs    []string
	subtree bool   // the directory itself went away or moved: its subtree's paths changed
	name    string // the entry created, deleted or renamed: what its path names changed
	mode    bool   // only the directory's own attributes changed
}

// errLost: events may have been lost (the instance is gone or not ours,
// or its queue overflowed): nothing watched can be trusted.
var errLost = errors.New("pathscan: inotify events lost")

// take reads the events queued so far, without blocking.
func (w *watcher) take() ([]change, error) {
	if w.fd < 0 {
		return nil, nil
	}
	// The descriptor may have been closed by the program (os.closerange)
	// and its number reused: its owner is how it is recognised.
	if owner, err := unix.FcntlInt(uintptr(w.fd), unix.F_GETOWN, 0); err != nil || owner != w.pid {
		w.fd = -1 // not ours any more: never read or closed by us again
		return nil, errLost
	}
	var out []change
	for {
		n, err := unix.Read(w.fd, w.buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return out, nil
		}
		if err != nil || n <= 0 {
			w.close()
			return nil, errLost
		}
		b := w.buf[:n]
		for len(b) >= unix.SizeofInotifyEvent {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
			size := unix.SizeofInotifyEvent + int(ev.Len)
			if size > len(b) {
				break
			}
			rec := b[unix.SizeofInotifyEvent:size]
			b = b[size:]
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				return nil, errLost
			}
			dirs := w.wds[ev.Wd]
			if len(dirs) == 0 {
				continue
			}
			c := change{dirs: dirs, subtree: ev.Mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED|unix.IN_UNMOUNT) != 0}
			if i := bytes.IndexByte(rec, 0); i >= 0 {
				rec = rec[:i]
			}
			c.name = string(rec)
			if ev.Mask&unix.IN_ATTRIB != 0 {
				if c.name != "" {
					continue // an entry's attributes: nothing a listing holds
				}
				c.mode = ev.Mask&^unix.IN_ATTRIB&^unix.IN_ISDIR == 0
			}
			if ev.Mask&unix.IN_IGNORED != 0 {
				// The watch is gone (its directory deleted or unmounted).
				for _, d := range dirs {
					delete(w.dirWd, d)
				}
				delete(w.wds, ev.Wd)
			}
			out = append(out, c)
		}
	}
}

// close ends the instance.
func (w *watcher) close() {
	if w.fd >= 0 {
		unix.Close(w.fd)
	}
	w.fd = -1
	clear(w.wds)
	clear(w.dirWd)
}

// drain applies the events queued since the last lookup: a changed
// directory's listing is read again at its next use. Needs ix.mu.
func (ix *Index) drain() {
	w := ix.watch
	if w == nil || w.fd < 0 {
		return
	}
	changes, err := w.take()
	if err != nil {
		ix.distrustWatched()
		return
	}
	for _, c := range changes {
		for _, d := range c.dirs {
			if c.subtree {
				ix.staleSubtree(d)
			} else if l := ix.get(d); l != nil && !(c.mode && l.searched) {
				l.stale = true
			}
			if c.name != "" {
				// A directory or link renamed, replaced or removed: the
				// listings under its path are another directory's now.
				ix.staleSubtree(joinPath(d, c.name))
			}
			ix.stats.Changes++
		}
	}
}

// staleSubtree makes dir and every listing below it be read again at its
// next use. Needs ix.mu.
func (ix *Index) staleSubtree(dir string) {
	for _, l := range ix.subtree(dir) {
		l.stale = true
	}
}

// distrustWatched makes every listing that was trusted on a watch be
// checked again at its next use. Needs ix.mu.
func (ix *Index) distrustWatched() {
	ix.watch.close()
	ix.tree.Ascend(func(l *listing) bool {
		if l.watch == watchOn {
			l.watch = watchNone
		}
		return true
	})
}

// AfterFork is for the child of a fork: the inotify instance is shared
// with the parent, whose events it must not take. The child opens its
// own at its next lookup and checks each listing once more (the parent
// may have taken the events of changes made in between).
func (ix *Index) AfterFork() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.watch == nil {
		return
	}
	w := ix.watch
	if w.fd >= 0 {
		unix.Close(w.fd) // the child's descriptor; the parent's stays open
	}
	w.fd, w.failed = -1, false
	clear(w.wds)
	clear(w.dirWd)
	ix.tree.Ascend(func(l *listing) bool {
		l.watch = watchNone
		return true
	})
}

// watchWanted reports whether lookups in dir are to see changes made
// during the run. Needs ix.mu.
func (ix *Index) watchWanted(dir string) bool {
	return ix.watch != nil && (ix.watchWhere == nil || ix.watchWhere(dir))
}

// checked reports whether l, a listing of a directory to be watched that
// is not yet known current in this process, still is, and records how it
// is known from now on. First the watch (from then on any change is
// reported), then one stat; a directory that cannot be watched is
// checked by the stat alone, at every use, as FileFinder checks it.
// Needs ix.mu.
func (ix *Index) checked(l *listing) bool {
	if l.watch == watchStat && l.searched {
		// FileFinder's own check: the mtime alone. Before the first
		// search, FileFinder has not read the directory yet: any change
		// of the inode (its mode: ctime) means reading it again.
		return statMtime(l.dir) == l.mtime
	}
	mode := watchStat
	if l.watch != watchStat {
		mode = ix.addWatch(l.dir)
	}
	if l.unverified {
		ix.stats.Verifications++
	}
	id, ok := statIdentity(l.dir)
	same := l.sameAs(id)
	if !ok {
		// Still missing, as when listed: FileFinder's mtime is -1 both times.
		same = l.mtime == -1 && l.state == stateMissing
	}
	if !same || !l.unpack() {
		return false
	}
	l.watch = mode
	return true
}

// addWatch watches dir if lookups there are to see changes, before the
// caller reads it or checks its listing. Needs ix.mu.
func (ix *Index) addWatch(dir string) watchMode {
	if !ix.watchWanted(dir) {
		return watchNone
	}
	mode := ix.watch.add(dir)
	if mode == watchOn {
		ix.stats.Watches++
	}
	return mode
}
