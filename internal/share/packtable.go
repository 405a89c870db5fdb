package share

import (
	"bytes"
	"encoding/binary"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/internal/frame"
)

// The pack's table is read at every start that loads a .pyc, so it is laid
// out to be used where it lies: fixed-size records over one blob of
// strings, and the entries' numbers sorted by .pyc path, so that a lookup
// is a binary search and opening the table decodes nothing per entry (a
// start that loads five modules pays for five lookups, not for the
// thousand entries the pack may hold). Inside the frame ("PYHP"), four
// byte strings:
//
//	strings  the directories' paths, the .pyc names and the sources (a
//	         source may be empty: not recorded)
//	dirs     per directory, 56 bytes: path (offset, length: 2 x 4), device,
//	         inode, mtime (s, ns), ctime (s, ns) (6 x 8)
//	entries  per copy, in the data's order, 48 bytes: directory, name
//	         (offset, length), source (offset, length), CRC-32 (6 x 4),
//	         data offset, length, last use (3 x 8)
//	index    per copy, 4 bytes: the entries' numbers sorted by .pyc path
//	         (directory path, "/", name)
const (
	dirRecordLen   = 56
	entryRecordLen = 48
)

// packTable is a validated table; its methods never fail.
type packTable struct {
	strs, dirs, ents, index []byte
}

// parsePackTable checks everything its methods rely on: every string
// within the blob, paths absolute, names plain, the entries' data back to
// back from 0 to dataEnd, the index a sorted permutation.
func parsePackTable(table []byte, dataEnd int64) (*packTable, error) {
	d, err := frame.Open(table, packMagic, packVersion)
	if err != nil {
		return nil, err
	}
	t := &packTable{strs: d.Bytes("strings"), dirs: d.Bytes("directories"), ents: d.Bytes("entries"), index: d.Bytes("index")}
	if err := d.Close(); err != nil {
		return nil, err
	}
	if len(t.dirs)%dirRecordLen != 0 || len(t.ents)%entryRecordLen != 0 || len(t.index) != len(t.ents)/entryRecordLen*4 {
		return nil, frame.Errorf("table sections of %d, %d and %d bytes", len(t.dirs), len(t.ents), len(t.index))
	}
	for i := 0; i < t.ndirs(); i++ {
		r := t.dirs[i*dirRecordLen:]
		p, ok := t.span32(r[0:], r[4:])
		if !ok || len(p) == 0 || p[0] != '/' {
			return nil, frame.Errorf("directory %d: bad path", i)
		}
	}
	var next int64
	for i := 0; i < t.len(); i++ {
		r := t.ents[i*entryRecordLen:]
		name, ok1 := t.span32(r[4:], r[8:])
		src, ok2 := t.span32(r[12:], r[16:])
		off, n := t.span(i)
		switch {
		case int(le32(r[0:])) >= t.ndirs():
			return nil, frame.Errorf("entry %d: directory %d of %d", i, le32(r[0:]), t.ndirs())
		case !ok1 || !ok2 || len(name) == 0 || bytes.IndexByte(name, '/') >= 0 || len(src) > 0 && src[0] != '/':
			return nil, frame.Errorf("entry %d: bad path", i)
		case off != next || n < 16 || n > dataEnd-next:
			return nil, frame.Errorf("entry %d: %d bytes at %d, data to %d", i, n, off, dataEnd)
		}
		next += n
	}
	if next != dataEnd {
		return nil, frame.Errorf("entries hold %d bytes of %d", next, dataEnd)
	}
	// Its order is not checked (that would cost every start a comparison
	// per entry): find checks the path of what it finds, so a misordered
	// index costs misses, never a wrong copy.
	seen := make([]bool, t.len())
	for k := 0; k < t.len(); k++ {
		i := int(le32(t.index[4*k:]))
		if i >= t.len() || seen[i] {
			return nil, frame.Errorf("index: entry %d twice or out of range", i)
		}
		seen[i] = true
	}
	return t, nil
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) int64  { return int64(binary.LittleEndian.Uint64(b)) }

func (t *packTable) len() int   { return len(t.ents) / entryRecordLen }
func (t *packTable) ndirs() int { return len(t.dirs) / dirRecordLen }

// span32 is the part of the blob at the offset and length encoded in off
// and n; ok is false when it is not within the blob.
func (t *packTable) span32(off, n []byte) ([]byte, bool) {
	o, l := uint64(le32(off)), uint64(le32(n))
	if o+l > uint64(len(t.strs)) {
		return nil, false
	}
	return t.strs[o : o+l], true
}

// bytesAt is the string of a validated record, without a copy.
func (t *packTable) bytesAt(off, n []byte) []byte {
	o := le32(off)
	return t.strs[o : o+le32(n)]
}

func (t *packTable) dirOf(i int) int { return int(le32(t.ents[i*entryRecordLen:])) }

func (t *packTable) span(i int) (off, n int64) {
	r := t.ents[i*entryRecordLen:]
	return le64(r[24:]), le64(r[32:])
}

func (t *packTable) crc(i int) uint32   { return le32(t.ents[i*entryRecordLen+20:]) }
func (t *packTable) usedAt(i int) int64 { return le64(t.ents[i*entryRecordLen+40:]) }

// pathOf is entry i's .pyc path.
func (t *packTable) pathOf(i int) string {
	r := t.ents[i*entryRecordLen:]
	d := t.dirs[t.dirOf(i)*dirRecordLen:]
	return string(t.bytesAt(d[0:], d[4:])) + "/" + string(t.bytesAt(r[4:], r[8:]))
}

