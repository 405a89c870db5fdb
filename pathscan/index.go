package pathscan

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/btree"
)

// Kind is the loader a found file goes to.
type Kind uint8

const (
	// NoKind is the Kind of a Result that found no file.
	NoKind    Kind = iota
	Extension      // ExtensionFileLoader: importlib.machinery.EXTENSION_SUFFIXES
	Source         // SourceFileLoader: SOURCE_SUFFIXES
	Bytecode       // SourcelessFileLoader: BYTECODE_SUFFIXES
)

func (k Kind) String() string {
	switch k {
	case NoKind:
		return "none"
	case Extension:
		return "extension"
	case Source:
		return "source"
	case Bytecode:
		return "bytecode"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Suffix is one (suffix, loader) pair of FileFinder's loader list.
type Suffix struct {
	Suffix string
	Kind   Kind
}

// Options configure an Index.
type Options struct {
	// Loaders are the suffixes in FileFinder's order: what the running
	// interpreter's _get_supported_file_loaders() yields, flattened
	// (extension suffixes, then source, then bytecode). The Index copies it.
	Loaders []Suffix
	// RevalidateMisses makes a miss cost one stat of the directory (two for a
	// namespace answer: the directory and the portion), relisting what
	// changed. Without it, misses and namespace answers are final until
	// Invalidate.
	RevalidateMisses bool
	// Concurrency is how many directories ListTree and VerifyTree open
	// and read at once (parallel file systems serve many metadata
	// requests in flight per client); zero or negative: DefaultConcurrency.
	Concurrency int
	// Check, if not nil, names the directories whose listings are checked
	// at every use, as FileFinder checks its directory (one stat; read
	// again if it changed): lookups there see changes made during the
	// run (see check.go). The others are trusted once listed or verified.
	Check func(dir string) bool
}

// DefaultConcurrency is Options.Concurrency's default.
const DefaultConcurrency = 16

// Result is the answer of FileFinder.find_spec, reduced to what a spec needs.
type Result struct {
	Found     bool   // a module or package with a loader
	Namespace bool   // a namespace portion (Found false)
	Kind      Kind   // loader kind when Found
	Path      string // the file (module file or package __init__ file)
	Package   bool
	Dir       string // dir/tail: the package's or portion's search location

	// Err: dir could not be read, for a reason FileFinder does not take
	// for an answer (too many open files, out of memory, an I/O error, a
	// symbolic link loop: not its absence, its not being a directory or a
	// refusal), so that os.listdir's error is the import's, as in
	// FileFinder._fill_cache. Found and Namespace are false.
	Err error
}

// Stats count what an Index did since New.
type Stats struct {
	Lookups    uint64 // calls of Find
	Hits       uint64 // Finds that found a module or package
	Namespaces uint64 // Finds that answered a namespace portion
	Misses     uint64 // Finds that found nothing

	DirsListed    uint64 // directories read from the file system
	Revalidations uint64 // stats of a directory to revalidate a miss or namespace answer
	Relists       uint64 // listings read again because a revalidation saw a new mtime
	DirsMerged    uint64 // listings taken from Merge or MergeUnverified
	Verifications uint64 // stats of a directory whose listing came from MergeUnverified
	Checks        uint64 // stats of a directory checked at a use (Options.Check)
}

// Index maps directories to their listings and answers FileFinder lookups
// from them.
//
// All methods are safe for concurrent use. One mutex serializes them,
// including the directory reads a Find may need (a lazily listed directory
// is read once, not once per racing thread); ListTree reads outside it.
// An Index never calls into Python and never needs the GIL.
type Index struct {
	loaders     []Suffix
	revalidate  bool
	concurrency int
	check       func(dir string) bool

	mu    sync.Mutex
	epoch uint64 // the last lookup epoch handed out (see Epoch)
	cur   uint64 // the lookup under way: a checked listing is stat'ed once in it
	tree  *btree.BTreeG[*listing]
	probe listing // search key, so lookups do not allocate
	stats Stats
}

// New returns an empty Index.
func New(opts Options) *Index {
	return &Index{
		loaders:     slices.Clone(opts.Loaders),
		revalidate:  opts.RevalidateMisses,
		concurrency: cmp.Or(max(opts.Concurrency, 0), DefaultConcurrency),
		tree:        btree.NewG(16, lessListing),
		check:       opts.Check,
	}
}

// get returns the tree's listing of dir, or nil. Needs ix.mu.
func (ix *Index) get(dir string) *listing {
	ix.probe.dir = dir
	l, _ := ix.tree.Get(&ix.probe)
	ix.probe.dir = ""
	return l
}

// install puts l in the tree in place of any listing of the same directory.
// Needs ix.mu.
func (ix *Index) install(l *listing) {
	if old, ok := ix.tree.ReplaceOrInsert(l); ok && old != l {
		old.dropped = true
	}
}

// current returns a usable listing of dir, reading it if there is none or it
// was invalidated. Needs ix.mu.
func (ix *Index) current(dir string) *listing {
	l := ix.get(dir)
	checked := l != nil && ix.isChecked(l) || l == nil && ix.checkWanted(dir)
	if l != nil && !l.stale && !l.transient && checked {
		if l.checkedIn == ix.cur && ix.cur != 0 {
			l.used = true
			return l
		}
		if l.unverified {
			ix.stats.Verifications++
		}
		if ix.unchanged(l) && l.unpack() {
			if l.unverified {
				l.refreshLinks()
			}
			l.unverified = false
			l.used = true
			l.checkedIn = ix.cur
			return l
		}
	} else if l != nil && !l.stale && !l.transient {
		if !l.unverified {
			l.used = true
			return l
		}
		ix.stats.Verifications++
		if id, ok := statIdentity(dir); ok && l.sameAs(id) && l.unpack() {
			l.refreshLinks()
			l.unverified = false
			l.used = true
			return l
		}
	}
	old := l
	l, _ = readListing(dir)
	if old != nil {
		l.searched = old.searched // FileFinder read it again: it keeps comparing mtimes
	}
	if checked {
		l.checkAsked, l.checkedIn = 1, ix.cur
	}
	ix.stats.DirsListed++
	l.used = true
	ix.install(l)
	return l
}

// child returns the listing of the directory named by l.entries[i]. Needs ix.mu.
func (ix *Index) child(l *listing, i int) *listing {
	e := &l.ents()[i]
	c := e.child
	if c == nil || c.dropped || c.stale || ix.isChecked(c) {
		var d string
		if c != nil {
			d = c.dir
		} else {
			d = joinPath(l.dir, e.name)
		}
		c = ix.current(d)
		e.child = c
	}
	return c
}

// Find answers what FileFinder(dir).find_spec(tail) answers, without touching
// the file system once dir (and, for a directory named tail, dir/tail) is
// listed.
//
// dir must be absolute and clean (as filepath.Clean leaves it). Like
// find_spec, Find looks only at the part of tail after its last '.'. A tail
// that is empty or contains '/' or NUL is never a name of a listing, so it
// can only match a file named tail+suffix (an empty tail finds a file named
// ".py"), exactly as in FileFinder.
func (ix *Index) Find(dir, tail string) Result {
	return ix.find(dir, tail, ix.revalidate, 0)
}

// Epoch starts a lookup that spans several calls (one import's search of
// the directories of sys.path, a miss searched again): FindIn with the
// epoch it returns stats a checked directory (Options.Check) once for all
// of them, as FileFinder stats its directory once per find_spec.
func (ix *Index) Epoch() uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.epoch++
	return ix.epoch
}

// lookupIn makes epoch the lookup under way: a new one for 0 (or for a
// number Epoch did not hand out). Needs ix.mu.
func (ix *Index) lookupIn(epoch uint64) {
	if epoch == 0 || epoch > ix.epoch {
		ix.epoch++
		epoch = ix.epoch
	}
	ix.cur = epoch
}

// FindIn is Find within the lookup epoch (see Epoch), revalidating a miss
// only if revalidate (and Options.RevalidateMisses).
func (ix *Index) FindIn(epoch uint64, dir, tail string, revalidate bool) Result {
	return ix.find(dir, tail, revalidate && ix.revalidate, epoch)
}

// find is Find, revalidating a miss or namespace answer only if
// revalidate, within epoch (0: a lookup of its own).
func (ix *Index) find(dir, tail string, revalidate bool, epoch uint64) Result {
	if i := strings.LastIndexByte(tail, '.'); i >= 0 {
		tail = tail[i+1:]
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.lookupIn(epoch)
	ix.stats.Lookups++
	l := ix.current(dir)
	l.searched = true
	if l.transient {
		ix.stats.Misses++
		return Result{Err: l.openErr}
	}
	r, portion := ix.resolve(l, tail)
	if revalidate && !r.Found {
		// Python sees a new module in dir when dir's mtime moves, and a new
		// __init__ in a portion at once (it stats it every time). A checked
		// directory was stat'ed just now.
		changed := !ix.isChecked(l) && ix.revalidateListing(l)
		if r.Namespace && !portion.dropped && !ix.isChecked(portion) && ix.revalidateListing(portion) {
			changed = true
		}
		if changed {
			r, _ = ix.resolve(ix.current(dir), tail)
		}
	}
	switch {
	case r.Found:
		ix.stats.Hits++
	case r.Namespace:
		ix.stats.Namespaces++
	default:
		ix.stats.Misses++
	}
	return r
}

// HasDir reports whether dir's listing names a directory called name
// (after following symlinks), reading dir as Find would if it has no
// usable listing. Unlike Find it counts no lookup and never revalidates:
// it is for guessing what to list ahead, not for answering an import.
func (ix *Index) HasDir(dir, name string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.lookupIn(0)
	l := ix.current(dir)
	i, ok := l.lookup(name, "")
	return ok && l.entries[i].kind() == typeDir
}

// CachedDirs returns the directories whose listings were merged
// unverified (MergeUnverified) and are neither verified nor read again
// since, the most recently used first (by the stamps the cache file
// carries), at most limit (negative: all).
func (ix *Index) CachedDirs(limit int) []string {
	ix.mu.Lock()
	var ls []*listing
	ix.tree.Ascend(func(l *listing) bool {
		if l.unverified && !l.stale {
			ls = append(ls, l)
		}
		return true
	})
	ix.mu.Unlock()
	slices.SortStableFunc(ls, func(a, b *listing) int { return cmp.Compare(b.usedAt, a.usedAt) })
	if limit >= 0 && len(ls) > limit {
		ls = ls[:limit]
	}
	dirs := make([]string, len(ls))
	for i, l := range ls {
		dirs[i] = l.dir
	}
	return dirs
}

// resolve is FileFinder.find_spec over listings. It also returns the
// listing of dir/tail when it was consulted. Needs ix.mu.
func (ix *Index) resolve(l *listing, tail string) (Result, *listing) {
	var portion *listing
	// Every name step 1 or 2 can hit starts with tail, and tail itself, if
	// present, sorts first.
	lo, run := l.withPrefix(tail)
	if len(run) == 0 {
		return Result{}, nil
	}
	// In a checked directory, what a name is is asked again as FileFinder
	// asks it (_path_isdir, _path_isfile: a stat each), for a link whose
	// target went or came since the listing (the directory's mtime stays).
	// Elsewhere links are asked again once per run, when a listing from a
	// cache file is verified (refreshLinks).
	checked := ix.isChecked(l)
	if first := &run[0]; first.name == tail {
		var isDir bool
		if checked && (first.link() || first.kind() == typeOther) {
			isDir = isDirectory(joinPath(l.dir, tail))
		} else {
			isDir = first.kind() == typeDir
		}
		if isDir {
			var r Result
			if r, portion = ix.packageIn(l, lo, checked); r.Found {
				return r, portion
			}
		}
	}
	for _, s := range ix.loaders {
		j, ok := slices.BinarySearchFunc(run, concat{tail, s.Suffix}, cmpConcat)
		if !ok {
			continue
		}
		e := &run[j]
		if e.kind() == typeDir && !e.link() || e.kind() != typeFile && !checked {
			continue
		}
		p := joinPath(l.dir, e.name)
		if checked && !isRegularFile(p) {
			continue
		}
		return Result{Found: true, Kind: s.Kind, Path: p}, portion
	}
	if portion != nil {
		return Result{Namespace: true, Dir: portion.dir}, portion
	}
	return Result{}, nil
}

// packageIn is step 1 of resolve for the name at lo of l, found a
// directory: the package its __init__ file makes, if one does, and its
// listing (a possible namespace portion when no package is found; nil if
// the directory went). Needs ix.mu.
func (ix *Index) packageIn(l *listing, lo int, checked bool) (Result, *listing) {
	c := ix.child(l, lo)
	switch c.state {
	case stateOK:
		for _, s := range ix.loaders {
			p := c.dir + "/__init__" + s.Suffix
			isFile, link := c.isFile("__init__", s.Suffix)
			if checked && (isFile || link) { // asked again (see resolve)
				isFile = isRegularFile(p)
			}
			if isFile {
				return Result{Found: true, Kind: s.Kind, Path: p, Package: true, Dir: c.dir}, c
			}
		}
		return Result{}, c
	case stateUnreadable:
		// Searchable but not readable (mode --x): Python's stat of the
		// __init__ file still works, so do what it does.
		for _, s := range ix.loaders {
			if p := c.dir + "/__init__" + s.Suffix; isRegularFile(p) {
				return Result{Found: true, Kind: s.Kind, Path: p, Package: true, Dir: c.dir}, c
			}
		}
		return Result{}, c
	}
	// stateMissing: gone or replaced since l was listed: _path_isdir is false.
	return Result{}, nil
}

// revalidateListing stats l's directory and, if its mtime moved, reads it
// again and drops the cached listings below it whose own mtime moved.
// It reports whether it relisted. Needs ix.mu.
func (ix *Index) revalidateListing(l *listing) bool {
	ix.stats.Revalidations++
	if statMtime(l.dir) == l.mtime {
		return false
	}
	n, _ := readListing(l.dir)
	ix.stats.DirsListed++
	ix.stats.Relists++
	// Child listings have mtimes of their own; one that still matches is as
	// good as before. One that does not goes with its whole subtree, which
	// is simpler than proving its descendants still right.
	var stale []string
	prefix := subtreePrefix(l.dir)
	ix.ascendPrefix(prefix, func(c *listing) {
		if !strings.Contains(c.dir[len(prefix):], "/") && statMtime(c.dir) != c.mtime {
			stale = append(stale, c.dir)
		}
	})
	for _, d := range stale {
		ix.forget(d)
	}
	ix.install(n)
	return true
}

// subtreePrefix is the prefix every directory below dir has.
func subtreePrefix(dir string) string {
	if dir == "/" {
		return "/"
	}
	return dir + "/"
}

// ascendPrefix calls fn for each listing whose directory starts with prefix.
// fn must not change the tree. Needs ix.mu.
func (ix *Index) ascendPrefix(prefix string, fn func(*listing)) {
	ix.tree.AscendGreaterOrEqual(&listing{dir: prefix}, func(l *listing) bool {
		if !strings.HasPrefix(l.dir, prefix) {
			return false
		}
		fn(l)
		return true
	})
}

// subtree returns dir's listing and those below it. Keys between dir and
// dir+"/" (such as dir+"-x") are not below it, hence two lookups.
// Needs ix.mu.
func (ix *Index) subtree(dir string) []*listing {
	var ls []*listing
	if l := ix.get(dir); l != nil && dir != "/" {
		ls = append(ls, l)
	}
	ix.ascendPrefix(subtreePrefix(dir), func(l *listing) { ls = append(ls, l) })
	return ls
}

// forget drops dir's subtree. Needs ix.mu.
func (ix *Index) forget(dir string) {
	for _, l := range ix.subtree(dir) {
		ix.tree.Delete(l)
		l.dropped = true
	}
}

// Invalidate makes the next lookup in dir, or in any directory below it,
// read the directory again, as importlib.invalidate_caches does for the
// FileFinders of those directories.
func (ix *Index) Invalidate(dir string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, l := range ix.subtree(dir) {
		l.stale = true
	}
}

// InvalidateAll invalidates every listing (importlib.invalidate_caches).
func (ix *Index) InvalidateAll() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.tree.Ascend(func(l *listing) bool {
		l.stale = true
		return true
	})
}

// Forget drops the listings of dir and of every directory below it, for a
// directory that left sys.path. A later Find lists again what it needs.
func (ix *Index) Forget(dir string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.forget(dir)
}

// Stats returns the counters.
func (ix *Index) Stats() Stats {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.stats
}

// Len is the number of listings held (including invalidated ones).
func (ix *Index) Len() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.tree.Len()
}
