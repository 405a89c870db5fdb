package pathscan_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pyhost/pyhost/pathscan"
)

// What a lookup sees after a change made during the run, with the
// directories checked and without (where FileFinder would see it through
// its mtime check, an Index without Check does not).
func TestCheckSeesChangesDuringTheRun(t *testing.T) {
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
	for _, check := range []bool{true, false} {
		for _, s := range steps {
			t.Run(map[bool]string{true: "checked/", false: "trusted/"}[check]+s.name, func(t *testing.T) {
				root := tempDir(t)
				makeTree(t, root, []string{"a/m.py", "a/p.py", "a/q/__init__.py", "a/q/x.py", "a/r/__init__.py", "v1/x.py", "v2/only2.py"})
				if err := os.Symlink("v1", filepath.Join(root, "cur")); err != nil {
					t.Fatal(err)
				}
				opts := pathscan.Options{Loaders: debian311}
				if check {
					opts.Check = func(string) bool { return true }
				}
				ix := pathscan.New(opts)
				// Everything the step touches is listed and used first.
				for _, l := range [][2]string{{".", "zz"}, {"a", "m"}, {"a", "p"}, {"a", "q"}, {"a", "w"}, {"a/q", "x"}, {"a/r", "new"}, {"cur", "only2"}} {
					ix.Find(filepath.Join(root, l[0]), l[1])
				}
				s.change(t, root)
				got := ""
				if r := ix.Find(filepath.Join(root, s.dir), s.tail); r.Found {
					got, _ = filepath.Rel(root, r.Path)
				}
				want := s.want
				if !check {
					// Trusted listings do not see it: what the check adds.
					if got == want {
						t.Errorf("seen without a check: the step does not test the check")
					}
					return
				}
				if got != want {
					t.Errorf("after the change: found %q, want %q", got, want)
				}
				if st := ix.Stats(); st.Checks == 0 {
					t.Errorf("stats: %+v, want checks counted", st)
				}
			})
		}
	}
}

// A mode changed after the Index listed a package's directory (to find
// the package) and before a lookup first searched it is seen, as
// FileFinder would first read the directory then; after that, only the
// mtime counts, as for FileFinder (a chmod leaves it).
func TestCheckModeBeforeAndAfterTheFirstSearch(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads an unreadable directory: needs another user")
	}
	root := tempDir(t)
	makeTree(t, root, []string{"pk/__init__.py", "pk/m.py", "pk/n.py"})
	ix := pathscan.New(pathscan.Options{Loaders: debian311, Check: func(string) bool { return true }})
	pk := filepath.Join(root, "pk")
	if !ix.Find(root, "pk").Package {
		t.Fatal("setup")
	}
	if err := os.Chmod(pk, 0o311); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(pk, 0o755)
	if ix.Find(pk, "m").Found {
		t.Error("found in a directory unreadable before its first search")
	}
	if err := os.Chmod(pk, 0o755); err != nil {
		t.Fatal(err)
	}
	if ix.Find(pk, "n").Found {
		t.Error("read again for a mode change after its first search")
	}
}

func TestIsEnvironmentDir(t *testing.T) {
	for dir, want := range map[string]bool{
		"/usr/lib/python3.11":                         true,
		"/usr/lib/python3.11/json":                    true,
		"/usr/lib/python3/dist-packages/numpy/core":   true,
		"/usr/local/lib/python3.11/dist-packages":     true,
		"/home/u/venv/lib/python3.11/site-packages/x": true,
		"/opt/conda/lib64/python3.12":                 true,
		"/home/u/.local/lib/python3.11/site-packages": true,
		"/srv/app/site-packages":                      true,
		"/home/u/project":                             false,
		"/tmp":                                        false,
		"/usr/lib/python3.11x":                        false,
		"/home/u/lib/python3.x":                       false,
		"/home/u/python3.11/lib":                      false,
		"/work/lib/pythonic":                          false,
	} {
		if got := pathscan.IsEnvironmentDir(dir); got != want {
			t.Errorf("IsEnvironmentDir(%q) = %v, want %v", dir, got, want)
		}
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

// A directory looked up by a name with "..", "." or "//" in it (a
// sys.path entry as FileFinder takes it) is listed, but never written to
// a cache file, which would then be rejected whole.
func TestUncleanDirectoryNamesStayOutOfTheCache(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"x/keep.py", "y/ym.py"})
	ix := pathscan.New(pathscan.Options{Loaders: debian311})
	for _, d := range []string{root + "/x/../y", root + "/./y", root + "//y", root + "/x"} {
		ix.Find(d, "ym")
	}
	blob, err := ix.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := back.Merge(blob); err != nil {
		t.Fatalf("a written index is rejected: %v", err)
	}
	if st := back.Stats(); st.DirsMerged != 1 {
		t.Errorf("merged %d listings, want 1 (x)", st.DirsMerged)
	}
}

