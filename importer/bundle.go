package importer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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
// Memory: a broadcast bundle lives in one anonymous mapping outside Go's
// heap (BundleMemory), its entries' bytecode aliasing it. The loader's
// bytes object is copied from there when an entry is taken, and the pages
// that held only entries taken already go back to the system at once
// (madvise MADV_DONTNEED); the pages of the frame's other fields go back
// when the bundle opens, and the whole mapping when the last entry is
// taken or the bundle is dropped (importlib.invalidate_caches()). What a
// rank keeps is what it has not imported yet, to the page.
type Bundle struct {
	mu      sync.Mutex
	entries map[string]*BundleEntry
	mem     *BundleMemory // nil: the entries' data are Go's

	idle     time.Duration // ReleaseWhenIdle's
	lastTake time.Time
}

// BundleEntry is one module of a Bundle.
type BundleEntry struct {
	Source, Bytecode    string
	MtimeSec, MtimeNsec int64
	Size                int64
	Data                []byte

	mem *BundleMemory // where Data lives when not in Go's heap (MakeBundle's)
}

// NewBundle makes a bundle of entries whose data are Go's.
func NewBundle(entries []*BundleEntry) *Bundle {
	b := &Bundle{entries: make(map[string]*BundleEntry, len(entries))}
	for _, e := range entries {
		b.entries[e.Source] = e
	}
	return b
}

// OpenBundle makes the bundle of the frame in m (MarshalBundleMemory's
// output, broadcast), taking m over: the entries' data alias it, and the
// bundle frees it (on an error, at once).
func OpenBundle(m *BundleMemory) (*Bundle, error) {
	entries, err := decodeBundle(m.Bytes(), false)
	if err != nil {
		m.Free()
		return nil, err
	}
	b := NewBundle(entries)
	b.mem = m
	m.settle()
	for _, e := range entries {
		m.hold(e.Data)
	}
	// The pages of names, stats and lengths only: the entries hold copies.
	m.dropUnheld()
	if len(entries) == 0 {
		b.releaseLocked()
	}
	return b, nil
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

// take removes source's entry and passes it to use, which must copy what
// it keeps of the entry's data: once use returns, the data's pages go back
// to the system. It reports whether there was an entry.
func (b *Bundle) take(source string, use func(e *BundleEntry)) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[source]
	if e == nil {
		return false
	}
	delete(b.entries, source)
	b.lastTake = time.Now()
	use(e)
	b.mem.drop(e.Data)
	e.Data = nil
	if len(b.entries) == 0 {
		b.releaseLocked()
	}
	return true
}

// ReleaseWhenIdle releases the bundle once no module has been taken from
// it for d (counted from now at first): a program's imports come in
// bursts, and what a burst did not take is mostly what this program never
// imports (a bundle made from other programs' modules). A module imported
// later is loaded from its files, as python3 loads it.
func (b *Bundle) ReleaseWhenIdle(d time.Duration) {
	if b == nil || d <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.idle, b.lastTake = d, time.Now()
	var check func()
	check = func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.entries) == 0 {
			return // released already
		}
		if wait := b.idle - time.Since(b.lastTake); wait > 0 {
			time.AfterFunc(wait, check)
			return
		}
		b.releaseLocked()
	}
	time.AfterFunc(d, check)
}

// Release drops what is left of the bundle and gives its memory back.
func (b *Bundle) Release() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked()
}

func (b *Bundle) releaseLocked() {
	clear(b.entries)
	b.mem.Free()
	b.mem = nil
}

const (
	bundleMagic   = "PYHB"
	bundleVersion = 2
)

// MarshalBundle serializes entries for a broadcast (a frame, see package
// internal/frame).
func MarshalBundle(entries []*BundleEntry) []byte {
	return encodeBundle(entries, frame.NewEncoder(bundleMagic, bundleVersion, bundleSize(entries)), nil)
}

// MarshalBundleMemory is MarshalBundle into a BundleMemory of the frame's
// exact size, which the caller broadcasts and opens (OpenBundle); nil for
// no entries. It consumes the entries' data: MakeBundle's go back to the
// system as each is copied into the frame, and every entry's Data is nil
// afterwards.
func MarshalBundleMemory(entries []*BundleEntry) *BundleMemory {
	if len(entries) == 0 {
		return nil
	}
	n := bundleSize(entries)
	m := NewBundleMemory(n)
	var slabs []*BundleMemory
	out := encodeBundle(entries, frame.NewEncoderIn(bundleMagic, bundleVersion, m.b[:0]), func(e *BundleEntry) {
		if e.mem != nil {
			e.mem.drop(e.Data)
			if len(slabs) == 0 || slabs[len(slabs)-1] != e.mem {
				slabs = append(slabs, e.mem)
			}
		}
		e.Data, e.mem = nil, nil
	})
	for _, c := range slabs {
		c.Free() // again for a chunk met twice: a no-op
	}
	if len(out) != n || unsafe.SliceData(out) != unsafe.SliceData(m.b) {
		// The size was wrong and the frame moved: keep it where it is.
		m.Free()
		return &BundleMemory{b: out, pageSize: os.Getpagesize()}
	}
	return m
}

