package native

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/pyhost/pyhost/internal/dirfd"
	"golang.org/x/sys/unix"
)

// How a library of a closure was found: the step of glibc's search that
// found it.
type Found int

const (
	FoundRoot        Found = iota // the extension module itself (dlopened by path)
	FoundPath                     // a DT_NEEDED with a slash, taken as a path
	FoundLoaded                   // an object already in the closure (its name or SONAME)
	FoundRPATH                    // DT_RPATH of the requesting object or its loaders, or of the executable
	FoundLibraryPath              // LD_LIBRARY_PATH
	FoundRUNPATH                  // DT_RUNPATH of the requesting object
	FoundCache                    // /etc/ld.so.cache
	FoundDefault                  // the system directories
)

// An Object is one ELF object of a closure.
type Object struct {
	Path   string // as the loader names it: the directory searched joined with the name
	Soname string // DT_SONAME, "" when it has none
	Needed []string
	Deps   []*Object // what each Needed resolved to, in order
	Found  Found
	Origin bool // found through a directory expanded from $ORIGIN

	loader  *Object // the object whose search found it (glibc's l_loader)
	rpath   []string
	runpath []string
	nodef   bool // DF_1_NODEFLIB
}

// A Closure is an extension module and every object its loading maps, in
// the loader's order (breadth first, the module first).
type Closure struct {
	Objects []*Object
}

// ErrUnresolved is returned for a closure whose loading would fail (a
// DT_NEEDED found nowhere), ErrUncertain for one this package cannot be
// sure to resolve as the loader does (glibc-hwcaps or legacy hwcaps
// subdirectories in a directory searched, $PLATFORM, a relative search
// directory, a cache entry with hwcaps variants). Either way the module
// is the stock loader's.
var (
	ErrUnresolved = errors.New("native: a DT_NEEDED cannot be resolved")
	ErrUncertain  = errors.New("native: the loader's choice is uncertain")
)

// A Resolver resolves closures as glibc's dynamic loader would in this
// process: DT_RPATH of the requesting object and its loaders (only of
// objects without DT_RUNPATH) and of the executable, LD_LIBRARY_PATH,
// DT_RUNPATH of the requesting object, the loader's cache, the system
// directories (the last two skipped for objects marked DF_1_NODEFLIB).
// $ORIGIN and $LIB are expanded. It lists each directory it searches once
// and parses each object once. Resolve may be called concurrently (a
// directory or object needed by several calls at once is read once, the
// others waiting for it); the fields must not change meanwhile.
type Resolver struct {
	LibraryPath []string // LD_LIBRARY_PATH's directories
	Cache       *LDCache
	DefaultDirs []string // the system search path
	Lib         string   // what $LIB expands to
	MainRPATH   []string // the executable's DT_RPATH (none when it has DT_RUNPATH)

	mu   sync.Mutex
	dirs map[string]*onceListing // listings
	objs map[string]*onceObject  // parsed, by path

	// open opens an object for parsing (default openELF); Build reads
	// an original's valid copy instead, sparing the shared file system.
	open func(path string) (elfFile, error)
}

// NewResolver is the Resolver of this process: the environment's
// LD_LIBRARY_PATH, /etc/ld.so.cache, Debian's multiarch system directories
// (plus /lib64 and /usr/lib64 where those are the layout), and the
// executable's own DT_RPATH.
func NewResolver() *Resolver {
	r := &Resolver{}
	if v := os.Getenv("LD_LIBRARY_PATH"); v != "" {
		r.LibraryPath = strings.FieldsFunc(v, func(c rune) bool { return c == ':' || c == ';' })
	}
	r.Cache, _ = ReadLDCache("/etc/ld.so.cache")
	triplet := multiarch()
	if st, err := os.Stat("/lib/" + triplet); triplet != "" && err == nil && st.IsDir() {
		r.DefaultDirs = []string{"/lib/" + triplet, "/usr/lib/" + triplet, "/lib", "/usr/lib"}
		r.Lib = "lib/" + triplet
	} else {
		r.DefaultDirs = []string{"/lib64", "/usr/lib64"}
		r.Lib = "lib64"
	}
	if exe, err := os.Executable(); err == nil {
		if f, err := openELF(exe); err == nil {
			run, _ := f.DynString(elf.DT_RUNPATH)
			rp, _ := f.DynString(elf.DT_RPATH)
			if len(run) == 0 {
				for _, s := range rp {
					r.MainRPATH = append(r.MainRPATH, strings.Split(s, ":")...)
				}
			}
			f.Close()
		}
	}
	return r
}

// multiarch is Debian's triplet for this architecture.
func multiarch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64-linux-gnu"
	case "arm64":
		return "aarch64-linux-gnu"
	case "ppc64le":
		return "powerpc64le-linux-gnu"
	}
	return ""
}

