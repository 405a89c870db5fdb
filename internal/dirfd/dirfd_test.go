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
	data, fst, err := tr.ReadFile(file, 3)
	if err != nil || string(data) != "hel" || fst.Size != 5 {
		t.Fatalf("ReadFile = %q, %v", data, err)
	}
	if fd := tr.Dir(sub); fd < 0 {
		t.Fatal("no descriptor for an existing directory")
	}
	if _, _, err := tr.ReadFile(filepath.Join(sub, "missing"), 10); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
	if _, _, err := tr.ReadFile(sub, 10); err == nil {
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
	if data, _, err := tr.ReadFile(filepath.Join(dir, "f"), 10); err != nil || string(data) != "1" {
		t.Fatalf("ReadFile through a full Tree = %q, %v", data, err)
	}
}
