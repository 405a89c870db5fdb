package share

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/internal/dirfd"
	"github.com/pyhost/pyhost/internal/frame"
)

// The pack (env-<key>.pack) is the third file of an environment: copies of
// the .pyc files its runs loaded, so that a later run's loader gets a
// module's bytecode with one metadata call, the stat of its source that
// the loader makes anyway (and compares with the .pyc header, as it would
// with the file's), instead of that stat plus an open of the .pyc.
//
// # Validity
//
// A copy is used only while the file it was read from is provably
// unchanged: each copy belongs to the record of its __pycache__ directory
// as it was when the copy was read (device, inode, mtime, ctime), and a
// run uses a directory's copies only after one stat of that directory,
// once per run (again after Forget: importlib.invalidate_caches()), finds
// the same record. CPython (the import system, py_compile, compileall)
// writes a .pyc through a temporary file renamed over it, and a rename, a
// new file or a deletion in a directory moves its mtime and ctime; a copy
// is only read from a directory whose mtime and ctime are at least settle
// old, so a change in the same clock tick cannot go unseen. What is not
// seen: a .pyc rewritten in place (opened and written, not renamed: no
// CPython tool does that) and, within one run, a .pyc replaced after the
// run checked its directory and before it imported the module, unless the
// program calls importlib.invalidate_caches() (python3 needs that call to
// see new files in a directory too). Either way the loader still compares
// the copy's header with the source's stat, so a changed source is always
// seen.
//
// Only .pyc files of this interpreter's magic whose header says they are
// timestamp-based go in; hash-based ones are always read from their
// files. So are sourceless modules' .pyc files (read through io.open_code
// as well): nothing checks their copy against a source, so a file
// rewritten in place, or replaced during the run after its directory was
// checked, would be served stale. They are told apart by name (see
// cachedBytecode).
//
// # Format
//
//	data    the .pyc files, back to back, in the order the last run that
//	        wrote the pack loaded them (the order the next one asks for them)
//	table   a frame (package internal/frame, "PYHP"): the directory records
//	        and the entries (source, .pyc name, record, offset, length,
//	        CRC-32 of the data, last use)
//	trailer table offset (8 bytes LE), table length (4 bytes LE), "PYHP"
//
// A run reads the trailer and the table when its first .pyc is asked for,
// then the data a window at a time (from 64 KB, doubling to 1 MB, in one
// buffer; the first with the table's open), each later window with one
// open of the pack that must find the same file (device, inode, size,
// mtime) as the first; no descriptor stays open between imports, and nothing is mapped
// (a file replaced from another NFS client would fault a mapping, and
// SIGBUS ends pyhost as it ends python3). An
// entry's CRC is checked before its bytes are served. A pack that is
// truncated, corrupt, of another version or not a private regular file is
// ignored with one warning line and rewritten at the end of the run.
const (
	packMagic      = "PYHP"
	packVersion    = 2
	packTrailerLen = 8 + 4 + 4
	maxPackBytes   = 192 << 20 // data bytes kept in one environment's pack
	maxPackEntries = maxModules
	minWindow      = 64 << 10
	maxWindow      = 1 << 20 // the one buffer's size: what reading the pack adds to a run's memory
	maxPackDirs    = 512     // directory descriptors kept open while reading new copies
)

// dirRecord is a __pycache__ directory as it was when copies were read
// from it.
type dirRecord struct {
	path         string
	dev, ino     uint64
	mtime, ctime unix.Timespec
}

func recordOf(path string, st *unix.Stat_t) dirRecord {
	return dirRecord{path: path, dev: st.Dev, ino: st.Ino, mtime: st.Mtim, ctime: st.Ctim}
}

func (r *dirRecord) same(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFDIR && r.dev == st.Dev && r.ino == st.Ino && r.mtime == st.Mtim && r.ctime == st.Ctim
}

// packEntry is one .pyc copy.
type packEntry struct {
	source   string
	bytecode string // full path: the record's directory and the .pyc name
	dir      int    // index into the dirs
	off, n   int64
	crc      uint32
	usedAt   int64 // ns since 1970: when a run last loaded it
}

