package pathscan_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pyhost/pyhost/pathscan"
)

var precedenceTree = []string{
	"pkg/__init__.py", "pkg.py", // package over module
	"both/", "both.py", // module over namespace
	"ns/sub.py",                                                                         // namespace
	"ext.cpython-311-x86_64-linux-gnu.so", "ext.abi3.so", "ext.so", "ext.py", "ext.pyc", // extension first
	"abi.abi3.so", "abi.so", "abi.py", // abi3 before plain .so
	"src.py", "src.pyc", // source over bytecode
	"bc.pyc",
	"pkgc/__init__.pyc", "pkgc/__init__.py/", // __init__.py as a directory does not count
	"pkgx/__init__.py", "pkgx/__init__.cpython-311-x86_64-linux-gnu.so", // extension __init__ first
	"foo.py/", // a directory named like a module
	"dirfile.py/", "dirfile.pyc",
	"linkmod.py -> src.py", // symlinks are followed
	"linkpkg -> pkg",
	"linkns -> ns",
	"linkinit/__init__.py -> ../src.py",
	"broken.py -> nowhere.py",
	"brokendir -> nowhere",
	"notpkg", // a file named like a package directory
	"notpkg2", "notpkg2.py",
	"fifo.py|",
	"fifodir/__init__.py|", // a fifo __init__ makes no package
	".py",                  // what an empty tail finds
	"deep/er/mod.py",
}

func TestFind(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, precedenceTree)
	j := func(p ...string) string { return filepath.Join(append([]string{root}, p...)...) }
	mod := func(k pathscan.Kind, p ...string) pathscan.Result {
		return pathscan.Result{Found: true, Kind: k, Path: j(p...)}
	}
	pkg := func(k pathscan.Kind, dir, init string) pathscan.Result {
		return pathscan.Result{Found: true, Kind: k, Path: j(dir, init), Package: true, Dir: j(dir)}
	}
	ns := func(p ...string) pathscan.Result { return pathscan.Result{Namespace: true, Dir: j(p...)} }
	miss := pathscan.Result{}

	tests := []struct {
		dir, tail string
		want      pathscan.Result
	}{
		{root, "pkg", pkg(pathscan.Source, "pkg", "__init__.py")},
		{root, "both", mod(pathscan.Source, "both.py")},
		{root, "ns", ns("ns")},
		{j("ns"), "sub", mod(pathscan.Source, "ns", "sub.py")},
		{root, "ext", mod(pathscan.Extension, "ext.cpython-311-x86_64-linux-gnu.so")},
		{root, "abi", mod(pathscan.Extension, "abi.abi3.so")},
		{root, "src", mod(pathscan.Source, "src.py")},
		{root, "bc", mod(pathscan.Bytecode, "bc.pyc")},
		{root, "pkgc", pkg(pathscan.Bytecode, "pkgc", "__init__.pyc")},
		{root, "pkgx", pkg(pathscan.Extension, "pkgx", "__init__.cpython-311-x86_64-linux-gnu.so")},
		{root, "foo", miss},
		{root, "dirfile", mod(pathscan.Bytecode, "dirfile.pyc")},
		{root, "linkmod", mod(pathscan.Source, "linkmod.py")},
		{root, "linkpkg", pkg(pathscan.Source, "linkpkg", "__init__.py")},
		{root, "linkns", ns("linkns")},
		{root, "linkinit", pkg(pathscan.Source, "linkinit", "__init__.py")},
		{root, "broken", miss},
		{root, "brokendir", miss},
		{root, "notpkg", miss},
		{root, "notpkg2", mod(pathscan.Source, "notpkg2.py")},
		{root, "fifo", miss},
		{root, "fifodir", ns("fifodir")},
		{root, "deep", ns("deep")},
		{j("deep"), "er", ns("deep", "er")},
		{j("deep", "er"), "mod", mod(pathscan.Source, "deep", "er", "mod.py")},
		{root, "nothing", miss},
		{root, "Src", miss},                             // case-sensitive
		{root, "x.src", mod(pathscan.Source, "src.py")}, // only the last part counts, as in find_spec
		{root, "pkg.", mod(pathscan.Source, ".py")},     // ... even when it is empty
		{root, "", mod(pathscan.Source, ".py")},
		{root, "ns/sub", miss},
		{root, "pkg/", miss},
		{root, "/", miss},
		{root, "src\x00", miss},
		{root, "\x00", miss},
		{j("nonexistent"), "src", miss},
		{j("src.py"), "x", miss}, // not a directory
		{j("linkpkg"), "__init__", mod(pathscan.Source, "linkpkg", "__init__.py")},
		{"/", "nonexistent-pathscan-test", miss},
	}
	ix := pathscan.New(pathscan.Options{Loaders: debian311})
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s|%q", filepath.Base(tt.dir), tt.tail), func(t *testing.T) {
			if got := ix.Find(tt.dir, tt.tail); got != tt.want {
				t.Errorf("Find(%q, %q)\n got %+v\nwant %+v", tt.dir, tt.tail, got, tt.want)
			}
			if ref := refFind(tt.dir, tt.tail, debian311); ref != tt.want {
				t.Errorf("reference FileFinder disagrees with the table: %+v", ref)
			}
		})
	}
	s := ix.Stats()
	if s.Lookups != uint64(len(tests)) || s.Hits+s.Namespaces+s.Misses != s.Lookups {
		t.Errorf("stats do not add up: %+v", s)
	}
}

