package pathscan

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
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

// ListTree lists root and, breadth first, the directories below it that an
// import could reach (names without a dot, not __pycache__; symlinked
// directories included, each directory identity descended into once per
// call), down to maxDepth levels below root (negative: no limit) and at most
// maxDirs directories (zero or negative: no limit). Directories that already
// have a listing that was not invalidated are used as they are.
//
// It reads directories without holding the Index's lock, several at a time.
// It returns an error if root could not be listed (root then has an empty
// listing, as for Find) or, wrapping ErrLimit, if maxDirs cut the walk short.
func (ix *Index) ListTree(root string, maxDepth int, maxDirs int) error {
	level := []string{root}
	seen := make(map[[2]uint64]bool)
	n := 0
	for depth := 0; len(level) > 0; depth++ {
		limited := false
		if maxDirs > 0 && n+len(level) > maxDirs {
			level = level[:maxDirs-n]
			limited = true
		}
		ls, errs := ix.listAll(level)
		n += len(ls)
		if depth == 0 && ls[0].state != stateOK {
			if errs[0] != nil {
				return errs[0]
			}
			return fmt.Errorf("pathscan: list %q: not a readable directory", root)
		}
		var next []string
		for _, l := range ls {
			if l.ino != 0 {
				id := [2]uint64{l.dev, l.ino}
				if seen[id] {
					continue // a link back up (or across): listed, not descended
				}
				seen[id] = true
			}
			if maxDepth >= 0 && depth >= maxDepth {
				continue
			}
			// Entries are read outside ix.mu: touch only the immutable
			// fields, never the child cache Find writes.
			for i := range l.entries {
				if e := &l.entries[i]; e.typ == typeDir && reachable(e.name) {
					next = append(next, joinPath(l.dir, e.name))
				}
			}
		}
		if limited {
			return fmt.Errorf("pathscan: list tree %q: %d directories: %w", root, n, ErrLimit)
		}
		level = next
	}
	return nil
}

// listAll returns usable listings of dirs, reading those that have none
// with a few goroutines and installing them.
func (ix *Index) listAll(dirs []string) ([]*listing, []error) {
	out := make([]*listing, len(dirs))
	errs := make([]error, len(dirs))
	var todo []int
	ix.mu.Lock()
	for i, d := range dirs {
		if l := ix.get(d); l != nil && !l.stale {
			if l.unverified {
				ix.stats.Verifications++
				if statMtime(d) == l.mtime {
					l.unverified = false
				} else {
					todo = append(todo, i)
					continue
				}
			}
			out[i] = l
		} else {
			todo = append(todo, i)
		}
	}
	ix.mu.Unlock()
	if len(todo) == 0 {
		return out, errs
	}

	workers := min(runtime.GOMAXPROCS(0), 8, len(todo))
	var wg sync.WaitGroup
	var next int
	var nextMu sync.Mutex
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				nextMu.Lock()
				k := next
				next++
				nextMu.Unlock()
				if k >= len(todo) {
					return
				}
				i := todo[k]
				out[i], errs[i] = readListing(dirs[i])
			}
		}()
	}
	wg.Wait()

	ix.mu.Lock()
	for _, i := range todo {
		ix.install(out[i])
	}
	ix.stats.DirsListed += uint64(len(todo))
	ix.mu.Unlock()
	return out, errs
}
