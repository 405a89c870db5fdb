package native

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
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
	ok, err := p.Materialise(4)
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
	if ok, _ := stale.Materialise(1); ok[0] {
		t.Error("a changed original was copied under its old identity")
	}
	p2 := &Plan{Dir: dir, Files: []File{fileOf(t, orig)}}
	if ok, err := p2.Materialise(2); err != nil || !ok[0] || p2.Files[0].Copy(dir) == p.Files[0].Copy(dir) {
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

// TestBuildConcurrent plans the system's extension modules with one
// worker and with eight: the same plan (run with -race).
func TestBuildConcurrent(t *testing.T) {
	exts, _ := filepath.Glob("/usr/lib/python3.11/lib-dynload/*.so")
	if len(exts) < 10 {
		t.Skip("fewer than 10 system extension modules")
	}
	var plans []*Plan
	for _, w := range []int{1, 8} {
		dir, err := OpenDir(filepath.Join(t.TempDir(), "node"), "k", true)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Build(exts, NewResolver(), func(string) bool { return false }, func(uint64) bool { return false }, dir, w)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Present(); len(p.Modules) < len(exts)/2 || !all(got) {
			t.Fatalf("workers %d: %d of %d modules planned, copies present %v", w, len(p.Modules), len(exts), got)
		}
		p.Dir = ""
		plans = append(plans, p)
	}
	if !reflect.DeepEqual(plans[0], plans[1]) {
		t.Error("one worker and eight planned differently")
	}
}

func all(ok []bool) bool {
	for _, b := range ok {
		if !b {
			return false
		}
	}
	return true
}

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i, age := range []time.Duration{0, 40 * 24 * time.Hour, 40 * 24 * time.Hour} {
		name := filepath.Join(dir, fmt.Sprintf("c%d", i))
		os.WriteFile(name, []byte("x"), 0o600)
		os.Chtimes(name, now.Add(-age), now.Add(-age))
	}
	Prune(dir, map[string]bool{"c2": true}, now)
	for name, want := range map[string]bool{"c0": true, "c1": false, "c2": true} {
		if _, err := os.Lstat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", name, err == nil, want)
		}
	}
}
