package pathscan

import (
	"errors"
	"fmt"
	"github.com/pyhost/pyhost/internal/dirfd"
	"runtime"
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
// caches none. The subtrees of root are walked by a few goroutines, each
// depth first (so a walk holds at most maxDepth descriptors); under a
// maxDirs limit the walk is therefore not breadth first.
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
	names := w.children(l)
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), 8, max(len(names), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range jobs {
				w.walk(fd, name, joinPath(root, name), 1)
			}
		}()
	}
	for _, n := range names {
		jobs <- n
	}
	close(jobs)
	wg.Wait()
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
	fd, err := dirfd.OpenAt(parent, name)
	if err != nil {
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
	if l.state != stateOK || !w.descend(l, depth) {
		return
	}
	for _, n := range w.children(l) {
		w.walk(fd, n, joinPath(dir, n), depth+1)
	}
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
		if e := &ents[i]; e.typ == typeDir && reachable(e.name) {
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
