package synth_test

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pyhost/pyhost/bench/gen/synth"
)

// A tiny Pynamic-like tree runs under python3.11 from a symlink named in
// its RUNPATH, and every extension has that RUNPATH and its libraries.
func TestGeneratePynamic(t *testing.T) {
	py := python(t)
	if !canBuildExtensions(py) {
		t.Skip("gcc or python3.11-config missing")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	view := filepath.Join(dir, "view") // a symlink, as the runner's view of a mount
	if err := os.Symlink(src, view); err != nil {
		t.Fatal(err)
	}
	spec := synth.PynamicSpec{Extensions: 5, Libraries: 6, LibsPerExt: 3, LibDirs: 2, RunpathRoot: view, Python: py}
	tree, err := synth.GeneratePynamic(src, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Extensions) != 5 || len(tree.Libraries) != 6 {
		t.Fatalf("tree: %d extensions, %d libraries", len(tree.Extensions), len(tree.Libraries))
	}
	exts, _ := filepath.Glob(filepath.Join(src, "pyn_e000*.so"))
	if len(exts) != 1 {
		t.Fatalf("extension file: %v", exts)
	}
	f, err := elf.Open(exts[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runpath, _ := f.DynString(elf.DT_RUNPATH)
	needed, _ := f.DynString(elf.DT_NEEDED)
	if len(runpath) != 1 || runpath[0] != view+"/libs0:"+view+"/libs1" {
		t.Errorf("RUNPATH = %v, want %s/libs0:%s/libs1", runpath, view, view)
	}
	n := 0
	for _, l := range needed {
		if strings.HasPrefix(l, "libpyn_u") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("DT_NEEDED = %v, want 3 utility libraries", needed)
	}

	out, err := exec.Command(py, tree.Relocate(view).Driver).CombinedOutput()
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	line, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "BENCH_IMPORT ")
	var rep struct {
		ExtTotal int `json:"ext_total"`
	}
	if !ok || json.Unmarshal([]byte(line), &rep) != nil || rep.ExtTotal != synth.PynamicExpectedTotal(spec) {
		t.Errorf("driver printed %q, want ext_total %d", out, synth.PynamicExpectedTotal(spec))
	}
}

func TestPynamicBadSpec(t *testing.T) {
	for _, s := range []synth.PynamicSpec{
		{Extensions: 0, Libraries: 1, LibDirs: 1},
		{Extensions: 1, Libraries: 2, LibsPerExt: 3, LibDirs: 1},
		{Extensions: 1, Libraries: 1, LibDirs: 1, RunpathRoot: "relative"},
	} {
		if _, err := synth.GeneratePynamic(t.TempDir(), s); err == nil {
			t.Errorf("GeneratePynamic(%+v) succeeded", s)
		}
	}
}