// encodeBundle encodes entries, calling done (when not nil) with each
// entry once it is in.
func encodeBundle(entries []*BundleEntry, enc *frame.Encoder, done func(e *BundleEntry)) []byte {
	enc.Uvarint(uint64(len(entries)))
	for _, e := range entries {
		enc.String(e.Source)
		enc.String(e.Bytecode)
		enc.Varint(e.MtimeSec)
		enc.Varint(e.MtimeNsec)
		enc.Varint(e.Size)
		enc.Bytes(e.Data)
		if done != nil {
			done(e)
		}
	}
	return enc.Finish()
}

// bundleSize is the exact length of entries' frame.
func bundleSize(entries []*BundleEntry) int {
	var tmp [binary.MaxVarintLen64]byte
	uv := func(x int) int { return binary.PutUvarint(tmp[:], uint64(x)) }
	v := func(x int64) int { return binary.PutVarint(tmp[:], x) }
	n := len(bundleMagic) + 1 + uv(len(entries)) + 4
	for _, e := range entries {
		n += uv(len(e.Source)) + len(e.Source) + uv(len(e.Bytecode)) + len(e.Bytecode)
		n += v(e.MtimeSec) + v(e.MtimeNsec) + v(e.Size) + uv(len(e.Data)) + len(e.Data)
	}
	return n
}

// UnmarshalBundle decodes MarshalBundle's output into entries of their
// own (copies); it never panics.
func UnmarshalBundle(data []byte) ([]*BundleEntry, error) {
	return decodeBundle(data, true)
}

