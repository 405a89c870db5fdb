package pathscan_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pyhost/pyhost/pathscan"
)

const python311 = "/usr/bin/python3.11"

// finderScript answers [dir, tail] queries with CPython's own FileFinder,
// one finder per directory as in sys.path_importer_cache.
const finderScript = `
import sys, json
import importlib.machinery as m
import importlib._bootstrap_external as be
loaders = be._get_supported_file_loaders()
kinds = {m.ExtensionFileLoader: 1, m.SourceFileLoader: 2, m.SourcelessFileLoader: 3}
flat = [[s, kinds[l]] for l, ss in loaders for s in ss]
finders = {}
out = []
for d, tail in json.load(sys.stdin):
    f = finders.get(d)
    if f is None:
        f = finders[d] = m.FileFinder(d, *loaders)
    try:
        spec = f.find_spec(tail)
    except Exception as e:
        out.append({"error": repr(e)})
        continue
    if spec is None:
        out.append({})
        continue
    locs = spec.submodule_search_locations
    r = {"dir": locs[0] if locs else "", "package": bool(locs)}
    if len(locs or []) > 1:
        r["error"] = "several locations: %r" % (locs,)
    if spec.loader is None:
        r["namespace"] = True
        r["package"] = False
    else:
        r["found"] = True
        r["kind"] = kinds[type(spec.loader)]
        r["path"] = spec.origin
    out.append(r)
json.dump({"loaders": flat, "results": out}, sys.stdout)
`

type pyResult struct {
	Found     bool   `json:"found"`
	Namespace bool   `json:"namespace"`
	Kind      int    `json:"kind"`
	Path      string `json:"path"`
	Package   bool   `json:"package"`
	Dir       string `json:"dir"`
	Error     string `json:"error"`
}

