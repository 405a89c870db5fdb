package importer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/pathscan"
)

// finder is what GoFinder.find_spec needs to answer without a Python
// frame of its own: the objects it compares and calls (owned, for the
// life of the process) and the reusable C scan of the search path.
type finder struct {
	self       cpython.Owned // GoFinder, as it stands in sys.meta_path
	pathFinder cpython.Owned // the finder that must follow it there
	indexed    cpython.Owned // IndexedFileFinder: the entry finders answered for
	slow       cpython.Owned // _finder_for(entry): makes and caches an entry's finder
	makeSpec   cpython.Owned // _make_spec(finder, fullname, kind, filename, location)

	lastSysPath cpython.Owned // a copy of sys.path as last searched
	scan        cpython.PathScan
}

// findSpec is GoFinder.find_spec(fullname, path=None, target=None): the
// C scan of the search path (cpython.PathScan), the lookup in the index
// (find) and the spec, made by finder.py's _make_spec.
func (im *Importer) findSpec(a cpython.Args) cpython.Owned {
	f := im.finder
	if f == nil {
		return cpython.SetError("ImportError", "pyhost: the importer is not installed")
	}
	if len(a.Pos) == 0 {
		return cpython.SetError("TypeError", "missing positional argument 1 (got 0)")
	}
	fullname := a.Pos[0]
	if !fullname.IsStr() {
		return cpython.SetError("TypeError", "find_spec: name must be str, not "+fullname.TypeName())
	}
	var path cpython.Ref
	if len(a.Pos) > 1 && !a.Pos[1].IsNone() {
		path = a.Pos[1]
	}
	// The last miss's directories were for the entry finders PathFinder
	// asked right after it (see lookup); a new search ends that.
	if im.missPending.Load() {
		im.mu.Lock()
		im.lastMiss, im.lastMissDirs = "", nil
		im.missPending.Store(false)
		im.mu.Unlock()
	}
	switch cpython.MetaNextIs(f.self.Ref, f.pathFinder.Ref) {
	case 0:
		return cpython.None() // only PathFinder's answers are ours to give
	case -1:
		return cpython.Owned{}
	}
	if cpython.MachineryAltered() {
		// PathFinder as the program changed it searches (its entry
		// finders do what FileFinder now would: IndexedFileFinder).
		im.handOffs.Add(1)
		return cpython.None()
	}
	if path.IsNull() {
		sysPath := cpython.SysPath()
		if sysPath.IsNull() {
			return cpython.None()
		}
		// Held for the search, as PathFinder holds it: the path hooks
		// that make entries' finders run Python code, and other threads
		// run meanwhile; either may rebind sys.path.
		held := sysPath.NewRef()
		defer held.Decref()
		path = held.Ref
		if !im.noteSysPath(path) {
			return cpython.Owned{}
		}
	}
	// The name as a file name: os.fsencode's bytes (lone surrogates from
	// undecodable file names included); owner keeps them alive. A name
	// the file system encoding cannot hold names no file: FileFinder finds
	// it in no listing (os.listdir's names are os.fsdecode's).
	name, owner, ok := fullname.PathView()
	if !ok {
		if cpython.ErrMatchesUnicodeEncode() {
			cpython.ErrClear()
			return cpython.None()
		}
		return cpython.Owned{}
	}
	defer owner.Decref()
	im.lookups.Add(1)
	epoch := im.index.Epoch()
	// The entries in order, a run of indexed ones at a time: an entry
	// PathFinder has not reached yet gets its finder only once the entries
	// before it miss (cpython.PathScan).
	var searched map[string]bool
	start, namespace := 0, false
	for {
		dirs, status, next, ok := f.scan.Scan(path, start, f.indexed.Ref, f.slow.Ref)
		if !ok {
			return cpython.Owned{}
		}
		i, kind, filename, location, found, ns, err := im.search(epoch, name, dirs)
		if err != nil {
			ret := raiseListError(err, dirs[i])
			clear(dirs)
			return ret
		}
		if found {
			clear(dirs) // they alias Python memory
			return f.spec(i, fullname, kind, filename, location)
		}
		namespace = namespace || ns
		if searched == nil {
			searched = make(map[string]bool, len(dirs))
		}
		for _, d := range dirs {
			searched[strings.Clone(d)] = true
		}
		clear(dirs)
		if status != cpython.ScanUnreached {
			im.missed(epoch, name, searched, status == cpython.ScanComplete && !namespace)
			return cpython.None()
		}
		start = next
	}
}

