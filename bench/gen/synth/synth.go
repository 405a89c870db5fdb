// Package synth writes synthetic Python package trees for import
// benchmarks, in the spirit of LLNL's Pynamic: K packages of M modules
// nested D subpackages deep, a few small C extension modules compiled
// with gcc against the interpreter's headers, extra sys.path entries
// (empty or holding decoy modules) that every top-level import must
// probe first, and an import_all.py driver that imports everything and
// prints one BENCH_IMPORT line of JSON.
//
// [GeneratePynamic] writes the other kind of tree, closer to Pynamic
// itself: C extension modules only, each linking utility libraries that
// the dynamic loader finds through an absolute RUNPATH.
//
// The tree is self-contained and relocatable: the driver finds its
// entries relative to its own file, so it runs the same from a mount of
// the tree (slowfs) as from the directory it was written to. Generate
// only writes inside the directory it is given.
package synth

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Spec describes a tree. Counts are per tree unless said otherwise.
type Spec struct {
	Packages  int // top-level packages (K)
	Modules   int // modules per package (M), spread over its levels
	Depth     int // subpackage levels below each package (0: flat)
	Functions int // functions per module: the module's size
	// Extensions is the number of C extension modules, spread over the
	// packages; each needs gcc and python3.11-config.
	Extensions int
	// ExtraPaths is the number of sys.path entries placed before the
	// tree's own, as a long PYTHONPATH would be.
	ExtraPaths int
	// DecoysPerPath is the number of unrelated modules in each extra
	// entry (0: the entries are empty directories).
	DecoysPerPath int
	// FailedImports is the number of modules that try to import an
	// absent optional dependency (try/except ImportError): each costs a
	// probe of every sys.path entry with a stock finder.
	FailedImports int
	// Python is the interpreter used to find headers (its -config
	// script) and to precompile; default /usr/bin/python3.11.
	Python string
	// Compile writes __pycache__ .pyc files, as an installed package
	// has, so that runs measure imports, not compilation.
	Compile bool
}

// DefaultSpec is a small tree: 1,000 modules, 4 extensions, 8 extra
// path entries.
func DefaultSpec() Spec {
	return Spec{
		Packages: 10, Modules: 100, Depth: 2, Functions: 10,
		Extensions: 4, ExtraPaths: 8, DecoysPerPath: 5, FailedImports: 20,
		Python: DefaultPython, Compile: true,
	}
}

// DefaultPython is Debian's interpreter, the one pyhost embeds.
const DefaultPython = "/usr/bin/python3.11"

// Tree is a generated tree. Paths are absolute, under Root.
type Tree struct {
	Spec Spec   `json:"spec"`
	Root string `json:"root"`
	// Driver is import_all.py; run it as `python3.11 Driver`.
	Driver string `json:"driver"`
	// PathEntries are the sys.path entries the tree needs, in order:
	// the extra entries first, the tree's lib directory last. The
	// driver adds any that are missing; setting PYTHONPATH to
	// PythonPath() gives the same sys.path without the driver's help.
	PathEntries []string `json:"path_entries"`
	// Packages, Modules and Extensions are dotted names: every package
	// and subpackage, every pure-Python module, every C extension.
	Packages   []string `json:"packages"`
	Modules    []string `json:"modules"`
	Extensions []string `json:"extensions"`
}

// PythonPath is PathEntries joined for the PYTHONPATH variable.
func (t *Tree) PythonPath() string { return strings.Join(t.PathEntries, string(os.PathListSeparator)) }

// Relocate returns the tree as seen under another root (a mount of
// Root): every path is rewritten from t.Root to root.
func (t *Tree) Relocate(root string) *Tree {
	c := *t
	move := func(p string) string {
		rel, err := filepath.Rel(t.Root, p)
		if err != nil {
			return p
		}
		return filepath.Join(root, rel)
	}
	c.Root = root
	c.Driver = move(t.Driver)
	c.PathEntries = make([]string, len(t.PathEntries))
	for i, p := range t.PathEntries {
		c.PathEntries[i] = move(p)
	}
	return &c
}

// ManifestName is the file in Root that describes the tree (JSON Tree).
const ManifestName = "manifest.json"