// fileID is what a reopened pack must match to be the file its table was
// read from.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    unix.Timespec
}

// A Pack is one run's view of the environment's pack: read lazily, at the
// first Take or Has, and written at exit by Cache.SavePack. It is safe for
// concurrent use.
type Pack struct {
	mu    sync.Mutex
	cache *Cache
	file  string
	read  bool // false: ignore what the file holds (rebuild)

	opened   bool // the table was read (or could not be)
	usable   bool // and the pack may be served from
	replaced bool // another run replaced the file during this one
	fd       int  // the pack, open from reading the table to the end of that call (else -1)
	id       fileID
	tab      *packTable // nil until the table was read and found sound

	dirState []int8 // per record this run: 0 not checked, 1 same, -1 changed
	served   []bool // entries whose bytes were handed out this run

	order    map[string]int // .pyc paths in the order Take was first asked for them
	noWrites bool           // Take was told sys.dont_write_bytecode was set

	window  map[int][]byte // entries read ahead, not yet taken: parts of buf
	buf     []byte         // the window's bytes, reused by the next window
	windows int
}

// Pack returns this run's pack. With read false its file is ignored (and
// replaced at exit).
func (c *Cache) Pack(read bool) *Pack {
	return &Pack{cache: c, file: c.file("pack"), read: read, fd: -1}
}

// PackFile is the path of the pack.
func (c *Cache) PackFile() string { return c.file("pack") }

// Has says whether the pack holds a copy of the .pyc file bytecode that
// may be served: from a directory found unchanged this run (one stat per
// directory per run, made here), not handed out yet.
func (p *Pack) Has(bytecode string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.closeFD()
	i, ok := p.lookup(bytecode)
	return ok && p.dirSame(p.tab.dirOf(i))
}

// Take hands out the copy of the .pyc file bytecode once; ok is false when
// there is none that may be served (then the loader reads the file). data
// is valid until the next call of Take: the windows share one buffer, so
// that a run's reads cost no more memory than a window. Every call, served
// or not, records the order in which the run's loaders asked for their
// bytecode, which is the order SavePack writes the copies in.
func (p *Pack) Take(bytecode string) (data []byte, ok bool) {
	return p.TakeNoting(bytecode, false)
}

// TakeNoting is Take for a loader that also says whether the program has
// set sys.dont_write_bytecode: once it has, SavePack writes nothing.
func (p *Pack) TakeNoting(bytecode string, dontWriteBytecode bool) (data []byte, ok bool) {
	if p == nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.closeFD()
	p.noWrites = p.noWrites || dontWriteBytecode
	if !cachedBytecode(bytecode) {
		return nil, false
	}
	if p.order == nil {
		p.order = map[string]int{}
	}
	if _, seen := p.order[bytecode]; !seen {
		p.order[bytecode] = len(p.order)
	}
	i, found := p.lookup(bytecode)
	if !found || !p.dirSame(p.tab.dirOf(i)) {
		return nil, false
	}
	data, ok = p.window[i]
	if !ok {
		p.readWindow(i)
		if data, ok = p.window[i]; !ok {
			return nil, false
		}
	}
	delete(p.window, i)
	if crc32.ChecksumIEEE(data) != p.tab.crc(i) {
		p.cache.warn("ignoring the bytecode pack %s, which will be rewritten: the copy of %s is corrupt", p.file, bytecode)
		p.usable = false
		return nil, false
	}
	p.served[i] = true
	return data, true
}

// cachedBytecode says whether the .pyc file bytecode is a source's cached
// bytecode (importlib.util.cache_from_source: name.<cache tag>.pyc or
// name.<cache tag>.opt-N.pyc, in __pycache__ or under pycache_prefix), as
// opposed to a sourceless module: FileFinder finds a module's .pyc by the
// last part of its name, which has no dot, so a sourceless module's file
// is name.pyc.
func cachedBytecode(bytecode string) bool {
	base := filepath.Base(bytecode)
	return strings.HasSuffix(base, ".pyc") && strings.Contains(base[:len(base)-len(".pyc")], ".")
}

