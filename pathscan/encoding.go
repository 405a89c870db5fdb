package pathscan

import (
	"github.com/pyhost/pyhost/internal/frame"

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
	return ix.marshal(func(l *listing) bool { return !l.unverified })
}

func (ix *Index) marshal(keep func(*listing) bool) ([]byte, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var ls []*listing
	size := 10
	ix.tree.Ascend(func(l *listing) bool {
		if !l.stale && keep(l) {
			ls = append(ls, l)
			size += len(l.dir) + 3*10 + 1
			for _, e := range l.entries {
				size += len(e.name) + 3
			}
		}
		return true
	})
	e := frame.NewEncoder(formatMagic, formatVersion, size)
	e.Uvarint(uint64(len(ls)))
	for _, l := range ls {
		e.String(l.dir)
		e.Varint(l.mtime)
		e.Uvarint(l.dev)
		e.Uvarint(l.ino)
		e.Varint(l.ctime)
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
		ix.install(l)
	}
	ix.stats.DirsMerged += uint64(len(ls))
	return nil
}

// MarshalStable serializes what a cache file should keep: the listings a
// lookup used (not those only listed ahead by ListTree, nor merged and
// never needed) and read whole (never a failed reading: a directory that
// was missing, unreadable or could not be opened, as under EMFILE, is read
// again by the next run), without the ones that may have changed unseen: those read
// less than settle after their directory's mtime, which a change within the
// same mtime tick would not move (the "racy" listings of git's index).
func (ix *Index) MarshalStable(settle time.Duration) ([]byte, error) {
	return ix.marshal(func(l *listing) bool {
		return l.used && !l.unverified && l.state == stateOK && !l.transient &&
			(l.listedAt == 0 || l.listedAt-l.mtime >= int64(settle))
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
