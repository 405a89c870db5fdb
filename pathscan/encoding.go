package pathscan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pyhost/pyhost/internal/frame"
)

// The serialized form is a frame (package internal/frame: magic "PSCN",
// version, checksum) whose body is, all integers unsigned varints unless
// noted:
//
//	count    number of listings
//	count × listing, in strictly increasing directory order:
//	    dir      string (length, bytes): absolute, clean
//	    mtime    zigzag varint, nanoseconds, -1 when stat failed
//	    dev      device number, 0 when unknown
//	    ino      inode number, 0 when unknown
//	    ctime    zigzag varint, nanoseconds
//	    used     zigzag varint, nanoseconds since 1970: when a run last used it
//	    state    1 byte
//	    n        number of entries (0 unless state is OK)
//	    size     bytes the n entries take, so that a reader can keep them
//	             as they are and decode them at their first use
//	    n × entry, in strictly increasing name order:
//	        name string: non-empty, no '/', no NUL, not "." or ".."
//	        type 1 byte
//
// Invalidated listings are not written. The device, inode and ctime are the
// lister's: a cache file's listing is used again only if its directory
// still has them (see identity); a broadcast's are not compared, since its
// listings are fresh.
const formatMagic = "PSCN"

// FormatVersion is the version of the serialized form, which Merge and
// MergeUnverified refuse data of any other: a cache that keys its files by
// it (internal/share) never meets a file of another version, which it
// would otherwise report and rebuild.
const FormatVersion = 4

// ErrFormat is wrapped by the errors Merge returns for data it cannot use
// (it is frame.ErrFormat: the index is a frame).
var ErrFormat = frame.ErrFormat

// MarshalBinary serializes every listing the Index holds except
// invalidated ones and ones merged unverified and not verified since, for
// Merge into another Index: a broadcast from the rank that listed.
func (ix *Index) MarshalBinary() ([]byte, error) {
	return ix.MarshalBinaryWhere(nil)
}

// MarshalBinaryWhere is MarshalBinary of the listings keep accepts, given
// each directory and the device it is on (0 when unknown); keep nil
// accepts all. keep runs with the Index locked: it must not use it.
func (ix *Index) MarshalBinaryWhere(keep func(dir string, dev uint64) bool) ([]byte, error) {
	return ix.marshalStamped(func(l *listing) (int64, bool) {
		ok := !l.stale && !l.unverified && (keep == nil || keep(l.dir, l.dev))
		return l.usedAt, ok
	})
}

// MarshalUnverifiedWhere serializes the listings merged unverified (from
// a cache file) and not verified since, that keep accepts (as for
// MarshalBinaryWhere), for MergeUnverified into another Index: the rank
// that loaded a cache file hands on what it did not verify, so that
// another rank that needs one of those directories stats it instead of
// reading it.
func (ix *Index) MarshalUnverifiedWhere(keep func(dir string, dev uint64) bool) ([]byte, error) {
	return ix.marshalStamped(func(l *listing) (int64, bool) {
		ok := l.unverified && !l.transient && l.state == stateOK && (keep == nil || keep(l.dir, l.dev))
		return l.usedAt, ok
	})
}

// marshalStamped writes the listings keep accepts, each with the stamp it
// gives.
func (ix *Index) marshalStamped(keep func(*listing) (int64, bool)) ([]byte, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var ls []*listing
	var stamps []int64
	size := 10
	ix.tree.Ascend(func(l *listing) bool {
		// A directory named with "." or ".." (a sys.path entry such as
		// dir/../src, as FileFinder takes it, unresolved) is never
		// written: the decoder rejects such a name, and with it the file.
		if at, ok := keep(l); ok && !l.stale && validDir(l.dir) {
			ls = append(ls, l)
			stamps = append(stamps, at)
			size += len(l.dir) + 6*10 + 1 + len(l.packed)
			for _, e := range l.entries {
				size += len(e.name) + 3
			}
		}
		return true
	})
	e := frame.NewEncoder(formatMagic, FormatVersion, size)
	e.Uvarint(uint64(len(ls)))
	for i, l := range ls {
		e.String(l.dir)
		e.Varint(l.mtime)
		e.Uvarint(l.dev)
		e.Uvarint(l.ino)
		e.Varint(l.ctime)
		e.Varint(stamps[i])
		e.Byte(byte(l.state))
		if l.packedN > 0 { // as the cache file had them, not decoded for this
			e.Uvarint(uint64(l.packedN))
			e.Uvarint(uint64(len(l.packed)))
			e.Raw(l.packed)
			continue
		}
		e.Uvarint(uint64(len(l.entries)))
		size := 0
		for _, en := range l.entries {
			size += uvarintLen(uint64(len(en.name))) + len(en.name) + 1
		}
		e.Uvarint(uint64(size))
		for _, en := range l.entries {
			e.String(en.name)
			e.Byte(byte(en.typ))
		}
	}
	return e.Finish(), nil
}

