package native

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestPlanRoundTrip(t *testing.T) {
	p := &Plan{Dir: "/dev/shm/x/k", Leaders: []int{2, 5},
		Files:   []File{{Orig: "/a/m.so", ID: Identity{1, 2, 3, 4, 5}}, {Orig: "/a/libx.so", Soname: "libx.so", ID: Identity{6, 7, 8, 9, 10}}},
		Modules: []Module{{File: 0, Preload: []int{1}}}}
	blob, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	q, err := UnmarshalPlan(blob)
	if err != nil || !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, p, q)
	}
	for i := range blob {
		if _, err := UnmarshalPlan(blob[:i]); err == nil {
			t.Fatalf("a plan truncated to %d bytes was accepted", i)
		}
	}
}

func FuzzUnmarshalPlan(f *testing.F) {
	p := &Plan{Dir: "/d", Files: []File{{Orig: "/a"}}, Modules: []Module{{File: 0}}}
	blob, _ := p.MarshalBinary()
	f.Add(blob)
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := UnmarshalPlan(data)
		if err != nil {
			return
		}
		for _, m := range q.Modules {
			for _, i := range append([]int{m.File}, m.Preload...) {
				_ = q.Files[i] // in range, or UnmarshalPlan failed
			}
		}
	})
}

func TestOpenDirRefuses(t *testing.T) {
	tmp := t.TempDir()
	good := filepath.Join(tmp, "good")
	if _, err := OpenDir(good, "k", true); err != nil {
		t.Fatalf("a new directory: %v", err)
	}
	if st, err := os.Lstat(filepath.Join(good, "k")); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("made %v, %v; want mode 0700", st.Mode(), err)
	}
	link := filepath.Join(tmp, "link")
	os.Symlink(good, link)
	open := filepath.Join(tmp, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777)
	for name, base := range map[string]string{"symlink": link, "world-writable": open, "missing": filepath.Join(tmp, "nope")} {
		if _, err := OpenDir(base, "k", name != "missing"); err == nil && name != "missing" {
			t.Errorf("%s: accepted", name)
		} else if name == "missing" && err == nil {
			t.Errorf("missing, create false: accepted")
		}
	}
}

func TestMaterialiseAndIdentity(t *testing.T) {
	tmp := t.TempDir()
	orig := filepath.Join(tmp, "libq.so")
	os.WriteFile(orig, []byte("version 1"), 0o644)
	dir, err := OpenDir(filepath.Join(tmp, "node"), "k", true)
	if err != nil {
		t.Fatal(err)
	}
	p := &Plan{Dir: dir}
	p.Files = append(p.Files, fileOf(t, orig))
	ok, err := p.Materialise()
	if err != nil || !ok[0] {
		t.Fatalf("materialise: %v %v", ok, err)
	}
	got, _ := os.ReadFile(p.Files[0].Copy(dir))
	if string(got) != "version 1" {
		t.Fatalf("copy holds %q", got)
	}
	// Rewritten in place: the planned identity no longer matches, the old
	// plan gets no copy, a new plan a new one.
	os.WriteFile(orig, []byte("version 22"), 0o644)
	stale := &Plan{Dir: dir, Files: []File{{Orig: orig, ID: Identity{Size: 9}}}}
	if ok, _ := stale.Materialise(); ok[0] {
		t.Error("a changed original was copied under its old identity")
	}
	p2 := &Plan{Dir: dir, Files: []File{fileOf(t, orig)}}
	if ok, err := p2.Materialise(); err != nil || !ok[0] || p2.Files[0].Copy(dir) == p.Files[0].Copy(dir) {
		t.Fatalf("new version: %v %v", ok, err)
	}
	got, _ = os.ReadFile(p2.Files[0].Copy(dir))
	if string(got) != "version 22" {
		t.Fatalf("new copy holds %q", got)
	}
}

func fileOf(t *testing.T, path string) File {
	t.Helper()
	var st statT
	if err := stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return File{Orig: path, ID: IdentityOf(&st)}
}
