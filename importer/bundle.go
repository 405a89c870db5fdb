package importer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/internal/dirfd"
	"github.com/pyhost/pyhost/internal/frame"
	"github.com/pyhost/pyhost/internal/share"
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
//
// Memory: what a rank has taken is garbage at once; every time a quarter
// of the bundle's bytes has been taken (and when the last is), the Go heap
// is collected and given back to the system in the background, since
// Python's allocations never trigger Go's collector.
type Bundle struct {
	mu        sync.Mutex
	entries   map[string]*BundleEntry
	left      int // bytes of bytecode not yet taken
	sinceFree int // bytes taken since the memory was last given back
	total     int
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
		b.total += len(e.Data)
	}
	b.left = b.total
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
	if e == nil {
		return nil
	}
	delete(b.entries, source)
	b.left -= len(e.Data)
	b.sinceFree += len(e.Data)
	if b.sinceFree > 0 && (b.left == 0 || b.sinceFree >= b.total/4) {
		b.sinceFree = 0
		go debug.FreeOSMemory()
	}
	return e
}

const (
	bundleMagic   = "PYHB"
	bundleVersion = 2
)

// MarshalBundle serializes entries for a broadcast (a frame, see package
// internal/frame).
func MarshalBundle(entries []*BundleEntry) []byte {
	n := 10
	for _, e := range entries {
		n += len(e.Source) + len(e.Bytecode) + len(e.Data) + 6*10
	}
	enc := frame.NewEncoder(bundleMagic, bundleVersion, n)
	enc.Uvarint(uint64(len(entries)))
	for _, e := range entries {
		enc.String(e.Source)
		enc.String(e.Bytecode)
		enc.Varint(e.MtimeSec)
		enc.Varint(e.MtimeNsec)
		enc.Varint(e.Size)
		enc.Bytes(e.Data)
	}
	return enc.Finish()
}

// UnmarshalBundle decodes MarshalBundle's output; it never panics. The
// entries' Data are copies, so that data (the whole broadcast) can be
// dropped at once and each module's bytecode freed once its loader took
// it: a rank keeps only what it has not imported yet.
func UnmarshalBundle(data []byte) ([]*BundleEntry, error) {
	d, err := frame.Open(data, bundleMagic, bundleVersion)
	if err != nil {
		return nil, fmt.Errorf("importer: bundle: %w", err)
	}
	count := d.Count("count", 6)
	out := make([]*BundleEntry, 0, count)
	for i := uint64(0); i < count && d.Err() == nil; i++ {
		e := &BundleEntry{Source: d.String("source"), Bytecode: d.String("bytecode")}
		e.MtimeSec, e.MtimeNsec, e.Size = d.Varint("mtime"), d.Varint("mtime ns"), d.Varint("size")
		e.Data = bytes.Clone(d.Bytes("bytecode data"))
		out = append(out, e)
	}
	if err := d.Close(); err != nil {
		return nil, fmt.Errorf("importer: bundle: %w", err)
	}
	return out, nil
}

// MakeBundle is the reading side of the validity rule (see Bundle): it
// stats each source and reads its bytecode file, and keeps the pairs whose
// .pyc header matches what the loader will compare (magic, a
// timestamp-based pyc, the source's mtime and size), in the order given, up
// to maxBytes of bytecode in all. Files are reached through descriptors of
// their directories (internal/dirfd), each opened once relative to its
// parent; concurrency goroutines (at least one) read at once, each taking
// runs of consecutive pairs (neighbours share directories) through a tree
// of its own. A .pyc the pack holds a valid copy of (share.Pack.Take) is
// taken from there instead of its file, first and in order (the pack's
// windows are read front to back): then no rank reads it at all.
func MakeBundle(pairs [][2]string, magic []byte, maxBytes int, concurrency int, pack *share.Pack) []*BundleEntry {
	packed := make([][]byte, len(pairs))
	if pack != nil {
		for k, p := range pairs {
			if data, ok := pack.Take(p[1]); ok {
				packed[k] = bytes.Clone(data) // valid until the next Take
			}
		}
	}
	const run = 16
	workers := max(1, min(concurrency, (len(pairs)+run-1)/run))
	read := make([]*BundleEntry, len(pairs))
	var next, total atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs := dirfd.NewTree(max(maxBundleDirs/workers, 8))
			defer dirs.Close()
			for {
				// Past maxBytes nothing more can go in: stop reading.
				start := int(next.Add(run) - run)
				if start >= len(pairs) || total.Load() > int64(maxBytes) {
					return
				}
				for k := start; k < min(start+run, len(pairs)); k++ {
					if e := readBundleEntry(dirs, pairs[k], packed[k], magic, maxBytes); e != nil {
						read[k] = e
						total.Add(int64(len(e.Data)))
					}
				}
			}
		}()
	}
	wg.Wait()
	var out []*BundleEntry
	sum := 0
	for _, e := range read {
		if e == nil {
			continue
		}
		if sum += len(e.Data); sum > maxBytes {
			break
		}
		out = append(out, e)
	}
	return out
}

// readBundleEntry is one pair's entry, or nil when it does not qualify.
func readBundleEntry(dirs *dirfd.Tree, p [2]string, data []byte, magic []byte, maxBytes int) *BundleEntry {
	var st unix.Stat_t
	if err := dirs.Stat(p[0], &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	if data == nil {
		var err error
		if data, _, err = dirs.ReadFile(p[1], int64(maxBytes)); err != nil {
			return nil
		}
	}
	if !pycMatches(data, magic, &st) {
		return nil
	}
	return &BundleEntry{
		Source: p[0], Bytecode: p[1],
		MtimeSec: st.Mtim.Sec, MtimeNsec: st.Mtim.Nsec, Size: st.Size,
		Data: data,
	}
}

// maxBundleDirs bounds the directory descriptors MakeBundle keeps open.
const maxBundleDirs = 512

// pycMatches is SourceLoader.get_code's check of a timestamp-based .pyc
// against its source's stat (PEP 552: flags 0, then mtime and size, each
// the low 32 bits).
func pycMatches(pyc, magic []byte, src *unix.Stat_t) bool {
	if len(pyc) < 16 || !bytes.Equal(pyc[:4], magic) {
		return false
	}
	flags := binary.LittleEndian.Uint32(pyc[4:8])
	mtime := binary.LittleEndian.Uint32(pyc[8:12])
	size := binary.LittleEndian.Uint32(pyc[12:16])
	return flags == 0 && mtime == uint32(src.Mtim.Sec) && size == uint32(src.Size)
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

// SetPack makes the importer serve bytecode from the environment's pack
// (see the package doc); called before Install.
func (im *Importer) SetPack(p *share.Pack) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.pack = p
}

// pack_read(path, dont_write_bytecode) -> None | data: the pack's valid
// copy of the .pyc file path, handed out once; None: read the file. The
// flag is sys.dont_write_bytecode now (see share.Pack.TakeNoting).
func (im *Importer) packRead(a cpython.Args) cpython.Owned {
	path, ok := strArg(a, 0)
	if !ok {
		return cpython.Owned{}
	}
	dontWrite := len(a.Pos) > 1 && a.Pos[1].Truth() == 1
	data, ok := im.pack.TakeNoting(path, dontWrite)
	if !ok {
		return cpython.None()
	}
	im.packed.Add(1)
	return cpython.NewBytes(data)
}