// Merge adds the listings serialized by MarshalBinary, replacing the
// Index's own listings of the same directories. Merged listings count as
// listed: lookups in them touch no file system, and revalidation compares
// against their recorded mtimes. Data that is corrupt, truncated or of
// another version is rejected with an error wrapping ErrFormat, and the
// Index is left unchanged.
func (ix *Index) Merge(data []byte) error {
	ls, err := decode(data, false)
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
// Apart from that stat, they count as listed. Their entries are checked
// and decoded at their first use (a listing whose entries turn out
// malformed then is read again, as a changed one is), so that a start
// pays for the listings it uses, not for the size of the file: the Index
// keeps data, which the caller must not modify afterwards.
func (ix *Index) MergeUnverified(data []byte) error {
	ls, err := decode(data, true)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, l := range ls {
		l.unverified = true
		l.fromCache = true
		ix.install(l)
	}
	ix.stats.DirsMerged += uint64(len(ls))
	return nil
}

// CachePolicy says what a cache file keeps (see MarshalCache).
type CachePolicy struct {
	// Settle: a listing read less than Settle after its directory's mtime
	// may have changed unseen (a change within the same mtime tick does
	// not move it: the "racy" entries of git's index) and is not kept.
	Settle time.Duration
	// MaxAge: a listing no lookup has used for this long is dropped.
	MaxAge time.Duration
	// MaxDirs bounds the listings kept; the least recently used go first.
	MaxDirs int
	// MaxProgramDirs bounds, within MaxDirs, the listings kept of the
	// directories ProgramDir names (a program's own: its script's, its
	// working directory, PYTHONPATH's), the least recently used going
	// first. Each task of a many-task workflow run in a directory of its
	// own adds one, and every start reads every listing the file holds:
	// 3,000 of them made `-c pass` take 8% more CPU.
	MaxProgramDirs int
	ProgramDir     func(dir string) bool
	// SkipDev names the devices whose directories' listings are never
	// kept: those whose identity cannot tell one directory from another
	// that takes its place (share's image file systems).
	SkipDev func(dev uint64) bool
	// Now is the time of the save, which stamps what this run used.
	Now time.Time
}

// MarshalCache serializes what a cache file should keep for every program
// of the environment, under p:
//
//   - the listings this run's lookups used (not those only listed ahead by
//     ListTree), read whole: never a failed reading (a directory that was
//     missing, unreadable or could not be opened, as under EMFILE, is read
//     again by the next run) and never a racy one (see CachePolicy.Settle);
//     they are stamped as used now;
//   - the listings merged from the previous cache file that this run did
//     not need (another program's), as they were, with their old stamp,
//     unless older than MaxAge; a merged listing this run found changed
//     was read again and counts as this run's.
func (ix *Index) MarshalCache(p CachePolicy) ([]byte, error) {
	now := p.Now.UnixNano()
	ix.mu.Lock()
	type kept struct {
		l      *listing
		usedAt int64
	}
	var ks []kept
	ix.tree.Ascend(func(l *listing) bool {
		switch {
		case l.stale || l.state != stateOK || l.transient:
		case p.SkipDev != nil && p.SkipDev(l.dev):
		case l.used && !l.unverified:
			if l.listedAt == 0 || l.listedAt-l.mtime >= int64(p.Settle) {
				ks = append(ks, kept{l, now})
			}
		case l.fromCache && (p.MaxAge <= 0 || now-l.usedAt < int64(p.MaxAge)):
			ks = append(ks, kept{l, l.usedAt})
		}
		return true
	})
	ix.mu.Unlock()
	if p.MaxProgramDirs > 0 && p.ProgramDir != nil {
		// The program's directories beyond MaxProgramDirs go, the least
		// recently used first; the environment's are bounded by MaxDirs
		// alone.
		var prog []kept
		n := 0
		for _, k := range ks {
			if p.ProgramDir(k.l.dir) {
				prog = append(prog, k)
			} else {
				ks[n] = k
				n++
			}
		}
		if len(prog) > p.MaxProgramDirs {
			slices.SortStableFunc(prog, func(a, b kept) int { return cmp.Compare(b.usedAt, a.usedAt) })
			prog = prog[:p.MaxProgramDirs]
		}
		ks = append(ks[:n], prog...)
		slices.SortFunc(ks, func(a, b kept) int { return strings.Compare(a.l.dir, b.l.dir) })
	}
	if p.MaxDirs > 0 && len(ks) > p.MaxDirs {
		slices.SortStableFunc(ks, func(a, b kept) int { return cmp.Compare(b.usedAt, a.usedAt) })
		ks = ks[:p.MaxDirs]
		slices.SortFunc(ks, func(a, b kept) int { return strings.Compare(a.l.dir, b.l.dir) })
	}
	stamps := make(map[*listing]int64, len(ks))
	for _, k := range ks {
		stamps[k.l] = k.usedAt
	}
	return ix.marshalStamped(func(l *listing) (int64, bool) {
		at, ok := stamps[l]
		return at, ok
	})
}

// NeedsSave reports whether a cache file should be written after this run:
// a directory was read, or a listing this run used carries a stamp older
// than a day (so that eviction sees it as recently used).
func (ix *Index) NeedsSave(now time.Time) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.stats.DirsListed > 0 {
		return true
	}
	old := false
	dayAgo := now.Add(-24 * time.Hour).UnixNano()
	ix.tree.Ascend(func(l *listing) bool {
		old = l.used && l.fromCache && l.usedAt < dayAgo
		return !old
	})
	return old
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("pathscan: index: %w", frame.Errorf(format, args...))
}

