package pathscan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strings"
	"time"
)

// The serialized form (all integers unsigned LEB128 varints unless noted):
//
//	magic    "PSCN"
//	version  1 byte (formatVersion)
//	count    number of listings
//	count × listing, in strictly increasing directory order:
//	    dir      string (length, bytes): absolute, clean
//	    mtime    zigzag varint, nanoseconds, -1 when stat failed
//	    state    1 byte
//	    n        number of entries (0 unless state is OK)
//	    n × entry, in strictly increasing name order:
//	        name string: non-empty, no '/', no NUL, not "." or ".."
//	        type 1 byte
//	crc32    4 bytes little endian, Castagnoli, over everything before it
//
// Invalidated listings are not written. Nothing machine-specific (device,
// inode) is: a blob made on one node describes a shared file system for all.
const (
	formatMagic   = "PSCN"
	formatVersion = 1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrFormat is wrapped by the errors Merge returns for data it cannot use.
var ErrFormat = errors.New("pathscan: bad index data")

// MarshalBinary serializes every listing the Index holds except
// invalidated ones and ones merged unverified and not verified since, for
// Merge into another Index: a broadcast from the rank that listed.
func (ix *Index) MarshalBinary() ([]byte, error) {
	return ix.marshal(func(l *listing) bool { return !l.unverified })
}

func (ix *Index) marshal(keep func(*listing) bool) ([]byte, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var ls []*listing
	size := len(formatMagic) + 1 + binary.MaxVarintLen64 + 4
	ix.tree.Ascend(func(l *listing) bool {
		if !l.stale && keep(l) {
			ls = append(ls, l)
			size += len(l.dir) + 3*binary.MaxVarintLen64 + 1
			for _, e := range l.entries {
				size += len(e.name) + 3
			}
		}
		return true
	})
	b := make([]byte, 0, size)
	b = append(b, formatMagic...)
	b = append(b, formatVersion)
	b = binary.AppendUvarint(b, uint64(len(ls)))
	for _, l := range ls {
		b = appendString(b, l.dir)
		b = binary.AppendVarint(b, l.mtime)
		b = append(b, byte(l.state))
		b = binary.AppendUvarint(b, uint64(len(l.entries)))
		for _, e := range l.entries {
			b = appendString(b, e.name)
			b = append(b, byte(e.typ))
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable)), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Merge adds the listings serialized by MarshalBinary, replacing the
// Index's own listings of the same directories. Merged listings count as
// listed: lookups in them touch no file system, and revalidation compares
// against their recorded mtimes. Data that is corrupt, truncated or of
// another version is rejected with an error wrapping ErrFormat, and the
// Index is left unchanged.
func (ix *Index) Merge(data []byte) error {
	ls, err := decode(data)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, l := range ls {
		ix.install(l)
	}
	ix.stats.DirsMerged += uint64(len(ls))
	return nil
}

// MergeUnverified is Merge for listings that may be out of date (a cache
// file from an earlier run): each is used only after one stat of its
// directory finds the mtime it was listed with, and read again otherwise.
// Apart from that stat, they count as listed.
func (ix *Index) MergeUnverified(data []byte) error {
	ls, err := decode(data)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, l := range ls {
		l.unverified = true
		ix.install(l)
	}
	ix.stats.DirsMerged += uint64(len(ls))
	return nil
}

// MarshalStable serializes what a cache file should keep: the listings a
// lookup used (not those only listed ahead by ListTree, nor merged and
// never needed), without the ones that may have changed unseen: those read
// less than settle after their directory's mtime, which a change within the
// same mtime tick would not move (the "racy" listings of git's index).
func (ix *Index) MarshalStable(settle time.Duration) ([]byte, error) {
	return ix.marshal(func(l *listing) bool {
		return l.used && !l.unverified && (l.listedAt == 0 || l.listedAt-l.mtime >= int64(settle))
	})
}

// Changed reports whether any directory was read since the Index was made
// (listings that a cache file should now hold).
func (ix *Index) Changed() bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.stats.DirsListed > 0
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// decode parses and checks data completely; it never panics and allocates
// no more than the length of data justifies.
func decode(data []byte) ([]*listing, error) {
	hdr := len(formatMagic) + 1
	if len(data) < hdr+1+4 {
		return nil, formatErr("%d bytes is too short", len(data))
	}
	if string(data[:len(formatMagic)]) != formatMagic {
		return nil, formatErr("not a pathscan index")
	}
	if v := data[len(formatMagic)]; v != formatVersion {
		return nil, formatErr("version %d, want %d", v, formatVersion)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, formatErr("checksum mismatch")
	}
	// One copy of the body backs every string decoded from it.
	d := decoder{b: body[hdr:], s: string(body[hdr:])}
	count := d.count(1 + 1 + 1 + 1) // the least a listing takes
	ls := make([]*listing, 0, count)
	prev := ""
	for i := uint64(0); i < count && d.err == nil; i++ {
		l := &listing{dir: d.string()}
		l.mtime = d.varint()
		l.state = listingState(d.byte())
		n := d.count(1 + 1 + 1)
		if d.err != nil {
			break
		}
		switch {
		case !validDir(l.dir):
			return nil, formatErr("bad directory %q", l.dir)
		case i > 0 && l.dir <= prev:
			return nil, formatErr("directory %q out of order", l.dir)
		case l.state >= numStates:
			return nil, formatErr("directory %q: bad state %d", l.dir, l.state)
		case l.state != stateOK && n != 0:
			return nil, formatErr("directory %q: entries in a failed listing", l.dir)
		}
		prev = l.dir
		if n > 0 {
			l.entries = make([]entry, n)
		}
		for j := range l.entries {
			e := &l.entries[j]
			e.name = d.string()
			e.typ = entryType(d.byte())
			if d.err != nil {
				break
			}
			switch {
			case !validName(e.name):
				return nil, formatErr("directory %q: bad name %q", l.dir, e.name)
			case j > 0 && e.name <= l.entries[j-1].name:
				return nil, formatErr("directory %q: name %q out of order", l.dir, e.name)
			case e.typ >= numTypes:
				return nil, formatErr("directory %q: name %q: bad type %d", l.dir, e.name, e.typ)
			}
		}
		ls = append(ls, l)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, formatErr("%d bytes of trailing data", len(d.b))
	}
	return ls, nil
}

// validDir accepts what Find's contract allows as a directory.
func validDir(dir string) bool {
	return strings.HasPrefix(dir, "/") && !strings.Contains(dir, "\x00") && filepath.Clean(dir) == dir
}

// validName accepts what a directory read can return.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// decoder reads from b; the first failure sticks in err and makes every
// later read return zero values.
type decoder struct {
	b   []byte
	s   string // the same bytes as the b it started with
	err error
	tmp [binary.MaxVarintLen64]byte
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = formatErr("truncated or malformed %s", what)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != len(binary.AppendUvarint(d.tmp[:0], v)) { // one encoding per value
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 || n != len(binary.AppendVarint(d.tmp[:0], v)) {
		d.fail("mtime")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("byte")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// count reads a number of items each at least minSize bytes long, refusing
// counts the remaining data cannot hold.
func (d *decoder) count(minSize int) uint64 {
	n := d.uvarint("count")
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.fail("count")
		return 0
	}
	return n
}

func (d *decoder) string() string {
	n := d.uvarint("string length")
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("string")
		return ""
	}
	off := len(d.s) - len(d.b)
	d.b = d.b[n:]
	return d.s[off : off+int(n)]
}
