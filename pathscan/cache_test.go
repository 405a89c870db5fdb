package pathscan_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"syscall"
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
	blob, err := first.MarshalCache(pathscan.CachePolicy{Settle: 2 * time.Second, Now: time.Now()})
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
	blob, err := ix.MarshalCache(pathscan.CachePolicy{Settle: time.Minute, Now: time.Now()})
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
	blob, err := first.MarshalCache(pathscan.CachePolicy{Settle: 2 * time.Second, Now: time.Now()})
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

// Another directory at the same path with the same mtime (a second image of
// a reproducible build mounted where the first was) is not taken for the
// cached one: its inode and ctime differ.
func TestCachedListingNeedsTheSameDirectoryNotJustTheSameMtime(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"pkg/first.py"})
	dir := filepath.Join(root, "pkg")
	stamp := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(dir, stamp, stamp); err != nil {
		t.Fatal(err)
	}
	first := pathscan.New(pathscan.Options{Loaders: debian311})
	if r := first.Find(dir, "first"); !r.Found {
		t.Fatalf("first not found: %+v", r)
	}
	blob, err := first.MarshalCache(pathscan.CachePolicy{Settle: 2 * time.Second, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}

	if err := os.Rename(dir, filepath.Join(root, "gone")); err != nil {
		t.Fatal(err)
	}
	makeTree(t, root, []string{"pkg/second.py"})
	if err := os.Chtimes(dir, stamp, stamp); err != nil {
		t.Fatal(err)
	}

	next := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := next.MergeUnverified(blob); err != nil {
		t.Fatal(err)
	}
	if r := next.Find(dir, "second"); !r.Found {
		t.Errorf("second not found: the cached listing of the other directory was used: %+v", r)
	}
	if r := next.Find(dir, "first"); r.Found {
		t.Errorf("first found in a directory that does not hold it: %+v", r)
	}
}