// decode parses and checks data completely; it never panics and allocates
// no more than the length of data justifies. With packed, the entries of
// each listing are kept as encoded (listing.packed), to be checked and
// decoded at their first use (listing.unpack).
func decode(data []byte, packed bool) ([]*listing, error) {
	d, err := frame.Open(data, formatMagic, FormatVersion)
	if err != nil {
		return nil, fmt.Errorf("pathscan: index: %w", err)
	}
	// One copy of the body backs every name decoded from it; packed, the
	// data itself (the caller gives it up).
	if packed {
		d.ShareData()
	} else {
		d.ShareStrings()
	}
	count := d.Count("count", 1+1+1+1) // the least a listing takes
	ls := make([]*listing, 0, count)
	prev := ""
	for i := uint64(0); i < count && d.Err() == nil; i++ {
		l := &listing{dir: d.String("directory")}
		l.mtime = d.Varint("mtime")
		l.dev = d.Uvarint("device")
		l.ino = d.Uvarint("inode")
		l.ctime = d.Varint("ctime")
		l.usedAt = d.Varint("last use")
		l.state = listingState(d.Byte("state"))
		n := d.Count("entry count", minEntry)
		size := d.Uvarint("entries' size")
		if d.Err() != nil {
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
		if size < n*minEntry || n == 0 && size != 0 {
			return nil, formatErr("directory %q: %d entries in %d bytes", l.dir, n, size)
		}
		if packed {
			l.packed, l.packedN = d.Skip("entries", size), int(n)
		} else {
			var err error
			if l.entries, err = decodeEntries(d.Skip("entries", size), int(n)); err != nil {
				return nil, formatErr("directory %q: %v", l.dir, err)
			}
		}
		ls = append(ls, l)
	}
	if err := d.Close(); err != nil {
		return nil, fmt.Errorf("pathscan: index: %w", err)
	}
	return ls, nil
}

// minEntry is the least an encoded entry takes: a name's length, one
// byte of it, the type.
const minEntry = 1 + 1 + 1

// decodeEntries decodes and checks the n entries encoded in b, which they
// must fill exactly. The names share b's memory.
func decodeEntries(b string, n int) ([]entry, error) {
	if n == 0 {
		if b != "" {
			return nil, frame.Errorf("%d bytes of entries where there are none", len(b))
		}
		return nil, nil
	}
	es := make([]entry, 0, n)
	i := 0
	for len(es) < n {
		size, next := uvarintAt(b, i)
		if next < 0 || size >= uint64(len(b)-next) {
			return nil, frame.Errorf("truncated or malformed entry %d", len(es))
		}
		end := next + int(size)
		e := entry{name: b[next:end], typ: entryType(b[end])}
		switch {
		case !validName(e.name):
			return nil, frame.Errorf("bad name %q", e.name)
		case len(es) > 0 && e.name <= es[len(es)-1].name:
			return nil, frame.Errorf("name %q out of order", e.name)
		case e.kind() >= numTypes:
			return nil, frame.Errorf("name %q: bad type %d", e.name, e.typ)
		}
		es = append(es, e)
		i = end + 1
	}
	if i != len(b) {
		return nil, frame.Errorf("%d bytes after the entries", len(b)-i)
	}
	return es, nil
}

// uvarintLen is the length of v as an unsigned varint.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// uvarintAt reads the unsigned varint at s[i:], in its one encoding (as
// frame's Decoder accepts it); next is -1 when there is none.
func uvarintAt(s string, i int) (v uint64, next int) {
	start := i
	for shift := uint(0); i < len(s) && shift < 64; shift += 7 {
		b := s[i]
		i++
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			if i-start != uvarintLen(v) {
				return 0, -1 // padded
			}
			return v, i
		}
	}
	return 0, -1
}

// validDir accepts what Find's contract allows as a directory.
// It is filepath.Clean(dir) == dir for an absolute dir without NUL, less
// Clean's copy: every start checks each directory of its cache file.
func validDir(dir string) bool {
	if !strings.HasPrefix(dir, "/") || strings.Contains(dir, "\x00") {
		return false
	}
	if dir == "/" {
		return true
	}
	for rest := dir[1:]; ; {
		seg, after, more := strings.Cut(rest, "/")
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		if !more {
			return true
		}
		rest = after
	}
}

// validName accepts what a directory read can return.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}
