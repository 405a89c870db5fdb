package native

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildLib compiles a shared library at path with SONAME its base name,
// needing the libraries named in needs (from -L dirs), with extra linker
// flags.
func buildLib(t *testing.T, path string, needs []string, flags ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	src := path + ".c"
	if err := os.WriteFile(src, []byte("int f_"+strings.NewReplacer(".", "_", "-", "_").Replace(filepath.Base(path))+"(void) { return 1; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-shared", "-fPIC", "-o", path, src, "-Wl,-soname," + filepath.Base(path), "-Wl,--no-as-needed"}
	args = append(args, flags...)
	for _, n := range needs {
		args = append(args, "-l:"+n)
	}
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, out)
	}
}

// TestResolveRulesLikeLdd builds objects that exercise the loader's rules
// (DT_RPATH inherited from the loader, DT_RUNPATH not; LD_LIBRARY_PATH
// between the two; $ORIGIN; an unresolvable name; a hwcaps subdirectory)
// and compares each closure with ldd's.
func TestResolveRulesLikeLdd(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found")
	}
	top := t.TempDir()
	a, b, c, o := filepath.Join(top, "a"), filepath.Join(top, "b"), filepath.Join(top, "c"), filepath.Join(top, "o")
	// Only in a: found by a dependent only through an inherited DT_RPATH.
	buildLib(t, filepath.Join(a, "liby.so"), nil)
	buildLib(t, filepath.Join(b, "libx.so"), []string{"liby.so"}, "-L"+a)
	// libz.so in a and in b: DT_RPATH beats LD_LIBRARY_PATH (b), which beats DT_RUNPATH.
	buildLib(t, filepath.Join(a, "libz.so"), nil)
	buildLib(t, filepath.Join(b, "libz.so"), nil)
	// $ORIGIN.
	buildLib(t, filepath.Join(o, "sub", "libo.so"), nil)
	// A directory with a hwcaps subdirectory.
	buildLib(t, filepath.Join(c, "libh.so"), nil)
	os.MkdirAll(filepath.Join(c, "glibc-hwcaps", "x86-64-v2"), 0o755)
	// Found nowhere (built, then removed).
	buildLib(t, filepath.Join(top, "gone", "libgone.so"), nil)

	mods := map[string]struct {
		needs []string
		flags []string
		err   error
	}{
		"rpath_chain.so":   {[]string{"libx.so"}, []string{"-L" + b, "-L" + a, "-Wl,--disable-new-dtags,-rpath," + a}, nil},
		"runpath_chain.so": {[]string{"libx.so"}, []string{"-L" + b, "-L" + a, "-Wl,--enable-new-dtags,-rpath," + a}, ErrUnresolved},
		"rpath_z.so":       {[]string{"libz.so"}, []string{"-L" + a, "-Wl,--disable-new-dtags,-rpath," + a}, nil},
		"runpath_z.so":     {[]string{"libz.so"}, []string{"-L" + a, "-Wl,--enable-new-dtags,-rpath," + a}, nil},
		"origin.so":        {[]string{"libo.so"}, []string{"-L" + filepath.Join(o, "sub"), "-Wl,--enable-new-dtags,-rpath,$ORIGIN/sub"}, nil},
		"hwcaps.so":        {[]string{"libh.so"}, []string{"-L" + c, "-Wl,--enable-new-dtags,-rpath," + c}, ErrUncertain},
		"gone.so":          {[]string{"libgone.so"}, []string{"-L" + filepath.Join(top, "gone")}, ErrUnresolved},
	}
	for name, m := range mods {
		buildLib(t, filepath.Join(o, name), m.needs, m.flags...)
	}
	os.RemoveAll(filepath.Join(top, "gone"))

	r := NewResolver()
	r.LibraryPath = []string{b} // and LD_LIBRARY_PATH=b for ldd
	env := []string{"PATH=" + os.Getenv("PATH"), "LD_LIBRARY_PATH=" + b}
	for name, m := range mods {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(o, name)
			cl, err := r.Resolve(path)
			want := lddPaths(t, path, env)
			notFound := false
			for k, v := range want {
				if v == "not found" {
					notFound = true
					delete(want, k)
				}
			}
			switch {
			case m.err != nil:
				if !errors.Is(err, m.err) {
					t.Fatalf("Resolve: %v, want %v (ldd: %v)", err, m.err, sorted(want))
				}
				if errors.Is(m.err, ErrUnresolved) && !notFound {
					t.Fatalf("ldd finds everything: %v", sorted(want))
				}
			case err != nil:
				t.Fatalf("Resolve: %v (ldd: %v)", err, sorted(want))
			case notFound:
				t.Fatalf("ldd finds less than Resolve: %v", sorted(want))
			default:
				got := closurePaths(cl)
				t.Logf("%v", sorted(got))
				if !equalMaps(want, got) {
					t.Errorf("\n ldd  %v\n ours %v", sorted(want), sorted(got))
				}
			}
		})
	}
}
