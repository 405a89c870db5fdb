package pathscan_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/pyhost/pyhost/pathscan"
)

func FuzzMerge(f *testing.F) {
	blob := listedBlob(f, testdataTree(f))
	f.Add(blob)
	f.Add([]byte("PSCN\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ix := pathscan.New(pathscan.Options{Loaders: debian311})
		if err := ix.Merge(data); err != nil {
			if ix.Len() != 0 {
				t.Fatal("rejected data changed the index")
			}
			return
		}
		out, err := ix.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("accepted data does not roundtrip")
		}
	})
}

// FuzzMergeUnverified seals what it is given, so that the fuzzer reaches
// the listings' contents: whatever a cache file holds, neither the load
// nor the first use of its entries panics, and a file that loads writes
// back.
func FuzzMergeUnverified(f *testing.F) {
	one := binary.AppendUvarint(nil, 1)
	one = append(binary.AppendUvarint(one, 2), "/d"...)
	one = append(one, 2, 0, 0, 2, 2, 0)
	f.Add(appendEntries(one, "a", "b.py"))
	f.Add(appendEntries(one, "b", "a"))
	f.Fuzz(func(t *testing.T, body []byte) {
		data := sealed(append(append([]byte("PSCN"), pathscan.FormatVersion), body...))
		ix := pathscan.New(pathscan.Options{Loaders: debian311})
		if err := ix.MergeUnverified(data); err != nil {
			return
		}
		ix.IsDir("/d/a")
		ix.IsDir("/d/b")
		if _, err := ix.MarshalCache(pathscan.CachePolicy{Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzFind(f *testing.F) {
	root := testdataTree(f)
	dirs := []string{root, root + "/beta", root + "/delta", root + "/theta", root + "/kappa.py", root + "/missing"}
	for _, s := range []string{"alpha", "beta", "", ".", "x.beta", "a/b", "\x00", "__init__", "kappa", "readme.txt"} {
		f.Add(s)
	}
	ix := pathscan.New(pathscan.Options{Loaders: debian311})
	f.Fuzz(func(t *testing.T, tail string) {
		for _, dir := range dirs {
			if got, want := ix.Find(dir, tail), refFind(dir, tail, debian311); got != want {
				t.Fatalf("Find(%q, %q) = %+v, FileFinder %+v", dir, tail, got, want)
			}
		}
	})
}