// lookup finds bytecode's entry, reading the table first if need be.
func (p *Pack) lookup(bytecode string) (int, bool) {
	p.open()
	if !p.usable {
		return 0, false
	}
	i, ok := p.tab.find(bytecode)
	return i, ok && !p.served[i]
}

// InPackOrder sorts (source, .pyc) pairs as the pack holds their copies
// (those it has not, last), so that taking them reads each window once.
func (p *Pack) InPackOrder(pairs [][2]string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.closeFD()
	p.open()
	if !p.usable {
		return
	}
	rank := make(map[string]int, len(pairs))
	for _, pr := range pairs {
		i, ok := p.tab.find(pr[1])
		if !ok {
			i = p.tab.len()
		}
		rank[pr[1]] = i
	}
	sort.SliceStable(pairs, func(a, b int) bool { return rank[pairs[a][1]] < rank[pairs[b][1]] })
}

// Forget makes the next use of every directory's copies stat it again
// (importlib.invalidate_caches()).
func (p *Pack) Forget() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range p.dirState {
		if s == 1 {
			p.dirState[i] = 0
		}
	}
}

// dirSame checks record d, once per run.
func (p *Pack) dirSame(d int) bool {
	if p.dirState[d] == 0 {
		var st unix.Stat_t
		p.dirState[d] = -1
		if r := p.tab.dir(d); unix.Stat(r.path, &st) == nil && r.same(&st) {
			p.dirState[d] = 1
		}
	}
	return p.dirState[d] == 1
}

// closeFD closes the descriptor open left open.
func (p *Pack) closeFD() {
	if p.fd >= 0 {
		unix.Close(p.fd)
		p.fd = -1
	}
}

// open reads the table, once; a pack that cannot be used is reported
// (except when there is none) and left unusable. The descriptor stays
// open until the caller's closeFD, so that the first window costs no
// second open.
func (p *Pack) open() {
	if p.opened {
		return
	}
	p.opened = true
	if !p.read {
		return
	}
	fd, id, err := p.cache.openPrivate(p.file)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			p.cache.warn("ignoring the bytecode pack: %v", err)
		}
		return
	}
	if err := p.readTable(fd, id); err != nil {
		unix.Close(fd)
		p.cache.warn("ignoring the bytecode pack %s, which will be rewritten: %v", p.file, err)
		p.tab = nil
		return
	}
	p.fd = fd
	p.id = id
	p.usable = true
	p.dirState = make([]int8, p.tab.ndirs())
	p.served = make([]bool, p.tab.len())
	p.window = map[int][]byte{}
}

func (p *Pack) readTable(fd int, id fileID) error {
	if id.size < packTrailerLen {
		return frame.Errorf("%d bytes is too short", id.size)
	}
	var tr [packTrailerLen]byte
	if err := preadFull(fd, tr[:], id.size-packTrailerLen); err != nil {
		return err
	}
	if string(tr[12:]) != packMagic {
		return frame.Errorf("not a bytecode pack")
	}
	off, n := int64(binary.LittleEndian.Uint64(tr[:8])), int64(binary.LittleEndian.Uint32(tr[8:12]))
	if off < 0 || n < 0 || off+n != id.size-packTrailerLen {
		return frame.Errorf("truncated (table at %d, %d bytes, in %d)", off, n, id.size)
	}
	table := make([]byte, n)
	if err := preadFull(fd, table, off); err != nil {
		return err
	}
	tab, err := parsePackTable(table, off)
	if err != nil {
		return err
	}
	p.tab = tab
	return nil
}

