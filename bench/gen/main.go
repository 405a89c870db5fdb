// Command gen writes a synthetic Python package tree (Pynamic-like) for
// import benchmarks:
//
//	go run ./bench/gen -o /tmp/tree -packages 10 -modules 100 -depth 2 -ext 4 -paths 8
//	PYTHONPATH=$(cat /tmp/tree/pythonpath) /usr/bin/python3.11 /tmp/tree/import_all.py
//
// The driver also works without PYTHONPATH: it adds the tree's entries
// itself. See package synth for the layout.
//
// With -pynamic E,L,K,D it writes a Pynamic-like tree instead: E C
// extension modules in the tree's root, each linking K of L utility
// libraries found through an absolute RUNPATH of D directories:
//
//	go run ./bench/gen -o /tmp/pyn -pynamic 200,100,20,4
//	/usr/bin/python3.11 /tmp/pyn/pynamic_driver.py
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pyhost/pyhost/bench/gen/synth"
)

func main() {
	os.Exit(run())
}

func run() int {
	d := synth.DefaultSpec()
	var (
		out      = flag.String("o", "", "output directory; must not exist or be empty (required)")
		pynamic  = flag.String("pynamic", "", "write a Pynamic-like tree instead: extensions,libraries,libs-per-extension,runpath-dirs")
		force    = flag.Bool("force", false, "replace an existing tree written by gen (one with a manifest.json)")
		packages = flag.Int("packages", d.Packages, "top-level packages (K)")
		modules  = flag.Int("modules", d.Modules, "modules per package (M)")
		depth    = flag.Int("depth", d.Depth, "subpackage levels per package")
		funcs    = flag.Int("functions", d.Functions, "functions per module")
		exts     = flag.Int("ext", d.Extensions, "C extension modules (compiled with gcc)")
		paths    = flag.Int("paths", d.ExtraPaths, "extra sys.path entries before the tree")
		decoys   = flag.Int("decoys", d.DecoysPerPath, "decoy modules per extra entry (0: empty dirs)")
		failed   = flag.Int("failed", d.FailedImports, "modules that try to import an absent module")
		python   = flag.String("python", d.Python, "interpreter for headers and precompiling")
		compile  = flag.Bool("compile", d.Compile, "precompile .pyc files")
	)
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: gen -o DIR [-packages K -modules M -depth D -ext E -paths P ...]")
		flag.PrintDefaults()
		return 2
	}
	if *force {
		if _, err := os.Stat(filepath.Join(*out, synth.ManifestName)); err == nil {
			if err := os.RemoveAll(*out); err != nil {
				fmt.Fprintln(os.Stderr, "gen:", err)
				return 1
			}
		} else if ents, _ := os.ReadDir(*out); len(ents) > 0 {
			fmt.Fprintf(os.Stderr, "gen: -force: %s is not a tree written by gen (no %s); not removing it\n", *out, synth.ManifestName)
			return 1
		}
	}
	if *pynamic != "" {
		var ps synth.PynamicSpec
		if _, err := fmt.Sscanf(*pynamic, "%d,%d,%d,%d", &ps.Extensions, &ps.Libraries, &ps.LibsPerExt, &ps.LibDirs); err != nil {
			fmt.Fprintf(os.Stderr, "gen: bad -pynamic %q: want extensions,libraries,libs-per-extension,runpath-dirs\n", *pynamic)
			return 2
		}
		ps.Python = *python
		t, err := synth.GeneratePynamic(*out, ps)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			return 1
		}
		fmt.Printf("gen: %s: %d extension modules, %d utility libraries in %d RUNPATH directories; run %s %s\n",
			t.Root, len(t.Extensions), len(t.Libraries), ps.LibDirs, ps.Python, t.Driver)
		return 0
	}
	t, err := synth.Generate(*out, synth.Spec{
		Packages: *packages, Modules: *modules, Depth: *depth, Functions: *funcs,
		Extensions: *exts, ExtraPaths: *paths, DecoysPerPath: *decoys, FailedImports: *failed,
		Python: *python, Compile: *compile,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(t.Root, "pythonpath"), []byte(t.PythonPath()+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		return 1
	}
	fmt.Printf("gen: %s: %d packages (%d with subpackages), %d modules, %d extensions, %d extra path entries; run %s %s\n",
		t.Root, t.Spec.Packages, len(t.Packages), len(t.Modules), len(t.Extensions), t.Spec.ExtraPaths, t.Spec.Python, t.Driver)
	return 0
}
