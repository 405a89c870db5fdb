package share

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pyhost/pyhost/pathscan"
)

// Warm, the root walks no tree: it verifies what Uses names and lists the
// Local directories themselves; for a new program also the trees'
// top-level packages themselves and the packages the program names in
// full (the first directory so named in sys.path's order).
func TestWarmRootListsWhatTheProgramNames(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{"first", "lib/pkg/sub/deep", "lib/other/x", "lib/used", "work/mine/inner"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "first", "pkg.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	lib, work := filepath.Join(base, "lib"), filepath.Join(base, "work")
	ix := pathscan.New(pathscan.Options{Concurrency: 2})
	roots := Roots{
		Trees: []string{filepath.Join(base, "first"), lib},
		Local: []string{work},
		Uses:  []string{filepath.Join(lib, "used")},
		Named: []string{"pkg", "absent"},
	}
	listRoots(ix, roots, true)
	// A program that ran before lists the trees' tops and its Local
	// directories themselves (Uses has no cached listing here to verify).
	if st := ix.Stats(); st.DirsListed != 3 {
		t.Errorf("stats %+v: want first, lib and work listed", st)
	}
	// A new one: the trees' tops and their packages (first, lib, and
	// lib's pkg, other, used), work, and pkg in full (pkg/sub,
	// pkg/sub/deep); not below other or work.
	ix = pathscan.New(pathscan.Options{Concurrency: 2})
	roots.New = true
	listRoots(ix, roots, true)
	if st := ix.Stats(); st.DirsListed != 8 {
		t.Errorf("stats %+v: want 8 directories listed", st)
	}
	if ix.HasDir(filepath.Join(lib, "other"), "x") != true || ix.Stats().DirsListed != 8 {
		t.Error("lib/other was not listed ahead")
	}
	blob, err := ix.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got := pathscan.New(pathscan.Options{})
	if err := got.Merge(blob); err != nil {
		t.Fatal(err)
	}
	if !got.HasDir(filepath.Join(lib, "pkg", "sub"), "deep") || !got.HasDir(work, "mine") {
		t.Error("the named package's tree or the working directory was not shared")
	}
	if st := got.Stats(); st.DirsListed != 0 {
		t.Errorf("a lookup in what was shared read the file system: %+v", st)
	}
}
