package importer

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/internal/share"
)

func sampleBundle() []*BundleEntry {
	return []*BundleEntry{
		{Source: "/a/m.py", Bytecode: "/a/__pycache__/m.cpython-311.pyc", MtimeSec: 1700000000, MtimeNsec: 123, Size: 42, Data: []byte("pyc bytes")},
		{Source: "/b/n.py", Bytecode: "/b/__pycache__/n.cpython-311.pyc", MtimeSec: -1, Size: 0, Data: nil},
	}
}

func TestBundleRoundTrip(t *testing.T) {
	in := sampleBundle()
	out, err := UnmarshalBundle(MarshalBundle(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("got %d entries, want %d", len(out), len(in))
	}
	for i := range in {
		a, b := in[i], out[i]
		if a.Source != b.Source || a.Bytecode != b.Bytecode || a.MtimeSec != b.MtimeSec ||
			a.MtimeNsec != b.MtimeNsec || a.Size != b.Size || !bytes.Equal(a.Data, b.Data) {
			t.Errorf("entry %d: got %+v, want %+v", i, b, a)
		}
	}
	b := NewBundle(out)
	if !b.has("/a/m.py") || b.take("/a/m.py") == nil || b.has("/a/m.py") || b.take("/a/m.py") != nil {
		t.Error("an entry is handed out exactly once")
	}
	var none *Bundle
	if none.has("/a/m.py") || none.take("/a/m.py") != nil || none.Len() != 0 {
		t.Error("a nil Bundle is empty")
	}
}

func TestBundleRejectsDamage(t *testing.T) {
	good := MarshalBundle(sampleBundle())
	for n := 0; n < len(good); n++ {
		if _, err := UnmarshalBundle(good[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x40
		if _, err := UnmarshalBundle(bad); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
}

func FuzzUnmarshalBundle(f *testing.F) {
	f.Add(MarshalBundle(sampleBundle()))
	f.Add([]byte(bundleMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := UnmarshalBundle(data)
		if err != nil {
			return
		}
		if again := MarshalBundle(entries); !bytes.Equal(again, data) {
			t.Fatalf("accepted data does not round-trip")
		}
	})
}

// The root makes the bundle from the pack's valid copies, not from the
// files: a .pyc rewritten in place (its directory unchanged, so the pack's
// copy counts as the file's) is not read.
func TestMakeBundleTakesThePacksCopies(t *testing.T) {
	magic := []byte{0xa7, 0x0d, 0x0d, 0x0a}
	lib := t.TempDir()
	src := filepath.Join(lib, "m.py")
	if err := os.WriteFile(src, []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		t.Fatal(err)
	}
	pyc := append([]byte{}, magic...)
	pyc = binary.LittleEndian.AppendUint32(pyc, 0)
	pyc = binary.LittleEndian.AppendUint32(pyc, uint32(st.Mtim.Sec))
	pyc = binary.LittleEndian.AppendUint32(pyc, uint32(st.Size))
	pyc = append(pyc, "from the pack"...)
	bc := filepath.Join(lib, "__pycache__", "m.cpython-311.pyc")
	if err := os.Mkdir(filepath.Dir(bc), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bc, pyc, 0o644); err != nil {
		t.Fatal(err)
	}
	env := share.Env{PyhostVersion: "t", PythonVersion: "3.11", Executable: "/x", Prefix: "/x"}
	cacheDir := filepath.Join(t.TempDir(), "cache")
	c := share.Open(cacheDir, env, true)
	c.SavePack(c.Pack(true), [][2]string{{src, bc}}, magic, time.Now().Add(time.Hour))
	// Rewritten in place: same length, same header, other bytes.
	f, err := os.OpenFile(bc, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("FROM THE FILE"), 16); err != nil {
		t.Fatal(err)
	}
	f.Close()
	pairs := [][2]string{{src, bc}}
	got := MakeBundle(pairs, magic, 1<<20, 4, share.Open(cacheDir, env, true).Pack(true))
	if len(got) != 1 || string(got[0].Data[16:]) != "from the pack" {
		t.Fatalf("bundle from the pack: %+v", got)
	}
	got = MakeBundle(pairs, magic, 1<<20, 4, nil)
	if len(got) != 1 || string(got[0].Data[16:]) != "FROM THE FILE" {
		t.Fatalf("bundle without a pack: %+v", got)
	}
}