// wantMachine is the ELF machine of this process's objects.
func wantMachine() elf.Machine {
	switch runtime.GOARCH {
	case "amd64":
		return elf.EM_X86_64
	case "arm64":
		return elf.EM_AARCH64
	case "ppc64le":
		return elf.EM_PPC64
	}
	return elf.EM_NONE
}

// legacyHwcaps are the subdirectory names glibc (2.36) searches in every
// directory before the directory itself; a directory that has one makes
// the loader's choice CPU-dependent.
var legacyHwcaps = map[string]bool{"glibc-hwcaps": true, "tls": true, "x86_64": true, "haswell": true, "xeon_phi": true, "avx512_1": true, "aarch64": true}

// Resolve resolves the closure of the extension module at path (absolute,
// as Python dlopens it).
func (r *Resolver) Resolve(path string) (*Closure, error) {
	root, err := r.found(nil, path, FoundRoot, false)
	if err != nil {
		return nil, err
	}
	c := &Closure{Objects: []*Object{root}}
	bySoname := map[string]*Object{}
	byName := map[string]*Object{path: root}
	if root.Soname != "" {
		bySoname[root.Soname] = root
	}
	for i := 0; i < len(c.Objects); i++ {
		o := c.Objects[i]
		o.Deps = make([]*Object, len(o.Needed))
		for k, name := range o.Needed {
			if d := byName[name]; d != nil {
				o.Deps[k] = d
				continue
			}
			if d := bySoname[name]; d != nil {
				o.Deps[k] = d
				continue
			}
			d, err := r.search(o, name)
			if err != nil {
				return nil, fmt.Errorf("%w: %s needed by %s", err, name, o.Path)
			}
			if prev := byName[d.Path]; prev != nil {
				// Found again under another name: the same object.
				o.Deps[k] = prev
				byName[name] = prev
				continue
			}
			byName[name], byName[d.Path] = d, d
			if d.Soname != "" {
				bySoname[d.Soname] = d
			}
			o.Deps[k] = d
			c.Objects = append(c.Objects, d)
		}
	}
	return c, nil
}

// search finds name needed by o (glibc's _dl_map_object).
func (r *Resolver) search(o *Object, name string) (*Object, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			return nil, ErrUncertain // relative to the working directory
		}
		return r.found(o, name, FoundPath, false)
	}
	if len(o.runpath) == 0 {
		for l := o; l != nil; l = l.loader {
			if d, err := r.searchDirs(o, l, l.rpath, name, FoundRPATH); d != nil || err != nil {
				return d, err
			}
		}
		if d, err := r.searchDirs(o, nil, r.MainRPATH, name, FoundRPATH); d != nil || err != nil {
			return d, err
		}
	}
	if d, err := r.searchDirs(o, nil, r.LibraryPath, name, FoundLibraryPath); d != nil || err != nil {
		return d, err
	}
	if d, err := r.searchDirs(o, o, o.runpath, name, FoundRUNPATH); d != nil || err != nil {
		return d, err
	}
	if o.nodef {
		return nil, ErrUnresolved
	}
	if p, ok, ambiguous := r.Cache.Lookup(name); ambiguous {
		return nil, ErrUncertain
	} else if ok {
		if d, err := r.found(o, p, FoundCache, false); err == nil {
			return d, nil
		}
		// A stale cache entry: glibc goes on to the system directories.
	}
	if d, err := r.searchDirs(o, nil, r.DefaultDirs, name, FoundDefault); d != nil || err != nil {
		return d, err
	}
	return nil, ErrUnresolved
}

// searchDirs looks for name in dirs, $ORIGIN and $LIB expanded with owner's
// directory (owner nil: no $ORIGIN allowed).
func (r *Resolver) searchDirs(o, owner *Object, dirs []string, name string, how Found) (*Object, error) {
	for _, raw := range dirs {
		dir, origin, err := r.expand(raw, owner)
		if err != nil {
			return nil, err
		}
		ents := r.list(dir)
		if ents == nil {
			continue
		}
		for h := range legacyHwcaps {
			if ents[h] {
				return nil, ErrUncertain
			}
		}
		if !ents[name] {
			continue
		}
		if d, err := r.found(o, dir+"/"+name, how, origin); err == nil {
			return d, nil
		}
		// Not an object of this process's kind (or unreadable): the
		// loader goes on searching.
	}
	return nil, nil
}

