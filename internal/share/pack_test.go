package share

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var testMagic = []byte{0xa7, 0x0d, 0x0d, 0x0a}

// pyc is a timestamp-based .pyc of testMagic (flags as given) with body.
func pyc(flags uint32, body string) []byte {
	b := append([]byte{}, testMagic...)
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = binary.LittleEndian.AppendUint32(b, 12345)
	b = binary.LittleEndian.AppendUint32(b, 67)
	return append(b, body...)
}

// pycTree is a directory of sources with their .pyc files in __pycache__:
// name -> .pyc contents. It returns the (source, .pyc) pairs in name order.
func pycTree(t *testing.T, files map[string][]byte, names ...string) (string, [][2]string) {
	t.Helper()
	lib := filepath.Join(t.TempDir(), "lib")
	cache := filepath.Join(lib, "__pycache__")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	var pairs [][2]string
	for _, n := range names {
		src := filepath.Join(lib, n+".py")
		bc := filepath.Join(cache, n+".cpython-311.pyc")
		if err := os.WriteFile(src, []byte("x = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bc, files[n], 0o644); err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, [2]string{src, bc})
	}
	return lib, pairs
}

// later is a "now" at which every directory made by the test has settled
// (its ctime, which a test cannot set, is older than settle).
func later() time.Time { return time.Now().Add(time.Hour) }

func packCache(t *testing.T, dir string, warnings *[]string) *Cache {
	t.Helper()
	return newCache(dir, testEnv("/lib"), warnings)
}

// savedPack saves a pack of pairs in a new cache directory, as an earlier
// run would, and returns the directory and the warnings list its caches
// report to.
func savedPack(t *testing.T, pairs [][2]string) (string, *[]string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cache")
	warnings := &[]string{}
	c := packCache(t, dir, warnings)
	c.SavePack(c.Pack(true), pairs, testMagic, later())
	return dir, warnings
}

func TestPackRoundTrip(t *testing.T) {
	files := map[string][]byte{"a": pyc(0, "AAAA"), "b": pyc(0, strings.Repeat("b", 300<<10)), "c": pyc(0, "CC")}
	_, pairs := pycTree(t, files, "a", "b", "c")
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := packCache(t, dir, &warnings)
	p := c.Pack(true)
	if p.Has(pairs[0][1]) {
		t.Fatal("an empty pack has a module")
	}
	c.SavePack(p, pairs, testMagic, later())
	st, err := os.Stat(c.PackFile())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("pack: %v %v", err, st)
	}

	next := packCache(t, dir, &warnings).Pack(true)
	for _, pr := range pairs {
		name := filepath.Base(pr[0])[:1]
		if !next.Has(pr[1]) {
			t.Fatalf("%s not in the pack", name)
		}
		if _, ok := next.Take(pr[1] + "x"); ok {
			t.Fatal("a copy was served for another .pyc path")
		}
		data, ok := next.Take(pr[1])
		if !ok || !bytes.Equal(data, files[name]) {
			t.Fatalf("%s: took %v, %d bytes", name, ok, len(data))
		}
		if _, ok := next.Take(pr[1]); ok {
			t.Fatal("a copy was handed out twice")
		}
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings: %q", warnings)
	}
	// Nothing changed: the file is not rewritten.
	before, _ := os.Stat(c.PackFile())
	packCache(t, dir, &warnings).SavePack(next, pairs, testMagic, later())
	after, _ := os.Stat(c.PackFile())
	if !os.SameFile(before, after) {
		t.Fatal("an unchanged pack was rewritten")
	}
}

func TestPackOnlyTimestampPycsOfThisMagic(t *testing.T) {
	other := pyc(0, "x")
	other[0] = 0x42
	files := map[string][]byte{"ts": pyc(0, "ok"), "checked": pyc(3, "h"), "unchecked": pyc(1, "h"), "foreign": other, "short": []byte("abc")}
	_, pairs := pycTree(t, files, "ts", "checked", "unchecked", "foreign", "short")
	dir, warnings := savedPack(t, pairs)
	p := packCache(t, dir, warnings).Pack(true)
	for _, pr := range pairs {
		want := strings.Contains(pr[0], "/ts.py")
		if got := p.Has(pr[1]); got != want {
			t.Errorf("%s: Has %v, want %v", pr[0], got, want)
		}
	}
}

func TestPackUnsettledDirectoryIsNotPacked(t *testing.T) {
	_, pairs := pycTree(t, map[string][]byte{"a": pyc(0, "A")}, "a")
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := packCache(t, dir, &warnings)
	c.SavePack(c.Pack(true), pairs, testMagic, time.Now())
	if _, err := os.Stat(c.PackFile()); !os.IsNotExist(err) {
		t.Fatalf("a pack was written from a directory changed just now: %v", err)
	}
}

// Any change of the __pycache__ directory (a .pyc replaced by rename, as
// CPython writes it; one added; one removed) makes its copies unused.
func TestPackDirectoryChangeInvalidates(t *testing.T) {
	for name, change := range map[string]func(cacheDir string) error{
		"replaced": func(d string) error {
			tmp := filepath.Join(d, "a.tmp")
			if err := os.WriteFile(tmp, pyc(0, "NEW!"), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, filepath.Join(d, "a.cpython-311.pyc"))
		},
		"added": func(d string) error {
			return os.WriteFile(filepath.Join(d, "z.cpython-311.pyc"), nil, 0o644)
		},
		"removed": func(d string) error { return os.Remove(filepath.Join(d, "b.cpython-311.pyc")) },
		"swapped": func(d string) error {
			// Another directory at the same path, with the same mtime.
			st, err := os.Stat(d)
			if err != nil {
				return err
			}
			if err := os.Rename(d, d+".old"); err != nil {
				return err
			}
			if err := os.Mkdir(d, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(d, "a.cpython-311.pyc"), pyc(0, "NEW!"), 0o644); err != nil {
				return err
			}
			return os.Chtimes(d, st.ModTime(), st.ModTime())
		},
	} {
		t.Run(name, func(t *testing.T) {
			lib, pairs := pycTree(t, map[string][]byte{"a": pyc(0, "OLD!"), "b": pyc(0, "B")}, "a", "b")
			dir, warnings := savedPack(t, pairs)
			if err := change(filepath.Join(lib, "__pycache__")); err != nil {
				t.Fatal(err)
			}
			p := packCache(t, dir, warnings).Pack(true)
			if p.Has(pairs[0][1]) {
				t.Fatal("a copy from a changed directory is served")
			}
			if _, ok := p.Take(pairs[0][1]); ok {
				t.Fatal("a copy from a changed directory is handed out")
			}
			// The next save drops them (and the new .pyc is copied once
			// its directory settles).
			packCache(t, dir, warnings).SavePack(p, pairs[:1], testMagic, later())
			q := packCache(t, dir, warnings).Pack(true)
			if q.Has(pairs[1][1]) {
				t.Fatal("a changed directory's copy was kept")
			}
			if name != "added" && name != "removed" {
				if data, ok := q.Take(pairs[0][1]); !ok || string(data[16:]) != "NEW!" {
					t.Fatalf("after the save: %v %q", ok, data)
				}
			}
		})
	}
}

// A directory is checked once per run; Forget (invalidate_caches) makes
// the next use check it again.
func TestPackForgetChecksAgain(t *testing.T) {
	lib, pairs := pycTree(t, map[string][]byte{"a": pyc(0, "A"), "b": pyc(0, "B")}, "a", "b")
	dir, warnings := savedPack(t, pairs)
	p := packCache(t, dir, warnings).Pack(true)
	if !p.Has(pairs[0][1]) {
		t.Fatal("not served")
	}
	if err := os.Remove(filepath.Join(lib, "__pycache__", "a.cpython-311.pyc")); err != nil {
		t.Fatal(err)
	}
	if !p.Has(pairs[1][1]) {
		t.Fatal("checked twice in one run")
	}
	p.Forget()
	if p.Has(pairs[1][1]) {
		t.Fatal("after Forget, a changed directory's copy is served")
	}
}

// A pack another run replaced during this one is neither served from (its
// table is not this run's) nor overwritten.
func TestPackReplacedDuringTheRun(t *testing.T) {
	_, pairs := pycTree(t, map[string][]byte{"a": pyc(0, "A"), "b": pyc(0, "B")}, "a", "b")
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := packCache(t, dir, &warnings)
	c.SavePack(c.Pack(true), pairs, testMagic, later())
	p := packCache(t, dir, &warnings).Pack(true)
	if !p.Has(pairs[0][1]) {
		t.Fatal("not served")
	}
	other := packCache(t, dir, &warnings)
	other.SavePack(other.Pack(false), pairs[1:], testMagic, later()) // rebuild: b only
	theirs, _ := os.Stat(c.PackFile())
	if _, ok := p.Take(pairs[0][1]); ok {
		t.Fatal("served from a replaced pack")
	}
	packCache(t, dir, &warnings).SavePack(p, pairs, testMagic, later().Add(48*time.Hour))
	now, _ := os.Stat(c.PackFile())
	if !os.SameFile(theirs, now) {
		t.Fatal("another run's pack was overwritten")
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings: %q", warnings)
	}
}

func TestPackCopiesNotUsedForMaxAgeGo(t *testing.T) {
	_, pairs := pycTree(t, map[string][]byte{"a": pyc(0, "A"), "b": pyc(0, "B")}, "a", "b")
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := packCache(t, dir, &warnings)
	now := later()
	c.SavePack(c.Pack(true), pairs, testMagic, now)
	c.SavePack(packCache(t, dir, &warnings).Pack(true), pairs[1:], testMagic, now.Add(maxAge+time.Hour))
	p := packCache(t, dir, &warnings).Pack(true)
	if p.Has(pairs[0][1]) || !p.Has(pairs[1][1]) {
		t.Fatal("want a dropped (not used for maxAge) and b kept")
	}
}

// Whatever is at the pack's path that is not a sound private pack costs
// one warning line, is never served, and never blocks.
func TestPackBadFiles(t *testing.T) {
	_, pairs := pycTree(t, map[string][]byte{"a": pyc(0, "AAAA"), "b": pyc(0, "BBBB")}, "a", "b")
	good := func(t *testing.T) (*Cache, []byte) {
		dir := filepath.Join(t.TempDir(), "cache")
		var none []string
		c := packCache(t, dir, &none)
		c.SavePack(c.Pack(true), pairs, testMagic, later())
		data, err := os.ReadFile(c.PackFile())
		if err != nil {
			t.Fatal(err)
		}
		return c, data
	}
	flip := func(at func(n int) int) func(t *testing.T, file string, data []byte) {
		return func(t *testing.T, file string, data []byte) {
			data = bytes.Clone(data)
			data[at(len(data))] ^= 0x40
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := map[string]func(t *testing.T, file string, data []byte){
		"data byte":  flip(func(int) int { return 17 }),
		"table byte": flip(func(n int) int { return n - packTrailerLen - 6 }),
		"trailer":    flip(func(n int) int { return n - 1 }),
		"foreign": func(t *testing.T, file string, _ []byte) {
			os.WriteFile(file, []byte("#!/bin/sh\necho hello\n"), 0o600)
		},
		"empty":     func(t *testing.T, file string, _ []byte) { os.WriteFile(file, nil, 0o600) },
		"fifo":      func(t *testing.T, file string, _ []byte) { os.Remove(file); syscall.Mkfifo(file, 0o600) },
		"directory": func(t *testing.T, file string, _ []byte) { os.Remove(file); os.Mkdir(file, 0o700) },
		"symlink": func(t *testing.T, file string, _ []byte) {
			os.Rename(file, file+".real")
			os.Symlink(file+".real", file)
		},
		"group-writable": func(t *testing.T, file string, _ []byte) { os.Chmod(file, 0o620) },
		"other-owned": func(t *testing.T, file string, _ []byte) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a file away")
			}
			os.Chown(file, 65534, 65534)
		},
	}
	for _, cut := range []int{1, 5, packTrailerLen, packTrailerLen + 1, 40} {
		cut := cut
		cases["truncated by "+strconv.Itoa(cut)] = func(t *testing.T, file string, data []byte) {
			os.WriteFile(file, data[:len(data)-cut], 0o600)
		}
	}
	cases["truncated data"] = func(t *testing.T, file string, data []byte) {
		os.WriteFile(file, append(bytes.Clone(data[:10]), data[12:]...), 0o600)
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			c, data := good(t)
			damage(t, c.PackFile(), data)
			var warnings []string
			d := packCache(t, filepath.Dir(c.PackFile()), &warnings)
			p := d.Pack(true)
			served := 0
			for _, pr := range pairs {
				if p.Has(pr[1]) {
					if _, ok := p.Take(pr[1]); ok {
						served++
					}
				}
			}
			if name == "data byte" {
				// The table is sound: the other copy is served until the
				// corrupt one is found, then none.
				if served > 1 {
					t.Fatalf("%d copies served from a corrupt pack", served)
				}
			} else if served != 0 {
				t.Fatalf("%d copies served from a bad pack", served)
			}
			if len(warnings) != 1 {
				t.Fatalf("warnings: %q, want one", warnings)
			}
		})
	}
}

