package native

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/pyhost/pyhost/internal/dirfd"
)

// LDCache is glibc's /etc/ld.so.cache as the loader reads it: for each
// library name, the path the cache gives (format "glibc-ld.so.cache1.1",
// possibly after the old "ld.so-1.7.0" table, which glibc 2.32+ no longer
// writes or reads).
type LDCache struct {
	paths map[string]string
}

const (
	ldCacheOldMagic = "ld.so-1.7.0"
	ldCacheNewMagic = "glibc-ld.so.cache1.1"
	ldCacheHeader   = 48 // the new format's header: magic, version, nlibs, len_strings, flags, extension offset, unused
	ldCacheEntry    = 24 // flags, key, value, osversion, hwcap
	// flagELFLibc6|flagX8664Lib64: the entries the x86-64 loader takes.
	flagsX8664 = 0x0303
	// hwcapExtension marks an entry of a glibc-hwcaps subdirectory.
	hwcapExtension = uint64(1) << 62
)

// ReadLDCache reads and parses the cache file; a missing file is an empty
// cache, as it is to the loader.
func ReadLDCache(file string) (*LDCache, error) {
	data, _, err := dirfd.ReadFile(file, 0, 64<<20)
	if errors.Is(err, os.ErrNotExist) {
		return &LDCache{paths: map[string]string{}}, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseLDCache(data)
}

// ParseLDCache parses the contents of an ld.so.cache file. Only x86-64
// entries of libc6 libraries count, and of those the ones outside
// glibc-hwcaps subdirectories (for a name that has both, the loader may
// prefer the hwcaps one: Lookup reports it as such, see Lookup).
func ParseLDCache(data []byte) (*LDCache, error) {
	base := 0
	if bytes.HasPrefix(data, []byte(ldCacheOldMagic)) {
		if len(data) < 16 {
			return nil, fmt.Errorf("native: ld.so.cache: truncated")
		}
		n := int(binary.LittleEndian.Uint32(data[12:16]))
		base = 16 + n*12
		base = (base + 7) &^ 7
	}
	if base < 0 || len(data) < base+ldCacheHeader || !bytes.HasPrefix(data[base:], []byte(ldCacheNewMagic)) {
		return nil, fmt.Errorf("native: ld.so.cache: not the %q format", ldCacheNewMagic)
	}
	h := data[base:]
	nlibs := int(binary.LittleEndian.Uint32(h[20:24]))
	if nlibs < 0 || nlibs > (len(h)-ldCacheHeader)/ldCacheEntry {
		return nil, fmt.Errorf("native: ld.so.cache: %d entries do not fit", nlibs)
	}
	str := func(off uint32) (string, bool) {
		if int(off) >= len(h) {
			return "", false
		}
		end := bytes.IndexByte(h[off:], 0)
		if end < 0 {
			return "", false
		}
		return string(h[off : int(off)+end]), true
	}
	c := &LDCache{paths: make(map[string]string, nlibs)}
	hwcapNames := map[string]bool{}
	for i := 0; i < nlibs; i++ {
		e := h[ldCacheHeader+i*ldCacheEntry:]
		flags := int32(binary.LittleEndian.Uint32(e[0:4]))
		key, value := binary.LittleEndian.Uint32(e[4:8]), binary.LittleEndian.Uint32(e[8:12])
		hwcap := binary.LittleEndian.Uint64(e[16:24])
		if flags != flagsX8664 {
			continue
		}
		name, ok1 := str(key)
		path, ok2 := str(value)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("native: ld.so.cache: entry %d: string out of range", i)
		}
		if hwcap != 0 { // glibc-hwcaps (hwcapExtension) or legacy hwcap bits: CPU-dependent
			hwcapNames[name] = true
			continue
		}
		if _, seen := c.paths[name]; !seen {
			c.paths[name] = path // the first entry for a name is the loader's
		}
	}
	for n := range hwcapNames {
		c.paths[n] = "" // ambiguous: the loader may pick a hwcaps variant
	}
	return c, nil
}

// Lookup is the path the cache gives for a library name; ambiguous is
// true when the cache also has hwcaps variants of it, which the loader may
// prefer according to the CPU (the caller then leaves the decision to the
// loader).
func (c *LDCache) Lookup(name string) (path string, found, ambiguous bool) {
	if c == nil {
		return "", false, false
	}
	p, ok := c.paths[name]
	if !ok {
		return "", false, false
	}
	return p, true, p == ""
}

// Dirs are the directories the cache's entries lie in.
func (c *LDCache) Dirs() map[string]bool {
	out := map[string]bool{}
	if c == nil {
		return out
	}
	for _, p := range c.paths {
		if i := lastSlash(p); i > 0 {
			out[p[:i]] = true
		}
	}
	return out
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}
