package pathscan_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pyhost/pyhost/pathscan"
)

// wideTree makes a tree of fanout^depth leaf directories (and the ones
// above them), each holding a module, and returns its root.
// listedBlob is root listed (ListTree, Debian's loaders) and marshalled:
// what a root broadcasts or a cache file holds.
func listedBlob(tb testing.TB, root string) []byte {
	tb.Helper()
	src := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := src.ListTree(root, -1, 0); err != nil {
		tb.Fatal(err)
	}
	blob, err := src.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return blob
}

func wideTree(t testing.TB, fanout, depth int) string {
	root := t.TempDir()
	var mk func(dir string, level int)
	mk = func(dir string, level int) {
		if err := os.WriteFile(filepath.Join(dir, "m.py"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if level == depth {
			return
		}
		for i := range fanout {
			sub := filepath.Join(dir, fmt.Sprintf("d%d", i))
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			mk(sub, level+1)
		}
	}
	mk(root, 0)
	return root
}

func openFds(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

// ListTree opens and reads as many directories at once as its Concurrency
// says (never more), lists every directory whatever the setting, and
// leaves no descriptor open.
func TestListTreeConcurrency(t *testing.T) {
	root := wideTree(t, 4, 3) // 85 directories
	want := -1
	for _, n := range []int{1, 2, 8} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var inFlight, most atomic.Int32
			var mu sync.Mutex
			seen := map[string]int{}
			pathscan.SetListingHook(func(dir string) func() {
				cur := inFlight.Add(1)
				for {
					m := most.Load()
					if cur <= m || most.CompareAndSwap(m, cur) {
						break
					}
				}
				mu.Lock()
				seen[dir]++
				mu.Unlock()
				// Long enough for the idle goroutines to take work.
				time.Sleep(2 * time.Millisecond)
				return func() { inFlight.Add(-1) }
			})
			defer pathscan.SetListingHook(nil)
			before := openFds(t)
			ix := pathscan.New(pathscan.Options{Loaders: debian311, Concurrency: n})
			if err := ix.ListTree(root, -1, 0); err != nil {
				t.Fatal(err)
			}
			if after := openFds(t); after != before {
				t.Errorf("descriptors: %d before, %d after", before, after)
			}
			if got := int(most.Load()); got > n || n > 1 && got < 2 {
				t.Errorf("at most %d directories in flight, want 2..%d", got, n)
			}
			for dir, times := range seen {
				if times != 1 {
					t.Errorf("%s opened %d times", dir, times)
				}
			}
			if got := ix.Stats().DirsListed; want < 0 {
				want = int(got)
			} else if int(got) != want {
				t.Errorf("listed %d directories, %d with concurrency 1", got, want)
			}
			if len(seen) != 84 || want != 85 {
				t.Errorf("walked %d directories below the root, listed %d: want 84, 85", len(seen), want)
			}
			r := ix.Find(filepath.Join(root, "d3", "d2"), "d1")
			if !r.Found && !r.Namespace {
				t.Errorf("d3/d2/d1 not found: %+v", r)
			}
		})
	}
}

// VerifyTree with concurrency verifies every merged listing once.
func TestVerifyTreeConcurrency(t *testing.T) {
	root := wideTree(t, 3, 3) // 40 directories
	blob := listedBlob(t, root)
	dst := pathscan.New(pathscan.Options{Loaders: debian311, Concurrency: 8})
	if err := dst.MergeUnverified(blob); err != nil {
		t.Fatal(err)
	}
	if err := dst.VerifyTree(root); err != nil {
		t.Fatal(err)
	}
	st := dst.Stats()
	if st.Verifications != 40 || st.DirsListed != 0 {
		t.Errorf("stats %+v: want 40 verifications, nothing listed", st)
	}
}

// VerifyDirs verifies only the directories it is given, and reads again
// one that changed.
func TestVerifyDirs(t *testing.T) {
	root := wideTree(t, 3, 2) // 13 directories
	blob := listedBlob(t, root)
	dst := pathscan.New(pathscan.Options{Loaders: debian311, Concurrency: 4})
	if err := dst.MergeUnverified(blob); err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(root, "d1")
	// A new mtime for d1 (its listing in the cache is then stale).
	if err := os.WriteFile(filepath.Join(changed, "new.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(changed, future, future); err != nil {
		t.Fatal(err)
	}
	dst.VerifyDirs([]string{root, changed, filepath.Join(root, "d0", "d2"), filepath.Join(root, "absent")})
	st := dst.Stats()
	if st.Verifications != 3 || st.DirsListed != 1 {
		t.Errorf("stats %+v: want 3 verifications and d1 listed again", st)
	}
	// Only what was verified goes to the other ranks.
	out, err := dst.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	part := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := part.Merge(out); err != nil {
		t.Fatal(err)
	}
	if part.Len() != 3 {
		t.Errorf("%d listings shared, want the 3 verified or read", part.Len())
	}
	if r := dst.Find(changed, "new"); !r.Found {
		t.Errorf("new.py in the changed directory not found: %+v", r)
	}
	// The rest go unverified: another rank that needs one stats it.
	if cached := dst.CachedDirs(-1); len(cached) != 10 || slices.Contains(cached, root) || slices.Contains(cached, changed) {
		t.Errorf("CachedDirs = %q: want the 10 not verified", cached)
	}
	if cached := dst.CachedDirs(4); len(cached) != 4 {
		t.Errorf("CachedDirs(4) = %q", cached)
	}
	rest, err := dst.MarshalUnverifiedWhere(nil)
	if err != nil {
		t.Fatal(err)
	}
	other := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := other.MergeUnverified(rest); err != nil {
		t.Fatal(err)
	}
	if other.Len() != 13-3 {
		t.Errorf("%d listings handed on unverified, want the 10 not verified", other.Len())
	}
	d10 := filepath.Join(root, "d1", "d0")
	if err := os.WriteFile(filepath.Join(root, "d0", "late.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := other.Find(d10, "x"); r.Found {
		t.Errorf("found x in %s: %+v", d10, r)
	}
	if r := other.Find(filepath.Join(root, "d0"), "late"); !r.Found {
		t.Errorf("late.py, written after the cache, not found: %+v", r)
	}
	if st := other.Stats(); st.Verifications != 2 || st.DirsListed != 1 {
		t.Errorf("stats %+v: want 2 verifications, d0 (changed) read again", st)
	}
}