// The table parser never panics, and what it accepts its methods can use.
func FuzzPackTable(f *testing.F) {
	enc := func(entries ...packEntry) (table []byte, dataEnd int64) {
		var end int64
		for _, e := range entries {
			end += e.n
		}
		return encodePackTable([]dirRecord{{path: "/d/__pycache__"}, {path: "/e"}}, entries), end
	}
	for _, seed := range [][]packEntry{
		{{source: "/a.py", bytecode: "/d/__pycache__/a.pyc", n: 16}},
		{{source: "/a.py", bytecode: "/d/__pycache__/a.pyc", n: 20}, {source: "/b.py", bytecode: "/e/b.pyc", dir: 1, n: 30}},
		{{source: "/b.py", bytecode: "/e/b.pyc", dir: 1, n: 30}, {source: "/a.py", bytecode: "/d/__pycache__/a.pyc", n: 20}, {source: "/c.py", bytecode: "/d/__pycache__/A.pyc", n: 17}},
	} {
		table, end := enc(seed...)
		f.Add(table, end)
	}
	f.Add([]byte("PYHP\x02\x00"), int64(0))
	f.Fuzz(func(t *testing.T, table []byte, dataEnd int64) {
		tab, err := parsePackTable(table, dataEnd)
		if err != nil {
			return
		}
		var end int64
		for i := 0; i < tab.len(); i++ {
			e := tab.entry(i)
			if e.dir < 0 || e.dir >= tab.ndirs() || e.off != end || e.n < 16 {
				t.Fatalf("bad entry accepted: %+v", e)
			}
			if j, ok := tab.find(e.bytecode); !ok || j != i {
				t.Fatalf("entry %d (%s) not found: %d %v", i, e.bytecode, j, ok)
			}
			tab.dir(e.dir)
			end += e.n
		}
		if end != dataEnd {
			t.Fatalf("entries hold %d of %d", end, dataEnd)
		}
		tab.find("/")
		tab.find("")
		tab.find("/zzz")
	})
}