// spec is finder.py's _make_spec(finder, fullname, kind, filename,
// location) for the finder of the last scan's dirs[i].
func (f *finder) spec(i int, fullname cpython.Ref, kind int, filename, location string) cpython.Owned {
	loc := cpython.None()
	if location != "" {
		loc = cpython.NewPath(location)
	}
	args := cpython.TupleOf(f.scan.Finder(i).NewRef(), fullname.NewRef(), cpython.NewInt(int64(kind)), cpython.NewPath(filename), loc)
	if args.IsNull() {
		return args
	}
	defer args.Decref()
	return f.makeSpec.Call(args.Ref, cpython.Ref{})
}

// noteSysPath drops from the index the entries that left sys.path since
// the last search of it; false with an exception set.
func (im *Importer) noteSysPath(path cpython.Ref) bool {
	f := im.finder
	if !f.lastSysPath.IsNull() {
		switch path.Equal(f.lastSysPath.Ref) {
		case 1:
			return true
		case -1:
			return false
		}
		f.lastSysPath.Decref()
		f.lastSysPath = cpython.Owned{}
	}
	cp := path.ListCopy()
	if cp.IsNull() {
		return false
	}
	f.lastSysPath = cp
	var entries []string
	for _, e := range cp.Items() {
		if e.IsStr() {
			if s, ok := e.GoPath(); ok {
				entries = append(entries, s)
			} else {
				cpython.ErrClear()
			}
		}
	}
	im.sysPathChanged(entries)
	return true
}

// machineryName is the name finder.py runs under: its frames are, to
// tracers, debuggers and traceback trimming, CPython's own import frames
// (see the package doc).
const (
	machineryName = "importlib._bootstrap_external"
	machineryFile = "<frozen importlib._bootstrap_external>"
)

// Install puts the finder in place over ix, whose listings (merged from a
// broadcast or a cache file) count as listed, serving b's modules from
// memory (b may be nil). It runs finder.py, which hands the interpreter's
// loader suffixes to ix and appends GoFinder to sys.meta_path, where
// CPython's main phase of start-up then appends PathFinder right after
// it. The GIL must be held, between the two phases of start-up; Install
// runs once.
func (im *Importer) Install(ix *pathscan.Index, b *Bundle) error {
	if cpython.HoldsGIL() != cpython.GILHeld {
		return errors.New("importer: Install called without the GIL")
	}
	if ix == nil {
		return errors.New("importer: Install needs an index")
	}
	im.mu.Lock()
	if im.index != nil {
		im.mu.Unlock()
		return errors.New("importer: installed twice")
	}
	im.index, im.bundle = ix, b
	im.mu.Unlock()

	ns := cpython.NewDict()
	if ns.IsNull() {
		return fmt.Errorf("importer: %w", cpython.TakeError())
	}
	defer ns.Decref()
	builtins := cpython.Import("builtins")
	if builtins.IsNull() {
		return fmt.Errorf("importer: %w", cpython.TakeError())
	}
	defer builtins.Decref()
	set := func(name string, v cpython.Owned) error {
		if v.IsNull() {
			return fmt.Errorf("importer: %s: %w", name, cpython.TakeError())
		}
		defer v.Decref()
		if !ns.DictSetString(name, v.Ref) {
			return fmt.Errorf("importer: %s: %w", name, cpython.TakeError())
		}
		return nil
	}
	if err := set("__name__", cpython.NewStr(machineryName)); err != nil {
		return err
	}
	if err := set("__builtins__", builtins.NewRef()); err != nil {
		return err
	}
	for name, k := range kindNames {
		if err := set(name, cpython.NewInt(int64(k))); err != nil {
			return err
		}
	}
	if err := set("HAVE_PACK", cpython.NewBool(im.pack != nil)); err != nil {
		return err
	}
	for _, fn := range im.funcs() {
		if err := set(fn.Name, cpython.NewFunction(fn, machineryName)); err != nil {
			return err
		}
	}
	r := runFinder(ns.Ref)
	if r.IsNull() {
		return fmt.Errorf("importer: install: %w", cpython.TakeError())
	}
	r.Decref()
	bse := cpython.Import("_frozen_importlib_external")
	if bse.IsNull() {
		return fmt.Errorf("importer: %w", cpython.TakeError())
	}
	defer bse.Decref()
	if !cpython.SnapshotMachinery(bse.Ref) {
		return fmt.Errorf("importer: install: %w", cpython.TakeError())
	}
	f := &finder{pathFinder: bse.Ref.Attr("PathFinder")}
	if f.pathFinder.IsNull() {
		return fmt.Errorf("importer: install: %w", cpython.TakeError())
	}
	for name, dst := range map[string]*cpython.Owned{
		"GoFinder":          &f.self,
		"IndexedFileFinder": &f.indexed,
		"_finder_for":       &f.slow,
		"_make_spec":        &f.makeSpec,
	} {
		v := ns.DictGetString(name) // borrowed
		if v.IsNull() {
			return fmt.Errorf("importer: install: finder.py defines no %s", name)
		}
		*dst = v.NewRef()
	}
	im.finder = f
	return nil
}

