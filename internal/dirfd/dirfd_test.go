package dirfd_test

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/internal/dirfd"
)

func TestTreeReachesFilesThroughItsDirectories(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(sub, "f.txt")
	if err := os.WriteFile(file, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := dirfd.NewTree(64)
	defer tr.Close()
	var st unix.Stat_t
	if err := tr.Stat(file, &st); err != nil || st.Size != 5 {
		t.Fatalf("Stat = %v, size %d", err, st.Size)
	}
	data, fst, err := tr.ReadFile(file, 0, 3)
	if err != nil || string(data) != "hel" || fst.Size != 5 {
		t.Fatalf("ReadFile = %q, %v", data, err)
	}
	if fd := tr.Dir(sub); fd < 0 {
		t.Fatal("no descriptor for an existing directory")
	}
	if _, _, err := tr.ReadFile(filepath.Join(sub, "missing"), 0, 10); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
	if _, _, err := tr.ReadFile(sub, 0, 10); err == nil {
		t.Fatal("a directory read as a file")
	}
}

func TestTreeBoundsItsDescriptors(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "x", "y", "z")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "f"), []byte("1"), 0o644)
	tr := dirfd.NewTree(1) // full at once: paths are resolved whole
	defer tr.Close()
	if tr.Dir(dir) != -1 {
		t.Fatal("a full Tree opened a directory")
	}
	if data, _, err := tr.ReadFile(filepath.Join(dir, "f"), 0, 10); err != nil || string(data) != "1" {
		t.Fatalf("ReadFile through a full Tree = %q, %v", data, err)
	}
}

func TestReplaceIsWholeOrNothing(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "f")
	if err := os.WriteFile(dst, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	failed := os.ErrInvalid
	err := dirfd.Replace(dir, ".tmp-", "", dst, func(f *os.File) error {
		if _, err := f.WriteString("half"); err != nil {
			return err
		}
		return failed
	})
	if err != failed {
		t.Fatalf("Replace returned %v, want the writer's error", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "old" {
		t.Fatalf("a failed Replace changed the file: %q", b)
	}
	if err := dirfd.Replace(dir, ".tmp-", "", dst, func(f *os.File) error {
		_, err := f.WriteString("new")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "new" {
		t.Fatalf("after Replace: %q", b)
	}
	if st, err := os.Stat(dst); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode after Replace: %v %v", st.Mode(), err)
	}
	names, err := dirfd.ReadDirNames(dir)
	if err != nil || len(names) != 1 {
		t.Fatalf("temporary files left behind: %v %v", names, err)
	}
}

func TestFullTreeStillReachesFilesBelowWhatItHolds(t *testing.T) {
	root := t.TempDir()
	var files []string
	for _, d := range []string{"a/b", "a/c", "a/d/e", "f"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(root, d, "x.py")
		if err := os.WriteFile(file, []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, file)
	}
	// Room for the temporary directory's ancestors and a few directories:
	// the last ones are reached from the nearest directory the Tree holds.
	tree := dirfd.NewTree(9)
	defer tree.Close()
	for round := 0; round < 2; round++ {
		for _, f := range files {
			var st, want unix.Stat_t
			if err := tree.Stat(f, &st); err != nil {
				t.Fatalf("Stat %s: %v", f, err)
			}
			if err := unix.Stat(f, &want); err != nil || st.Ino != want.Ino {
				t.Fatalf("Stat %s: inode %d, want %d (%v)", f, st.Ino, want.Ino, err)
			}
			data, _, err := tree.ReadFile(f, 0, 100)
			if err != nil || filepath.Join(root, string(data), "x.py") != f {
				t.Fatalf("ReadFile %s: %q %v", f, data, err)
			}
		}
		var st unix.Stat_t
		if err := tree.Stat(filepath.Join(root, "a", "nope", "x.py"), &st); err == nil {
			t.Fatal("Stat of a missing file succeeded")
		}
	}
}