// Copies are written in the order the run's loaders asked for them (the
// next run asks in that order, a window at a time); the others follow.
func TestPackWrittenInTheOrderOfUse(t *testing.T) {
	files := map[string][]byte{"a": pyc(0, "A"), "b": pyc(0, "B"), "c": pyc(0, "C")}
	_, pairs := pycTree(t, files, "a", "b", "c")
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := packCache(t, dir, &warnings)
	p := c.Pack(true)
	p.Take(pairs[2][1])
	p.Take(pairs[0][1])
	c.SavePack(p, pairs, testMagic, later()) // used as sys.modules lists them: a, b, c
	q := packCache(t, dir, &warnings).Pack(true)
	q.open()
	q.closeFD()
	var order []string
	for i := 0; i < q.tab.len(); i++ {
		order = append(order, filepath.Base(q.tab.entry(i).source))
	}
	if strings.Join(order, " ") != "c.py a.py b.py" {
		t.Fatalf("order %q", order)
	}
}

// A single process saves what its loaders asked for (used nil): the
// .pyc files, in the order asked, without their sources.
func TestPackSavesWhatTheLoadersAskedFor(t *testing.T) {
	_, pairs := pycTree(t, map[string][]byte{"a": pyc(0, "A"), "b": pyc(0, "B"), "c": pyc(0, "C")}, "a", "b", "c")
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := packCache(t, dir, &warnings)
	p := c.Pack(true)
	for _, i := range []int{1, 0} { // b, a; c not asked for
		if _, ok := p.Take(pairs[i][1]); ok {
			t.Fatal("served from no pack")
		}
	}
	c.SavePack(p, nil, testMagic, later())
	q := packCache(t, dir, &warnings).Pack(true)
	if !q.Has(pairs[0][1]) || !q.Has(pairs[1][1]) || q.Has(pairs[2][1]) {
		t.Fatal("want a and b, not c")
	}
	if e := q.tab.entry(0); filepath.Base(e.bytecode) != "b.cpython-311.pyc" || e.source != "" {
		t.Fatalf("first entry %+v", e)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings: %q", warnings)
	}
}