// randomTree builds a tree where names collide on purpose: every base name
// with every suffix, as files, directories, links, broken links and fifos.
func randomTree(t *testing.T, root string, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0))
	bases := []string{"a", "b", "c", "__init__", ""}
	suffixes := []string{"", ".py", ".pyc", ".so", ".abi3.so", ".cpython-311-x86_64-linux-gnu.so", ".txt"}
	var files, dirs []string
	var fill func(dir string, depth int)
	fill = func(dir string, depth int) {
		for range 14 {
			name := bases[r.IntN(len(bases))] + suffixes[r.IntN(len(suffixes))]
			p := filepath.Join(dir, name)
			if name == "" {
				continue
			}
			if _, err := os.Lstat(p); err == nil {
				continue
			}
			var err error
			switch k := r.IntN(10); {
			case k < 4:
				err = os.WriteFile(p, nil, 0o644)
				files = append(files, p)
			case k < 6:
				err = os.Mkdir(p, 0o755)
				dirs = append(dirs, p)
				if depth < 2 {
					fill(p, depth+1)
				}
			case k == 6 && len(files) > 0:
				err = os.Symlink(files[r.IntN(len(files))], p)
			case k == 7 && len(dirs) > 0:
				err = os.Symlink(dirs[r.IntN(len(dirs))], p)
			case k == 8:
				err = os.Symlink(p+".nowhere", p)
			default:
				err = syscall.Mkfifo(p, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	fill(root, 0)
}

// collectDirs walks root (not following links) and returns up to max
// directories with their names, skipping what JSON cannot carry exactly.
func collectDirs(root string, max int) map[string][]string {
	out := map[string][]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || len(out) >= max {
			return filepath.SkipDir
		}
		if !d.IsDir() || !utf8.ValidString(p) {
			return nil
		}
		des, err := os.ReadDir(p)
		if err != nil {
			return nil
		}
		var names []string
		for _, de := range des {
			if utf8.ValidString(de.Name()) {
				names = append(names, de.Name())
			}
		}
		out[p] = names
		return nil
	})
	return out
}

func TestDifferentialFileFinder(t *testing.T) {
	if _, err := os.Stat(python311); err != nil {
		t.Skipf("differential test needs %s: %v", python311, err)
	}
	start := time.Now()
	gen := tempDir(t)
	makeTree(t, gen+"/fixed", precedenceTree)
	for seed := range uint64(4) {
		randomTree(t, fmt.Sprintf("%s/random%d", gen, seed), seed)
	}

	roots := []string{gen}
	dirs := collectDirs(gen, 1000)
	t.Logf("generated: %d directories", len(dirs))
	for _, real := range []string{"/usr/lib/python3.11", "/usr/lib/python3/dist-packages"} {
		if _, err := os.Stat(real); err == nil {
			roots = append(roots, real)
			got := collectDirs(real, 1500)
			t.Logf("%s: %d directories", real, len(got))
			for d, names := range got {
				dirs[d] = names
			}
		}
	}
	var queries [][2]string
	for d, names := range dirs {
		for _, tail := range queriesFor(names) {
			queries = append(queries, [2]string{d, tail})
		}
		queries = append(queries, [2]string{d, "x.y." + filepath.Base(d)}, [2]string{d + "/nonexistent", "a"})
	}
	in, _ := json.Marshal(queries)

	cmd := exec.Command(python311, "-I", "-S", "-c", finderScript)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3.11: %v\n%s", err, stderr.Bytes())
	}
	var py struct {
		Loaders [][2]any   `json:"loaders"`
		Results []pyResult `json:"results"`
	}
	if err := json.Unmarshal(raw, &py); err != nil {
		t.Fatal(err)
	}
	if len(py.Results) != len(queries) {
		t.Fatalf("python answered %d of %d queries", len(py.Results), len(queries))
	}
	var loaders []pathscan.Suffix
	for _, l := range py.Loaders {
		loaders = append(loaders, pathscan.Suffix{Suffix: l[0].(string), Kind: pathscan.Kind(l[1].(float64))})
	}
	t.Logf("%d directories, %d queries, loaders %v; python took %v", len(dirs), len(queries), loaders, time.Since(start))

	lazy := pathscan.New(pathscan.Options{Loaders: loaders})
	revalidating := pathscan.New(pathscan.Options{Loaders: loaders, RevalidateMisses: true})
	lister := pathscan.New(pathscan.Options{Loaders: loaders})
	for _, r := range roots {
		if err := lister.ListTree(r, -1, 0); err != nil {
			t.Fatal(err)
		}
	}
	blob, err := lister.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	merged := pathscan.New(pathscan.Options{Loaders: loaders})
	if err := merged.Merge(blob); err != nil {
		t.Fatal(err)
	}
	t.Logf("ListTree: %d directories, blob %d bytes", lister.Len(), len(blob))

	indexes := []struct {
		name string
		ix   *pathscan.Index
	}{{"lazy", lazy}, {"revalidating", revalidating}, {"merged", merged}}
	bad := 0
	var found, namespaces int
	for i, q := range queries {
		p := py.Results[i]
		if p.Error != "" {
			t.Fatalf("python on %q: %s", q, p.Error)
		}
		want := pathscan.Result{Found: p.Found, Namespace: p.Namespace, Kind: pathscan.Kind(p.Kind), Path: p.Path, Package: p.Package, Dir: p.Dir}
		if want.Found {
			found++
		} else if want.Namespace {
			namespaces++
		}
		for _, x := range indexes {
			if got := x.ix.Find(q[0], q[1]); got != want {
				bad++
				if bad <= 20 {
					t.Errorf("%s: Find(%q, %q)\n got %+v\nwant %+v", x.name, q[0], q[1], got, want)
				}
			}
		}
	}
	if bad > 20 {
		t.Errorf("... %d mismatches in all", bad)
	}
	t.Logf("%d found, %d namespaces, %d misses; merged index listed %d more directories; total %v",
		found, namespaces, len(queries)-found-namespaces, merged.Stats().DirsListed, time.Since(start))
	if found == 0 || namespaces == 0 {
		t.Error("queries exercised too little")
	}
}
