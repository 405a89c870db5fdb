package importer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

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
	use := func(*BundleEntry) {}
	if !b.has("/a/m.py") || !b.take("/a/m.py", use) || b.has("/a/m.py") || b.take("/a/m.py", use) {
		t.Error("an entry is handed out exactly once")
	}
	var none *Bundle
	if none.has("/a/m.py") || none.take("/a/m.py", use) || none.Len() != 0 {
		t.Error("a nil Bundle is empty")
	}
	none.Release()
}

// A bundle opened from its broadcast memory serves each entry's data
// once, intact, and gives back every page that holds only data taken: at
// the last take, the whole mapping.
func TestBundleMemoryGivenBack(t *testing.T) {
	ps := os.Getpagesize()
	var in []*BundleEntry
	for i, n := range []int{10, 3*ps + 7, 1, ps, 0, 5*ps - 3, 100, 2 * ps} {
		data := make([]byte, n)
		for k := range data {
			data[k] = byte(i*7 + k)
		}
		in = append(in, &BundleEntry{Source: fmt.Sprintf("/m%d.py", i), Bytecode: fmt.Sprintf("/m%d.pyc", i), Data: data})
	}
	want := MarshalBundle(in)
	var kept []*BundleEntry
	for _, e := range in {
		kept = append(kept, &BundleEntry{Source: e.Source, Data: bytes.Clone(e.Data)})
	}
	m := MarshalBundleMemory(in)
	in = kept
	if !bytes.Equal(m.Bytes(), want) {
		t.Fatal("MarshalBundleMemory differs from MarshalBundle")
	}
	if !m.mapped {
		t.Skip("no anonymous mapping here: nothing is given back piecewise")
	}
	b, err := OpenBundle(m)
	if err != nil {
		t.Fatal(err)
	}
	resident := func(p0, p1 int) (n int) {
		vec := make([]byte, p1-p0)
		mem := b.mem.mapping[p0*ps : p1*ps]
		if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
			t.Fatal(errno)
		}
		for _, v := range vec {
			n += int(v & 1)
		}
		return n
	}
	for _, k := range []int{5, 1, 0, 7, 3, 4, 6, 2} {
		e := in[k]
		var spanned [2]int
		if b.mem != nil && len(e.Data) > 0 {
			p0, p1, _ := b.mem.span(b.entries[e.Source].Data)
			spanned = [2]int{p0 + 1, p1} // the pages e's data alone hold
		}
		var got []byte
		if !b.take(e.Source, func(x *BundleEntry) { got = bytes.Clone(x.Data) }) {
			t.Fatalf("%s: not served", e.Source)
		}
		if !bytes.Equal(got, e.Data) {
			t.Fatalf("%s: served other data", e.Source)
		}
		if b.mem != nil && spanned[0] < spanned[1] {
			if n := resident(spanned[0], spanned[1]); n != 0 {
				t.Errorf("%s: %d pages of its own still resident", e.Source, n)
			}
		}
		if b.mem != nil {
			for p, c := range b.mem.pages {
				if c == 0 && resident(p, p+1) != 0 {
					t.Errorf("after %s: page %d holds nothing untaken but is resident", e.Source, p)
				}
			}
		}
	}
	if b.mem != nil || b.Len() != 0 {
		t.Error("the mapping outlived the last take")
	}
}

// Release (importlib.invalidate_caches()) drops what was not taken.
func TestBundleRelease(t *testing.T) {
	m := MarshalBundleMemory(sampleBundle())
	b, err := OpenBundle(m)
	if err != nil {
		t.Fatal(err)
	}
	b.Release()
	if b.has("/a/m.py") || b.take("/a/m.py", func(*BundleEntry) { t.Error("served after Release") }) || b.mem != nil {
		t.Error("a released bundle still serves")
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
	if share.OnImage(lib) {
		t.Skipf("%s is on an image file system (a container's overlay root?): the pack keeps nothing of it", lib)
	}
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

// ReleaseWhenIdle keeps the bundle while modules are taken and releases
// it once none has been for the idle time.
func TestBundleReleaseWhenIdle(t *testing.T) {
	const idle = 400 * time.Millisecond
	var in []*BundleEntry
	for i := range 7 {
		in = append(in, &BundleEntry{Source: fmt.Sprintf("/m%d.py", i), Data: []byte{byte(i)}})
	}
	b, err := OpenBundle(MarshalBundleMemory(in))
	if err != nil {
		t.Fatal(err)
	}
	b.ReleaseWhenIdle(idle)
	// Takes a quarter of the idle time apart, 1.5 idle times in all.
	for i := range 6 {
		time.Sleep(idle / 4)
		if src := fmt.Sprintf("/m%d.py", i); !b.take(src, func(*BundleEntry) {}) {
			t.Fatalf("%s: released while modules were still being taken", src)
		}
	}
	deadline := time.Now().Add(10 * idle)
	for b.has("/m6.py") && time.Now().Before(deadline) {
		time.Sleep(idle / 10)
	}
	if b.has("/m6.py") || b.Len() != 0 {
		t.Fatal("not released after the idle time")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mem != nil {
		t.Error("released, but its memory is kept")
	}
}
