package importer_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/importer"
	"github.com/pyhost/pyhost/pathscan"
)

var (
	interp *host.Interpreter
	imp    *importer.Importer
)

// One interpreter for the package's tests and benchmarks: CPython starts
// once per process.
func TestMain(m *testing.M) {
	imp = importer.New()
	var err error
	interp, err = host.Start(host.Options{
		Args: []string{"pyhost-test", "-c", "pass"},
		Setup: func(*host.Py) error {
			return imp.Install(pathscan.New(pathscan.Options{RevalidateMisses: true}), nil)
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start python:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := interp.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close python:", err)
		code = 1
	}
	os.Exit(code)
}

// eval runs a Python expression in __main__ and converts its value.
func eval(t testing.TB, expr string) any {
	t.Helper()
	var v any
	err := interp.Do(func(py *host.Py) error {
		o, err := py.Eval(expr)
		if err != nil {
			return err
		}
		defer o.Close()
		v, err = o.ToGo()
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func TestInstalledBeforePathFinder(t *testing.T) {
	got := eval(t, "[getattr(f, '__name__', '') for f in __import__('sys').meta_path][-2:]")
	want := []any{"GoFinder", "PathFinder"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sys.meta_path ends with %v, want %v", got, want)
	}
}

// The specs GoFinder makes are the ones the stock PathFinder makes over
// stock FileFinders, field by field, for stdlib modules, packages,
// extension modules and misses.
func TestSameSpecsAsStockPathFinder(t *testing.T) {
	err := interp.Do(func(py *host.Py) error {
		return py.Exec(`
import sys, zipimport
GoFinder = next(f for f in sys.meta_path if getattr(f, "__name__", "") == "GoFinder")
from importlib.machinery import PathFinder, FileFinder
from importlib._bootstrap_external import _get_supported_file_loaders
hooks = [zipimport.zipimporter, FileFinder.path_hook(*_get_supported_file_loaders())]
def stock(name, path=None):
    saved, saved_hooks = dict(sys.path_importer_cache), list(sys.path_hooks)
    try:
        sys.path_importer_cache.clear()
        sys.path_hooks[:] = hooks
        return PathFinder.find_spec(name, path)
    finally:
        sys.path_importer_cache.clear()
        sys.path_importer_cache.update(saved)
        sys.path_hooks[:] = saved_hooks
def describe(s):
    if s is None:
        return None
    return (s.name, type(s.loader).__name__, s.origin, s.cached, s.has_location, s.parent,
            None if s.submodule_search_locations is None else list(s.submodule_search_locations))
names = ["json", "os", "email", "email.mime", "xml.dom", "_ssl", "math", "nosuch", "sqlite3", "asyncio",
         "encodings.utf_8", "concurrent.futures", "unittest.mock", "lib2to3.pgen2"]
mismatch = []
for n in names:
    parent = n.rpartition(".")[0]
    path = __import__(parent, fromlist=["x"]).__path__ if parent else None
    a, b = describe(GoFinder.find_spec(n, path)), describe(stock(n, path))
    if a != b and not (a is None and b is not None and b[1] == "NamespaceLoader"):
        mismatch.append((n, a, b))
assert not mismatch, mismatch
`)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkFindSpec compares a find_spec hit and miss through GoFinder
// (the real callback path: Python calls the Go function) with the stock
// PathFinder over stock FileFinders, for the same names in the same run.
// The figure of interest is the ratio of the two ns/op.
func BenchmarkFindSpec(b *testing.B) {
	setup := `
import sys, zipimport
GoFinder = next(f for f in sys.meta_path if getattr(f, "__name__", "") == "GoFinder")
from importlib.machinery import PathFinder, FileFinder
from importlib._bootstrap_external import _get_supported_file_loaders
_stock_hooks = [zipimport.zipimporter, FileFinder.path_hook(*_get_supported_file_loaders())]
def _loop(f, name, n):
    for _ in range(n):
        f(name)
def _stock_loop(name, n):
    saved, saved_hooks = dict(sys.path_importer_cache), list(sys.path_hooks)
    sys.path_importer_cache.clear()
    sys.path_hooks[:] = _stock_hooks
    try:
        _loop(PathFinder.find_spec, name, n)
    finally:
        sys.path_importer_cache.clear()
        sys.path_importer_cache.update(saved)
        sys.path_hooks[:] = saved_hooks
`
	if err := interp.Do(func(py *host.Py) error { return py.Exec(setup) }); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, expr string }{
		{"hit/GoFinder", "_loop(GoFinder.find_spec, 'json', %d)"},
		{"hit/PathFinder", "_stock_loop('json', %d)"},
		{"miss/GoFinder", "_loop(GoFinder.find_spec, 'no_such_module', %d)"},
		{"miss/PathFinder", "_stock_loop('no_such_module', %d)"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			err := interp.Do(func(py *host.Py) error {
				b.ResetTimer()
				return py.Exec(fmt.Sprintf(c.expr, b.N))
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}

// The test interpreter (pyhost's libpython, no -O) runs finder.py as
// compiled at build time.
func TestPrecompiledFinderUsed(t *testing.T) {
	var ok bool
	if err := interp.Do(func(*host.Py) error { ok = importer.PrecompiledFinder(); return nil }); err != nil {
		t.Fatal(err)
	}
	if !ok && eval(t, "__import__('sys').version_info[:2] == (3, 11)") == true {
		t.Fatal("finder.code is not used by this interpreter: run go generate ./importer")
	}
}