// A directory that could not be opened for a reason that may pass (here
// EMFILE) is read again at its next use and never written to a cache file.
func TestTransientFailureIsRetriedAndNeverCached(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"lib/mod.py"})
	dir := filepath.Join(root, "lib")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	ix := pathscan.New(pathscan.Options{Loaders: debian311})

	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// The next descriptor opened gets the lowest free number: a limit of
	// that number makes the listing's open fail with EMFILE.
	probe, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	lowest := probe.Fd()
	probe.Close()
	tight := lim
	tight.Cur = uint64(lowest)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &tight); err != nil {
		t.Fatal(err)
	}
	r := ix.Find(dir, "mod")
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if r.Found {
		t.Fatal("mod found although no descriptor could be opened")
	}
	blob, err := ix.MarshalCache(pathscan.CachePolicy{Settle: 2 * time.Second, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if r := ix.Find(dir, "mod"); !r.Found {
		t.Errorf("mod not found once descriptors were available again: %+v", r)
	}
	next := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := next.MergeUnverified(blob); err != nil {
		t.Fatal(err)
	}
	if next.Stats().DirsMerged != 0 {
		t.Errorf("the failed listing was written to the cache: %+v", next.Stats())
	}
}

// One cache file serves every program of an environment: a run keeps the
// listings earlier runs used that it did not need itself, until they are
// older than MaxAge or crowded out by more recently used ones (MaxDirs).
func TestCacheKeepsOtherProgramsListingsUntilEvicted(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"a/m.py", "b/m.py", "c/m.py"})
	old := time.Now().Add(-time.Hour)
	for _, d := range []string{"a", "b", "c"} {
		if err := os.Chtimes(filepath.Join(root, d), old, old); err != nil {
			t.Fatal(err)
		}
	}
	dir := func(n string) string { return filepath.Join(root, n) }
	run := func(cache []byte, now time.Time, p pathscan.CachePolicy, uses ...string) []byte {
		t.Helper()
		ix := pathscan.New(pathscan.Options{Loaders: debian311})
		if cache != nil {
			if err := ix.MergeUnverified(cache); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range uses {
			if r := ix.Find(dir(u), "m"); !r.Found {
				t.Fatalf("%s/m not found", u)
			}
		}
		p.Settle, p.Now = 2*time.Second, now
		blob, err := ix.MarshalCache(p)
		if err != nil {
			t.Fatal(err)
		}
		return blob
	}
	held := func(blob []byte) int {
		ix := pathscan.New(pathscan.Options{Loaders: debian311})
		if err := ix.Merge(blob); err != nil {
			t.Fatal(err)
		}
		return ix.Len()
	}
	day := 24 * time.Hour
	t0 := time.Now()
	c := run(nil, t0, pathscan.CachePolicy{}, "a")       // program 1
	c = run(c, t0.Add(day), pathscan.CachePolicy{}, "b") // program 2 keeps a's
	if n := held(c); n != 2 {
		t.Fatalf("after two programs the cache holds %d listings, want 2", n)
	}
	c2 := run(c, t0.Add(3*day), pathscan.CachePolicy{MaxAge: 2*day + time.Hour}, "c")
	if n := held(c2); n != 2 { // a (3 days old) is evicted; b (2 days) stays
		t.Fatalf("with MaxAge the cache holds %d listings, want 2 (b and c)", n)
	}
	c3 := run(c, t0.Add(2*day), pathscan.CachePolicy{MaxDirs: 2}, "c")
	ix := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := ix.MergeUnverified(c3); err != nil {
		t.Fatal(err)
	}
	ix.Find(dir("a"), "m") // the least recently used, crowded out: listed again
	ix.Find(dir("b"), "m")
	ix.Find(dir("c"), "m")
	if st := ix.Stats(); st.DirsMerged != 2 || st.DirsListed != 1 {
		t.Fatalf("with MaxDirs 2: %+v, want b and c merged, a listed", st)
	}
	// MaxProgramDirs bounds the program's directories alone: with a and
	// c the program's and b the environment's, at most one of a and c
	// (the more recently used) stays with b.
	prog := pathscan.CachePolicy{MaxProgramDirs: 1, ProgramDir: func(d string) bool { return d != dir("b") }}
	c4 := run(c, t0.Add(2*day), prog, "c")
	ix = pathscan.New(pathscan.Options{Loaders: debian311})
	if err := ix.MergeUnverified(c4); err != nil {
		t.Fatal(err)
	}
	ix.Find(dir("a"), "m")
	ix.Find(dir("b"), "m")
	ix.Find(dir("c"), "m")
	if st := ix.Stats(); st.DirsMerged != 2 || st.DirsListed != 1 || ix.Len() != 3 {
		t.Fatalf("with MaxProgramDirs 1: %+v, want b and c merged, a listed", st)
	}
	// SkipDev: nothing on such a device is kept, this run's or others'.
	var st syscall.Stat_t
	if err := syscall.Stat(dir("a"), &st); err != nil {
		t.Fatal(err)
	}
	skip := pathscan.CachePolicy{SkipDev: func(dev uint64) bool { return dev == uint64(st.Dev) }}
	if n := held(run(c, t0.Add(2*day), skip, "c")); n != 0 {
		t.Fatalf("with SkipDev of their device the cache holds %d listings, want none", n)
	}
}

