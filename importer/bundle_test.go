package importer

import (
	"bytes"
	"testing"
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
