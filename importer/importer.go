// Package importer is pyhost's import finder: a sys.meta_path finder and
// path entry finders whose answers come from a pathscan.Index instead of
// the file system. It owns its whole find path: the C scan of the search
// path (through internal/cpython, whose raw module API its builtin module
// _pyhost is made with), the lookup in pathscan and the spec; the Python
// side is the small finder.py, run in _pyhost.
//
// # Semantics
//
// Every answer is the one CPython's PathFinder and FileFinder would give
// for the same sys.path, made with the same loaders: the Index reproduces
// FileFinder's precedence, and what the finder cannot answer exactly
// (namespace packages, zip files, entries of other path hooks, non-str
// entries) is left to PathFinder. A miss in an indexed directory is final:
// PathFinder then asks the indexed finders in sys.path_importer_cache,
// which answer from the same Index, so a failed import costs no probes.
//
// # Staleness
//
// A directory is listed once, when an import first needs it. Hits are
// never revalidated, nor are the entries searched before the one that has
// the module. By default an import that no indexed directory has costs one
// stat of each directory searched, so that a module written at run time is
// found as python3 finds it (the directory's mtime moved); with
// Options.MissesFinal misses are final until importlib.invalidate_caches().
// Not noticed until invalidate_caches: a file deleted after its directory
// was listed, a package directory added next to a same-named module, a
// module written at run time that shadows one of a later entry.
//
// # Sharing loading (MPI)
//
// A Bundle set with SetBundle serves the source stat and bytecode of the
// modules it holds from memory, once each (see Bundle).
//
// # Threads
//
// The Go functions run with the GIL held, called from Python, and so does
// Install (from the start-up's Setup); the Index is safe for concurrent
// use on its own.
package importer

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/pathscan"
)

//go:embed finder.py
var finderSource string

// ModuleName is the builtin module that holds the finder.
const ModuleName = "_pyhost"

// Options configure the importer.
type Options struct {
	// MissesFinal skips the one stat of a directory that a miss costs by
	// default (see the package doc).
	MissesFinal bool
	// Index, if set, is used instead of a new one: listings merged into it
	// beforehand (from a broadcast or a cache file) are used as listed.
	Index *pathscan.Index
}

// Stats are the importer's counters.
type Stats struct {
	Lookups      uint64 // find_spec calls answered by GoFinder
	Hits         uint64 // ... that found a module or package
	FinalMisses  uint64 // ... where every entry was indexed and none had it
	HandOffs     uint64 // ... left to PathFinder (namespace, non-indexed entries)
	EntryLookups uint64 // lookups by the indexed path entry finders
	Bundled      uint64 // modules loaded from the bundle
	Index        pathscan.Stats
}

// Importer is the finder's Go state. One per interpreter.
type Importer struct {
	opts  Options
	mu    sync.Mutex
	index *pathscan.Index

	lookups, hits, finalMisses, handOffs, entryLookups atomic.Uint64

	finder      *finder // set by Install
	bundle      *Bundle
	bundled     atomic.Uint64
	prepare     func(py *host.Py) error
	prepareOnce sync.Once

	// The last sys.path seen, to drop entries that left it.
	lastPath []string

	// A miss just revalidated by find is not revalidated again by the
	// entry finders PathFinder asks next (same tail, same directories).
	lastMiss     string
	lastMissDirs map[string]bool
}

// New makes an importer; Module is its builtin module, to register
// before Python starts, and Install (from the start-up's Setup) puts the
// finder in place.
func New(opts Options) *Importer {
	return &Importer{opts: opts, index: opts.Index}
}

// SetMissesFinal sets Options.MissesFinal; it takes effect for an index
// made afterwards (Install makes it).
func (im *Importer) SetMissesFinal(final bool) { im.opts.MissesFinal = final }

// SetIndex makes the importer use ix, whose listings (merged from a
// broadcast or a cache file) count as listed. Call it before Install.
func (im *Importer) SetIndex(ix *pathscan.Index) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.index = ix
}

// SetPrepare registers fn to run once, at the first lookup, before it is
// answered: the main phase of start-up has computed sys.path by then, and
// no import has searched it yet. The MPI launcher shares the index there.
func (im *Importer) SetPrepare(fn func(py *host.Py) error) {
	im.prepare = fn
}

// prepared runs the prepare function once; called from Python, with the
// GIL held.
func (im *Importer) prepared() error {
	var err error
	im.prepareOnce.Do(func() {
		if im.prepare != nil {
			err = host.Attach(im.prepare)
		}
	})
	return err
}