// expand expands $ORIGIN and $LIB in a search directory; $PLATFORM and
// relative directories are uncertain.
func (r *Resolver) expand(dir string, owner *Object) (string, bool, error) {
	origin := false
	if strings.Contains(dir, "$") {
		for _, v := range []string{"ORIGIN", "LIB", "PLATFORM"} {
			for _, form := range []string{"${" + v + "}", "$" + v} {
				if !strings.Contains(dir, form) {
					continue
				}
				switch v {
				case "ORIGIN":
					if owner == nil {
						return "", false, ErrUncertain
					}
					dir = strings.ReplaceAll(dir, form, filepath.Dir(owner.Path))
					origin = true
				case "LIB":
					dir = strings.ReplaceAll(dir, form, r.Lib)
				default:
					return "", false, ErrUncertain
				}
			}
		}
		if strings.Contains(dir, "$") {
			return "", false, ErrUncertain
		}
	}
	if !filepath.IsAbs(dir) {
		return "", false, ErrUncertain
	}
	// glibc cleans a search directory of trailing slashes, not of ".." or
	// symlinks: the path it opens is the directory's text and the name.
	dir = strings.TrimRight(dir, "/")
	if dir == "" {
		dir = "/"
	}
	return dir, origin, nil
}

type onceListing struct {
	once sync.Once
	ents map[string]bool // nil when unreadable
}

type onceObject struct {
	once sync.Once
	o    *Object
	err  error
}

// list is dir's names, nil when it cannot be read; read once.
func (r *Resolver) list(dir string) map[string]bool {
	r.mu.Lock()
	if r.dirs == nil {
		r.dirs = map[string]*onceListing{}
	}
	e := r.dirs[dir]
	if e == nil {
		e = &onceListing{}
		r.dirs[dir] = e
	}
	r.mu.Unlock()
	e.once.Do(func() {
		names, err := dirfd.ReadDirNames(dir)
		if err != nil {
			return
		}
		e.ents = make(map[string]bool, len(names))
		for _, n := range names {
			e.ents[n] = true
		}
	})
	return e.ents
}

// found parses the object at path, found by o's search.
func (r *Resolver) found(o *Object, path string, how Found, origin bool) (*Object, error) {
	p, err := r.parse(path)
	if err != nil {
		return nil, err
	}
	d := *p
	d.Found, d.Origin, d.loader = how, origin, o
	return &d, nil
}

// parse reads path's dynamic section (once per path).
func (r *Resolver) parse(path string) (*Object, error) {
	r.mu.Lock()
	if r.objs == nil {
		r.objs = map[string]*onceObject{}
	}
	e := r.objs[path]
	if e == nil {
		e = &onceObject{}
		r.objs[path] = e
	}
	r.mu.Unlock()
	e.once.Do(func() {
		open := r.open
		if open == nil {
			open = openELF
		}
		e.o, e.err = parseObject(path, open)
	})
	return e.o, e.err
}

func parseObject(path string, open func(string) (elfFile, error)) (*Object, error) {
	f, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("native: %w", err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != wantMachine() || f.Type != elf.ET_DYN {
		return nil, fmt.Errorf("native: %s: not an object of this process's class and machine", path)
	}
	o := &Object{Path: path}
	o.Needed, _ = f.DynString(elf.DT_NEEDED)
	if s, _ := f.DynString(elf.DT_SONAME); len(s) > 0 {
		o.Soname = s[0]
	}
	split := func(tag elf.DynTag) []string {
		vals, _ := f.DynString(tag)
		var out []string
		for _, v := range vals {
			out = append(out, strings.Split(v, ":")...)
		}
		return out
	}
	o.runpath = split(elf.DT_RUNPATH)
	if len(o.runpath) == 0 {
		o.rpath = split(elf.DT_RPATH) // ignored by glibc when DT_RUNPATH is present
	}
	if v, err := f.DynValue(elf.DT_FLAGS_1); err == nil && len(v) > 0 && v[0]&uint64(elf.DF_1_NODEFLIB) != 0 {
		o.nodef = true
	}
	return o, nil
}

// PreloadOrder is the objects a closure maps that pass keep, dependencies
// before their dependents (depth first, post-order; a cycle is broken
// where it is entered), the extension module itself excluded.
func (c *Closure) PreloadOrder(keep func(*Object) bool) []*Object {
	var out []*Object
	seen := map[*Object]bool{}
	var visit func(o *Object)
	visit = func(o *Object) {
		if seen[o] {
			return
		}
		seen[o] = true
		for _, d := range o.Deps {
			visit(d)
		}
		if o != c.Objects[0] && keep(o) {
			out = append(out, o)
		}
	}
	visit(c.Objects[0])
	return out
}

// SystemDirs are the directories whose libraries are the system's: the
// system search path and the directories of the loader's cache.
func (r *Resolver) SystemDirs() map[string]bool {
	out := r.Cache.Dirs()
	for _, d := range r.DefaultDirs {
		out[d] = true
	}
	return out
}

// An elfFile is an ELF file opened without Go's poller (see package
// dirfd); Close closes both.
type elfFile struct {
	*elf.File
	f *os.File
}

func (e elfFile) Close() { e.File.Close(); e.f.Close() }

func openELF(path string) (elfFile, error) {
	f, err := dirfd.OpenFile(path, unix.O_RDONLY, 0)
	if err != nil {
		return elfFile{}, err
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		f.Close()
		return elfFile{}, err
	}
	return elfFile{ef, f}, nil
}
