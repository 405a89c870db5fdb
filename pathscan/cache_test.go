package pathscan_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pyhost/pyhost/pathscan"
)

// A listing from an earlier run is used after one stat of its directory
// finds the same mtime, and read again when the directory changed since.
func TestMergeUnverified(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"a/old.py", "b/keep.py"})
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	old := time.Now().Add(-time.Hour)
	for _, d := range []string{a, b} {
		if err := os.Chtimes(d, old, old); err != nil {
			t.Fatal(err)
		}
	}
	first := pathscan.New(pathscan.Options{Loaders: debian311})
	first.Find(a, "old")
	first.Find(b, "keep")
	blob, err := first.MarshalStable(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}

	// Between the runs, a gets a new module (and a new mtime); b does not change.
	if err := os.WriteFile(filepath.Join(a, "new.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	later := old.Add(time.Minute)
	if err := os.Chtimes(a, later, later); err != nil {
		t.Fatal(err)
	}

	next := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := next.MergeUnverified(blob); err != nil {
		t.Fatal(err)
	}
	if r := next.Find(b, "keep"); !r.Found {
		t.Errorf("keep not found through the cached listing of b: %+v", r)
	}
	if r := next.Find(a, "new"); !r.Found {
		t.Errorf("new not found: the stale cached listing of a was used: %+v", r)
	}
	st := next.Stats()
	if st.DirsListed != 1 || st.Verifications != 2 || st.DirsMerged != 2 {
		t.Errorf("stats = %+v, want a listed again, both verified, two merged", st)
	}
}

// A directory listed within the settle time of its mtime may change again
// without its mtime moving: it is not written to a cache.
func TestMarshalStableSkipsRacyListings(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"fresh/m.py", "settled/m.py"})
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(root, "settled"), old, old); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := os.Chtimes(filepath.Join(root, "fresh"), now, now); err != nil {
		t.Fatal(err)
	}
	ix := pathscan.New(pathscan.Options{Loaders: debian311})
	ix.Find(filepath.Join(root, "fresh"), "m")
	ix.Find(filepath.Join(root, "settled"), "m")
	blob, err := ix.MarshalStable(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := got.Merge(blob); err != nil {
		t.Fatal(err)
	}
	if got.Len() != 1 {
		t.Fatalf("cache holds %d listings, want only the settled one", got.Len())
	}
	got.Find(filepath.Join(root, "settled"), "m")
	if n := got.Stats().DirsListed; n != 0 {
		t.Errorf("settled was listed again (%d)", n)
	}
}

// A cache keeps what lookups used, not what ListTree listed ahead; loaded
// again, VerifyTree checks exactly those and lists nothing new.
func TestCacheKeepsUsedAndVerifyTreeListsNothingNew(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"used/m.py", "used/sub/n.py", "unused/x.py", "unused/deep/y.py"})
	old := time.Now().Add(-time.Hour)
	for _, d := range []string{"used/sub", "used", "unused/deep", "unused", ""} {
		if err := os.Chtimes(filepath.Join(root, d), old, old); err != nil {
			t.Fatal(err)
		}
	}
	first := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := first.ListTree(root, -1, 0); err != nil {
		t.Fatal(err)
	}
	first.Find(root, "used")
	first.Find(filepath.Join(root, "used"), "m")
	blob, err := first.MarshalStable(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	next := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := next.MergeUnverified(blob); err != nil {
		t.Fatal(err)
	}
	if got := next.Len(); got != 2 {
		t.Fatalf("cache holds %d listings, want the two lookups used (root, root/used)", got)
	}
	if err := next.VerifyTree(root); err != nil {
		t.Fatal(err)
	}
	st := next.Stats()
	if st.DirsListed != 0 || st.Verifications != 2 {
		t.Errorf("after VerifyTree: %+v, want 2 verified and nothing listed", st)
	}
	if next.Len() != 2 {
		t.Errorf("VerifyTree listed new directories: %d listings", next.Len())
	}
	if r := next.Find(filepath.Join(root, "used"), "m"); !r.Found {
		t.Errorf("m not found: %+v", r)
	}
	if n := next.Stats().DirsListed; n != 0 {
		t.Errorf("a verified listing was read again (%d)", n)
	}
}