// cmp compares path with entry i's .pyc path (strings.Compare), without
// building it.
func (t *packTable) cmp(path string, i int) int {
	r := t.ents[i*entryRecordLen:]
	d := t.dirs[t.dirOf(i)*dirRecordLen:]
	dir, name := t.bytesAt(d[0:], d[4:]), t.bytesAt(r[4:], r[8:])
	n := min(len(path), len(dir))
	if c := compareSB(path[:n], dir[:n]); c != 0 || len(path) == n {
		if c == 0 {
			return -1 // a proper prefix of dir + "/" + name
		}
		return c
	}
	// path is longer than dir and starts with it.
	if c := compareSB(path[n:n+1], []byte{'/'}); c != 0 {
		return c
	}
	return compareSB(path[n+1:], name)
}

// parts are entry i's directory path and .pyc name.
func (t *packTable) parts(i int) (dir, name []byte) {
	r := t.ents[i*entryRecordLen:]
	d := t.dirs[t.dirOf(i)*dirRecordLen:]
	return t.bytesAt(d[0:], d[4:]), t.bytesAt(r[4:], r[8:])
}

// compareSB is strings.Compare(s, string(b)) without the conversion.
func compareSB(s string, b []byte) int {
	n := min(len(s), len(b))
	for k := 0; k < n; k++ {
		if s[k] != b[k] {
			if s[k] < b[k] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(s) < len(b):
		return -1
	case len(s) > len(b):
		return 1
	}
	return 0
}

// find is the entry of the .pyc path, by binary search of the index.
func (t *packTable) find(path string) (int, bool) {
	n := t.len()
	k := sort.Search(n, func(k int) bool { return t.cmp(path, int(le32(t.index[4*k:]))) <= 0 })
	if k < n {
		if i := int(le32(t.index[4*k:])); t.cmp(path, i) == 0 {
			return i, true
		}
	}
	return 0, false
}

// sourceIs is whether entry i's source is source.
func (t *packTable) sourceIs(i int, source string) bool {
	r := t.ents[i*entryRecordLen:]
	return compareSB(source, t.bytesAt(r[12:], r[16:])) == 0
}

// dir is directory record d.
func (t *packTable) dir(d int) dirRecord {
	r := t.dirs[d*dirRecordLen:]
	return dirRecord{
		path: string(t.bytesAt(r[0:], r[4:])),
		dev:  uint64(le64(r[8:])), ino: uint64(le64(r[16:])),
		mtime: timespec(le64(r[24:]), le64(r[32:])),
		ctime: timespec(le64(r[40:]), le64(r[48:])),
	}
}

// entry is entry i in full, for SavePack.
func (t *packTable) entry(i int) packEntry {
	r := t.ents[i*entryRecordLen:]
	off, n := t.span(i)
	return packEntry{
		source:   string(t.bytesAt(r[12:], r[16:])),
		bytecode: t.pathOf(i),
		dir:      t.dirOf(i),
		off:      off, n: n,
		crc:    t.crc(i),
		usedAt: t.usedAt(i),
	}
}

// encodePackTable makes the table of entries (whose dir index dirs, and
// whose data lie back to back in their order).
func encodePackTable(dirs []dirRecord, entries []packEntry) []byte {
	var strs []byte
	addStr := func(s string) (uint32, uint32) {
		o := len(strs)
		strs = append(strs, s...)
		return uint32(o), uint32(len(s))
	}
	drec := make([]byte, 0, len(dirs)*dirRecordLen)
	for _, d := range dirs {
		o, l := addStr(d.path)
		drec = binary.LittleEndian.AppendUint32(drec, o)
		drec = binary.LittleEndian.AppendUint32(drec, l)
		for _, v := range []int64{int64(d.dev), int64(d.ino), d.mtime.Sec, d.mtime.Nsec, d.ctime.Sec, d.ctime.Nsec} {
			drec = binary.LittleEndian.AppendUint64(drec, uint64(v))
		}
	}
	erec := make([]byte, 0, len(entries)*entryRecordLen)
	var off int64
	for _, e := range entries {
		no, nl := addStr(e.bytecode[strings.LastIndexByte(e.bytecode, '/')+1:])
		so, sl := addStr(e.source)
		for _, v := range []uint32{uint32(e.dir), no, nl, so, sl, e.crc} {
			erec = binary.LittleEndian.AppendUint32(erec, v)
		}
		for _, v := range []int64{off, e.n, e.usedAt} {
			erec = binary.LittleEndian.AppendUint64(erec, uint64(v))
		}
		off += e.n
	}
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return entries[order[a]].bytecode < entries[order[b]].bytecode })
	index := make([]byte, 0, 4*len(entries))
	for _, i := range order {
		index = binary.LittleEndian.AppendUint32(index, uint32(i))
	}
	enc := frame.NewEncoder(packMagic, packVersion, len(strs)+len(drec)+len(erec)+len(index)+32)
	enc.Bytes(strs)
	enc.Bytes(drec)
	enc.Bytes(erec)
	enc.Bytes(index)
	return enc.Finish()
}

func timespec(sec, nsec int64) unix.Timespec { return unix.Timespec{Sec: sec, Nsec: nsec} }

// findIf is find on a table that may be used (ok), else nothing.
func (t *packTable) findIf(ok bool, path string) (int, bool) {
	if !ok {
		return 0, false
	}
	return t.find(path)
}
