package share

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pyhost/pyhost/pathscan"
)

// Warm, the root lists no tree: it verifies what Uses names, lists the
// Local directories themselves and the packages the program names (the
// first directory so named in sys.path's order), and nothing else.
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
		Named: []string{"pkg", "used", "absent"},
	}
	listRoots(ix, roots, true)
	// first (searched), lib (searched), work, pkg, pkg/sub, pkg/sub/deep:
	// not used (covered by Uses, which has no cached listing here to
	// verify), not other, not below work.
	if st := ix.Stats(); st.DirsListed != 6 {
		t.Errorf("stats %+v: want 6 directories listed", st)
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