// runFinder runs finder.py in ns: its code compiled at build time when
// that fits the running interpreter (the same magic number, the same
// finder.py, and no -O or -OO, which compile it otherwise), else compiled
// from source as CPython compiles any module.
func runFinder(ns cpython.Ref) cpython.Owned {
	if code, ok := precompiledFinder(); ok {
		return cpython.ExecMarshalled(ns, code)
	}
	return cpython.Exec(ns, finderSource, machineryFile, cpython.FileInput)
}

// precompiledFinder returns finderCode's code when it may be run.
func precompiledFinder() ([]byte, bool) {
	const headerLen = 12
	if len(finderCode) <= headerLen {
		return nil, false
	}
	if binary.LittleEndian.Uint64(finderCode[4:12]) != fnv1a64(finderSource) {
		return nil, false
	}
	magic, ok := attrPath("_frozen_importlib_external", "MAGIC_NUMBER")
	if !ok || !bytes.Equal(finderCode[:4], magic.([]byte)) {
		return nil, false
	}
	opt, ok := attrPath("sys", "flags", "optimize")
	if !ok || opt.(int64) != 0 {
		return nil, false
	}
	return finderCode[headerLen:], true
}

// attrPath is module.a.b... as a Go []byte or int64; false (and no
// exception set) when it is missing or of another type. Before the main
// phase of start-up, _frozen_importlib_external is imported here for the
// first time (finder.py imports it next; CPython would a little later).
func attrPath(module string, attrs ...string) (any, bool) {
	o := cpython.Import(module)
	for _, a := range attrs {
		if o.IsNull() {
			break
		}
		next := o.Ref.Attr(a)
		o.Decref()
		o = next
	}
	if o.IsNull() {
		cpython.ErrClear()
		return nil, false
	}
	defer o.Decref()
	switch {
	case o.Ref.IsBytes():
		b, ok := o.Ref.BytesCopy()
		return b, ok
	case o.Ref.IsInt():
		n, overflow := o.Ref.Int64()
		return n, !overflow
	}
	return nil, false
}

// fnv1a64 is FNV-1a, 64 bits: gen_finder.py's hash of finder.py.
func fnv1a64(s string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 0x100000001b3
	}
	return h
}

// pathArg is positional argument i, a str path, as os.fsencode gives its
// bytes; ok false with an exception set: TypeError for what is not a str,
// UnicodeEncodeError for a str the file system encoding cannot hold (as
// os.stat or open would raise).
func pathArg(a cpython.Args, i int) (string, bool) {
	if i >= len(a.Pos) {
		cpython.SetError("TypeError", fmt.Sprintf("missing positional argument %d (got %d)", i+1, len(a.Pos)))
		return "", false
	}
	p := a.Pos[i]
	if !p.IsStr() {
		cpython.SetError("TypeError", fmt.Sprintf("argument %d must be str, not %s", i+1, p.TypeName()))
		return "", false
	}
	return p.GoPath()
}
