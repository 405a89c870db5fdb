// Package importer is pyhost's import finder: a sys.meta_path finder and
// path entry finders whose answers come from a pathscan.Index instead of
// the file system. It owns its whole find path, top-down: the C scan of
// the search path (through internal/cpython), the lookup in pathscan, the
// spec, and the bytecode bundle (what goes in, its encoding, and serving
// it). The Python side is the small finder.py.
//
// # Use
//
// [New] makes the importer; its Go functions are made, not registered as a
// module: [Importer.Install], called with the GIL held between the two
// phases of start-up (before PathFinder exists and before any import
// searches sys.path), runs finder.py with them and puts GoFinder in
// sys.meta_path. Everything the importer answers from is given there: the
// Index (with whatever was merged into it from a broadcast or a cache file)
// and the Bundle. Install runs once.
//
// # Invisible as CPython's own machinery is
//
// finder.py is compiled as "<frozen importlib._bootstrap_external>" and
// run in a namespace named importlib._bootstrap_external: the frames of its
// few functions are, to tracers, debuggers that skip importlib* and the
// import system's traceback trimming, what CPython's own import frames are.
// No module is imported for it, so -X importtime lists what python3 lists.
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
// an Index made with RevalidateMisses off, misses are final until
// importlib.invalidate_caches().
// Not noticed until invalidate_caches: a file deleted after its directory
// was listed, a package directory added next to a same-named module, a
// module written at run time that shadows one of a later entry.
//
// # Sharing loading (MPI)
//
// A Bundle given to Install serves the source stat and bytecode of the
// modules it holds from memory, once each (see Bundle), until
// importlib.invalidate_caches() drops it. A native.Table given to
// SetNative serves the extension modules it holds from their node-local
// copies (KIND_NATIVE: finder.py's _serve_native), likewise until
// invalidate_caches().
//
// # The pack (single process too)
//
// With a share.Pack (SetPack), the loaders (CPython's own, whoever made
// them) read a .pyc file the pack holds a valid copy of (see share.Pack)
// from the pack: finder.py gives importlib._bootstrap_external an _io
// whose open_code serves those copies, raising the audit event ("open")
// that io.open_code raises. Everything else is the stock loader's: it
// stats the source and compares the copy's header with that stat as it
// would the file's. So a module costs one metadata call.
//
// # Threads
//
// The Go functions run with the GIL held, called from Python, and so does
// Install; Stats may be called from any goroutine; the Index is safe for
// concurrent use on its own.
package importer

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/internal/native"
	"github.com/pyhost/pyhost/internal/share"
	"github.com/pyhost/pyhost/pathscan"
)

//go:embed finder.py
var finderSource string

// finderCode is finder.py compiled at build time (gen_finder.py writes
// it; see there for its format), run instead of compiling finder.py at
// every start when it fits the running interpreter.
//
//go:generate /usr/bin/python3.11 gen_finder.py
//go:embed finder.code
var finderCode []byte

// The kind of a lookup's answer, as finder.py receives it in (kind,
// filename, location): defined here only, and handed to finder.py when it
// runs (as KIND_<NAME>), so that Go and Python never disagree.
const (
	kindNamespace = iota // a namespace portion: location is its directory
	kindExtension        // an extension module: ExtensionFileLoader
	kindSource           // a source module: SourceFileLoader
	kindBytecode         // a sourceless module: SourcelessFileLoader
	kindBundled          // a source module whose stat and bytecode are in the bundle
	kindNative           // an extension module served from a node-local copy (native.Table)
)

var kindNames = map[string]int{
	"KIND_NAMESPACE": kindNamespace,
	"KIND_EXTENSION": kindExtension,
	"KIND_SOURCE":    kindSource,
	"KIND_BYTECODE":  kindBytecode,
	"KIND_BUNDLED":   kindBundled,
	"KIND_NATIVE":    kindNative,
}

// kindOf is the answer kind of a module the Index found.
func kindOf(k pathscan.Kind) int {
	switch k {
	case pathscan.Extension:
		return kindExtension
	case pathscan.Source:
		return kindSource
	}
	return kindBytecode
}