// The loader list is the caller's: other orders, other suffixes, none.
func TestFindLoaderOrder(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"m.py", "m.pyc", "m", "p/__init__.py", "p/__init__.pyc"})
	bcFirst := []pathscan.Suffix{{".pyc", pathscan.Bytecode}, {".py", pathscan.Source}}
	empty := []pathscan.Suffix{{"", pathscan.Source}}
	tests := []struct {
		name    string
		loaders []pathscan.Suffix
		tail    string
		want    pathscan.Result
	}{
		{"bytecode first", bcFirst, "m", pathscan.Result{Found: true, Kind: pathscan.Bytecode, Path: root + "/m.pyc"}},
		{"bytecode first pkg", bcFirst, "p", pathscan.Result{Found: true, Kind: pathscan.Bytecode, Path: root + "/p/__init__.pyc", Package: true, Dir: root + "/p"}},
		{"empty suffix", empty, "m", pathscan.Result{Found: true, Kind: pathscan.Source, Path: root + "/m"}},
		{"no loaders", nil, "m", pathscan.Result{}},
		{"no loaders pkg", nil, "p", pathscan.Result{Namespace: true, Dir: root + "/p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := pathscan.New(pathscan.Options{Loaders: tt.loaders})
			if got := ix.Find(root, tt.tail); got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if ref := refFind(root, tt.tail, tt.loaders); ref != tt.want {
				t.Errorf("reference disagrees: %+v", ref)
			}
		})
	}
}