// Index returns the index (nil before Install when none was given).
func (im *Importer) Index() *pathscan.Index { return im.index }

// Stats returns the counters.
func (im *Importer) Stats() Stats {
	s := Stats{
		Lookups:      im.lookups.Load(),
		Hits:         im.hits.Load(),
		FinalMisses:  im.finalMisses.Load(),
		HandOffs:     im.handOffs.Load(),
		EntryLookups: im.entryLookups.Load(),
		Bundled:      im.bundled.Load(),
	}
	if ix := im.index; ix != nil {
		s.Index = ix.Stats()
	}
	return s
}

// Module is the builtin module _pyhost with the finder's Go functions,
// made with the raw module API (find_spec works on the C scan's borrowed
// references); register it with cpython.RegisterModule before start-up.
func (im *Importer) Module() *cpython.Module {
	return &cpython.Module{
		Name: ModuleName,
		Doc:  "pyhost's import finder (internal).",
		Funcs: []cpython.Func{
			{Name: "set_loaders", Call: im.setLoaders},
			{Name: "find_spec", Call: im.findSpec},
			{Name: "lookup", Call: im.lookup},
			{Name: "entry_is_dir", Call: im.entryIsDir},
			{Name: "invalidate", Call: im.invalidate},
			{Name: "bundle_take", Call: im.bundleTake},
		},
	}
}

// Install runs the Python side: it defines the finders in _pyhost and
// appends GoFinder to sys.meta_path, where CPython's main phase of
// start-up then appends PathFinder right after it. py is the token of
// the GIL the start-up's Setup holds.
func (im *Importer) Install(py *host.Py) error { return im.install() }