// Stats are the importer's counters.
type Stats struct {
	Lookups      uint64 // find_spec calls answered by GoFinder
	Hits         uint64 // ... that found a module or package
	FinalMisses  uint64 // ... where every entry was indexed and none had it
	HandOffs     uint64 // ... left to PathFinder (namespace, non-indexed entries)
	EntryLookups uint64 // lookups by the indexed path entry finders
	Bundled      uint64 // modules loaded from the bundle
	Packed       uint64 // modules whose bytecode came from the pack
	ExtensionsFS uint64 // extension modules found for loading from the file system
	Native       native.Counters
	Index        pathscan.Stats
}

// Importer is the finder's Go state. One per interpreter.
type Importer struct {
	mu    sync.Mutex
	index *pathscan.Index // set by Install

	lookups, hits, finalMisses, handOffs, entryLookups atomic.Uint64

	finder  *finder // set by Install
	bundle  *Bundle
	bundled atomic.Uint64
	pack    *share.Pack // nil without a cache
	packed  atomic.Uint64
	// What open_code calls (pack_setup): _io.open_code, io.BytesIO,
	// sys.audit, sys; and the flags of the audit event.
	ioOpenCode, bytesIO, audit, sys cpython.Owned
	openFlags                       int64

	native       *native.Table // the node-local copies of extension modules (nil: none)
	extensionsFS atomic.Uint64

	// The last sys.path seen, to drop entries that left it.
	lastPath []string

	// A miss just revalidated by find is not revalidated again by the
	// entry finders PathFinder asks next (same tail, same directories):
	// once per directory, and only until GoFinder is asked again.
	lastMiss      string
	lastMissDirs  map[string]bool
	lastMissEpoch uint64
	missPending   atomic.Bool // lastMiss is set: find_spec clears it without taking mu otherwise
}

// New makes an importer, to be installed once with Install.
func New() *Importer { return &Importer{} }

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
		Packed:       im.packed.Load(),
		ExtensionsFS: im.extensionsFS.Load(),
		Native:       im.native.Counters(),
	}
	if ix := im.index; ix != nil {
		s.Index = ix.Stats()
	}
	return s
}

// funcs are the finder's Go functions, as finder.py calls them. A panic
// in one is raised as RuntimeError (cpython.Recover), never unwound
// through CPython's frames.
func (im *Importer) funcs() []cpython.Func {
	return []cpython.Func{
		{Name: "set_loaders", Call: cpython.Recover(im.setLoaders)},
		{Name: "find_spec", Call: cpython.Recover(im.findSpec)},
		{Name: "lookup", Call: cpython.Recover(im.lookup)},
		{Name: "entry_is_dir", Call: cpython.Recover(im.entryIsDir)},
		{Name: "invalidate", Call: cpython.Recover(im.invalidate)},
		{Name: "bundle_take", Call: cpython.Recover(im.bundleTake)},
		{Name: "pack_setup", Call: cpython.Recover(im.packSetup)},
		{Name: "open_code", Call: cpython.Recover(im.openCode)},
		{Name: "native_take", Call: cpython.Recover(im.nativeTake)},
		{Name: "native_failed", Call: cpython.Recover(im.nativeFailed)},
	}
}

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
	if err := im.index.SetLoaders(loaders); err != nil {
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

// kindFor is the kind of a found module's answer: a source module whose
// bytecode the bundle holds is served from there, an extension module with
// a node-local copy from that copy.
func (im *Importer) kindFor(r pathscan.Result) int {
	switch {
	case r.Kind == pathscan.Source && im.bundle.has(r.Path):
		return kindBundled
	case r.Kind == pathscan.Extension && im.native.Has(r.Path):
		return kindNative
	case r.Kind == pathscan.Extension:
		im.extensionsFS.Add(1)
	}
	return kindOf(r.Kind)
}

// answer is what finder.py's _spec takes: (kind, filename, location).
func (im *Importer) answer(r pathscan.Result) cpython.Owned {
	if r.Namespace {
		return cpython.TupleOf(cpython.NewInt(kindNamespace), cpython.None(), cpython.NewPath(r.Dir))
	}
	loc := cpython.None()
	if r.Package {
		loc = cpython.NewPath(r.Dir)
	}
	return cpython.TupleOf(cpython.NewInt(int64(im.kindFor(r))), cpython.NewPath(r.Path), loc)
}

// search is GoFinder's lookup over indexed directories of a search path
// (one run of them: see findSpec), in the lookup's epoch: which one has
// the module, as PathFinder would find it; namespace says whether one of
// them has a namespace portion of it.
//
// Hits touch no installed environment's directory: the entries before
// the one that has the module are not revalidated. Only when no entry has
// it does each directory cost its one stat, so that a module written at
// run time is found as python3 finds it. A program's directory (checked
// at each use: pathscan's Options.Check) costs its one stat for the whole
// search, both passes, and PathFinder's search of the same miss next
// (epoch).
//
// A directory that cannot be read, for a reason FileFinder does not
// swallow, ends the search with that error (r.Err), as its os.listdir's
// error ends python3's import; dirs[i] names it.
func (im *Importer) search(epoch uint64, tail string, dirs []string) (i, kind int, filename, location string, found, namespace bool, err error) {
	ix := im.index
	for pass := 0; pass < 2; pass++ {
		namespace = false
		for i, d := range dirs {
			r := ix.FindIn(epoch, key(d), tail, pass == 1)
			if r.Err != nil {
				return i, 0, "", "", false, false, r.Err
			}
			if r.Found {
				im.hits.Add(1)
				loc := ""
				if r.Package {
					loc = r.Dir
				}
				return i, im.kindFor(r), r.Path, loc, true, false, nil
			}
			namespace = namespace || r.Namespace
		}
	}
	return 0, 0, "", "", false, namespace, nil
}

// raiseListError raises, for a directory that could not be read, what
// os.listdir(dir) would have raised in FileFinder._fill_cache.
func raiseListError(err error, dir string) cpython.Owned {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		errno = syscall.EIO
	}
	return cpython.RaiseErrno(errno, dir)
}

