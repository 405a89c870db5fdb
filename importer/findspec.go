package importer

import (
	"errors"
	"fmt"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/internal/cpython"
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
	if err := im.prepared(); err != nil {
		return raise(err)
	}
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
	switch cpython.MetaNextIs(f.self.Ref, f.pathFinder.Ref) {
	case 0:
		return cpython.None() // only PathFinder's answers are ours to give
	case -1:
		return cpython.Owned{}
	}
	if path.IsNull() {
		path = cpython.SysPath()
		if path.IsNull() {
			return cpython.None()
		}
		if !im.noteSysPath(path) {
			return cpython.Owned{}
		}
	}
	dirs, complete, ok := f.scan.Scan(path, f.indexed.Ref, f.slow.Ref)
	if !ok {
		return cpython.Owned{}
	}
	// Names with lone surrogates (from undecodable file names) come as
	// os.fsencode gives them; owner keeps those bytes alive.
	name, owner, ok := fullname.StrView()
	if !ok {
		return cpython.Owned{}
	}
	defer owner.Decref()
	i, kind, filename, location, found := im.find(name, dirs, complete)
	clear(dirs) // they alias Python memory
	if !found {
		return cpython.None()
	}
	loc := cpython.None()
	if location != "" {
		loc = cpython.NewStr(location)
	}
	args := cpython.TupleOf(f.scan.Finder(i).NewRef(), fullname.NewRef(), cpython.NewInt(int64(kind)), cpython.NewStr(filename), loc)
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
			if s, ok := e.GoString(); ok {
				entries = append(entries, s)
			} else {
				cpython.ErrClear()
			}
		}
	}
	im.sysPathChanged(entries)
	return true
}

// install defines the finders in _pyhost (finder.py) and takes the
// objects findSpec uses.
func (im *Importer) install() error {
	if cpython.HoldsGIL() != cpython.GILHeld {
		return errors.New("importer: Install called without the GIL")
	}
	mod := cpython.Import(ModuleName)
	if mod.IsNull() {
		return fmt.Errorf("importer: %w", cpython.TakeError())
	}
	defer mod.Decref()
	r := cpython.Exec(mod.ModuleDict(), finderSource, "<pyhost importer>", cpython.FileInput)
	if r.IsNull() {
		return fmt.Errorf("importer: install: %w", cpython.TakeError())
	}
	r.Decref()
	bse := cpython.Import("_frozen_importlib_external")
	if bse.IsNull() {
		return fmt.Errorf("importer: %w", cpython.TakeError())
	}
	defer bse.Decref()
	f := &finder{}
	for _, a := range []struct {
		from cpython.Ref
		name string
		dst  *cpython.Owned
	}{
		{mod.Ref, "GoFinder", &f.self},
		{mod.Ref, "IndexedFileFinder", &f.indexed},
		{mod.Ref, "_finder_for", &f.slow},
		{mod.Ref, "_make_spec", &f.makeSpec},
		{bse.Ref, "PathFinder", &f.pathFinder},
	} {
		if *a.dst = a.from.Attr(a.name); a.dst.IsNull() {
			return fmt.Errorf("importer: install: %w", cpython.TakeError())
		}
	}
	im.finder = f
	return nil
}

// raise raises err in Python for a raw function and returns NULL: a
// Python exception or a host.RaiseError as its type (builtin classes;
// others as RuntimeError), anything else as RuntimeError.
func raise(err error) cpython.Owned {
	var pe *host.Exception
	var re *host.RaiseError
	switch {
	case errors.As(err, &pe):
		return cpython.SetError(pe.Type, pe.Msg)
	case errors.As(err, &re) && err == error(re):
		return cpython.SetError(re.Type, re.Msg)
	}
	return cpython.SetError("RuntimeError", err.Error())
}

// strArg is positional argument i, a str; ok false with TypeError set.
func strArg(a cpython.Args, i int) (string, bool) {
	if i >= len(a.Pos) {
		cpython.SetError("TypeError", fmt.Sprintf("missing positional argument %d (got %d)", i+1, len(a.Pos)))
		return "", false
	}
	p := a.Pos[i]
	if !p.IsStr() {
		cpython.SetError("TypeError", fmt.Sprintf("argument %d must be str, not %s", i+1, p.TypeName()))
		return "", false
	}
	return p.GoString()
}
