package pathscan_test

import (
	"os"
	"testing"
	"time"

	"github.com/pyhost/pyhost/pathscan"
)

// touch moves dir's mtime well away from what was recorded, whatever the
// file system's timestamp granularity.
func touch(t *testing.T, dir string, step int) {
	t.Helper()
	when := time.Now().Add(time.Duration(step) * time.Hour)
	if err := os.Chtimes(dir, when, when); err != nil {
		t.Fatal(err)
	}
}

func TestRevalidateMisses(t *testing.T) {
	for _, revalidate := range []bool{false, true} {
		t.Run(map[bool]string{false: "final", true: "revalidate"}[revalidate], func(t *testing.T) {
			root := tempDir(t)
			makeTree(t, root, []string{"a.py", "ns/x.py", "pkg/__init__.py"})
			ix := pathscan.New(pathscan.Options{Loaders: debian311, RevalidateMisses: revalidate})
			if ix.Find(root, "b").Found {
				t.Fatal("b found before it exists")
			}
			if !ix.Find(root, "ns").Namespace || !ix.Find(root, "pkg").Package {
				t.Fatal("setup")
			}

			// A new module.
			makeTree(t, root, []string{"b.py"})
			touch(t, root, 1)
			if got := ix.Find(root, "b").Found; got != revalidate {
				t.Errorf("new module found = %v, want %v", got, revalidate)
			}
			// A namespace portion becoming a package: Python stats __init__
			// files every time, so the portion is revalidated too.
			makeTree(t, root, []string{"ns/__init__.py"})
			touch(t, root+"/ns", 2)
			if got := ix.Find(root, "ns").Package; got != revalidate {
				t.Errorf("new __init__ found = %v, want %v", got, revalidate)
			}
			// A hit never touches the file system, so it outlives its file.
			os.Remove(root + "/a.py")
			touch(t, root, 3)
			if !ix.Find(root, "a").Found {
				t.Error("a hit was revalidated")
			}
			s := ix.Stats()
			if !revalidate && s.Revalidations != 0 {
				t.Errorf("Revalidations = %d without RevalidateMisses", s.Revalidations)
			}
			if revalidate && (s.Revalidations == 0 || s.Relists == 0) {
				t.Errorf("stats: %+v", s)
			}
		})
	}
}

// An unchanged directory costs a stat and no relisting.
func TestRevalidateUnchanged(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"a.py"})
	ix := pathscan.New(pathscan.Options{Loaders: debian311, RevalidateMisses: true})
	for range 5 {
		ix.Find(root, "missing")
	}
	s := ix.Stats()
	if s.DirsListed != 1 || s.Revalidations != 5 || s.Relists != 0 {
		t.Errorf("stats: %+v", s)
	}
}

// Relisting a directory drops the listings below it that changed too.
func TestRevalidateDropsStaleChildren(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"pkg/__init__.py", "pkg/m.py", "keep/__init__.py"})
	ix := pathscan.New(pathscan.Options{Loaders: debian311, RevalidateMisses: true})
	if !ix.Find(root, "pkg").Package || !ix.Find(root, "keep").Package {
		t.Fatal("setup")
	}
	os.Remove(root + "/pkg/__init__.py")
	touch(t, root+"/pkg", 1)
	makeTree(t, root, []string{"new.py"})
	touch(t, root, 2)
	before := ix.Stats().DirsListed
	if !ix.Find(root, "new").Found { // relists root, which finds pkg changed
		t.Fatal("new module not found")
	}
	if got := ix.Find(root, "pkg"); !got.Namespace {
		t.Errorf("pkg after its __init__ went: %+v", got)
	}
	if !ix.Find(root, "keep").Package {
		t.Error("keep lost")
	}
	// root relisted, pkg relisted; keep reused.
	if n := ix.Stats().DirsListed - before; n != 2 {
		t.Errorf("listed %d directories, want 2", n)
	}
}

func TestRevalidateMissingDir(t *testing.T) {
	root := tempDir(t)
	dir := root + "/later"
	ix := pathscan.New(pathscan.Options{Loaders: debian311, RevalidateMisses: true})
	if ix.Find(dir, "m").Found {
		t.Fatal("found in a missing directory")
	}
	makeTree(t, root, []string{"later/m.py"})
	if !ix.Find(dir, "m").Found {
		t.Error("directory that appeared not relisted")
	}
}