func TestTestdataGolden(t *testing.T) {
	root := testdataTree(t)
	tests := []struct {
		tail string
		want pathscan.Result
	}{
		{"alpha", pathscan.Result{Found: true, Kind: pathscan.Source, Path: root + "/alpha.py"}},
		{"beta", pathscan.Result{Found: true, Kind: pathscan.Source, Path: root + "/beta/__init__.py", Package: true, Dir: root + "/beta"}},
		{"delta", pathscan.Result{Namespace: true, Dir: root + "/delta"}},
		{"eta", pathscan.Result{Found: true, Kind: pathscan.Source, Path: root + "/eta.py"}},
		{"theta", pathscan.Result{Found: true, Kind: pathscan.Bytecode, Path: root + "/theta/__init__.pyc", Package: true, Dir: root + "/theta"}},
		{"iota", pathscan.Result{Found: true, Kind: pathscan.Extension, Path: root + "/iota.abi3.so"}},
		{"kappa", pathscan.Result{Found: true, Kind: pathscan.Bytecode, Path: root + "/kappa.pyc"}},
		{"lam", pathscan.Result{}},
		{"", pathscan.Result{Found: true, Kind: pathscan.Source, Path: root + "/.py"}},
	}
	ix := pathscan.New(pathscan.Options{Loaders: debian311})
	for _, tt := range tests {
		t.Run(tt.tail, func(t *testing.T) {
			if got := ix.Find(root, tt.tail); got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if got := ix.Find(root+"/beta", "gamma"); got.Path != root+"/beta/gamma.py" {
		t.Errorf("submodule: %+v", got)
	}
	// beta was listed for step 1 already; the submodule lookup reused it.
	if s := ix.Stats(); s.DirsListed != 4 { // root, beta, delta, theta
		t.Errorf("DirsListed = %d, want 4", s.DirsListed)
	}
}

func TestForgetAndInvalidate(t *testing.T) {
	root := tempDir(t)
	makeTree(t, root, []string{"a/b/c.py", "a-x/d.py", "a/__init__.py"})
	ix := pathscan.New(pathscan.Options{Loaders: debian311})
	ix.Find(root, "a")
	ix.Find(root+"/a", "b")
	ix.Find(root+"/a/b", "c")
	ix.Find(root+"/a-x", "d")
	if n := ix.Len(); n != 4 { // root, a, a/b, a-x
		t.Fatalf("Len = %d, want 4", n)
	}
	ix.Forget(root + "/a")
	if n := ix.Len(); n != 2 { // root, a-x
		t.Fatalf("Len after Forget = %d, want 2", n)
	}
	// a-x sorts between a and a/; it must survive.
	before := ix.Stats().DirsListed
	ix.Find(root+"/a-x", "d")
	if ix.Stats().DirsListed != before {
		t.Error("Forget(a) dropped a-x")
	}

	os.WriteFile(root+"/a-x/e.py", nil, 0o644)
	if ix.Find(root+"/a-x", "e").Found {
		t.Fatal("miss not final without RevalidateMisses")
	}
	ix.Invalidate(root)
	if !ix.Find(root+"/a-x", "e").Found {
		t.Error("Invalidate(root) did not reach a-x")
	}
	os.WriteFile(root+"/a-x/f.py", nil, 0o644)
	ix.InvalidateAll()
	if !ix.Find(root+"/a-x", "f").Found {
		t.Error("InvalidateAll did not reach a-x")
	}
}

func TestConcurrent(t *testing.T) {
	root := testdataTree(t)
	ix := pathscan.New(pathscan.Options{Loaders: debian311, RevalidateMisses: true})
	var wg sync.WaitGroup
	tails := []string{"alpha", "beta", "delta", "nope", "theta", "", "x/y"}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				tail := tails[(g+i)%len(tails)]
				if got, want := ix.Find(root, tail), refFind(root, tail, debian311); got != want {
					t.Errorf("Find(%q) = %+v, want %+v", tail, got, want)
					return
				}
				ix.Find(root+"/beta", "gamma")
				switch i % 50 {
				case 10:
					ix.Invalidate(root + "/beta")
				case 20:
					ix.InvalidateAll()
				case 30:
					ix.Forget(root)
				case 40:
					if err := ix.ListTree(root, -1, 0); err != nil {
						t.Error(err)
					}
					b, _ := ix.MarshalBinary()
					if err := ix.Merge(b); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// HasDir answers from the listing: a directory (or a symlink to one) so
// named, not a file, and counts no lookup.
func TestHasDir(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"pkg", "real"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "mod.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	ix := pathscan.New(pathscan.Options{Loaders: debian311})
	for name, want := range map[string]bool{"pkg": true, "link": true, "mod": false, "mod.py": false, "absent": false} {
		if got := ix.HasDir(root, name); got != want {
			t.Errorf("HasDir(%q) = %v, want %v", name, got, want)
		}
	}
	if st := ix.Stats(); st.Lookups != 0 || st.DirsListed != 1 {
		t.Errorf("stats %+v: want the directory listed once, no lookup", st)
	}
}
