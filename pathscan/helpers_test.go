package pathscan_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pyhost/pyhost/pathscan"
)

// debian311 is what Debian's python3.11 yields from
// _get_supported_file_loaders(), flattened. Tests only: the Index takes
// whatever the interpreter says.
var debian311 = []pathscan.Suffix{
	{".cpython-311-x86_64-linux-gnu.so", pathscan.Extension},
	{".abi3.so", pathscan.Extension},
	{".so", pathscan.Extension},
	{".py", pathscan.Source},
	{".pyc", pathscan.Bytecode},
}

// pyJoin is _bootstrap_external._path_join on POSIX.
func pyJoin(parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, strings.TrimRight(p, "/"))
		}
	}
	return strings.Join(kept, "/")
}

func statMode(path string) (os.FileMode, bool) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return st.Mode(), true
}

// refFind is FileFinder.find_spec transcribed with live file-system calls:
// the oracle for tests that cannot run Python (fuzzing).
func refFind(dir, fullname string, loaders []pathscan.Suffix) pathscan.Result {
	tail := fullname[strings.LastIndexByte(fullname, '.')+1:]
	names := map[string]bool{}
	if des, err := os.ReadDir(dir); err == nil {
		for _, de := range des {
			names[de.Name()] = true
		}
	}
	isNS := false
	base := pyJoin(dir, tail)
	if names[tail] {
		for _, s := range loaders {
			p := pyJoin(base, "__init__"+s.Suffix)
			if m, ok := statMode(p); ok && m.IsRegular() {
				return pathscan.Result{Found: true, Kind: s.Kind, Path: p, Package: true, Dir: base}
			}
		}
		m, ok := statMode(base)
		isNS = ok && m.IsDir()
	}
	for _, s := range loaders {
		if names[tail+s.Suffix] {
			p := pyJoin(dir, tail+s.Suffix)
			if m, ok := statMode(p); ok && m.IsRegular() {
				return pathscan.Result{Found: true, Kind: s.Kind, Path: p}
			}
		}
	}
	if isNS {
		return pathscan.Result{Namespace: true, Dir: base}
	}
	return pathscan.Result{}
}

// makeTree creates files under root from a spec: "a/b.py" is an empty file,
// "a/" a directory, "l -> target" a symlink, "f|" a fifo.
func makeTree(t testing.TB, root string, spec []string) {
	t.Helper()
	for _, s := range spec {
		var err error
		switch {
		case strings.Contains(s, " -> "):
			name, target, _ := strings.Cut(s, " -> ")
			p := filepath.Join(root, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			err = os.Symlink(target, p)
		case strings.HasSuffix(s, "/"):
			err = os.MkdirAll(filepath.Join(root, s), 0o755)
		case strings.HasSuffix(s, "|"):
			p := filepath.Join(root, strings.TrimSuffix(s, "|"))
			os.MkdirAll(filepath.Dir(p), 0o755)
			err = syscall.Mkfifo(p, 0o644)
		default:
			p := filepath.Join(root, s)
			os.MkdirAll(filepath.Dir(p), 0o755)
			err = os.WriteFile(p, nil, 0o644)
		}
		if err != nil {
			t.Fatalf("makeTree %q: %v", s, err)
		}
	}
}

// realDir resolves t.TempDir's symlinks so paths compare equal to what a
// walk yields.
func tempDir(t testing.TB) string {
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testdataTree(t testing.TB) string {
	d, err := filepath.Abs("testdata/tree")
	if err != nil {
		t.Fatal(err)
	}
	return d
}
