package pathscan_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pyhost/pyhost/pathscan"
)

func ExampleIndex_Find() {
	root, _ := os.MkdirTemp("", "pathscan-example")
	defer os.RemoveAll(root)
	os.MkdirAll(filepath.Join(root, "pkg"), 0o755)
	os.MkdirAll(filepath.Join(root, "portion"), 0o755)
	os.WriteFile(filepath.Join(root, "pkg", "__init__.py"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "mod.py"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "mod.pyc"), nil, 0o644)

	ix := pathscan.New(pathscan.Options{Loaders: []pathscan.Suffix{
		{Suffix: ".so", Kind: pathscan.Extension},
		{Suffix: ".py", Kind: pathscan.Source},
		{Suffix: ".pyc", Kind: pathscan.Bytecode},
	}})
	rel := func(p string) string { r, _ := filepath.Rel(root, p); return r }
	for _, tail := range []string{"mod", "pkg", "portion", "missing"} {
		r := ix.Find(root, tail)
		switch {
		case r.Found:
			fmt.Printf("%s: %s %s package=%v\n", tail, r.Kind, rel(r.Path), r.Package)
		case r.Namespace:
			fmt.Printf("%s: namespace portion %s\n", tail, rel(r.Dir))
		default:
			fmt.Printf("%s: not found\n", tail)
		}
	}
	// Output:
	// mod: source mod.py package=false
	// pkg: source pkg/__init__.py package=true
	// portion: namespace portion portion
	// missing: not found
}
