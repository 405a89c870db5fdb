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
// Only timestamp-based .pyc files of this interpreter's magic go in;
// hash-based and sourceless ones are always read from their files.
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
// then the data a window at a time (from 256 KB, doubling to 4 MB; the
// first with the table's open), each later window with one open of the
// pack that must find the same file (device, inode, size, mtime) as the
// first; no descriptor stays open between imports, and nothing is mapped
// (a file replaced from another NFS client would fault a mapping, and
// SIGBUS ends pyhost as it ends python3). An
// entry's CRC is checked before its bytes are served. A pack that is
// truncated, corrupt, of another version or not a private regular file is
// ignored with one warning line and rewritten at the end of the run.
const (
	packMagic      = "PYHP"
	packVersion    = 1
	packTrailerLen = 8 + 4 + 4
	maxPackBytes   = 192 << 20 // data bytes kept in one environment's pack
	maxPackEntries = maxModules
	minWindow      = 256 << 10
	maxWindow      = 4 << 20
	maxPackDirs    = 512 // directory descriptors kept open while reading new copies
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

	opened     bool // the table was read (or could not be)
	usable     bool // and the pack may be served from
	replaced   bool // another run replaced the file during this one
	fd         int  // the pack, open from reading the table to the end of that call (else -1)
	id         fileID
	dirs       []dirRecord
	entries    []packEntry
	byBytecode map[string]int

	dirState []int8 // per record this run: 0 not checked, 1 same, -1 changed
	served   []bool // entries whose bytes were handed out this run

	order map[string]int // .pyc paths in the order Take was first asked for them

	window      map[int][]byte // entries read ahead, not yet taken
	windowBytes int
	windows     int
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
	return ok && p.dirSame(p.entries[i].dir)
}

