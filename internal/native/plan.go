package native

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/internal/frame"
)

// A Plan is what the root decides at start-up and broadcasts: the node
// directory, the files to materialise there (extension modules and the
// libraries of their closures that are not the system's) and, per
// extension module, which copies to preload before it.
type Plan struct {
	Dir     string // the node directory, base/<environment key>
	Leaders []int  // in a job over several nodes, the peer that writes on each node but the root's; nil on one node
	Files   []File
	Modules []Module
}

// A File is one original and the identity its copy is of.
type File struct {
	Orig   string
	ID     Identity
	Soname string
}

// Copy is the copy's path in dir.
func (f File) Copy(dir string) string { return dir + "/" + f.ID.CopyName(f.Orig) }

// A Module is an extension module of a Plan.
type Module struct {
	File    int   // its own file (index in Files)
	Preload []int // the files dlopened first, dependencies before dependents
}

// Build plans the extension modules exts (absolute paths, as Python
// dlopens them) for the node directory dir, and writes the copies of what
// it plans there as it reads them: each original is read once, into its
// copy, and parsed from the copy. A library is left to the loader (not
// copied) when it lies in a system directory (the loader's default path
// and cache) on a node-local file system (shared false); every other
// object of the closure is copied. A module is left out, for the stock
// loader, when its closure does not resolve with certainty
// (ErrUnresolved, ErrUncertain: python3's outcome, error or success, is
// then the stock loader's), or when a copied library could not be matched
// by the loader through its SONAME (none, or a DT_NEEDED that names it
// otherwise), or when an original cannot be stat'ed. Up to workers
// closures are resolved at once (the shared file system serves many
// requests in flight). An original on a device image names (an image
// file system, whose identities cannot tell one image from another
// mounted in its place) counts as one that cannot be stat'ed: its copy
// could be another image's. The error is the first failure to write a
// copy (a full or read-only directory): from then on nothing more is
// copied.
func Build(exts []string, r *Resolver, shared func(path string) bool, image func(dev uint64) bool, dir string, workers int) (*Plan, error) {
	p := &Plan{Dir: dir}
	sys := r.SystemDirs()
	keep := func(path string) bool {
		return !(sys[filepath.Dir(path)] && !shared(path))
	}
	isExt := make(map[string]bool, len(exts))
	for _, e := range exts {
		isExt[e] = true
	}
	var (
		mu       sync.Mutex
		ids      = map[string]*Identity{}
		writeErr error
	)
	// One stat per original.
	identity := func(path string) *Identity {
		mu.Lock()
		id, seen := ids[path]
		mu.Unlock()
		if seen {
			return id
		}
		var st unix.Stat_t
		if unix.Stat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && !image(uint64(st.Dev)) {
			v := IdentityOf(&st)
			id = &v
		}
		mu.Lock()
		ids[path] = id
		mu.Unlock()
		return id
	}
	r.open = func(path string) (elfFile, error) {
		if !keep(path) && !isExt[path] {
			return openELF(path)
		}
		id := identity(path)
		if id == nil {
			return openELF(path)
		}
		c := dir + "/" + id.CopyName(path)
		if !validCopy(c, *id) {
			mu.Lock()
			failed := writeErr != nil
			mu.Unlock()
			if !failed {
				if err := copyFile(dir, id.CopyName(path), path, *id); err != nil && !errors.Is(err, ErrChanged) {
					mu.Lock()
					if writeErr == nil {
						writeErr = fmt.Errorf("copy %s into %s: %w", path, dir, err)
					}
					mu.Unlock()
				}
			}
			if !validCopy(c, *id) {
				return openELF(path)
			}
		}
		return openELF(c)
	}
	defer func() { r.open = nil }()
	removeStaleTemps(dir)

	closures := make([]*Closure, len(exts))
	if workers < 1 {
		workers = 1
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers && w < len(exts); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if filepath.IsAbs(exts[i]) {
					closures[i], _ = r.Resolve(exts[i])
				}
			}
		}()
	}
	for i := range exts {
		next <- i
	}
	close(next)
	wg.Wait()

	index := map[string]int{}
	file := func(path, soname string) (int, bool) {
		if i, ok := index[path]; ok {
			return i, true
		}
		id := identity(path)
		if id == nil {
			return 0, false
		}
		p.Files = append(p.Files, File{Orig: path, ID: *id, Soname: soname})
		index[path] = len(p.Files) - 1
		return len(p.Files) - 1, true
	}
	keepObject := func(o *Object) bool { return keep(o.Path) }
next:
	for i, ext := range exts {
		c := closures[i]
		if c == nil {
			continue
		}
		for _, o := range c.Objects {
			for k, d := range o.Deps {
				if d != c.Objects[0] && keep(d.Path) && (d.Soname == "" || o.Needed[k] != d.Soname) {
					continue next
				}
			}
		}
		m := Module{}
		var ok bool
		if m.File, ok = file(ext, ""); !ok {
			continue
		}
		for _, o := range c.PreloadOrder(keepObject) {
			i, ok := file(o.Path, o.Soname)
			if !ok {
				continue next
			}
			m.Preload = append(m.Preload, i)
		}
		p.Modules = append(p.Modules, m)
	}
	return p, writeErr
}