// A program that set sys.dont_write_bytecode (as a loader tells Take)
// gets no pack written.
func TestPackNotWrittenAfterDontWriteBytecode(t *testing.T) {
	_, pairs := pycTree(t, map[string][]byte{"a": pyc(0, "A")}, "a")
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := packCache(t, dir, &warnings)
	p := c.Pack(true)
	p.TakeNoting(pairs[0][1], true)
	c.SavePack(p, nil, testMagic, later())
	if _, err := os.Stat(c.PackFile()); !os.IsNotExist(err) {
		t.Fatalf("a pack was written: %v", err)
	}
}

// A sourceless module's .pyc (name.pyc, found by FileFinder itself) is
// neither stored nor served: nothing would check a copy of it against a
// source, and one rewritten in place would be served stale.
func TestPackLeavesSourcelessModulesToTheirFiles(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "lib")
	if err := os.Mkdir(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	sourceless := filepath.Join(lib, "slm.pyc")
	if err := os.WriteFile(sourceless, pyc(0, "v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, pairs := pycTree(t, map[string][]byte{"a": pyc(0, "AAAA")}, "a")
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := packCache(t, dir, &warnings)
	p := c.Pack(true)
	// As a single process's loaders ask (used nil: what they took).
	p.Take(sourceless)
	p.Take(pairs[0][1])
	c.SavePack(p, nil, testMagic, later())
	next := packCache(t, dir, &warnings).Pack(true)
	if next.Has(sourceless) {
		t.Fatal("a sourceless module's .pyc was stored")
	}
	if data, ok := next.Take(sourceless); ok {
		t.Fatalf("a sourceless module's .pyc was served: %q", data)
	}
	if !next.Has(pairs[0][1]) {
		t.Fatal("a source's cached bytecode was not stored beside it")
	}
	for _, name := range []string{"/l/__pycache__/m.cpython-311.pyc", "/l/__pycache__/m.cpython-311.opt-2.pyc", "/p/l/m.cpython-311.pyc"} {
		if !cachedBytecode(name) {
			t.Errorf("cachedBytecode(%q) = false", name)
		}
	}
	for _, name := range []string{"/l/m.pyc", "/l/__init__.pyc", "/l/m.py"} {
		if cachedBytecode(name) {
			t.Errorf("cachedBytecode(%q) = true", name)
		}
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings: %q", warnings)
	}
}