// readWindow reads entry i and the next ones in the pack's order, up to the
// window's size, with one open of the pack; on any failure the pack stops
// being served.
func (p *Pack) readWindow(i int) {
	size := minWindow << min(p.windows, 8)
	if size > maxWindow {
		size = maxWindow
	}
	p.windows++
	start, _ := p.tab.span(i)
	j := i + 1
	for j < p.tab.len() {
		off, n := p.tab.span(j)
		if off+n-start > int64(size) {
			break
		}
		j++
	}
	fd := p.fd
	if fd < 0 {
		// The same file as the table's, or none: one open, and no second
		// look at the directory (a stat per window, some 50 in a heavy
		// import's run).
		var id fileID
		var err error
		fd, id, err = openOwn(p.file)
		if err == nil && id != p.id {
			err = errors.New("replaced during the run")
			unix.Close(fd)
		}
		if err != nil {
			// Another run replaced it: its table is not this one. Quietly
			// load from the files from now on.
			p.usable, p.replaced = false, true
			return
		}
		defer unix.Close(fd)
	}
	// The previous window's copies not taken go (an out-of-order import
	// reads its window again): its buffer is this one's.
	clear(p.window)
	lastOff, lastN := p.tab.span(j - 1)
	need := int(lastOff + lastN - start)
	if p.buf == nil {
		p.buf = make([]byte, maxWindow)
	}
	buf := p.buf[:min(need, maxWindow)]
	if need > maxWindow {
		buf = make([]byte, need) // one copy larger than a window, read alone
	}
	if err := preadFull(fd, buf, start); err != nil {
		p.usable = false
		return
	}
	for k := i; k < j; k++ {
		if p.served[k] {
			continue
		}
		off, n := p.tab.span(k)
		p.window[k] = buf[off-start : off-start+n : off-start+n]
	}
}