// Materialise writes the plan's copies into its directory (those not
// there yet), up to workers at once, and returns which files have a valid
// copy. After the first failure to write (a full, read-only or vanished
// directory), which it returns, it copies nothing more; an original that
// changed since it was planned only loses its copy.
func (p *Plan) Materialise(workers int) (ok []bool, err error) {
	ok = make([]bool, len(p.Files))
	removeStaleTemps(p.Dir)
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	if workers < 1 {
		workers = 1
	}
	for w := 0; w < workers && w < len(p.Files); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				mu.Lock()
				failed := err != nil
				mu.Unlock()
				if failed {
					continue
				}
				f := p.Files[i]
				switch e := copyFile(p.Dir, f.ID.CopyName(f.Orig), f.Orig, f.ID); {
				case e == nil:
					ok[i] = true
				case errors.Is(e, ErrChanged), errors.Is(e, unix.ENOENT) && !dirGone(p.Dir):
				default:
					mu.Lock()
					if err == nil {
						err = fmt.Errorf("copy %s into %s: %w", f.Orig, p.Dir, e)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range p.Files {
		next <- i
	}
	close(next)
	wg.Wait()
	return ok, err
}

func dirGone(dir string) bool {
	var st unix.Stat_t
	return unix.Lstat(dir, &st) != nil
}

// Keep is the plan less the modules whose own copy or a preloaded one is
// missing (ok from Materialise).
func (p *Plan) Keep(ok []bool) *Plan {
	out := &Plan{Dir: p.Dir, Leaders: p.Leaders}
	remap := map[int]int{}
	add := func(i int) int {
		if j, seen := remap[i]; seen {
			return j
		}
		out.Files = append(out.Files, p.Files[i])
		remap[i] = len(out.Files) - 1
		return remap[i]
	}
next:
	for _, m := range p.Modules {
		if !ok[m.File] {
			continue
		}
		for _, i := range m.Preload {
			if !ok[i] {
				continue next
			}
		}
		n := Module{File: add(m.File)}
		for _, i := range m.Preload {
			n.Preload = append(n.Preload, add(i))
		}
		out.Modules = append(out.Modules, n)
	}
	return out
}

const (
	planMagic   = "PYHN"
	planVersion = 1
)

// MarshalBinary encodes the plan for the broadcast (internal/frame).
func (p *Plan) MarshalBinary() ([]byte, error) {
	e := frame.NewEncoder(planMagic, planVersion, 64+len(p.Files)*96)
	e.String(p.Dir)
	e.Uvarint(uint64(len(p.Leaders)))
	for _, l := range p.Leaders {
		e.Uvarint(uint64(l))
	}
	e.Uvarint(uint64(len(p.Files)))
	for _, f := range p.Files {
		e.String(f.Orig)
		e.String(f.Soname)
		e.Uvarint(f.ID.Dev)
		e.Uvarint(f.ID.Ino)
		e.Varint(f.ID.Size)
		e.Varint(f.ID.MtimeNs)
		e.Varint(f.ID.CtimeNs)
	}
	e.Uvarint(uint64(len(p.Modules)))
	for _, m := range p.Modules {
		e.Uvarint(uint64(m.File))
		e.Uvarint(uint64(len(m.Preload)))
		for _, i := range m.Preload {
			e.Uvarint(uint64(i))
		}
	}
	return e.Finish(), nil
}

// UnmarshalPlan decodes MarshalBinary's output; it never panics, and
// rejects indices out of range and relative paths.
func UnmarshalPlan(data []byte) (*Plan, error) {
	d, err := frame.Open(data, planMagic, planVersion)
	if err != nil {
		return nil, fmt.Errorf("native: plan: %w", err)
	}
	p := &Plan{Dir: d.String("dir")}
	nl := d.Count("leaders", 1)
	for i := uint64(0); i < nl && d.Err() == nil; i++ {
		p.Leaders = append(p.Leaders, int(d.Uvarint("leader")))
	}
	nf := d.Count("files", 7)
	for i := uint64(0); i < nf && d.Err() == nil; i++ {
		f := File{Orig: d.String("original"), Soname: d.String("soname")}
		f.ID.Dev, f.ID.Ino = d.Uvarint("dev"), d.Uvarint("ino")
		f.ID.Size, f.ID.MtimeNs, f.ID.CtimeNs = d.Varint("size"), d.Varint("mtime"), d.Varint("ctime")
		if d.Err() == nil && !filepath.IsAbs(f.Orig) {
			d.Fail(frame.Errorf("file %q: relative path", f.Orig))
		}
		p.Files = append(p.Files, f)
	}
	nm := d.Count("modules", 2)
	for i := uint64(0); i < nm && d.Err() == nil; i++ {
		m := Module{File: int(d.Uvarint("module file"))}
		np := d.Count("preloads", 1)
		for j := uint64(0); j < np && d.Err() == nil; j++ {
			m.Preload = append(m.Preload, int(d.Uvarint("preload")))
		}
		for _, k := range append([]int{m.File}, m.Preload...) {
			if d.Err() == nil && (k < 0 || k >= len(p.Files)) {
				d.Fail(frame.Errorf("file index %d out of range", k))
			}
		}
		p.Modules = append(p.Modules, m)
	}
	if err := d.Close(); err != nil {
		return nil, fmt.Errorf("native: plan: %w", err)
	}
	if !filepath.IsAbs(p.Dir) {
		return nil, fmt.Errorf("native: plan: relative node directory %q", p.Dir)
	}
	return p, nil
}

// Counters of a Table, for -X pyhost.stats.
type Counters struct {
	Extensions uint64 // extension modules loaded from node-local copies
	Libraries  uint64 // libraries preloaded from node-local copies
	Fallbacks  uint64 // planned modules loaded from their originals after all
}

// A Table serves a plan's copies to the loader of this process. Safe for
// concurrent use.
type Table struct {
	mu      sync.Mutex
	plan    *Plan
	modules map[string]int // original path -> module
	dirOK   int            // 0: not checked yet; 1: usable; -1: not
	done    map[int]bool   // files preloaded
	// loaded are the modules loaded from copies, by original: loaded
	// again (importlib.reload, a module deleted from sys.modules) from the
	// same copy, even after Drop, so that CPython finds it among the
	// extension modules it loaded, as python3 finds a path it loaded.
	loaded map[string]string

	extensions, libraries, fallbacks atomic.Uint64
}

// NewTable serves p (nil: nothing).
func NewTable(p *Plan) *Table {
	t := &Table{plan: p, modules: map[string]int{}, done: map[int]bool{}, loaded: map[string]string{}}
	if p != nil {
		for i, m := range p.Modules {
			t.modules[p.Files[m.File].Orig] = i
		}
	}
	return t
}

// Has reports whether orig is served from a copy (until Drop).
func (t *Table) Has(orig string) bool {
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.modules[orig]
	_, again := t.loaded[orig]
	return ok || again
}

// Drop stops serving copies (importlib.invalidate_caches): from then on
// every extension module is loaded from its original, as python3 loads it.
func (t *Table) Drop() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.modules = map[string]int{}
}

// Take prepares the loading of orig from its copy: it checks the node
// directory (once per process) and the copies (lstat: regular, the user's
// own, writable by nobody else, the original's size), dlopens the
// libraries to preload, dependencies first, with flags (Python's
// sys.getdlopenflags()), and returns the copy to dlopen. ok is false when
// orig is to be loaded from the original: not planned, or a check or a
// preload failed. A module loaded from its copy is served the same copy
// again (see Table.loaded); counted once.
func (t *Table) Take(orig string, flags int) (copy string, ok bool) {
	if t == nil {
		return "", false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, again := t.loaded[orig]; again {
		return c, true
	}
	mi, planned := t.modules[orig]
	if !planned {
		return "", false
	}
	delete(t.modules, orig)
	p := t.plan
	if t.dirOK == 0 {
		t.dirOK = -1
		if _, err := OpenDir(filepath.Dir(p.Dir), filepath.Base(p.Dir), false); err == nil {
			t.dirOK = 1
		}
	}
	m := p.Modules[mi]
	fail := func() (string, bool) {
		t.fallbacks.Add(1)
		return "", false
	}
	if t.dirOK != 1 {
		return fail()
	}
	for _, i := range append([]int{m.File}, m.Preload...) {
		if !t.done[i] && !validCopy(p.Files[i].Copy(p.Dir), p.Files[i].ID) {
			return fail()
		}
	}
	for _, i := range m.Preload {
		// A library of that SONAME mapped already (the process's own, or
		// loaded by another module from elsewhere): the loader would reuse
		// it, so the module is the stock loader's.
		if !t.done[i] && nameLoaded(p.Files[i].Soname) {
			return fail()
		}
	}
	for _, i := range m.Preload {
		if t.done[i] {
			continue
		}
		if err := dlopen(p.Files[i].Copy(p.Dir), flags); err != nil {
			return fail()
		}
		t.done[i] = true
		t.libraries.Add(1)
	}
	t.extensions.Add(1)
	c := p.Files[m.File].Copy(p.Dir)
	t.loaded[orig] = c
	return c, true
}

// Failed records that loading orig from the copy Take gave failed, so
// that the module was loaded from its original.
func (t *Table) Failed(orig string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.loaded[orig]; ok {
		delete(t.loaded, orig)
		t.extensions.Add(^uint64(0))
		t.fallbacks.Add(1)
	}
}

// Counters returns the counters.
func (t *Table) Counters() Counters {
	if t == nil {
		return Counters{}
	}
	return Counters{Extensions: t.extensions.Load(), Libraries: t.libraries.Load(), Fallbacks: t.fallbacks.Load()}
}

// Present reports which of the plan's files have a valid copy, writing
// nothing.
func (p *Plan) Present() []bool {
	ok := make([]bool, len(p.Files))
	for i, f := range p.Files {
		ok[i] = validCopy(f.Copy(p.Dir), f.ID)
	}
	return ok
}
