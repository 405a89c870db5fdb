package pathscan

import (
	"errors"
	"fmt"
	"github.com/pyhost/pyhost/internal/dirfd"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// ErrLimit is returned (wrapped) by ListTree when maxDirs stopped it; what it
// listed is kept.
var ErrLimit = errors.New("pathscan: directory limit reached")

// reachable reports whether an import can ever ask for the listing of a
// directory so named. A name with a dot can never be a tail (Find splits at
// the last dot); __pycache__ holds bytecode the loader, not the finder,
// reads.
func reachable(name string) bool {
	return !strings.Contains(name, ".") && name != "__pycache__"
}

// ListTree lists root and the directories below it that an import could
// reach (names without a dot, not __pycache__; symlinked directories
// included, each directory identity descended into once per call), down to
// maxDepth levels below root (negative: no limit) and at most maxDirs
// directories (zero or negative: no limit). Directories that already have a
// listing are used as they are; one merged unverified is verified with a
// stat of its open descriptor.
//
// Each directory is opened relative to its parent's descriptor: one
// lookup, where a path costs one per component on a file system that
// caches none. The tree is walked by Options.Concurrency goroutines, each
// depth first, handing a subdirectory to an idle goroutine whenever there
// is one (with a duplicate of its parent's descriptor), so that as many
// directories are opened and read at once as there are goroutines, however
// uneven the tree. A goroutine holds at most maxDepth descriptors, plus
// one for the subdirectory handed to it. Under a maxDirs limit the walk is
// therefore not breadth first.
//
// It returns an error if root could not be listed (root then has an empty
// listing, as for Find) or, wrapping ErrLimit, if maxDirs cut the walk short.
func (ix *Index) ListTree(root string, maxDepth int, maxDirs int) error {
	return ix.walkTree(root, maxDepth, maxDirs, false)
}

// VerifyTree walks root's subtree as ListTree does, but only into the
// directories the Index already has listings of: it verifies those merged
// unverified (one fstat of the open directory each, instead of a stat of
// its path) and lists nothing new below root. For the rank that loads a
// cache file before broadcasting it.
func (ix *Index) VerifyTree(root string) error {
	return ix.walkTree(root, -1, 0, true)
}

func (ix *Index) walkTree(root string, maxDepth, maxDirs int, knownOnly bool) error {
	w := &treeWalk{ix: ix, maxDepth: maxDepth, knownOnly: knownOnly, seen: map[[2]uint64]bool{}}
	w.budget.Store(-1)
	if maxDirs > 0 {
		w.budget.Store(int64(maxDirs))
	}
	w.take()
	fd, err := dirfd.OpenAt(atFDCWD, root)
	if err != nil {
		l, lerr := failedListing(root, err)
		ix.mu.Lock()
		if old := ix.get(root); old == nil || old.stale || old.unverified {
			ix.install(l)
			ix.stats.DirsListed++
		}
		ix.mu.Unlock()
		return lerr
	}
	defer syscall.Close(fd)
	l := w.listing(fd, root)
	if l.state != stateOK {
		return fmt.Errorf("pathscan: list %q: not a readable directory", root)
	}
	if !w.descend(l, 0) {
		return nil
	}
	// Idle goroutines wait on jobs; a walk hands them subdirectories
	// (walkChildren) rather than queueing: nothing waits while a
	// goroutine is idle, and no descriptor is held for work not started.
	w.jobs = make(chan treeJob)
	var idle sync.WaitGroup
	for range w.ix.concurrency - 1 {
		idle.Add(1)
		go func() {
			defer idle.Done()
			w.idle.Add(1)
			for j := range w.jobs {
				w.idle.Add(-1)
				w.walk(j.parent, j.name, j.dir, j.depth)
				syscall.Close(j.parent)
				w.pending.Done()
				w.idle.Add(1)
			}
		}()
	}
	w.walkChildren(fd, l, 0)
	w.pending.Wait()
	close(w.jobs)
	idle.Wait()
	if w.limited.Load() {
		return fmt.Errorf("pathscan: list tree %q: %d directories: %w", root, maxDirs, ErrLimit)
	}
	return nil
}

type treeWalk struct {
	ix        *Index
	maxDepth  int
	knownOnly bool         // VerifyTree: only into directories the Index has
	budget    atomic.Int64 // directories left to list; negative: no limit
	limited   atomic.Bool
	mu        sync.Mutex
	seen      map[[2]uint64]bool

	jobs    chan treeJob   // to an idle goroutine
	idle    atomic.Int32   // goroutines waiting on jobs (nearly: a hint)
	pending sync.WaitGroup // jobs handed and not done
}

// A treeJob is a subdirectory handed to an idle goroutine: parent is a
// descriptor of its own, which the goroutine closes.
type treeJob struct {
	parent    int
	name, dir string
	depth     int
}

// walkChildren walks l's subdirectories (l is open as fd, depth levels
// below the root): each is handed to an idle goroutine if there is one,
// else walked here.
func (w *treeWalk) walkChildren(fd int, l *listing, depth int) {
	for _, n := range w.children(l) {
		dir := joinPath(l.dir, n)
		if w.idle.Load() == 0 {
			w.walk(fd, n, dir, depth+1)
			continue
		}
		if dup, err := dupFd(fd); err == nil {
			w.pending.Add(1)
			select {
			case w.jobs <- treeJob{parent: dup, name: n, dir: dir, depth: depth + 1}:
				continue
			default:
				w.pending.Done()
				syscall.Close(dup)
			}
		}
		w.walk(fd, n, dir, depth+1)
	}
}

// dupFd duplicates fd, close-on-exec.
func dupFd(fd int) (int, error) {
	for {
		d, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
		if errno != syscall.EINTR {
			if errno != 0 {
				return -1, errno
			}
			return int(d), nil
		}
	}
}

// take spends one directory of the budget.
func (w *treeWalk) take() bool {
	for {
		b := w.budget.Load()
		if b < 0 {
			return true
		}
		if b == 0 {
			w.limited.Store(true)
			return false
		}
		if w.budget.CompareAndSwap(b, b-1) {
			return true
		}
	}
}

// listingHook, when set (by tests), runs as a walk opens a directory, and
// done once it has its listing.
var listingHook func(dir string) (done func())

func (w *treeWalk) walk(parent int, name, dir string, depth int) {
	if w.knownOnly {
		w.ix.mu.Lock()
		known := w.ix.get(dir) != nil
		w.ix.mu.Unlock()
		if !known {
			return
		}
	}
	if !w.take() {
		return
	}
	done := func() {}
	if listingHook != nil {
		done = listingHook(dir)
	}
	fd, err := dirfd.OpenAt(parent, name)
	if err != nil {
		done()
		// Gone, not a directory after all, or unreadable: record what
		// FileFinder would see, by path.
		l, _ := failedListing(dir, err)
		w.ix.mu.Lock()
		if old := w.ix.get(dir); old == nil || old.stale || old.unverified {
			w.ix.install(l)
			w.ix.stats.DirsListed++
		}
		w.ix.mu.Unlock()
		return
	}
	defer syscall.Close(fd)
	l := w.listing(fd, dir)
	done()
	if l.state != stateOK || !w.descend(l, depth) {
		return
	}
	w.walkChildren(fd, l, depth)
}

// descend reports whether the walk goes below l: within the depth limit,
// and the first time this directory identity is met.
func (w *treeWalk) descend(l *listing, depth int) bool {
	if w.maxDepth >= 0 && depth >= w.maxDepth {
		return false
	}
	if l.ino == 0 {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	id := [2]uint64{l.dev, l.ino}
	if w.seen[id] {
		return false // a link back up (or across): listed, not descended
	}
	w.seen[id] = true
	return true
}

// children are the names of l's subdirectories an import could reach.
func (w *treeWalk) children(l *listing) []string {
	w.ix.mu.Lock()
	defer w.ix.mu.Unlock()
	var out []string
	ents := l.ents()
	for i := range ents {
		if e := &ents[i]; e.kind() == typeDir && reachable(e.name) {
			out = append(out, e.name)
		}
	}
	return out
}

// listing returns the usable listing of the open directory fd: the one the
// Index has (verified against fd's mtime if it came unverified), or a new
// reading, installed.
func (w *treeWalk) listing(fd int, dir string) *listing {
	ix := w.ix
	var st syscall.Stat_t
	statErr := fstat(fd, &st)
	ix.mu.Lock()
	l := ix.get(dir)
	if l != nil && !l.stale && !l.transient {
		if !l.unverified {
			if l.ino == 0 && statErr == nil {
				l.setIdentity(identityOf(&st))
			}
			ix.mu.Unlock()
			return l
		}
		ix.stats.Verifications++
		if statErr == nil && l.sameAs(identityOf(&st)) && l.unpack() {
			l.refreshLinks()
			l.unverified = false
			ix.mu.Unlock()
			return l
		}
	}
	ix.mu.Unlock()
	var n *listing
	if statErr != nil {
		n, _ = failedListing(dir, statErr)
	} else {
		n, _ = readListingFd(fd, dir, &st)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if cur := ix.get(dir); cur != nil && cur != l && !cur.stale && !cur.unverified {
		return cur // read meanwhile by a Find
	}
	ix.install(n)
	ix.stats.DirsListed++
	return n
}

// VerifyDirs verifies the listings of dirs that were merged unverified (one
// stat of each directory's path), Options.Concurrency at once, and reads
// again those whose directory changed; a directory without a listing, or
// with a verified one, costs nothing. For the rank that loads a cache file
// and knows which of its directories the job will use, instead of
// VerifyTree's walk of every cached listing below a root.
func (ix *Index) VerifyDirs(dirs []string) {
	todo := make(chan string)
	var wg sync.WaitGroup
	for range min(ix.concurrency, max(len(dirs), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for dir := range todo {
				ix.verifyDir(dir)
			}
		}()
	}
	for _, d := range dirs {
		todo <- d
	}
	close(todo)
	wg.Wait()
}

func (ix *Index) verifyDir(dir string) {
	ix.mu.Lock()
	l := ix.get(dir)
	if l == nil || l.stale || !l.unverified {
		ix.mu.Unlock()
		return
	}
	ix.mu.Unlock()
	id, ok := statIdentity(dir)
	ix.mu.Lock()
	ix.stats.Verifications++
	if ok && ix.get(dir) == l && l.sameAs(id) && l.unpack() {
		l.refreshLinks()
		l.unverified = false
		ix.mu.Unlock()
		return
	}
	ix.mu.Unlock()
	n, _ := readListing(dir)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if cur := ix.get(dir); cur != nil && cur != l && !cur.stale && !cur.unverified {
		return // read meanwhile by a Find
	}
	ix.install(n)
	ix.stats.DirsListed++
}
