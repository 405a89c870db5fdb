package importer

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// finder.code must be what gen_finder.py makes of today's finder.py with
// Debian's python3.11 (the Python pyhost links by default).
func TestFinderCodeFresh(t *testing.T) {
	const python = "/usr/bin/python3.11"
	if _, err := os.Stat(python); err != nil {
		t.Skip("no " + python + " to compile finder.py with")
	}
	out := filepath.Join(t.TempDir(), "finder.code")
	cmd := exec.Command(python, "gen_finder.py", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen_finder.py: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(finderCode, want) {
		t.Fatal("finder.code is stale: run go generate ./importer")
	}
}

func TestFNV1a64(t *testing.T) {
	// The reference values of FNV-1a 64, as gen_finder.py computes it.
	for s, want := range map[string]uint64{"": 0xcbf29ce484222325, "a": 0xaf63dc4c8601ec8c, "foobar": 0x85944171f73967e8} {
		if got := fnv1a64(s); got != want {
			t.Errorf("fnv1a64(%q) = %#x, want %#x", s, got, want)
		}
	}
}
