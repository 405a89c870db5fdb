package importer_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pyhost/pyhost/importer"
)

// bundleTree writes n source files with matching .pyc files (every third
// one stale) and returns their (source, bytecode) pairs.
func bundleTree(t *testing.T, n int, magic []byte) [][2]string {
	root := t.TempDir()
	var pairs [][2]string
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("pkg%d", i/10))
		if err := os.MkdirAll(filepath.Join(dir, "__pycache__"), 0o755); err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(dir, fmt.Sprintf("m%d.py", i))
		body := []byte(fmt.Sprintf("x = %d\n", i))
		if err := os.WriteFile(src, body, 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		pyc := append([]byte{}, magic...)
		pyc = binary.LittleEndian.AppendUint32(pyc, 0)
		mtime := uint32(st.ModTime().Unix())
		if i%3 == 2 {
			mtime++ // stale: not bundled
		}
		pyc = binary.LittleEndian.AppendUint32(pyc, mtime)
		pyc = binary.LittleEndian.AppendUint32(pyc, uint32(st.Size()))
		pyc = append(pyc, make([]byte, 100)...)
		bc := filepath.Join(dir, "__pycache__", fmt.Sprintf("m%d.cpython-311.pyc", i))
		if err := os.WriteFile(bc, pyc, 0o644); err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, [2]string{src, bc})
	}
	return pairs
}

// MakeBundle gives the same entries, in the pairs' order, however many
// goroutines read, and stops at maxBytes.
func TestMakeBundleConcurrency(t *testing.T) {
	magic := []byte{0xa7, 0x0d, 0x0d, 0x0a}
	pairs := bundleTree(t, 90, magic)
	one := importer.MakeBundle(pairs, magic, 1<<20, 1, nil)
	if len(one) != 60 {
		t.Fatalf("%d entries, want the 60 fresh ones", len(one))
	}
	for _, n := range []int{2, 8, 64} {
		got := importer.MakeBundle(pairs, magic, 1<<20, n, nil)
		if !reflect.DeepEqual(exported(got), exported(one)) {
			t.Errorf("concurrency %d: entries differ from concurrency 1's", n)
		}
	}
	// 116 bytes each: 10 fit in 1200, the first 10 fresh ones.
	got := importer.MakeBundle(pairs, magic, 1200, 8, nil)
	if len(got) != 10 || !reflect.DeepEqual(exported(got), exported(one[:10])) {
		t.Errorf("maxBytes 1200: %d entries, want the first 10", len(got))
	}
}

// exported is entries' exported fields (where their data live is not).
func exported(entries []*importer.BundleEntry) []importer.BundleEntry {
	out := make([]importer.BundleEntry, len(entries))
	for i, e := range entries {
		out[i] = importer.BundleEntry{Source: e.Source, Bytecode: e.Bytecode, MtimeSec: e.MtimeSec, MtimeNsec: e.MtimeNsec, Size: e.Size, Data: e.Data}
	}
	return out
}

// MarshalBundleMemory frames MakeBundle's entries as MarshalBundle does,
// consuming their data (given back as it goes).
func TestMarshalBundleMemoryOfMakeBundle(t *testing.T) {
	magic := []byte{0xa7, 0x0d, 0x0d, 0x0a}
	pairs := bundleTree(t, 40, magic)
	entries := importer.MakeBundle(pairs, magic, 1<<20, 4, nil)
	plain := exported(entries)
	var want []*importer.BundleEntry
	for i := range plain {
		plain[i].Data = append([]byte(nil), plain[i].Data...)
		want = append(want, &plain[i])
	}
	m := importer.MarshalBundleMemory(entries)
	defer m.Free()
	if !bytes.Equal(m.Bytes(), importer.MarshalBundle(want)) {
		t.Fatal("MarshalBundleMemory(MakeBundle(...)) differs from MarshalBundle of the same entries")
	}
	for _, e := range entries {
		if e.Data != nil {
			t.Fatalf("%s: data left after MarshalBundleMemory", e.Source)
		}
	}
}