// Load reads the manifest of a tree written by Generate.
func Load(root string) (*Tree, error) {
	b, err := os.ReadFile(filepath.Join(root, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	var t Tree
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("synth: manifest %q: %w", root, err)
	}
	return &t, nil
}

func (s Spec) validate() error {
	switch {
	case s.Packages < 1:
		return errors.New("synth: need at least one package")
	case s.Modules < 0, s.Depth < 0, s.Functions < 0, s.Extensions < 0,
		s.ExtraPaths < 0, s.DecoysPerPath < 0, s.FailedImports < 0:
		return errors.New("synth: counts must not be negative")
	case s.Packages > 10000 || s.Modules > 100000 || s.Depth > 50:
		return errors.New("synth: tree too large")
	}
	return nil
}

// Generate writes a tree into dir, which must not exist or be empty.
// It fails without a partial tree being reported as usable; on error
// dir may hold a partial tree and should be removed by the caller.
func Generate(dir string, spec Spec) (*Tree, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if spec.Python == "" {
		spec.Python = DefaultPython
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	if ents, err := os.ReadDir(root); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("synth: %q is not empty", root)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	t := &Tree{Spec: spec, Root: root, Driver: filepath.Join(root, "import_all.py")}
	w := &writer{}

	for i := 0; i < spec.ExtraPaths; i++ {
		p := filepath.Join(root, fmt.Sprintf("path%02d", i))
		w.mkdir(p)
		for j := 0; j < spec.DecoysPerPath; j++ {
			w.file(filepath.Join(p, fmt.Sprintf("decoy%02d_%03d.py", i, j)), "VALUE = %d\n", j)
		}
		t.PathEntries = append(t.PathEntries, p)
	}
	lib := filepath.Join(root, "lib")
	t.PathEntries = append(t.PathEntries, lib)

	failed := 0
	for k := 0; k < spec.Packages; k++ {
		pkg := fmt.Sprintf("pkg%03d", k)
		// levels[l] is the dotted name of the package at depth l.
		levels := []string{pkg}
		for l := 1; l <= spec.Depth; l++ {
			levels = append(levels, fmt.Sprintf("%s.sub%d", levels[l-1], l))
		}
		for _, p := range levels {
			d := filepath.Join(lib, filepath.FromSlash(strings.ReplaceAll(p, ".", "/")))
			w.mkdir(d)
			w.file(filepath.Join(d, "__init__.py"), "\"\"\"Synthetic package %s.\"\"\"\n", p)
			t.Packages = append(t.Packages, p)
		}
		prev := ""
		for m := 0; m < spec.Modules; m++ {
			parent := levels[m%len(levels)]
			name := fmt.Sprintf("%s.mod%03d", parent, m)
			path := filepath.Join(lib, filepath.FromSlash(strings.ReplaceAll(name, ".", "/"))+".py")
			probe := ""
			if failed < spec.FailedImports && spreads(k*spec.Modules+m, spec.Packages*spec.Modules, spec.FailedImports) {
				probe = fmt.Sprintf("synth_absent_%03d", failed)
				failed++
			}
			w.file(path, "%s", moduleSource(name, prev, probe, spec.Functions))
			t.Modules = append(t.Modules, name)
			prev = name
		}
	}
	if w.err != nil {
		return nil, w.err
	}

	if spec.Extensions > 0 {
		exts, err := buildExtensions(root, lib, spec)
		if err != nil {
			return nil, err
		}
		t.Extensions = exts
	}

	w.file(t.Driver, "%s", driverSource(t))
	if w.err != nil {
		return nil, w.err
	}
	if spec.Compile {
		args := append([]string{"-m", "compileall", "-q", "-j0"}, t.PathEntries...)
		if out, err := exec.Command(spec.Python, args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("synth: precompile with %s: %v: %s", spec.Python, err, out)
		}
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, ManifestName), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	return t, nil
}

// spreads reports whether item i of n is one of k picked evenly.
func spreads(i, n, k int) bool {
	if k >= n {
		return true
	}
	return (i*k)/n != ((i+1)*k)/n
}

// writer keeps the first error so that tree building reads straight.
type writer struct{ err error }

func (w *writer) mkdir(p string) {
	if w.err == nil {
		if err := os.MkdirAll(p, 0o755); err != nil {
			w.err = fmt.Errorf("synth: %w", err)
		}
	}
}

func (w *writer) file(p, format string, args ...any) {
	if w.err == nil {
		if err := os.WriteFile(p, []byte(fmt.Sprintf(format, args...)), 0o644); err != nil {
			w.err = fmt.Errorf("synth: %w", err)
		}
	}
}

func moduleSource(name, prev, probe string, functions int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\"\"\"Synthetic module %s (generated by bench/gen).\"\"\"\n\n", name)
	if prev != "" {
		// A chain of dependencies inside the package, as in Pynamic.
		fmt.Fprintf(&b, "import %s as _prev\n", prev)
	} else {
		b.WriteString("_prev = None\n")
	}
	if probe != "" {
		fmt.Fprintf(&b, "try:\n    import %s\nexcept ImportError:\n    %s = None\n", probe, probe)
	}
	b.WriteString("\n")
	for f := 0; f < functions; f++ {
		fmt.Fprintf(&b, "def f%d(x, y=%d):\n    \"\"\"Return a value that depends on x.\"\"\"\n    return (x * %d + y) %% 97\n\n\n", f, f, f+1)
	}
	fmt.Fprintf(&b, "class Record:\n    name = %q\n\n    def __init__(self, v):\n        self.v = v\n\n\n", name)
	fmt.Fprintf(&b, "DEPTH = 0 if _prev is None else _prev.DEPTH + 1\n")
	return b.String()
}

func driverSource(t *Tree) string {
	var b strings.Builder
	b.WriteString("\"\"\"Import every module of this synthetic tree (generated by bench/gen).\n\n" +
		"Prints one line: BENCH_IMPORT {json} with the import time in seconds,\n" +
		"the number of modules loaded and the MPI rank (if any).\n\"\"\"\n")
	b.WriteString("import os, sys, time\n_t0 = time.perf_counter()\n")
	b.WriteString("_here = os.path.dirname(os.path.abspath(__file__))\n_entries = [\n")
	for _, p := range t.PathEntries {
		rel, _ := filepath.Rel(t.Root, p)
		fmt.Fprintf(&b, "    %q,\n", filepath.ToSlash(rel))
	}
	b.WriteString("]\n_at = 1\nfor _e in _entries:\n    _p = os.path.join(_here, _e)\n" +
		"    if _p not in sys.path:\n        sys.path.insert(_at, _p)\n    _at = sys.path.index(_p) + 1\n\n")
	for _, m := range t.Modules {
		fmt.Fprintf(&b, "import %s\n", m)
	}
	for _, e := range t.Extensions {
		fmt.Fprintf(&b, "import %s\n", e)
	}
	fmt.Fprintf(&b, "\n_ext_total = sum(sys.modules[_n].value() for _n in %s)\n", pyList(t.Extensions))
	b.WriteString("_elapsed = time.perf_counter() - _t0\n")
	b.WriteString("_rank = os.environ.get(\"OMPI_COMM_WORLD_RANK\", os.environ.get(\"PMI_RANK\"))\n")
	b.WriteString("import json\nprint(\"BENCH_IMPORT \" + json.dumps({\"seconds\": _elapsed, " +
		"\"modules\": len(sys.modules), \"rank\": _rank, \"ext_total\": _ext_total}), flush=True)\n")
	return b.String()
}

func pyList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// buildExtensions writes and compiles the C extension modules, spread
// round-robin over the top-level packages. Sources stay in csrc/, out of
// sys.path.
func buildExtensions(root, lib string, spec Spec) ([]string, error) {
	cfg := spec.Python + "-config"
	incOut, err := exec.Command(cfg, "--includes").Output()
	if err != nil {
		return nil, fmt.Errorf("synth: %s --includes (install python3-dev, or use 0 extensions): %w", cfg, err)
	}
	sufOut, err := exec.Command(cfg, "--extension-suffix").Output()
	if err != nil {
		return nil, fmt.Errorf("synth: %s --extension-suffix: %w", cfg, err)
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return nil, fmt.Errorf("synth: C extensions need gcc (or use 0 extensions): %w", err)
	}
	includes := strings.Fields(string(incOut))
	suffix := strings.TrimSpace(string(sufOut))
	csrc := filepath.Join(root, "csrc")
	if err := os.MkdirAll(csrc, 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}

	names := make([]string, spec.Extensions)
	errs := make([]error, spec.Extensions)
	sem := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for e := 0; e < spec.Extensions; e++ {
		short := fmt.Sprintf("_ext%03d", e)
		pkg := fmt.Sprintf("pkg%03d", e%spec.Packages)
		names[e] = pkg + "." + short
		c := filepath.Join(csrc, short+".c")
		if err := os.WriteFile(c, []byte(extensionSource(short, e)), 0o644); err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
		out := filepath.Join(lib, pkg, short+suffix)
		wg.Add(1)
		go func(e int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			args := append([]string{"-shared", "-fPIC", "-O1", "-o", out, c}, includes...)
			if msg, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
				errs[e] = fmt.Errorf("synth: gcc %s: %v: %s", c, err, msg)
			}
		}(e)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return names, nil
}

func extensionSource(name string, value int) string {
	return fmt.Sprintf(`/* Synthetic extension module %[1]s (generated by bench/gen). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *value(PyObject *self, PyObject *unused)
{
    return PyLong_FromLong(%[2]d);
}

static PyMethodDef methods[] = {
    {"value", value, METH_NOARGS, "Return this module's number."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef def = {
    PyModuleDef_HEAD_INIT, "%[1]s", "Synthetic extension.", -1, methods,
};

PyMODINIT_FUNC PyInit_%[1]s(void)
{
    return PyModule_Create(&def);
}
`, name, value)
}