// set_loaders(groups): the suffixes of _get_supported_file_loaders(), in
// order: extensions, source, bytecode.
func (im *Importer) setLoaders(a cpython.Args) cpython.Owned {
	if len(a.Pos) == 0 {
		return cpython.SetError("TypeError", "missing positional argument 1 (got 0)")
	}
	var groups []cpython.Ref
	if g := a.Pos[0]; g.IsList() || g.IsTuple() {
		groups = g.Items()
	}
	if len(groups) != 3 {
		return cpython.SetError("ImportError", fmt.Sprintf("pyhost: expected 3 groups of loader suffixes, got %d", len(groups)))
	}
	kinds := []pathscan.Kind{pathscan.Extension, pathscan.Source, pathscan.Bytecode}
	var loaders []pathscan.Suffix
	for g, group := range groups {
		if !group.IsList() && !group.IsTuple() {
			continue
		}
		for _, s := range group.Items() {
			if !s.IsStr() {
				return cpython.SetError("ImportError", "pyhost: a loader suffix is not a str")
			}
			str, ok := s.GoString()
			if !ok {
				return cpython.Owned{}
			}
			loaders = append(loaders, pathscan.Suffix{Suffix: str, Kind: kinds[g]})
		}
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.index == nil {
		im.index = pathscan.New(pathscan.Options{Loaders: loaders, RevalidateMisses: !im.opts.MissesFinal})
	} else if err := im.index.SetLoaders(loaders); err != nil {
		return cpython.SetError("ImportError", fmt.Sprintf("pyhost: %v", err))
	}
	return cpython.None()
}

// key is the Index's name for a finder's path: FileFinder joins names to
// its path after stripping trailing slashes, so the Index does the same.
func key(path string) string {
	k := strings.TrimRight(path, "/")
	if k == "" && strings.HasPrefix(path, "/") {
		return "/"
	}
	return k
}

// bundledSource is the kind of a source module whose stat and bytecode
// are in the bundle (finder.py's _make_spec).
const bundledSource = 3

// pyKind is the index of the loader class in finder.py's _loader_classes.
func pyKind(k pathscan.Kind) int { return int(k) - int(pathscan.Extension) }

// answer is what finder.py's _spec takes: (kind, filename, location),
// kind -1 for a namespace portion.
func answer(r pathscan.Result) cpython.Owned {
	if r.Namespace {
		return cpython.TupleOf(cpython.NewInt(-1), cpython.None(), cpython.NewStr(r.Dir))
	}
	loc := cpython.None()
	if r.Package {
		loc = cpython.NewStr(r.Dir)
	}
	return cpython.TupleOf(cpython.NewInt(int64(pyKind(r.Kind))), cpython.NewStr(r.Path), loc)
}

// find is GoFinder's lookup over the indexed directories of a search
// path: which one has the module, as PathFinder would find it.
func (im *Importer) find(tail string, dirs []string, complete bool) (int, int, string, string, bool) {
	im.lookups.Add(1)
	ix := im.index
	// Hits never touch the file system: the entries before the one that
	// has the module are not revalidated. Only when no entry has it does
	// each directory cost its one stat (ix.Find), so that a module written
	// at run time is found as python3 finds it.
	namespace := false
	for pass := 0; pass < 2; pass++ {
		namespace = false
		for i, d := range dirs {
			var r pathscan.Result
			if pass == 0 {
				r = ix.FindNoRevalidate(key(d), tail)
			} else {
				r = ix.Find(key(d), tail)
			}
			if r.Found {
				im.hits.Add(1)
				loc := ""
				if r.Package {
					loc = r.Dir
				}
				kind := pyKind(r.Kind)
				if r.Kind == pathscan.Source && im.bundle.has(r.Path) {
					kind = bundledSource
				}
				return i, kind, r.Path, loc, true
			}
			namespace = namespace || r.Namespace
		}
	}
	if complete && !namespace {
		im.finalMisses.Add(1)
	} else {
		im.handOffs.Add(1)
	}
	// PathFinder asks the entry finders next: they need not revalidate
	// what was just revalidated.
	im.mu.Lock()
	im.lastMiss = strings.Clone(tail[strings.LastIndexByte(tail, '.')+1:])
	im.lastMissDirs = make(map[string]bool, len(dirs))
	for _, d := range dirs {
		im.lastMissDirs[strings.Clone(d)] = true
	}
	im.mu.Unlock()
	return 0, 0, "", "", false
}

// lookup(dir, tail) -> None | (kind, filename, location): an indexed
// FileFinder's find_spec.
func (im *Importer) lookup(a cpython.Args) cpython.Owned {
	if err := im.prepared(); err != nil {
		return raise(err)
	}
	dir, ok := strArg(a, 0)
	if !ok {
		return cpython.Owned{}
	}
	tail, ok := strArg(a, 1)
	if !ok {
		return cpython.Owned{}
	}
	im.entryLookups.Add(1)
	im.mu.Lock()
	justMissed := tail == im.lastMiss && im.lastMissDirs[dir]
	im.mu.Unlock()
	var r pathscan.Result
	if justMissed {
		r = im.index.FindNoRevalidate(key(dir), tail)
	} else {
		r = im.index.Find(key(dir), tail)
	}
	if !r.Found && !r.Namespace {
		return cpython.None()
	}
	return answer(r)
}

// entry_is_dir(path) -> bool: whether a sys.path entry is a directory, from
// the index when it already lists it (or its parent) and otherwise from
// one stat.
func (im *Importer) entryIsDir(a cpython.Args) cpython.Owned {
	if err := im.prepared(); err != nil {
		return raise(err)
	}
	p, ok := strArg(a, 0)
	if !ok {
		return cpython.Owned{}
	}
	return cpython.NewBool(im.index.IsDir(key(p)))
}

// invalidate(dir or None): importlib.invalidate_caches.
func (im *Importer) invalidate(a cpython.Args) cpython.Owned {
	if len(a.Pos) == 0 {
		return cpython.SetError("TypeError", "missing positional argument 1 (got 0)")
	}
	dir := ""
	isDir := a.Pos[0].IsStr()
	if isDir {
		var ok bool
		if dir, ok = a.Pos[0].GoString(); !ok {
			return cpython.Owned{}
		}
	}
	im.mu.Lock()
	im.lastMiss, im.lastMissDirs = "", nil
	if !isDir {
		// importlib.invalidate_caches(): what the bundle holds was read at
		// start-up, and sources may have changed since (a module written
		// during the job): from now on every module is loaded from its
		// files, as python3 loads it.
		im.bundle = nil
	}
	im.mu.Unlock()
	if isDir {
		im.index.Invalidate(key(dir))
	} else {
		im.index.InvalidateAll()
	}
	return cpython.None()
}

// sysPathChanged: entries that left sys.path leave the index.
func (im *Importer) sysPathChanged(entries []string) {
	im.mu.Lock()
	defer im.mu.Unlock()
	now := make(map[string]bool, len(entries))
	for _, e := range entries {
		if e != "" {
			now[e] = true
		}
	}
	for _, old := range im.lastPath {
		if old != "" && !now[old] && strings.HasPrefix(old, "/") {
			im.index.Forget(key(old))
		}
	}
	im.lastPath = entries
}