// Take hands out the copy of the .pyc file bytecode once; ok is false when
// there is none that may be served (then the loader reads the file). Every
// call, served or not, records the order in which the run's loaders asked
// for their bytecode, which is the order SavePack writes the copies in.
func (p *Pack) Take(bytecode string) (data []byte, ok bool) {
	if p == nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.closeFD()
	if p.order == nil {
		p.order = map[string]int{}
	}
	if _, seen := p.order[bytecode]; !seen {
		p.order[bytecode] = len(p.order)
	}
	i, found := p.lookup(bytecode)
	if !found || !p.dirSame(p.entries[i].dir) {
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
	p.windowBytes -= len(data)
	e := &p.entries[i]
	if crc32.ChecksumIEEE(data) != e.crc {
		p.cache.warn("ignoring the bytecode pack %s, which will be rewritten: the copy of %s is corrupt", p.file, e.bytecode)
		p.usable = false
		return nil, false
	}
	p.served[i] = true
	return data, true
}

// lookup finds bytecode's entry, reading the table first if need be.
func (p *Pack) lookup(bytecode string) (int, bool) {
	p.open()
	if !p.usable {
		return 0, false
	}
	i, ok := p.byBytecode[bytecode]
	return i, ok && !p.served[i]
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
		if unix.Stat(p.dirs[d].path, &st) == nil && p.dirs[d].same(&st) {
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
		p.dirs, p.entries, p.byBytecode = nil, nil, nil
		return
	}
	p.fd = fd
	p.id = id
	p.usable = true
	p.dirState = make([]int8, len(p.dirs))
	p.served = make([]bool, len(p.entries))
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
	dirs, entries, err := decodePackTable(table, off)
	if err != nil {
		return err
	}
	p.dirs, p.entries = dirs, entries
	p.byBytecode = make(map[string]int, len(entries))
	for i := range entries {
		p.byBytecode[entries[i].bytecode] = i
	}
	return nil
}

func decodePackTable(table []byte, dataEnd int64) ([]dirRecord, []packEntry, error) {
	d, err := frame.Open(table, packMagic, packVersion)
	if err != nil {
		return nil, nil, err
	}
	d.ShareStrings()
	nd := d.Count("directory count", 7)
	dirs := make([]dirRecord, 0, nd)
	for i := uint64(0); i < nd && d.Err() == nil; i++ {
		r := dirRecord{path: d.String("directory")}
		r.dev, r.ino = d.Uvarint("device"), d.Uvarint("inode")
		r.mtime = unix.Timespec{Sec: d.Varint("mtime"), Nsec: d.Varint("mtime ns")}
		r.ctime = unix.Timespec{Sec: d.Varint("ctime"), Nsec: d.Varint("ctime ns")}
		if d.Err() == nil && !filepath.IsAbs(r.path) {
			d.Fail(frame.Errorf("directory %q: relative path", r.path))
		}
		dirs = append(dirs, r)
	}
	ne := d.Count("entry count", 7)
	entries := make([]packEntry, 0, ne)
	seen := make(map[string]bool, ne)
	next := int64(0)
	for i := uint64(0); i < ne && d.Err() == nil; i++ {
		e := packEntry{source: d.String("source")}
		name := d.String("bytecode name")
		dir := d.Uvarint("directory")
		e.n = int64(d.Uvarint("length"))
		e.crc = uint32(d.Uvarint("crc"))
		e.usedAt = d.Varint("last use")
		switch {
		case d.Err() != nil:
		case dir >= uint64(len(dirs)):
			d.Fail(frame.Errorf("entry %q: directory %d of %d", e.source, dir, len(dirs)))
		case !filepath.IsAbs(e.source) || name == "" || filepath.Base(name) != name:
			d.Fail(frame.Errorf("entry %q: bad path", e.source))
		case e.n < 16 || e.n > dataEnd-next:
			d.Fail(frame.Errorf("entry %q: %d bytes at %d past the data's end %d", e.source, e.n, next, dataEnd))
		}
		if d.Err() != nil {
			break
		}
		e.dir = int(dir)
		e.bytecode = filepath.Join(dirs[e.dir].path, name)
		if seen[e.bytecode] || seen[e.source] {
			d.Fail(frame.Errorf("entry %q twice", e.source))
			break
		}
		e.off = next
		next += e.n
		seen[e.source], seen[e.bytecode] = true, true
		entries = append(entries, e)
	}
	if err := d.Close(); err != nil {
		return nil, nil, err
	}
	if next != dataEnd {
		return nil, nil, frame.Errorf("entries hold %d bytes of %d", next, dataEnd)
	}
	return dirs, entries, nil
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
	j := i + 1
	for j < len(p.entries) && p.entries[j].off+p.entries[j].n-p.entries[i].off <= int64(size) {
		j++
	}
	fd := p.fd
	if fd < 0 {
		var id fileID
		var err error
		fd, id, err = p.cache.openPrivate(p.file)
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
	start, end := p.entries[i].off, p.entries[j-1].off+p.entries[j-1].n
	buf := make([]byte, end-start)
	if err := preadFull(fd, buf, start); err != nil {
		p.usable = false
		return
	}
	// Bound what is read ahead and not taken (an earlier window's modules
	// that this program does not import).
	if p.windowBytes+len(buf) > 2*maxWindow {
		clear(p.window)
		p.windowBytes = 0
	}
	for k := i; k < j; k++ {
		e := &p.entries[k]
		if p.served[k] {
			continue
		}
		if _, ok := p.window[k]; ok {
			continue
		}
		p.window[k] = buf[e.off-start : e.off-start+e.n : e.off-start+e.n]
		p.windowBytes += int(e.n)
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
	if err := trusted(c.dir); err != nil {
		return -1, fileID{}, err
	}
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
// used, (source, .pyc) pairs in the order it loaded them: copies of what
// the run loaded from files are added (read now, from directories that
// have settled, when they are timestamp-based .pyc files of magic), the
// copies of directories found changed go, and so do those no run used for
// maxAge, the least recently used beyond the bounds. Nothing is written
// when nothing changed, and nothing when another run replaced the pack
// during this one (its copies are as new).
func (c *Cache) SavePack(p *Pack, used [][2]string, magic []byte, now time.Time) {
	if !c.write || p == nil || len(magic) != 4 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open()
	p.closeFD()
	if p.replaced {
		return
	}
	used = p.inOrder(used)
	bySource := make(map[string]int, len(p.entries))
	for i := range p.entries {
		bySource[p.entries[i].source] = i
	}
	stamp := now.UnixNano()
	changed := false
	var out []packOut
	taken := map[string]bool{}
	var fresh [][2]string // to read
	for _, u := range used {
		if taken[u[0]] || !filepath.IsAbs(u[0]) || !filepath.IsAbs(u[1]) {
			continue
		}
		taken[u[0]] = true
		i, ok := bySource[u[0]]
		if ok && p.usable && p.entries[i].bytecode == u[1] && p.dirState[p.entries[i].dir] >= 0 {
			e := p.entries[i]
			if stamp-e.usedAt > int64(stampEvery) {
				e.usedAt, changed = stamp, true
			}
			out = append(out, packOut{packEntry: e, old: i})
			continue
		}
		if ok {
			changed = true // a copy of another .pyc, or of a changed directory
		}
		fresh = append(fresh, u)
	}
	// New copies, each directory stat'ed before its files are read.
	dirs := append([]dirRecord{}, p.dirs...)
	if len(fresh) > 0 {
		tree := dirfd.NewTree(maxPackDirs)
		recs := map[string]int{}
		total := 0
		for _, u := range fresh {
			dir := filepath.Dir(u[1])
			r, ok := recs[dir]
			if !ok {
				r = -1
				var st unix.Stat_t
				if tree.Stat(dir, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && settled(&st, now) {
					r = len(dirs)
					dirs = append(dirs, recordOf(dir, &st))
				}
				recs[dir] = r
			}
			if r < 0 || total > maxPackBytes {
				continue
			}
			data, _, err := tree.ReadFile(u[1], maxPackBytes)
			if err != nil || !timestampPyc(data, magic) {
				continue
			}
			total += len(data)
			changed = true
			out = append(out, packOut{packEntry: packEntry{source: u[0], bytecode: u[1], dir: r, n: int64(len(data)), crc: crc32.ChecksumIEEE(data), usedAt: stamp}, old: -1, data: data})
		}
		tree.Close()
	}
	// The copies this run did not load, most recently used first.
	var rest []packOut
	if p.usable {
		for i, e := range p.entries {
			switch {
			case taken[e.source]:
			case p.dirState[e.dir] < 0 || stamp-e.usedAt >= int64(maxAge):
				changed = true
			default:
				rest = append(rest, packOut{packEntry: e, old: i})
			}
		}
	}
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].usedAt > rest[j].usedAt })
	out = append(out, rest...)
	total, n := int64(0), 0
	for n < len(out) && n < maxPackEntries && total+out[n].n <= maxPackBytes {
		total += out[n].n
		n++
	}
	if n < len(out) {
		out, changed = out[:n], true
	}
	if !changed {
		return
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
		c.warn("bytecode pack not written: %v", err)
		return
	}
	c.prune(now)
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
	type row struct {
		source, name string
		dir          int
		n            int64
		crc          uint32
		usedAt       int64
	}
	rows := make([]row, 0, len(out))
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
		rows = append(rows, row{e.source, filepath.Base(e.bytecode), d, e.n, e.crc, e.usedAt})
		off += e.n
	}
	enc := frame.NewEncoder(packMagic, packVersion, 64*len(usedDirs)+96*len(rows))
	enc.Uvarint(uint64(len(usedDirs)))
	for _, r := range usedDirs {
		enc.String(r.path)
		enc.Uvarint(r.dev)
		enc.Uvarint(r.ino)
		enc.Varint(r.mtime.Sec)
		enc.Varint(r.mtime.Nsec)
		enc.Varint(r.ctime.Sec)
		enc.Varint(r.ctime.Nsec)
	}
	enc.Uvarint(uint64(len(rows)))
	for _, r := range rows {
		enc.String(r.source)
		enc.String(r.name)
		enc.Uvarint(uint64(r.dir))
		enc.Uvarint(uint64(r.n))
		enc.Uvarint(uint64(r.crc))
		enc.Varint(r.usedAt)
	}
	table := enc.Finish()
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
