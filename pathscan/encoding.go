package pathscan

import (
	"cmp"
	"github.com/pyhost/pyhost/internal/frame"
	"slices"

	"fmt"
	"path/filepath"
	"strings"
	"time"
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
//	    n × entry, in strictly increasing name order:
//	        name string: non-empty, no '/', no NUL, not "." or ".."
//	        type 1 byte
//
// Invalidated listings are not written. The device, inode and ctime are the
// lister's: a cache file's listing is used again only if its directory
// still has them (see identity); a broadcast's are not compared, since its
// listings are fresh.
const (
	formatMagic   = "PSCN"
	formatVersion = 2
)

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
		if at, ok := keep(l); ok && !l.stale {
			ls = append(ls, l)
			stamps = append(stamps, at)
			size += len(l.dir) + 6*10 + 1
			for _, e := range l.entries {
				size += len(e.name) + 3
			}
		}
		return true
	})
	e := frame.NewEncoder(formatMagic, formatVersion, size)
	e.Uvarint(uint64(len(ls)))
	for i, l := range ls {
		e.String(l.dir)
		e.Varint(l.mtime)
		e.Uvarint(l.dev)
		e.Uvarint(l.ino)
		e.Varint(l.ctime)
		e.Varint(stamps[i])
		e.Byte(byte(l.state))
		e.Uvarint(uint64(len(l.entries)))
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
// no more than the length of data justifies.
func decode(data []byte) ([]*listing, error) {
	d, err := frame.Open(data, formatMagic, formatVersion)
	if err != nil {
		return nil, fmt.Errorf("pathscan: index: %w", err)
	}
	// One copy of the body backs every name decoded from it.
	d.ShareStrings()
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
		n := d.Count("entry count", 1+1+1)
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
		if n > 0 {
			l.entries = make([]entry, n)
		}
		for j := range l.entries {
			e := &l.entries[j]
			e.name = d.String("name")
			e.typ = entryType(d.Byte("type"))
			if d.Err() != nil {
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
	if err := d.Close(); err != nil {
		return nil, fmt.Errorf("pathscan: index: %w", err)
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
