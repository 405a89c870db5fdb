package launch

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/importer"
)

// Under MPI, rank 0 also shares loading: the modules rank 0 loaded from
// source in the previous run (recorded next to the index cache) go into a
// bundle of their sources' stats and .pyc bytes, broadcast with the index,
// so the other ranks need no stat and no open per module. See
// importer.Bundle for what is checked.
const bundleMaxBytes = 512 << 20

// recordSource records, at exit on rank 0, which modules were loaded
// from source with their bytecode files. Registered with Python's atexit,
// it runs before finalisation, when sys.modules is complete.
const recordSource = `
import atexit as _atexit, sys as _sys

def _record_loaded():
    from importlib.machinery import SourceFileLoader
    out = []
    for m in list(_sys.modules.values()):
        s = getattr(m, "__spec__", None)
        if s is None or type(s.loader) is not SourceFileLoader:
            continue
        if isinstance(s.origin, str) and isinstance(s.cached, str):
            out.append(s.origin + "\0" + s.cached)
    _set_loaded(out)

_atexit.register(_record_loaded)
`

func (l *launcher) loadedFile() string {
	if l.cache == nil {
		return ""
	}
	return strings.TrimSuffix(l.cache.file, ".bin") + ".loaded"
}

// readLoaded reads the previous run's list of (source, bytecode) pairs.
func (l *launcher) readLoaded() [][2]string {
	f := l.loadedFile()
	if f == "" {
		return nil
	}
	data, err := readCache(f)
	if err != nil {
		return nil
	}
	var out [][2]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		src, pyc, ok := strings.Cut(sc.Text(), "\x00")
		if ok && filepath.IsAbs(src) && filepath.IsAbs(pyc) {
			out = append(out, [2]string{src, pyc})
		}
	}
	return out
}

// makeBundle stats each source and reads its .pyc, keeping those whose
// header matches (magic, timestamp-based, mtime and size as the loader
// compares them). Files are reached relative to descriptors of their
// directories, each opened once relative to its parent: on a file system
// that caches no lookups, a path costs one lookup per component.
func makeBundle(pairs [][2]string, magic []byte) []*importer.BundleEntry {
	dirs := newDirFds()
	defer dirs.close()
	var out []*importer.BundleEntry
	total := 0
	for _, p := range pairs {
		var st unix.Stat_t
		if err := dirs.statAt(p[0], &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		data, err := dirs.readAt(p[1])
		if err != nil || len(data) < 16 || !bytes.Equal(data[:4], magic) {
			continue
		}
		flags := binary.LittleEndian.Uint32(data[4:8])
		mtime := binary.LittleEndian.Uint32(data[8:12])
		size := binary.LittleEndian.Uint32(data[12:16])
		if flags != 0 || mtime != uint32(st.Mtim.Sec) || size != uint32(st.Size) {
			continue
		}
		if total += len(data); total > bundleMaxBytes {
			break
		}
		out = append(out, &importer.BundleEntry{
			Source: p[0], Bytecode: p[1],
			MtimeSec: st.Mtim.Sec, MtimeNsec: st.Mtim.Nsec, Size: st.Size,
			Data: data,
		})
	}
	return out
}

// dirFds opens directories once each, relative to their parents.
type dirFds struct {
	fds map[string]int // directory -> descriptor, or -1 if it cannot be opened
}

const maxDirFds = 512

func newDirFds() *dirFds { return &dirFds{fds: map[string]int{"/": -1}} }

func (d *dirFds) close() {
	for _, fd := range d.fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// fd returns a descriptor of dir, or AT_FDCWD-relative fallback -1.
func (d *dirFds) fd(dir string) int {
	if fd, ok := d.fds[dir]; ok {
		return fd
	}
	fd := -1
	if len(d.fds) < maxDirFds {
		parent, name := filepath.Split(dir)
		parent = filepath.Clean(parent)
		pfd := d.fd(parent)
		var err error
		if pfd >= 0 {
			fd, err = unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		} else {
			fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		}
		if err != nil {
			fd = -1
		}
	}
	d.fds[dir] = fd
	return fd
}

func (d *dirFds) statAt(path string, st *unix.Stat_t) error {
	if fd := d.fd(filepath.Dir(path)); fd >= 0 {
		return unix.Fstatat(fd, filepath.Base(path), st, 0)
	}
	return unix.Stat(path, st)
}

func (d *dirFds) readAt(path string) ([]byte, error) {
	var f *os.File
	if fd := d.fd(filepath.Dir(path)); fd >= 0 {
		nfd, err := unix.Openat(fd, filepath.Base(path), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		f = os.NewFile(uintptr(nfd), path)
	} else {
		var err error
		if f, err = openFile(path, os.O_RDONLY, 0); err != nil {
			return nil, err
		}
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, bundleMaxBytes))
}

// writeLoaded saves the list recorded at exit (rank 0).
func (l *launcher) writeLoaded() {
	f := l.loadedFile()
	if f == "" || len(l.loaded) == 0 || !l.cache.write {
		return
	}
	var b strings.Builder
	for _, s := range l.loaded {
		if !strings.Contains(s, "\n") {
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	if err := writeAtomic(f, []byte(b.String())); err != nil {
		l.cache.warn("module list not written: %v", err)
	}
}

func pythonMagic(py *host.Py) []byte {
	m, err := py.Import("_frozen_importlib_external")
	if err != nil {
		return nil
	}
	defer m.Close()
	v, err := m.Attr("MAGIC_NUMBER")
	if err != nil {
		return nil
	}
	defer v.Close()
	b, _ := v.AsBytes()
	return b
}
