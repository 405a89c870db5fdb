package pathscan

import (
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// entryType is what a name in a directory is once symlinks are followed,
// which is all FileFinder ever asks of it (_path_isfile, _path_isdir).
type entryType uint8

const (
	typeOther entryType = iota // neither: fifo, socket, device, broken link, or not stat-able
	typeFile                   // regular file (S_IFREG after following links)
	typeDir                    // directory (S_IFDIR after following links)
	numTypes

	// typeLink is set, with one of the above, on a name that is a symbolic
	// link: what it is then depends on its target, which can go, come or
	// change while the directory's mtime stays, so a lookup asks again
	// (a stat, as FileFinder's _path_isfile and _path_isdir make).
	typeLink entryType = 1 << 7
)

// kind is what the entry was when listed, links followed.
func (e *entry) kind() entryType { return e.typ &^ typeLink }

// link reports whether the entry is a symbolic link.
func (e *entry) link() bool { return e.typ&typeLink != 0 }

// listingState records how reading a directory went.
type listingState uint8

const (
	stateOK         listingState = iota // listed
	stateMissing                        // stat failed or not a directory: FileFinder sees no names, _path_isdir is false
	stateUnreadable                     // a directory that could not be read (EACCES): no names, but files inside may still be stat-able
	numStates
)

// entry is one name of a listing.
type entry struct {
	name string
	typ  entryType
	// child caches the listing of dir/name once step 1 of a lookup needed it.
	// The tree stays the authority: a child that is dropped or stale is looked
	// up again.
	child *listing
}

// listing is one directory as it was read: the unit of I/O, staleness,
// invalidation and serialization, and the item of the Index's B-tree.
type listing struct {
	dir     string
	mtime   int64 // st_mtime in nanoseconds, taken before reading; -1 when stat failed
	state   listingState
	entries []entry // sorted by name, names unique; read through ents

	// packed holds the entries (packedN of them) of a listing merged from a
	// cache file as the file encodes them, checked and decoded at their
	// first use (unpack): a run uses a handful of the environment's
	// listings, and decoding them all cost every start in proportion to the
	// size of the cache.
	packed  string
	packedN int

	// The directory's identity beyond its mtime (see sameAs): what a cache
	// file must match besides the mtime, and loop detection in ListTree.
	// Zero when unknown (a failed stat, a merged broadcast).
	dev, ino uint64
	ctime    int64

	// transient: the directory could not be read for a reason that may
	// pass (EMFILE, ENOMEM, EIO, ...). Such a listing answers this lookup
	// as an unreadable directory would, is read again at its next use, and
	// is never written to a cache file.
	transient bool
	openErr   error // why a transient listing could not be read

	stale bool // Invalidate'd: relist on next use
	// searched: a lookup in this directory (not only of it, as a package)
	// was answered from it in this process, as from a FileFinder of it.
	searched bool
	// checkedIn: the lookup epoch this checked listing was last stat'ed in.
	checkedIn uint64
	// checkAsked caches Options.Check for dir: 0 not asked, 1 checked, 2 not.
	checkAsked uint8
	dropped    bool // no longer in the tree (replaced or forgotten)

	// unverified: merged from a cache file; trusted after one stat of dir
	// finds the recorded mtime (see MergeUnverified).
	unverified bool
	listedAt   int64 // wall clock (ns) when read here; 0 when merged
	used       bool  // a lookup needed it (what a cache file keeps)
	fromCache  bool  // merged from a cache file (MergeUnverified)
	usedAt     int64 // wall clock (ns) of the last run that used it, from the cache file
}

func lessListing(a, b *listing) bool { return a.dir < b.dir }

// unpack decodes packed entries. It reports false when they are
// malformed: the listing is then stale (read again at its next use) and
// must not be used. Needs the Index's mutex.
func (l *listing) unpack() bool {
	if l.packedN == 0 {
		return !l.stale
	}
	es, err := decodeEntries(l.packed, l.packedN)
	l.packed, l.packedN = "", 0
	if err != nil {
		l.stale = true
		return false
	}
	l.entries = es
	return true
}

// refreshLinks asks again what each symbolic link of a listing merged from
// a cache file is (a stat following it), when the listing is verified:
// the directory's identity says its names are the same, not that their
// targets are (a package linked into site-packages from a checkout that
// went or came back, a module linked to a file deleted or created). A
// run trusts the answer until it ends, as it trusts the names.
func (l *listing) refreshLinks() {
	for i := range l.entries {
		if e := &l.entries[i]; e.link() {
			var st unix.Stat_t
			if fstatat(unix.AT_FDCWD, joinPath(l.dir, e.name), &st, 0) {
				e.typ = typeOf(&st) | typeLink
			} else {
				e.typ = typeOther | typeLink
			}
		}
	}
}

// ents returns the entries of a listing that was unpacked (every listing
// a lookup is given was: see Index.current). Needs the Index's mutex.
func (l *listing) ents() []entry {
	if l.packedN > 0 && !l.unpack() {
		return nil
	}
	return l.entries
}

// concat is a name split in two (tail + suffix), so lookups need not build it.
type concat struct{ a, b string }

// cmpConcat compares s with c.a+c.b without building the concatenation.
func cmpConcat(e entry, c concat) int {
	s := e.name
	if len(s) < len(c.a) {
		if r := strings.Compare(s, c.a[:len(s)]); r != 0 {
			return r
		}
		return -1 // s is a proper prefix of c.a, hence of c.a+c.b
	}
	if r := strings.Compare(s[:len(c.a)], c.a); r != 0 {
		return r
	}
	return strings.Compare(s[len(c.a):], c.b)
}

// lookup returns the index of the entry named a+b.
func (l *listing) lookup(a, b string) (int, bool) {
	return slices.BinarySearchFunc(l.ents(), concat{a, b}, cmpConcat)
}

// isFile reports whether a+b is a name of the listing that is a regular
// file; link is true when it is a symbolic link (to a regular file when
// listed, or, with ok false, to anything else then).
func (l *listing) isFile(a, b string) (ok, link bool) {
	i, found := l.lookup(a, b)
	if !found {
		return false, false
	}
	e := &l.ents()[i]
	return e.kind() == typeFile, e.link()
}

// withPrefix returns the offset and the run of entries whose names start
// with p: every name a lookup of p+suffix can hit, usually a handful.
func (l *listing) withPrefix(p string) (int, []entry) {
	ents := l.ents()
	lo, _ := slices.BinarySearchFunc(ents, p, func(e entry, p string) int {
		return strings.Compare(e.name, p)
	})
	// Runs are short (tail, tail.py, tail.pyc, ...): scan a few, then search.
	hi := lo
	for hi < len(ents) && hi-lo < 8 && strings.HasPrefix(ents[hi].name, p) {
		hi++
	}
	if hi-lo == 8 {
		hi += sort.Search(len(ents)-hi, func(i int) bool {
			return !strings.HasPrefix(ents[hi+i].name, p)
		})
	}
	return lo, ents[lo:hi]
}

// joinPath is FileFinder's _path_join(dir, name) for a clean absolute dir and
// a non-empty name without slashes.
func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// identity is what a stat says of a directory that a cached listing must
// match to be used again: its mtime (FileFinder's whole rule), and its
// device, inode and ctime, so that another directory mounted or moved to
// the same path with the same mtime (two images of one reproducible build)
// is not taken for it. ctime moves with any change of the inode that
// mtime misses, and no user can set it.
type identity struct {
	mtime, ctime int64
	dev, ino     uint64
}

func identityOf(st *syscall.Stat_t) identity {
	return identity{
		mtime: st.Mtim.Sec*1e9 + st.Mtim.Nsec,
		ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec,
		dev:   uint64(st.Dev),
		ino:   uint64(st.Ino),
	}
}

// statIdentity stats dir; ok is false when the stat fails.
func statIdentity(dir string) (id identity, ok bool) {
	var st syscall.Stat_t
	for {
		err := syscall.Stat(dir, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return identity{mtime: -1}, false
		}
		return identityOf(&st), true
	}
}

// sameAs reports whether l is still the listing of the directory whose
// identity is id. A listing whose inode is unknown is judged by its mtime
// alone, as FileFinder judges.
func (l *listing) sameAs(id identity) bool {
	if l.mtime != id.mtime {
		return false
	}
	return l.ino == 0 || l.dev == id.dev && l.ino == id.ino && l.ctime == id.ctime
}

func (l *listing) setIdentity(id identity) {
	l.dev, l.ino, l.ctime = id.dev, id.ino, id.ctime
}

// statMtime is the mtime FileFinder.find_spec compares: -1 when stat fails.
// It is os.Stat(dir).ModTime().UnixNano() without the FileInfo.
func statMtime(dir string) int64 {
	var st syscall.Stat_t
	for {
		err := syscall.Stat(dir, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1
		}
		return st.Mtim.Sec*1e9 + st.Mtim.Nsec
	}
}

// isDirectory is _path_isdir: a stat that follows links.
func isDirectory(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// isRegularFile is _path_isfile: a stat that follows links.
func isRegularFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