// One lookup epoch stats a checked directory once, however many times
// the lookup (both passes of an import's search, PathFinder's search of
// the same miss) asks it; a new epoch stats it again.
func TestCheckOncePerEpoch(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"a/m.py", "b/n.py"})
	ix := pathscan.New(pathscan.Options{Loaders: debian311, RevalidateMisses: true, Check: func(string) bool { return true }})
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	ix.Find(a, "m")
	ix.Find(b, "n")
	before := ix.Stats().Checks
	e := ix.Epoch()
	for pass := 0; pass < 2; pass++ {
		ix.FindIn(e, a, "missing", pass == 1)
		ix.FindIn(e, b, "missing", pass == 1)
	}
	ix.FindIn(e, a, "missing", false)
	if got := ix.Stats().Checks - before; got != 2 {
		t.Errorf("checks in one epoch: %d, want 2 (one per directory)", got)
	}
	ix.FindIn(ix.Epoch(), a, "missing", false)
	if got := ix.Stats().Checks - before; got != 3 {
		t.Errorf("checks after a new epoch: %d, want 3", got)
	}
}

// A symbolic link's target can come or go while its directory's mtime
// stays (a package linked into site-packages from a checkout, as flit
// --symlink, Spack views and stow make; a module linked to a file that
// is deleted or created). A checked directory asks again at each lookup;
// a trusted one (an environment's site-packages) when a later run
// verifies the listing a cache file brought it, and a cache file never
// carries what a link was for good. Each answer is FileFinder's (refFind).
func TestLinksAreAskedAgain(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"src/pkg/__init__.py", "src/mod.py", "src/initpkg/", "site/",
		"site/pkg -> ../src/pkg", "site/tool.py -> ../src/tool.py", "site/mod.py -> ../src/mod.py",
		"site/initpkg/", "site/initpkg/__init__.py -> ../../src/init.py"})
	site := filepath.Join(root, "site")
	names := []string{"pkg", "tool", "mod", "initpkg"}
	flip := func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(root, "src/pkg")); err == nil {
			mv(t, root, "src/pkg", "src/pkg.away")
			makeTree(t, root, []string{"src/tool.py", "src/init.py"})
			rm(t, root, "src/mod.py")
		} else {
			mv(t, root, "src/pkg.away", "src/pkg")
			rm(t, root, "src/tool.py")
			rm(t, root, "src/init.py")
			makeTree(t, root, []string{"src/mod.py"})
		}
	}
	same := func(t *testing.T, ix *pathscan.Index, when string) {
		t.Helper()
		for _, n := range names {
			got, want := ix.Find(site, n), refFind(site, n, debian311)
			if got.Found != want.Found || got.Path != want.Path || got.Namespace != want.Namespace {
				t.Errorf("%s: %s found %+v, FileFinder finds %+v", when, n, got, want)
			}
		}
	}
	checked := pathscan.New(pathscan.Options{Loaders: debian311, Check: func(string) bool { return true }})
	trusted := pathscan.New(pathscan.Options{Loaders: debian311})
	same(t, checked, "checked, listed")
	same(t, trusted, "trusted, listed")
	for i := range 4 {
		flip(t)
		same(t, checked, fmt.Sprintf("checked, in the run, after change %d", i+1))
		// The next run of the trusted directory, from the cache file the
		// last one wrote (its listings settled).
		blob, err := trusted.MarshalCache(pathscan.CachePolicy{Now: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		trusted = pathscan.New(pathscan.Options{Loaders: debian311})
		if err := trusted.MergeUnverified(blob); err != nil {
			t.Fatal(err)
		}
		same(t, trusted, fmt.Sprintf("trusted, the run after change %d", i+1))
		// (The linked package's own directory, moved away and back, is
		// listed again: its ctime moved.)
		if st := trusted.Stats(); st.DirsMerged < 2 || st.DirsListed > 1 {
			t.Fatalf("run after change %d listed again (%+v): the cache file is not tested", i+1, st)
		}
	}
}
