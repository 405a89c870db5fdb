package pathscan_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/pyhost/pyhost/pathscan"
)

// queriesFor lists tails worth asking in dir: every name, names without
// their suffixes, and misses.
func queriesFor(names []string) []string {
	q := []string{"", "zz_missing", "__init__", "a/b", "x\x00"}
	for _, n := range names {
		q = append(q, n, n+"_nope")
		for _, s := range debian311 {
			if len(n) > len(s.Suffix) && n[len(n)-len(s.Suffix):] == s.Suffix {
				q = append(q, n[:len(n)-len(s.Suffix)])
			}
		}
	}
	return q
}

func sealed(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(body, crc32.ChecksumIEEE(body))
}

func TestMarshalMergeRoundtrip(t *testing.T) {
	root := testdataTree(t)
	src := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := src.ListTree(root, -1, 0); err != nil {
		t.Fatal(err)
	}
	blob, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	dst := pathscan.New(pathscan.Options{Loaders: debian311})
	if err := dst.Merge(blob); err != nil {
		t.Fatal(err)
	}
	again, _ := dst.MarshalBinary()
	if !bytes.Equal(blob, again) {
		t.Error("Marshal(Merge(b)) != b")
	}
	names := []string{"alpha.py", "beta", "delta", "eta.py", "eta.pyc", "theta", "iota.abi3.so", "kappa.py", "kappa.pyc", "lam", ".py"}
	for _, dir := range []string{root, root + "/beta", root + "/delta", root + "/theta"} {
		for _, tail := range queriesFor(names) {
			if got, want := dst.Find(dir, tail), src.Find(dir, tail); got != want {
				t.Errorf("Find(%q, %q) merged %+v, listed %+v", dir, tail, got, want)
			}
		}
	}
	if s := dst.Stats(); s.DirsListed != 0 || s.DirsMerged != 4 {
		t.Errorf("merged index went to the file system: %+v", s)
	}
}

func TestMergeRejects(t *testing.T) {
	blob := listedBlob(t, testdataTree(t))

	dst := pathscan.New(pathscan.Options{Loaders: debian311})
	check := func(name string, data []byte) {
		t.Helper()
		err := dst.Merge(data)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, pathscan.ErrFormat) {
			t.Errorf("%s: error %v does not wrap ErrFormat", name, err)
		}
		if dst.Len() != 0 {
			t.Fatalf("%s: rejected data changed the index", name)
		}
	}
	for i := range blob {
		check("truncated", blob[:i])
		bad := bytes.Clone(blob)
		bad[i] ^= 0x40
		check("flipped", bad)
	}
	check("trailing", append(bytes.Clone(blob), 0))

	// Well sealed but wrong inside.
	hdr := append([]byte("PSCN"), pathscan.FormatVersion)
	str := func(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	one := func(dir string, state byte, names ...string) []byte {
		b := binary.AppendUvarint(bytes.Clone(hdr), 1)
		b = str(b, dir)
		b = binary.AppendVarint(b, 1)  // mtime
		b = binary.AppendUvarint(b, 7) // dev
		b = binary.AppendUvarint(b, 8) // ino
		b = binary.AppendVarint(b, 9)  // ctime
		b = binary.AppendVarint(b, 10) // last use
		b = append(b, state)
		return sealed(appendEntries(b, names...))
	}
	check("version", sealed(append([]byte("PSCN"), pathscan.FormatVersion-1, 0)))
	check("relative dir", one("usr/lib", 0, "a"))
	for _, dir := range []string{"/usr//lib", "/usr/lib/", "/usr/./lib", "/usr/../lib", "/usr/lib/.", "/usr/lib/..", "//", "/.", ""} {
		check("unclean dir "+dir, one(dir, 0, "a"))
	}
	check("slash in name", one("/d", 0, "a/b"))
	check("NUL in name", one("/d", 0, "a\x00"))
	check("empty name", one("/d", 0, ""))
	check("dot name", one("/d", 0, ".."))
	check("unsorted names", one("/d", 0, "b", "a"))
	check("duplicate names", one("/d", 0, "a", "a"))
	check("bad state", one("/d", 9))
	check("entries in failed listing", one("/d", 1, "a"))
	short := binary.AppendUvarint(bytes.Clone(hdr), 1)
	short = str(short, "/d")
	short = append(short, 2, 0, 0, 2, 2, 0) // mtime 1, dev, ino, ctime 1, use 1, state OK
	short = binary.AppendUvarint(short, 2)  // two entries
	short = binary.AppendUvarint(short, 4)  // in 4 bytes: one short
	short = append(str(short, "a"), 1)
	check("entries' size", sealed(append(short, 0)))
	huge := binary.AppendUvarint(bytes.Clone(hdr), 1<<40)
	check("huge count", sealed(huge))

	for _, dir := range []string{"/d", "/", "/usr/lib/python3.11", "/a/.b/..c/...", "/a b/c-d"} {
		if err := pathscan.New(pathscan.Options{}).Merge(one(dir, 0, "a", "b")); err != nil {
			t.Errorf("valid hand-made blob of %q: %v", dir, err)
		}
	}
}

// appendEntries appends an entry count, the entries' size and the entries
// (each a file) as the format has them.
func appendEntries(b []byte, names ...string) []byte {
	var es []byte
	for _, n := range names {
		es = append(append(binary.AppendUvarint(es, uint64(len(n))), n...), 1)
	}
	b = binary.AppendUvarint(b, uint64(len(names)))
	b = binary.AppendUvarint(b, uint64(len(es)))
	return append(b, es...)
}
