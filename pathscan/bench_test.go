package pathscan_test

import (
	"os"
	"testing"

	"github.com/pyhost/pyhost/pathscan"
)

const stdlib = "/usr/lib/python3.11"

// benchDir is the stdlib when present, else the testdata tree, with a module,
// a package and a miss that exist in it.
func benchDir(b *testing.B) (dir, module, pkg string) {
	if st, err := os.Stat(stdlib + "/os.py"); err == nil && st.Mode().IsRegular() {
		return stdlib, "os", "json"
	}
	return testdataTree(b), "alpha", "beta"
}

func BenchmarkFindHit(b *testing.B) {
	dir, module, pkg := benchDir(b)
	for _, bc := range []struct{ name, tail string }{{"module", module}, {"package", pkg}} {
		b.Run(bc.name, func(b *testing.B) {
			ix := pathscan.New(pathscan.Options{Loaders: debian311, RevalidateMisses: true})
			if !ix.Find(dir, bc.tail).Found {
				b.Fatalf("%s not found in %s", bc.tail, dir)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ix.Find(dir, bc.tail)
			}
		})
	}
}

func BenchmarkFindMiss(b *testing.B) {
	dir, _, _ := benchDir(b)
	for _, revalidate := range []bool{false, true} {
		b.Run(map[bool]string{false: "final", true: "revalidate"}[revalidate], func(b *testing.B) {
			ix := pathscan.New(pathscan.Options{Loaders: debian311, RevalidateMisses: revalidate})
			ix.Find(dir, "no_such_module")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ix.Find(dir, "no_such_module")
			}
		})
	}
}

func BenchmarkListTree(b *testing.B) {
	dir, _, _ := benchDir(b)
	b.ReportAllocs()
	var n int
	for range b.N {
		ix := pathscan.New(pathscan.Options{Loaders: debian311})
		if err := ix.ListTree(dir, -1, 0); err != nil {
			b.Fatal(err)
		}
		n = ix.Len()
	}
	b.ReportMetric(float64(n), "dirs")
}

func BenchmarkMerge(b *testing.B) {
	dir, _, _ := benchDir(b)
	blob := listedBlob(b, dir)
	b.SetBytes(int64(len(blob)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := pathscan.New(pathscan.Options{}).Merge(blob); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMergeUnverified is what a start pays for its environment's
// cache file (the entries are decoded at their first use, not here).
func BenchmarkMergeUnverified(b *testing.B) {
	dir, _, _ := benchDir(b)
	blob := listedBlob(b, dir)
	b.SetBytes(int64(len(blob)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := pathscan.New(pathscan.Options{}).MergeUnverified(blob); err != nil {
			b.Fatal(err)
		}
	}
}
