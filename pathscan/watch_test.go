package pathscan_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pyhost/pyhost/pathscan"
)

// What a lookup sees after a change made during the run, with the
// directories watched and without (where FileFinder would see it through
// its mtime check, an Index without Watch does not).
func TestWatchSeesChangesDuringTheRun(t *testing.T) {
	type step struct {
		name   string
		change func(t *testing.T, root string)
		dir    string // below root
		tail   string
		want   string // the path found below root, "" for none
	}
	steps := []step{
		{"deleted", func(t *testing.T, root string) { rm(t, root, "a/m.py") }, "a", "m", ""},
		{"written ahead", func(t *testing.T, root string) { makeTree(t, root, []string{"a/w.py"}) }, "a", "w", "a/w.py"},
		{"module becomes package", func(t *testing.T, root string) { makeTree(t, root, []string{"a/p/__init__.py"}) }, "a", "p", "a/p/__init__.py"},
		{"package loses __init__", func(t *testing.T, root string) { rm(t, root, "a/q/__init__.py") }, "a", "q", ""},
		{"package directory replaced", func(t *testing.T, root string) {
			mv(t, root, "a/r", "a/r_old")
			makeTree(t, root, []string{"a/r/__init__.py", "a/r/new.py"})
		}, "a/r", "new", "a/r/new.py"},
		{"directory on the path through a link swapped", func(t *testing.T, root string) {
			if err := os.Symlink("v2", filepath.Join(root, "cur.new")); err != nil {
				t.Fatal(err)
			}
			mv(t, root, "cur.new", "cur")
		}, "cur", "only2", "cur/only2.py"},
	}
	for _, watch := range []bool{true, false} {
		for _, s := range steps {
			t.Run(map[bool]string{true: "watched/", false: "trusted/"}[watch]+s.name, func(t *testing.T) {
				root := tempDir(t)
				makeTree(t, root, []string{"a/m.py", "a/p.py", "a/q/__init__.py", "a/q/x.py", "a/r/__init__.py", "v1/x.py", "v2/only2.py"})
				if err := os.Symlink("v1", filepath.Join(root, "cur")); err != nil {
					t.Fatal(err)
				}
				ix := pathscan.New(pathscan.Options{Loaders: debian311, Watch: watch})
				// Everything the step touches is listed and used first, the
				// root too: a link swapped in a directory never listed (one
				// above every sys.path entry) is not seen (README).
				for _, l := range [][2]string{{".", "zz"}, {"a", "m"}, {"a", "p"}, {"a", "q"}, {"a", "w"}, {"a/q", "x"}, {"a/r", "new"}, {"cur", "only2"}} {
					ix.Find(filepath.Join(root, l[0]), l[1])
				}
				s.change(t, root)
				got := ""
				if r := ix.Find(filepath.Join(root, s.dir), s.tail); r.Found {
					got, _ = filepath.Rel(root, r.Path)
				}
				want := s.want
				if !watch {
					// Trusted listings do not see it: what the watch adds.
					if got == want {
						t.Errorf("seen without a watch: the step does not test the watch")
					}
					return
				}
				if got != want {
					t.Errorf("after the change: found %q, want %q", got, want)
				}
				if st := ix.Stats(); st.Watches == 0 || st.Changes == 0 {
					t.Errorf("stats: %+v, want watches and changes counted", st)
				}
			})
		}
	}
}

// A program may close the descriptor (os.closerange) and reuse its
// number: the Index notices, and checks each listing by a stat again.
func TestWatchDescriptorClosedBehindItsBack(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"m.py"})
	ix := pathscan.New(pathscan.Options{Loaders: debian311, Watch: true})
	if !ix.Find(root, "m").Found {
		t.Fatal("setup")
	}
	if !pathscan.CloseWatchFd(ix) {
		t.Fatal("no descriptor to close")
	}
	r, w, err := os.Pipe() // likely the number just freed: blocking, and not ours
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	rm(t, root, "m.py")
	if ix.Find(root, "m").Found {
		t.Error("deleted module still found after the descriptor was closed")
	}
	makeTree(t, root, []string{"n.py"})
	if !ix.Find(root, "n").Found {
		t.Error("new module not found after the descriptor was closed")
	}
}

// After a fork the child checks each listing once more and watches with
// an instance of its own (AfterFork; the fork itself is the importer's
// tests': a Go test cannot fork).
func TestWatchAfterFork(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"m.py"})
	ix := pathscan.New(pathscan.Options{Loaders: debian311, Watch: true})
	ix.Find(root, "m")
	ix.AfterFork()
	rm(t, root, "m.py")
	if ix.Find(root, "m").Found {
		t.Error("deleted module found after AfterFork")
	}
	makeTree(t, root, []string{"m.py"})
	if !ix.Find(root, "m").Found {
		t.Error("module written after AfterFork not found")
	}
}

// WatchWhere leaves the directories it rejects trusted, as without Watch.
func TestWatchWhere(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"m.py"})
	ix := pathscan.New(pathscan.Options{Loaders: debian311, Watch: true, WatchWhere: func(string) bool { return false }})
	ix.Find(root, "m")
	rm(t, root, "m.py")
	if !ix.Find(root, "m").Found {
		t.Error("a directory WatchWhere rejects was watched")
	}
	if st := ix.Stats(); st.Watches != 0 {
		t.Errorf("watches = %d, want 0", st.Watches)
	}
}

func rm(t *testing.T, root, rel string) {
	t.Helper()
	if err := os.Remove(filepath.Join(root, rel)); err != nil {
		t.Fatal(err)
	}
}

func mv(t *testing.T, root, from, to string) {
	t.Helper()
	if err := os.Rename(filepath.Join(root, from), filepath.Join(root, to)); err != nil {
		t.Fatal(err)
	}
}
