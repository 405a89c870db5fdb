package launch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/pathscan"
)

// The persistent index cache: the listings of one run, loaded by the next
// with one open and one read instead of a directory read per directory.
//
// Staleness policy: a cached listing is used only after one stat of its
// directory finds the mtime it was listed with; otherwise the directory is
// read again. So a cached run sees what a fresh listing would, except where
// a directory changes without its mtime moving: a listing read within
// cacheSettle of its directory's mtime is never written (a change within
// the same mtime tick could follow unseen), and a symlink whose target
// changes type (file to directory) does not move its directory's mtime.
//
// The file is keyed by pyhost's and Python's versions, the executable, the
// interpreter's search path and what runs (script, module or command), so
// unrelated programs do not evict each other.
// It is written atomically (a temporary file renamed over it), with mode
// 0600 in a directory of mode 0700; one that another user owns, or that
// others can write, is ignored with a warning. Nothing is written when
// Python writes no bytecode either (-B, PYTHONDONTWRITEBYTECODE).
const (
	cacheSettle  = 2 * time.Second
	cacheMaxSize = 256 << 20
)

type indexCache struct {
	file   string
	write  bool
	warned bool // one warning line per run at most
}

func (c *indexCache) warn(format string, args ...any) {
	if !c.warned {
		c.warned = true
		warn(format, args...)
	}
}

// cacheDir is -X pyhost.cachedir, else $XDG_CACHE_HOME/pyhost, else
// ~/.cache/pyhost.
func cacheDir(s Settings) (string, error) {
	if s.CacheDir != "" {
		return filepath.Abs(s.CacheDir)
	}
	if x := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "pyhost"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "pyhost"), nil
}

func cacheKey(cfg host.Config, sysPath []string) string {
	h := sha256.New()
	for _, s := range append([]string{Version, host.PythonVersion(), cfg.Executable, cfg.Prefix}, sysPath...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// openCache finds the cache file for this run and loads it into ix
// (unless rebuilding). A cache that cannot be used is reported in one line
// and the run goes on without it.
func openCache(s Settings, cfg host.Config, sysPath []string, dontWriteBytecode bool, ix *pathscan.Index) *indexCache {
	dir, err := cacheDir(s)
	if err != nil {
		return nil
	}
	c := &indexCache{
		file:  filepath.Join(dir, "index-"+cacheKey(cfg, sysPath)+".bin"),
		write: !dontWriteBytecode,
	}
	if s.Cache == "rebuild" {
		return c
	}
	data, err := readCache(c.file)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		c.warn("ignoring the index cache: %v", err)
	default:
		if err := ix.MergeUnverified(data); err != nil {
			c.warn("ignoring the index cache %s, which will be rebuilt: %v", c.file, err)
		}
	}
	return c
}

// readCache reads the cache file if it and its directory are the user's
// own and nobody else can write them.
func readCache(file string) ([]byte, error) {
	if err := trusted(filepath.Dir(file), true); err != nil {
		return nil, err
	}
	f, err := openFile(file, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := ownedBySelf(file, st, false); err != nil {
		return nil, err
	}
	if st.Size() > cacheMaxSize {
		return nil, fmt.Errorf("%s: %d bytes is larger than a cache should be", file, st.Size())
	}
	return io.ReadAll(io.LimitReader(f, cacheMaxSize+1))
}

func trusted(dir string, isDir bool) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	return ownedBySelf(dir, st, isDir)
}

func ownedBySelf(name string, st os.FileInfo, isDir bool) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: cannot tell its owner", name)
	}
	switch {
	case isDir && !st.IsDir():
		return fmt.Errorf("%s is not a directory", name)
	case !isDir && !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", name)
	case int(sys.Uid) != os.Geteuid():
		return fmt.Errorf("%s belongs to another user (uid %d)", name, sys.Uid)
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s can be written by others (mode %04o)", name, st.Mode().Perm())
	}
	return nil
}

// save writes the index's settled listings if any directory was read
// during the run.
func (c *indexCache) save(ix *pathscan.Index) {
	if c == nil || !c.write || !ix.Changed() {
		return
	}
	if err := c.writeFile(ix); err != nil {
		c.warn("index cache not written: %v", err)
	}
}

func (c *indexCache) writeFile(ix *pathscan.Index) error {
	blob, err := ix.MarshalStable(cacheSettle)
	if err != nil {
		return err
	}
	return writeAtomic(c.file, blob)
}

// writeAtomic writes data to file through a temporary file renamed over
// it, in a private directory.
func writeAtomic(file string, blob []byte) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := trusted(dir, true); err != nil {
		return err
	}
	tmp, err := createTemp(dir, ".index-", ".tmp") // mode 0600
	if err != nil {
		return err
	}
	_, werr := tmp.Write(blob)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), file)
	}
	if werr != nil {
		os.Remove(tmp.Name())
	}
	return werr
}

func warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "pyhost: "+strings.TrimSpace(msg))
}