// decodeBundle decodes a bundle's frame; the entries' data are copies, or
// alias data. Names are always copies.
func decodeBundle(data []byte, copyData bool) ([]*BundleEntry, error) {
	d, err := frame.Open(data, bundleMagic, bundleVersion)
	if err != nil {
		return nil, fmt.Errorf("importer: bundle: %w", err)
	}
	count := d.Count("count", 6)
	out := make([]*BundleEntry, 0, count)
	for i := uint64(0); i < count && d.Err() == nil; i++ {
		e := &BundleEntry{Source: d.String("source"), Bytecode: d.String("bytecode")}
		e.MtimeSec, e.MtimeNsec, e.Size = d.Varint("mtime"), d.Varint("mtime ns"), d.Varint("size")
		if e.Data = d.Bytes("bytecode data"); copyData {
			e.Data = bytes.Clone(e.Data)
		}
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
//
// The entries' data are copies outside Go's heap (a bundleSlab), each in
// memory its entry keeps, given back by MarshalBundleMemory as it copies
// them, or when the entries become unreachable.
func MakeBundle(pairs [][2]string, magic []byte, maxBytes int, concurrency int, pack *share.Pack) []*BundleEntry {
	var slab bundleSlab
	packed := make([][]byte, len(pairs))
	packedMem := make([]*BundleMemory, len(pairs))
	if pack != nil {
		for k, p := range pairs {
			if data, ok := pack.Take(p[1]); ok {
				packed[k], packedMem[k] = slab.copyOf(data) // valid until the next Take
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
				// Past maxBytes nothing more can go in: stop reading. The
				// check comes before the claim, so that every run claimed
				// is read and the runs read are a prefix of pairs: a run
				// claimed before another's reads pass maxBytes is not lost.
				if total.Load() > int64(maxBytes) {
					return
				}
				start := int(next.Add(run) - run)
				if start >= len(pairs) {
					return
				}
				for k := start; k < min(start+run, len(pairs)); k++ {
					if e := readBundleEntry(dirs, pairs[k], packed[k], packedMem[k], &slab, magic, maxBytes); e != nil {
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
		e.mem.hold(e.Data)
	}
	// The copies not kept (past maxBytes, or not valid) go at once.
	for _, c := range slab.chunks {
		c.settle()
		c.dropUnheld()
	}
	return out
}

// readBundleEntry is one pair's entry, or nil when it does not qualify.
// data (in mem) is the pack's copy, if any; a file read is copied into
// slab.
func readBundleEntry(dirs *dirfd.Tree, p [2]string, data []byte, mem *BundleMemory, slab *bundleSlab, magic []byte, maxBytes int) *BundleEntry {
	var st unix.Stat_t
	if err := dirs.Stat(p[0], &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	read := data == nil
	if read {
		var err error
		if data, _, err = dirs.ReadFile(p[1], 0, int64(maxBytes)); err != nil {
			return nil
		}
	}
	if !pycMatches(data, magic, &st) {
		return nil
	}
	if read {
		data, mem = slab.copyOf(data)
	}
	return &BundleEntry{
		Source: p[0], Bytecode: p[1],
		MtimeSec: st.Mtim.Sec, MtimeNsec: st.Mtim.Nsec, Size: st.Size,
		Data: data, mem: mem,
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
	src, ok := pathArg(a, 0)
	if !ok {
		return cpython.Owned{}
	}
	im.mu.Lock()
	b := im.bundle
	im.mu.Unlock()
	var out cpython.Owned
	changed := false
	if !b.take(src, func(e *BundleEntry) {
		if ix := im.index; ix != nil && ix.Checked(filepath.Dir(src)) && !sameSource(src, e) {
			// A program's source changed since the root read it (written
			// during the job): loaded from its file, as python3 loads it.
			changed = true
			return
		}
		// The bytes object is a copy: e.Data's pages go back at once.
		out = cpython.TupleOf(cpython.NewPath(e.Bytecode), cpython.NewInt(e.MtimeSec), cpython.NewInt(e.MtimeNsec), cpython.NewInt(e.Size), cpython.NewBytes(e.Data))
	}) || changed {
		return cpython.None()
	}
	im.bundled.Add(1)
	return out
}

// sameSource reports whether the source file src still has the mtime and
// size e was bundled with (one stat).
func sameSource(src string, e *BundleEntry) bool {
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		return false
	}
	return st.Mtim.Sec == e.MtimeSec && st.Mtim.Nsec == e.MtimeNsec && st.Size == e.Size
}

// SetPack makes the importer serve bytecode from the environment's pack
// (see the package doc); called before Install.
func (im *Importer) SetPack(p *share.Pack) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.pack = p
}

// pack_setup(open_code, BytesIO, audit, sys, flags): what open_code
// calls: _io.open_code for a file, io.BytesIO for a copy, sys.audit for
// the event io.open_code raises ("open", path, "r", flags), and sys for
// dont_write_bytecode. Called once, before any import through the pack.
func (im *Importer) packSetup(a cpython.Args) cpython.Owned {
	if len(a.Pos) != 5 || !a.Pos[4].IsInt() {
		return cpython.SetError("TypeError", "pack_setup(open_code, BytesIO, audit, sys, flags)")
	}
	flags, overflow := a.Pos[4].Int64()
	if overflow {
		return cpython.SetError("OverflowError", "pack_setup: flags out of range")
	}
	im.ioOpenCode, im.bytesIO, im.audit, im.sys = a.Pos[0].NewRef(), a.Pos[1].NewRef(), a.Pos[2].NewRef(), a.Pos[3].NewRef()
	im.openFlags = flags
	return cpython.None()
}

// open_code(path): io.open_code, except that a .pyc file's valid copy in
// the pack is served from memory (an io.BytesIO, after the audit event
// io.open_code raises), handed out once (see share.Pack.TakeNoting, which
// takes sys.dont_write_bytecode now). A builtin, not a Python function:
// an error opening the file (PermissionError) has python3's traceback,
// with no frame of pyhost's in it. Anything but one str argument goes to
// io.open_code as it came, for its own errors.
func (im *Importer) openCode(a cpython.Args) cpython.Owned {
	if len(a.Pos) == 1 && a.KwNames.IsNull() && a.Pos[0].TypeName() == "str" {
		if data, ok := im.packTake(a.Pos[0]); ok {
			ev := im.audit.CallSteal([]cpython.Owned{cpython.NewStr("open"), a.Pos[0].NewRef(), cpython.NewStr("r"), cpython.NewInt(im.openFlags)})
			if ev.IsNull() {
				return ev
			}
			ev.Decref()
			im.packed.Add(1)
			return im.bytesIO.CallSteal([]cpython.Owned{cpython.NewBytes(data)})
		}
		return im.ioOpenCode.CallSteal([]cpython.Owned{a.Pos[0].NewRef()})
	}
	return im.ioOpenCode.CallArgs(a)
}

// packTake is the pack's valid copy of the .pyc file path (a str), if
// it has one; no exception is left set.
func (im *Importer) packTake(path cpython.Ref) ([]byte, bool) {
	view, owner, ok := path.PathView()
	if !ok {
		cpython.ErrClear()
		return nil, false
	}
	// Sources come through here too: only a .pyc path is copied (the
	// pack may keep it).
	p := ""
	if strings.HasSuffix(view, ".pyc") {
		p = strings.Clone(view)
	}
	owner.Decref()
	if p == "" {
		return nil, false
	}
	dwb := im.sys.Ref.Attr("dont_write_bytecode")
	if dwb.IsNull() {
		cpython.ErrClear()
		return nil, false
	}
	dontWrite := DontWriteValue(dwb.Ref)
	dwb.Decref()
	return im.pack.TakeNoting(p, dontWrite)
}

// DontWriteValue is the truth of sys.dont_write_bytecode, v, read without
// running the program's code (python3 evaluates it only when it writes
// bytecode): a bool or an int by its value, anything else as true (the
// cache then writes nothing).
func DontWriteValue(v cpython.Ref) bool {
	t, ok := v.PlainTruth()
	return t || !ok
}