func preadFull(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pread(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return frame.Errorf("truncated")
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// openPrivate opens a cache file for reading under the same rules as read
// (the user's own regular file in a trusted directory, no symlink followed,
// no FIFO waited on) and returns its descriptor and identity.
func (c *Cache) openPrivate(file string) (int, fileID, error) {
	if err := c.trustedDir(); err != nil {
		return -1, fileID{}, err
	}
	return openOwn(file)
}

// openOwn is openPrivate without the directory's check: for a file opened
// again, which must then be the one opened first (its identity, which the
// caller compares), so that the directory it was found in is the one
// checked then.
func openOwn(file string) (int, fileID, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case errors.Is(err, syscall.ELOOP):
		return -1, fileID{}, fmt.Errorf("%s is a symbolic link", file)
	case err != nil:
		return -1, fileID{}, &os.PathError{Op: "open", Path: file, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fileID{}, &os.PathError{Op: "fstat", Path: file, Err: err}
	}
	if err := ownedBySelf(file, &st, false); err != nil {
		unix.Close(fd)
		return -1, fileID{}, err
	}
	if st.Size > maxFile {
		unix.Close(fd)
		return -1, fileID{}, fmt.Errorf("%s: %d bytes is larger than a cache file should be", file, st.Size)
	}
	return fd, fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim}, nil
}

// SavePack brings the pack up to date at the end of a run that loaded
// used, (source, .pyc) pairs in the order it loaded them (nil: the .pyc
// files the run's loaders asked for, through Take; the source may be
// empty, the pack does not need it): copies of what
// the run loaded from files are added (read now, from directories that
// have settled, when they are timestamp-based .pyc files of magic), the
// copies of directories found changed go, and so do those no run used for
// maxAge, the least recently used beyond the bounds. Nothing is written
// when nothing changed, and nothing when another run replaced the pack
// during this one (its copies are as new).
func (c *Cache) SavePack(p *Pack, used [][2]string, magic []byte, now time.Time) {
	if !c.writable() || p == nil || len(magic) != 4 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.noWrites {
		return
	}
	p.open()
	p.closeFD()
	if p.replaced {
		return
	}
	if used == nil {
		used = p.requested()
	} else {
		used = p.inOrder(used)
	}
	stamp := now.UnixNano()
	changed := false
	var out []packOut
	n := 0
	if p.usable {
		n = p.tab.len()
	}
	kept := make([]bool, n)
	seen := map[string]bool{}
	var fresh [][2]string // to read
	for _, u := range used {
		if seen[u[1]] || u[0] != "" && !filepath.IsAbs(u[0]) || !filepath.IsAbs(u[1]) || !cachedBytecode(u[1]) {
			continue
		}
		seen[u[1]] = true
		if p.usable {
			if i, ok := p.tab.find(u[1]); ok && p.dirState[p.tab.dirOf(i)] >= 0 && (u[0] == "" || p.tab.sourceIs(i, u[0])) {
				// Kept; made in full only if the pack is written.
				used := p.tab.usedAt(i)
				if stamp-used > int64(stampEvery) {
					used, changed = stamp, true
				}
				kept[i] = true
				_, n := p.tab.span(i)
				out = append(out, packOut{packEntry: packEntry{n: n, usedAt: used}, old: i})
				continue
			}
		}
		fresh = append(fresh, u)
	}
	// New copies, each directory stat'ed before its files are read.
	var dirs []dirRecord
	for d := 0; p.usable && d < p.tab.ndirs(); d++ {
		dirs = append(dirs, p.tab.dir(d))
	}
	if len(fresh) > 0 {
		// Copies from an image file system are never kept; none are
		// taken when the mount table cannot tell which those are.
		images, known := readImages()
		tree := dirfd.NewTree(maxPackDirs)
		recs := map[string]int{}
		total := 0
		for _, u := range fresh {
			dir := filepath.Dir(u[1])
			r, ok := recs[dir]
			if !ok {
				r = -1
				var st unix.Stat_t
				if tree.Stat(dir, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && settled(&st, now) && known && !images.Has(uint64(st.Dev)) {
					r = len(dirs)
					dirs = append(dirs, recordOf(dir, &st))
				}
				recs[dir] = r
			}
			if r < 0 || total > maxPackBytes {
				continue
			}
			// Not through a symbolic link (a __pycache__ of links into a
			// store: Spack views, stow): its target can be replaced by a
			// rename in another directory, which the stat of this one
			// never shows. Such a .pyc is read from its file at every run.
			data, _, err := tree.ReadFile(u[1], unix.O_NOFOLLOW, maxPackBytes)
			if err != nil || !timestampPyc(data, magic) {
				continue
			}
			total += len(data)
			changed = true
			if i, ok := p.tab.findIf(p.usable, u[1]); ok {
				kept[i] = true // replaced by the new copy
			}
			out = append(out, packOut{packEntry: packEntry{source: u[0], bytecode: u[1], dir: r, n: int64(len(data)), crc: crc32.ChecksumIEEE(data), usedAt: stamp}, old: -1, data: data})
		}
		tree.Close()
	}
	// The copies this run did not load, most recently used first (their
	// entries made in full only if the pack is written).
	var rest []int
	for i := 0; i < n; i++ {
		switch {
		case kept[i]:
		case p.dirState[p.tab.dirOf(i)] < 0 || stamp-p.tab.usedAt(i) >= int64(maxAge):
			changed = true
		default:
			rest = append(rest, i)
		}
	}
	// Bounds: this run's copies first, then the most recently used.
	total := int64(0)
	for _, e := range out {
		total += e.n
	}
	if len(out) > maxPackEntries || total > maxPackBytes {
		keep := 0
		total = 0
		for keep < len(out) && keep < maxPackEntries && total+out[keep].n <= maxPackBytes {
			total += out[keep].n
			keep++
		}
		out, rest, changed = out[:keep], nil, true
	}
	restTotal := int64(0)
	for _, i := range rest {
		_, n := p.tab.span(i)
		restTotal += n
	}
	if len(out)+len(rest) > maxPackEntries || total+restTotal > maxPackBytes {
		sort.SliceStable(rest, func(a, b int) bool { return p.tab.usedAt(rest[a]) > p.tab.usedAt(rest[b]) })
		keep := 0
		for ; keep < len(rest) && len(out)+keep < maxPackEntries; keep++ {
			_, n := p.tab.span(rest[keep])
			if total+n > maxPackBytes {
				break
			}
			total += n
		}
		rest, changed = rest[:keep], true
	}
	if !changed {
		return
	}
	for k := range out {
		if i := out[k].old; i >= 0 {
			used := out[k].usedAt
			out[k].packEntry = p.tab.entry(i)
			out[k].usedAt = used
		}
	}
	for _, i := range rest {
		out = append(out, packOut{packEntry: p.tab.entry(i), old: i})
	}
	// The old copies come from the file this run read the table of, or
	// not at all: a pack another run wrote since is left alone.
	oldFD := -1
	if p.usable {
		fd, id, err := c.openPrivate(p.file)
		if err != nil || id != p.id {
			if err == nil {
				unix.Close(fd)
			}
			return
		}
		oldFD = fd
		defer unix.Close(oldFD)
	}
	err := c.writeAtomicFunc(p.file, func(w io.Writer) error {
		return writePack(w, out, dirs, oldFD)
	})
	if err != nil {
		c.writeFailed("bytecode pack", err)
		return
	}
	c.prune(now)
}

// requested is what the run's loaders asked for (Take), in that order, as
// (source, .pyc) pairs without the source (which the pack does not need).
func (p *Pack) requested() [][2]string {
	out := make([][2]string, len(p.order))
	for path, i := range p.order {
		out[i] = [2]string{"", path}
	}
	return out
}

// inOrder is used sorted in the order the run's loaders asked for the
// .pyc files (Take), those they did not ask for last, in used's order
// (sys.modules' is the order modules finished loading).
func (p *Pack) inOrder(used [][2]string) [][2]string {
	out := append([][2]string{}, used...)
	rank := func(u [2]string) int {
		if i, ok := p.order[u[1]]; ok {
			return i
		}
		return len(p.order)
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// packOut is an entry of the pack being written: an old copy (old, read
// from the old pack) or a new one (data).
type packOut struct {
	packEntry
	old  int
	data []byte
}

// writePack writes the pack's format (see the top of this file); old
// copies are read from oldFD and dropped if their CRC fails.
func writePack(w io.Writer, out []packOut, dirs []dirRecord, oldFD int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	dirIndex := map[int]int{}
	var usedDirs []dirRecord
	entries := make([]packEntry, 0, len(out))
	var off int64
	var buf []byte
	for _, e := range out {
		data := e.data
		if e.old >= 0 {
			if int64(cap(buf)) < e.n {
				buf = make([]byte, e.n)
			}
			data = buf[:e.n]
			if oldFD < 0 || preadFull(oldFD, data, e.off) != nil || crc32.ChecksumIEEE(data) != e.crc {
				continue
			}
		}
		if _, err := bw.Write(data); err != nil {
			return err
		}
		d, ok := dirIndex[e.dir]
		if !ok {
			d = len(usedDirs)
			dirIndex[e.dir] = d
			usedDirs = append(usedDirs, dirs[e.dir])
		}
		ne := e.packEntry
		ne.dir = d
		entries = append(entries, ne)
		off += e.n
	}
	table := encodePackTable(usedDirs, entries)
	if _, err := bw.Write(table); err != nil {
		return err
	}
	var tr [packTrailerLen]byte
	binary.LittleEndian.PutUint64(tr[:8], uint64(off))
	binary.LittleEndian.PutUint32(tr[8:12], uint32(len(table)))
	copy(tr[12:], packMagic)
	if _, err := bw.Write(tr[:]); err != nil {
		return err
	}
	return bw.Flush()
}

// settled is whether a directory's mtime and ctime are old enough that a
// later change moves them (see dirRecord).
func settled(st *unix.Stat_t, now time.Time) bool {
	limit := now.Add(-settle)
	return time.Unix(st.Mtim.Sec, st.Mtim.Nsec).Before(limit) && time.Unix(st.Ctim.Sec, st.Ctim.Nsec).Before(limit)
}

// timestampPyc is whether data is a .pyc of magic whose header says it is
// checked by its source's mtime and size (PEP 552 flags 0).
func timestampPyc(data, magic []byte) bool {
	return len(data) >= 16 && bytes.Equal(data[:4], magic) && binary.LittleEndian.Uint32(data[4:8]) == 0
}
