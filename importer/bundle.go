package importer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/pyhost/pyhost/internal/cpython"
)

// A Bundle carries the bytecode of modules from the rank that read it to
// the ranks that would each read it again: the source's stat (mtime and
// size, which the loader compares with the .pyc header) and the .pyc's
// bytes, keyed by source path. The loader of a bundled module takes both
// from memory instead of a stat and an open per rank; everything else
// about loading is CPython's.
//
// Only .pyc files whose header matches their source's stat when the
// bundle is made go in, so a rank uses exactly the bytecode it would have
// read, unless the source changes between the making of the bundle and
// the rank's import (the window a broadcast cannot close).
type Bundle struct {
	mu      sync.Mutex
	entries map[string]*BundleEntry
}

// BundleEntry is one module of a Bundle.
type BundleEntry struct {
	Source, Bytecode    string
	MtimeSec, MtimeNsec int64
	Size                int64
	Data                []byte
}

// NewBundle makes a bundle of entries.
func NewBundle(entries []*BundleEntry) *Bundle {
	b := &Bundle{entries: make(map[string]*BundleEntry, len(entries))}
	for _, e := range entries {
		b.entries[e.Source] = e
	}
	return b
}

// Len is the number of modules not yet taken.
func (b *Bundle) Len() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.entries)
}

func (b *Bundle) has(source string) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.entries[source]
	return ok
}

// take removes and returns source's entry.
func (b *Bundle) take(source string) *BundleEntry {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[source]
	delete(b.entries, source)
	return e
}

const bundleMagic = "PYHB\x01"

var errBundle = errors.New("importer: bad bundle data")

// MarshalBundle serializes entries for a broadcast.
func MarshalBundle(entries []*BundleEntry) []byte {
	n := len(bundleMagic) + 4
	for _, e := range entries {
		n += len(e.Source) + len(e.Bytecode) + len(e.Data) + 6*binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	b = append(b, bundleMagic...)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		for _, s := range []string{e.Source, e.Bytecode} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		b = binary.AppendVarint(b, e.MtimeSec)
		b = binary.AppendVarint(b, e.MtimeNsec)
		b = binary.AppendVarint(b, e.Size)
		b = binary.AppendUvarint(b, uint64(len(e.Data)))
		b = append(b, e.Data...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// UnmarshalBundle decodes MarshalBundle's output; it never panics.
func UnmarshalBundle(data []byte) ([]*BundleEntry, error) {
	if len(data) < len(bundleMagic)+4 || string(data[:len(bundleMagic)]) != bundleMagic {
		return nil, fmt.Errorf("%w: no header", errBundle)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, fmt.Errorf("%w: checksum", errBundle)
	}
	p := body[len(bundleMagic):]
	bad := false
	uv := func() uint64 {
		v, k := binary.Uvarint(p)
		if k <= 0 {
			bad = true
			return 0
		}
		p = p[k:]
		return v
	}
	sv := func() int64 {
		v, k := binary.Varint(p)
		if k <= 0 {
			bad = true
			return 0
		}
		p = p[k:]
		return v
	}
	bytes := func() []byte {
		n := uv()
		if bad || n > uint64(len(p)) {
			bad = true
			return nil
		}
		v := p[:n:n]
		p = p[n:]
		return v
	}
	count := uv()
	if count > uint64(len(p)) {
		return nil, fmt.Errorf("%w: count", errBundle)
	}
	out := make([]*BundleEntry, 0, count)
	for i := uint64(0); i < count && !bad; i++ {
		e := &BundleEntry{Source: string(bytes()), Bytecode: string(bytes())}
		e.MtimeSec, e.MtimeNsec, e.Size = sv(), sv(), sv()
		e.Data = bytes()
		out = append(out, e)
	}
	if bad || len(p) != 0 {
		return nil, fmt.Errorf("%w: truncated or trailing data", errBundle)
	}
	return out, nil
}

// SetBundle makes the importer serve the bundle's modules from memory.
func (im *Importer) SetBundle(b *Bundle) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.bundle = b
}

// bundle_take(source) -> None | (bytecode_path, mtime, size, data): the
// bundled stat and bytecode of a source file, handed out once.
func (im *Importer) bundleTake(a cpython.Args) cpython.Owned {
	src, ok := strArg(a, 0)
	if !ok {
		return cpython.Owned{}
	}
	im.mu.Lock()
	b := im.bundle
	im.mu.Unlock()
	e := b.take(src)
	if e == nil {
		return cpython.None()
	}
	im.bundled.Add(1)
	return cpython.TupleOf(cpython.NewStr(e.Bytecode), cpython.NewInt(e.MtimeSec), cpython.NewInt(e.MtimeNsec), cpython.NewInt(e.Size), cpython.NewBytes(e.Data))
}