// missed records a lookup that no indexed directory answered: final
// (no entry of the path has the module) or handed to PathFinder, which
// asks the entry finders of dirs (all those searched) next: they need not
// revalidate what was just revalidated.
func (im *Importer) missed(epoch uint64, tail string, dirs map[string]bool, final bool) {
	if final {
		im.finalMisses.Add(1)
	} else {
		im.handOffs.Add(1)
	}
	im.mu.Lock()
	im.lastMiss = strings.Clone(tail[strings.LastIndexByte(tail, '.')+1:])
	im.lastMissEpoch = epoch
	im.lastMissDirs = dirs
	im.missPending.Store(true)
	im.mu.Unlock()
}

// lookup(dir, tail) -> None | (kind, filename, location): an indexed
// FileFinder's find_spec.
func (im *Importer) lookup(a cpython.Args) cpython.Owned {
	dir, ok := pathArg(a, 0)
	if !ok {
		return cpython.Owned{}
	}
	tail, ok := pathArg(a, 1)
	if !ok {
		if cpython.ErrMatchesUnicodeEncode() {
			// A name no file can have: in no listing (FileFinder's
			// cache holds os.fsdecode's names).
			cpython.ErrClear()
			return cpython.None()
		}
		return cpython.Owned{}
	}
	im.entryLookups.Add(1)
	if cpython.MachineryAltered() {
		return cpython.NewBool(false) // FileFinder's own search (finder.py)
	}
	im.mu.Lock()
	justMissed := tail == im.lastMiss && im.lastMissDirs[dir]
	if justMissed {
		// Once: a later lookup of the name in dir (PathFinder called by
		// the program, a namespace package's path recomputed, a finder
		// that put itself before PathFinder) checks dir as FileFinder
		// would, and sees a module written since the miss.
		delete(im.lastMissDirs, dir)
	}
	epoch := im.lastMissEpoch
	im.mu.Unlock()
	var r pathscan.Result
	if justMissed {
		r = im.index.FindIn(epoch, key(dir), tail, false)
	} else {
		r = im.index.Find(key(dir), tail)
	}
	if r.Err != nil {
		return raiseListError(r.Err, dir)
	}
	if !r.Found && !r.Namespace {
		return cpython.None()
	}
	return im.answer(r)
}

// entry_is_dir(path) -> bool: whether a sys.path entry is a directory, from
// the index when it already lists it (or its parent) and otherwise from
// one stat.
func (im *Importer) entryIsDir(a cpython.Args) cpython.Owned {
	p, ok := pathArg(a, 0)
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
		if dir, ok = a.Pos[0].GoPath(); !ok {
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
		im.bundle.Release()
		im.bundle = nil
		// Likewise the extension modules' copies: an extension module
		// replaced during the job is loaded from its new original.
		im.native.Drop()
	}
	im.mu.Unlock()
	if !isDir {
		// The pack's directories are checked again at their next use.
		im.pack.Forget()
	}
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
