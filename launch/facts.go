package launch

import (
	"slices"

	"github.com/pyhost/pyhost/internal/frame"
)

// The root's start-up facts travel in a frame of their own (no reflection
// and no package whose initialisation every start would pay for).
const (
	factsMagic   = "PYHF"
	factsVersion = 1
)

func (f *startFacts) marshal() []byte {
	e := frame.NewEncoder(factsMagic, factsVersion, 4096)
	e.Bytes(f.Paths)
	e.Uvarint(uint64(len(f.Site.Modes)))
	for _, k := range sortedKeys(f.Site.Modes) {
		e.String(k)
		e.Varint(f.Site.Modes[k])
	}
	e.Uvarint(uint64(len(f.Site.Listings)))
	for _, k := range sortedKeys(f.Site.Listings) {
		e.String(k)
		names := f.Site.Listings[k]
		e.Uvarint(uint64(len(names)))
		for _, n := range names {
			e.String(n)
		}
	}
	e.Uvarint(uint64(len(f.Site.Contents)))
	for _, k := range sortedKeys(f.Site.Contents) {
		e.String(k)
		e.Bytes(f.Site.Contents[k])
	}
	e.Uvarint(uint64(len(f.Absent)))
	for _, a := range f.Absent {
		e.String(a)
	}
	return e.Finish()
}

func (f *startFacts) unmarshal(blob []byte) error {
	d, err := frame.Open(blob, factsMagic, factsVersion)
	if err != nil {
		return err
	}
	var g startFacts
	if p := d.Bytes("path configuration"); len(p) > 0 {
		g.Paths = slices.Clone(p)
	}
	if n := d.Count("site's stats", 2); n > 0 {
		g.Site.Modes = make(map[string]int64, n)
		for range n {
			k := d.String("a path")
			g.Site.Modes[k] = d.Varint("a mode")
		}
	}
	if n := d.Count("site's listings", 2); n > 0 {
		g.Site.Listings = make(map[string][]string, n)
		for range n {
			k := d.String("a directory")
			m := d.Count("a listing", 1)
			names := make([]string, 0, m)
			for range m {
				names = append(names, d.String("a name"))
			}
			g.Site.Listings[k] = names
		}
	}
	if n := d.Count("site's .pth files", 2); n > 0 {
		g.Site.Contents = make(map[string][]byte, n)
		for range n {
			k := d.String("a .pth path")
			g.Site.Contents[k] = slices.Clone(d.Bytes("a .pth file"))
		}
	}
	if n := d.Count("absent entries", 1); n > 0 {
		g.Absent = make([]string, 0, n)
		for range n {
			g.Absent = append(g.Absent, d.String("an absent entry"))
		}
	}
	if err := d.Close(); err != nil {
		return err
	}
	*f = g
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
