package synth_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pyhost/pyhost/bench/gen/synth"
)

// small is a tree that builds in well under a second.
func small(python string, exts int) synth.Spec {
	return synth.Spec{
		Packages: 2, Modules: 6, Depth: 2, Functions: 2,
		Extensions: exts, ExtraPaths: 2, DecoysPerPath: 1, FailedImports: 2,
		Python: python, Compile: python != "",
	}
}

// python returns Debian's interpreter or skips the test.
func python(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(synth.DefaultPython); err != nil {
		t.Skipf("%s not installed: %v", synth.DefaultPython, err)
	}
	return synth.DefaultPython
}

// canBuildExtensions reports whether gcc and the -config script exist.
func canBuildExtensions(py string) bool {
	if _, err := exec.LookPath("gcc"); err != nil {
		return false
	}
	_, err := os.Stat(py + "-config")
	return err == nil
}

func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && d.Name() == "__pycache__" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestShape(t *testing.T) {
	root := filepath.Join(t.TempDir(), "tree")
	spec := small("", 0)
	tree, err := synth.Generate(root, spec)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(files(t, root), "\n")
	want := strings.Join([]string{
		"import_all.py",
		"lib/pkg000/__init__.py",
		"lib/pkg000/mod000.py",
		"lib/pkg000/mod003.py",
		"lib/pkg000/sub1/__init__.py",
		"lib/pkg000/sub1/mod001.py",
		"lib/pkg000/sub1/mod004.py",
		"lib/pkg000/sub1/sub2/__init__.py",
		"lib/pkg000/sub1/sub2/mod002.py",
		"lib/pkg000/sub1/sub2/mod005.py",
		"lib/pkg001/__init__.py",
		"lib/pkg001/mod000.py",
		"lib/pkg001/mod003.py",
		"lib/pkg001/sub1/__init__.py",
		"lib/pkg001/sub1/mod001.py",
		"lib/pkg001/sub1/mod004.py",
		"lib/pkg001/sub1/sub2/__init__.py",
		"lib/pkg001/sub1/sub2/mod002.py",
		"lib/pkg001/sub1/sub2/mod005.py",
		"manifest.json",
		"path00/decoy00_000.py",
		"path01/decoy01_000.py",
	}, "\n")
	if got != want {
		t.Errorf("files:\n%s\nwant:\n%s", got, want)
	}
	if len(tree.Modules) != 12 || len(tree.Packages) != 6 {
		t.Errorf("%d modules, %d packages; want 12, 6", len(tree.Modules), len(tree.Packages))
	}
	wantPath := []string{filepath.Join(root, "path00"), filepath.Join(root, "path01"), filepath.Join(root, "lib")}
	if strings.Join(tree.PathEntries, ":") != strings.Join(wantPath, ":") {
		t.Errorf("PathEntries = %v, want %v", tree.PathEntries, wantPath)
	}

	// Exactly FailedImports modules probe an absent module.
	probes := 0
	for _, f := range files(t, filepath.Join(root, "lib")) {
		b, _ := os.ReadFile(filepath.Join(root, "lib", f))
		probes += strings.Count(string(b), "except ImportError")
	}
	if probes != spec.FailedImports {
		t.Errorf("%d failing imports, want %d", probes, spec.FailedImports)
	}

	back, err := synth.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := json.Marshal(tree)
	b2, _ := json.Marshal(back)
	if string(b1) != string(b2) {
		t.Errorf("Load does not round-trip:\n%s\n%s", b1, b2)
	}

	moved := tree.Relocate("/mnt/x")
	if moved.Driver != "/mnt/x/import_all.py" || moved.PathEntries[2] != "/mnt/x/lib" || tree.PathEntries[2] != wantPath[2] {
		t.Errorf("Relocate: %+v (original %v)", moved, tree.PathEntries)
	}
}

func TestRejects(t *testing.T) {
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	for _, tc := range []struct {
		name string
		dir  string
		spec synth.Spec
		want string
	}{
		{"no packages", t.TempDir(), synth.Spec{}, "at least one package"},
		{"negative", t.TempDir(), synth.Spec{Packages: 1, Modules: -1}, "negative"},
		{"not empty", full, small("", 0), "not empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := synth.Generate(tc.dir, tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Generate: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// The driver imports the whole tree, extensions included, from its own
// directory and from a copy elsewhere (relocatable), with .pyc files
// precompiled.
func TestDriverImports(t *testing.T) {
	py := python(t)
	exts := 0
	if canBuildExtensions(py) {
		exts = 2
	} else {
		t.Log("gcc or python3.11-config missing: no C extensions in this tree")
	}
	root := filepath.Join(t.TempDir(), "tree")
	tree, err := synth.Generate(root, small(py, exts))
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Extensions) != exts {
		t.Fatalf("%d extensions, want %d", len(tree.Extensions), exts)
	}
	if _, err := os.Stat(filepath.Join(root, "lib", "pkg000", "__pycache__")); err != nil {
		t.Errorf("not precompiled: %v", err)
	}
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"driver sets sys.path", nil},
		{"PYTHONPATH", []string{"PYTHONPATH=" + tree.PythonPath()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(py, "-B", tree.Driver)
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", py, tree.Driver, err, out)
			}
			line := strings.TrimSpace(string(out))
			if !strings.HasPrefix(line, "BENCH_IMPORT ") {
				t.Fatalf("output %q has no BENCH_IMPORT line", out)
			}
			var r struct {
				Seconds  float64
				Modules  int
				ExtTotal int `json:"ext_total"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "BENCH_IMPORT ")), &r); err != nil {
				t.Fatal(err)
			}
			if r.Modules < len(tree.Modules)+len(tree.Packages)+exts {
				t.Errorf("%d modules loaded, want >= %d", r.Modules, len(tree.Modules)+len(tree.Packages)+exts)
			}
			if want := exts * (exts - 1) / 2; r.ExtTotal != want {
				t.Errorf("extension values sum to %d, want %d", r.ExtTotal, want)
			}
		})
	}
	t.Run("one module", func(t *testing.T) {
		name := tree.Modules[len(tree.Modules)-1]
		cmd := exec.Command(py, "-c", "import "+name+" as m; print(m.DEPTH, m.f1(3))")
		cmd.Env = append(os.Environ(), "PYTHONPATH="+tree.PythonPath())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("import %s: %v\n%s", name, err, out)
		}
		// mod005 is sixth in pkg001's chain (DEPTH 5); f1(3) = 3*2+1.
		if got := strings.TrimSpace(string(out)); got != "5 7" {
			t.Errorf("import %s printed %q, want \"5 7\"", name, got)
		}
	})
}