// The listings of a cache file are decoded at their first use: one that a
// run never needed is written back byte for byte, and one it needed, and
// one beside it, answer as they did when they were written.
func TestMergeUnverifiedDecodesAtFirstUse(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"a/x.py", "a/pkg/__init__.py", "a/y.cpython-311-x86_64-linux-gnu.so", "b/z.py", "c/w.pyc"})
	dirs := []string{filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")}
	old := time.Now().Add(-time.Hour)
	for _, d := range dirs {
		if err := os.Chtimes(d, old, old); err != nil {
			t.Fatal(err)
		}
	}
	first := pathscan.New(pathscan.Options{Loaders: debian311})
	for _, d := range dirs {
		first.Find(d, "nothing")
	}
	stamp := time.Now()
	blob, err := first.MarshalCache(pathscan.CachePolicy{Settle: 2 * time.Second, Now: stamp})
	if err != nil {
		t.Fatal(err)
	}

	unused := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := unused.MergeUnverified(blob); err != nil {
		t.Fatal(err)
	}
	again, err := unused.MarshalCache(pathscan.CachePolicy{Settle: 2 * time.Second, Now: stamp.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(blob) {
		t.Errorf("a cache file no lookup used is not written back as it was read")
	}

	next := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := next.MergeUnverified(blob); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir, tail string
		kind      pathscan.Kind
		pkg       bool
	}{
		{dirs[0], "x", pathscan.Source, false},
		{dirs[0], "pkg", pathscan.Source, true},
		{dirs[0], "y", pathscan.Extension, false},
		{dirs[1], "z", pathscan.Source, false},
		{dirs[2], "w", pathscan.Bytecode, false},
	} {
		if r := next.Find(c.dir, c.tail); !r.Found || r.Kind != c.kind || r.Package != c.pkg {
			t.Errorf("Find(%s, %s) = %+v, want kind %v, package %v", c.dir, c.tail, r, c.kind, c.pkg)
		}
	}
	if r := next.Find(dirs[1], "x"); r.Found {
		t.Errorf("x found in b: %+v", r)
	}
	if !next.IsDir(filepath.Join(dirs[0], "pkg")) {
		t.Errorf("a/pkg is not a directory to the merged index")
	}
	if st := next.Stats(); st.DirsListed != 1 { // a/pkg, not cached: the lookup of pkg lists it
		t.Errorf("stats = %+v, want one directory listed (a/pkg)", st)
	}
}

// A cache file's entries are checked at their first use: a listing whose
// entries are malformed (here, out of order) is read again, as a changed
// one is, and the rest of the file stays usable.
func TestMergeUnverifiedMalformedEntries(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"bad/x.py", "good/y.py"})
	hdr := append([]byte("PSCN"), pathscan.FormatVersion)
	b := binary.AppendUvarint(bytes.Clone(hdr), 2)
	for _, c := range []struct {
		dir   string
		names []string
	}{
		{filepath.Join(root, "bad"), []string{"zz.py", "x.py"}},
		{filepath.Join(root, "good"), []string{"y.py"}},
	} {
		var st syscall.Stat_t
		if err := syscall.Stat(c.dir, &st); err != nil {
			t.Fatal(err)
		}
		b = binary.AppendUvarint(b, uint64(len(c.dir)))
		b = append(b, c.dir...)
		b = binary.AppendVarint(b, st.Mtim.Sec*1e9+st.Mtim.Nsec)
		b = binary.AppendUvarint(b, uint64(st.Dev))
		b = binary.AppendUvarint(b, uint64(st.Ino))
		b = binary.AppendVarint(b, st.Ctim.Sec*1e9+st.Ctim.Nsec)
		b = binary.AppendVarint(b, time.Now().UnixNano())
		b = append(b, 0) // listed
		b = appendEntries(b, c.names...)
	}
	ix := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := ix.MergeUnverified(sealed(b)); err != nil {
		t.Fatalf("a file whose framing is sound is refused at load: %v", err)
	}
	if r := ix.Find(filepath.Join(root, "bad"), "x"); !r.Found {
		t.Errorf("x not found: the malformed listing was used: %+v", r)
	}
	if r := ix.Find(filepath.Join(root, "good"), "y"); !r.Found {
		t.Errorf("y not found through the good listing: %+v", r)
	}
	if st := ix.Stats(); st.DirsListed != 1 || st.Verifications != 2 {
		t.Errorf("stats = %+v, want bad read again, both verified", st)
	}
}
