package launch

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"github.com/pyhost/pyhost/internal/dirfd"
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
const (
	bundleMaxBytes = 512 << 20
	maxDirFds      = 512
)

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
	dirs := dirfd.NewTree(maxDirFds)
	defer dirs.Close()
	var out []*importer.BundleEntry
	total := 0
	for _, p := range pairs {
		var st unix.Stat_t
		if err := dirs.Stat(p[0], &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		data, _, err := dirs.ReadFile(p[1], bundleMaxBytes)
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
