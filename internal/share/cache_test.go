package share

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pyhost/pyhost/internal/frame"
	"github.com/pyhost/pyhost/pathscan"
)

var loaders = []pathscan.Suffix{{Suffix: ".py", Kind: pathscan.Source}}

func testEnv(path ...string) Env {
	return Env{PyhostVersion: "t", PythonVersion: "3.11", Executable: "/x/python", Prefix: "/x", SearchPath: path}
}

// settledTree is a directory with one module whose mtime is an hour old, so
// that its listing may be cached.
func settledTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lib")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "m.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newCache(dir string, env Env, warnings *[]string) *Cache {
	c := Open(dir, env, true)
	c.Warn = func(msg string) { *warnings = append(*warnings, msg) }
	return c
}

func TestIndexRoundTripAndOneWarningPerRun(t *testing.T) {
	lib := settledTree(t)
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := newCache(dir, testEnv(lib), &warnings)
	ix := pathscan.New(pathscan.Options{Loaders: loaders})
	c.LoadIndex(ix) // no file yet: silent
	ix.Find(lib, "m")
	c.SaveIndex(ix, time.Now())
	if len(warnings) != 0 {
		t.Fatalf("warnings: %q", warnings)
	}
	st, err := os.Stat(c.IndexFile())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("index file: %v, mode %v", err, st.Mode())
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Fatalf("cache directory mode %v", st.Mode().Perm())
	}
	next := pathscan.New(pathscan.Options{Loaders: loaders})
	newCache(dir, testEnv(lib), &warnings).LoadIndex(next)
	next.Find(lib, "m")
	if s := next.Stats(); s.DirsMerged != 1 || s.DirsListed != 0 {
		t.Fatalf("second run: %+v, want the listing from the cache", s)
	}
	// Another search path is another environment.
	other := pathscan.New(pathscan.Options{Loaders: loaders})
	newCache(dir, testEnv(lib, "/elsewhere"), &warnings).LoadIndex(other)
	if other.Stats().DirsMerged != 0 {
		t.Fatal("another environment's cache was used")
	}
}

// What sits at the cache file's path instead of a private regular file is
// refused with one line and without blocking; the next save replaces it.
func TestUntrustedThingsAtTheCachePath(t *testing.T) {
	lib := settledTree(t)
	cases := map[string]func(t *testing.T, file string){
		"fifo": func(t *testing.T, file string) {
			if err := syscall.Mkfifo(file, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"directory": func(t *testing.T, file string) {
			if err := os.Mkdir(file, 0o700); err != nil {
				t.Fatal(err)
			}
		},
		"dangling symlink": func(t *testing.T, file string) {
			if err := os.Symlink("/nonexistent/target", file); err != nil {
				t.Fatal(err)
			}
		},
		"symlink to a good file": func(t *testing.T, file string) {
			good := filepath.Join(t.TempDir(), "good")
			os.WriteFile(good, nil, 0o600)
			if err := os.Symlink(good, file); err != nil {
				t.Fatal(err)
			}
		},
		"group-writable file": func(t *testing.T, file string) {
			os.WriteFile(file, []byte("x"), 0o600)
			os.Chmod(file, 0o620)
		},
	}
	for name, place := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			os.Mkdir(dir, 0o700)
			var warnings []string
			c := newCache(dir, testEnv(lib), &warnings)
			place(t, c.IndexFile())
			done := make(chan struct{})
			ix := pathscan.New(pathscan.Options{Loaders: loaders})
			go func() { c.LoadIndex(ix); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("LoadIndex blocked")
			}
			if len(warnings) != 1 || ix.Stats().DirsMerged != 0 {
				t.Fatalf("warnings %q, merged %d: want one line and nothing used", warnings, ix.Stats().DirsMerged)
			}
			ix.Find(lib, "m")
			c.SaveIndex(ix, time.Now())
			if len(warnings) > 1 {
				t.Fatalf("more than one line in a run: %q", warnings)
			}
		})
	}
}

func TestPruneEvictsOldEnvironmentsAndLeftoverTemporaries(t *testing.T) {
	lib := settledTree(t)
	dir := filepath.Join(t.TempDir(), "cache")
	os.Mkdir(dir, 0o700)
	now := time.Now()
	long := now.Add(-2 * maxAge)
	old := "env-" + strings.Repeat("0", 24)
	// The user's own files in a directory they chose (PYHOST_CACHEDIR):
	// names like pyhost's, as old, never pruned.
	users := []string{"env-production.sh", "env-old.index", "env-" + strings.Repeat("0", 23) + ".index",
		old + ".index.bak", old + ".txt", ".pyhost-my-notes.tmp", ".pyhost-1.tmp~", "unrelated.txt"}
	for _, name := range append([]string{old + ".index", old + ".modules", old + ".pack", ".pyhost-1.tmp"}, users...) {
		p := filepath.Join(dir, name)
		os.WriteFile(p, nil, 0o600)
		os.Chtimes(p, long, long)
	}
	for i := 0; i < maxEnvs+3; i++ {
		p := filepath.Join(dir, fmt.Sprintf("env-%024x.index", i+1))
		os.WriteFile(p, nil, 0o600)
		at := now.Add(-time.Duration(i+1) * time.Minute)
		os.Chtimes(p, at, at)
		p = filepath.Join(dir, fmt.Sprintf("env-run%02d.log", i))
		os.WriteFile(p, nil, 0o600)
		os.Chtimes(p, at, at)
	}
	var warnings []string
	c := newCache(dir, testEnv(lib), &warnings)
	ix := pathscan.New(pathscan.Options{Loaders: loaders})
	ix.Find(lib, "m")
	c.SaveIndex(ix, now)
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	got := strings.Join(names, " ")
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for _, gone := range []string{old + ".index", old + ".modules", old + ".pack", ".pyhost-1.tmp"} {
		if have[gone] {
			t.Errorf("%s survived: %s", gone, got)
		}
	}
	for _, kept := range append(users, filepath.Base(c.IndexFile())) {
		if !have[kept] {
			t.Errorf("pruned %s: %s", kept, got)
		}
	}
	for i := 0; i < maxEnvs+3; i++ {
		if name := fmt.Sprintf("env-run%02d.log", i); !have[name] {
			t.Errorf("pruned %s", name)
		}
	}
	envs := 0
	for _, n := range names {
		if _, ok := cacheFileKey(n); ok {
			envs++
		}
	}
	if envs > maxEnvs {
		t.Errorf("%d environments kept, want at most %d", envs, maxEnvs)
	}
}

func TestModulesRecordPerProgramWithinTheEnvironment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := newCache(dir, testEnv("/lib"), &warnings)
	a, b := ProgramID("script:/a.py"), ProgramID("script:/b.py")
	now := time.Now()
	c.SaveModules(nil, [][2]string{{"/lib/x.py", "/lib/__pycache__/x.pyc"}, {"/lib/y.py", "/lib/__pycache__/y.pyc"}}, a, now)
	c.SaveModules(c.LoadModules(), [][2]string{{"/lib/y.py", "/lib/__pycache__/y.pyc"}, {"/lib/z.py", "/lib/__pycache__/z.pyc"}}, b, now.Add(time.Hour))
	ms := c.LoadModules()
	if len(ms) != 3 || len(warnings) != 0 {
		t.Fatalf("record = %+v, warnings %q", ms, warnings)
	}
	sources := func(ms []Module) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.Source)
		}
		return strings.Join(s, " ")
	}
	if mine, seen := ForProgram(ms, a); !seen || sources(mine) != "/lib/y.py /lib/x.py" {
		t.Errorf("program a's bundle: %s (seen %v)", sources(mine), seen)
	}
	// A new program gets what two programs loaded (y), not what one did.
	if common, seen := ForProgram(ms, ProgramID("script:/new.py")); seen || sources(common) != "/lib/y.py" {
		t.Errorf("a new program's bundle should be the environment's common modules: %s (seen %v)", sources(common), seen)
	}
	// ... and what a warm run loaded, first.
	c.SaveModules(ms, [][2]string{{"/lib/w.py", "/lib/__pycache__/w.pyc"}}, WarmProgram, now.Add(2*time.Hour))
	ms = c.LoadModules()
	if common, _ := ForProgram(ms, ProgramID("script:/new.py")); sources(common) != "/lib/w.py /lib/y.py" {
		t.Errorf("after a warm run, a new program's bundle: %s", sources(common))
	}
	if got := sources(byUse(ms)); got != "/lib/w.py /lib/y.py /lib/z.py /lib/x.py" {
		t.Errorf("byUse = %s, want warm, shared, then recent", got)
	}
	// A damaged record: one line, and the run goes on without it.
	os.WriteFile(c.file("modules"), []byte("PYHM\x01garbage"), 0o600)
	c2 := newCache(dir, testEnv("/lib"), &warnings)
	if ms := c2.LoadModules(); ms != nil || len(warnings) != 1 {
		t.Fatalf("damaged record: %v, warnings %q", ms, warnings)
	}
}

// The modules record stays bounded as programs come and go (single
// processes record too now): what no run used for maxAge goes, then the
// least recently used beyond maxModules; a module keeps at most
// maxPrograms programs.
func TestModulesRecordBounded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := newCache(dir, testEnv("/lib"), &warnings)
	pairs := func(prefix string, n int) [][2]string {
		out := make([][2]string, n)
		for i := range out {
			out[i] = [2]string{fmt.Sprintf("/lib/%s%d.py", prefix, i), fmt.Sprintf("/lib/__pycache__/%s%d.pyc", prefix, i)}
		}
		return out
	}
	t0 := time.Now()
	c.SaveModules(nil, pairs("old", 10), ProgramID("old"), t0.Add(-maxAge-time.Hour))
	c.SaveModules(c.LoadModules(), pairs("a", maxModules-100), ProgramID("a"), t0.Add(-time.Hour))
	c.SaveModules(c.LoadModules(), pairs("b", 200), ProgramID("b"), t0)
	ms := c.LoadModules()
	if len(ms) != maxModules || len(warnings) != 0 {
		t.Fatalf("%d modules kept (warnings %q), want %d", len(ms), warnings, maxModules)
	}
	count := map[string]int{}
	for _, m := range ms {
		count[strings.TrimRight(filepath.Base(m.Source), "0123456789.py")]++
	}
	if count["old"] != 0 || count["b"] != 200 || count["a"] != maxModules-200 {
		t.Errorf("kept %v: want no old (past maxAge), every b, the newest a", count)
	}
	for i := range maxPrograms + 3 {
		c.SaveModules(c.LoadModules(), pairs("b", 1), ProgramID(fmt.Sprint("p", i)), t0.Add(time.Duration(i+1)*time.Minute))
	}
	for _, m := range c.LoadModules() {
		if len(m.Programs) > maxPrograms {
			t.Fatalf("%s names %d programs, want at most %d", m.Source, len(m.Programs), maxPrograms)
		}
	}
}

// The default directory is made only in a home that exists, and one that
// cannot be made there is no cache, silently; a symbolic link to the
// user's own directory is followed.
func TestCacheDirectoryWhereItCannotOrMayBe(t *testing.T) {
	lib := settledTree(t)
	save := func(c *Cache) {
		ix := pathscan.New(pathscan.Options{Loaders: loaders})
		c.LoadIndex(ix)
		ix.Find(lib, "m")
		c.SaveIndex(ix, time.Now())
	}
	t.Run("home missing", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "nonexistent")
		var warnings []string
		c := newCache(filepath.Join(home, ".cache", "pyhost"), testEnv(lib), &warnings)
		c.Home = home
		save(c)
		if _, err := os.Stat(home); !os.IsNotExist(err) {
			t.Errorf("home made: %v", err)
		}
		if len(warnings) != 0 {
			t.Errorf("warnings: %q", warnings)
		}
	})
	t.Run("chosen directory that cannot be made", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		var warnings []string
		save(newCache(filepath.Join(file, "pyhost"), testEnv(lib), &warnings))
		if len(warnings) != 1 {
			t.Errorf("warnings: %q, want one", warnings)
		}
	})
	t.Run("symbolic link to the user's directory", func(t *testing.T) {
		real := filepath.Join(t.TempDir(), "real")
		if err := os.Mkdir(real, 0o700); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		var warnings []string
		c := newCache(link, testEnv(lib), &warnings)
		save(c)
		if _, err := os.Stat(filepath.Join(real, filepath.Base(c.IndexFile()))); err != nil || len(warnings) != 0 {
			t.Errorf("index through the link: %v, warnings %q", err, warnings)
		}
	})
	t.Run("relative HOME", func(t *testing.T) {
		t.Setenv("XDG_CACHE_HOME", "")
		t.Setenv("HOME", "relhome")
		if dir, _, err := DefaultDir(); err == nil {
			t.Errorf("DefaultDir = %q, want an error", dir)
		}
	})
}

// A cache directory missing at the run's first read is not looked for by
// its later reads (one stat, not three, in a run without one), and the
// same Cache's save makes it and reads it again.
func TestMissingDirectoryLookedForOnceThenMadeBySave(t *testing.T) {
	lib := settledTree(t)
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := newCache(dir, testEnv(lib), &warnings)
	ix := pathscan.New(pathscan.Options{Loaders: loaders})
	c.LoadIndex(ix)
	if !c.absent.Load() {
		t.Fatal("a missing directory was not remembered")
	}
	// Made behind the Cache's back: still missing for this run's reads.
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := c.read(c.IndexFile()); !os.IsNotExist(err) {
		t.Fatalf("read after the directory was remembered missing: %v, want not-exist", err)
	}
	ix.Find(lib, "m")
	c.SaveIndex(ix, time.Now())
	if c.absent.Load() {
		t.Fatal("still remembered missing after a save made it")
	}
	if _, err := c.read(c.IndexFile()); err != nil {
		t.Fatalf("read after the save: %v", err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings: %q", warnings)
	}
}

// A run that loaded what its program last recorded, recently, need not
// read the modules record: its head (the loaded sets) says so. Anything
// else, or any doubt, reads and records as before.
func TestModulesCurrentFromTheRecordsHead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	c := newCache(dir, testEnv("/lib"), &warnings)
	a, b := ProgramID("script:/a.py"), ProgramID("script:/b.py")
	used := [][2]string{{"/lib/x.py", "/lib/__pycache__/x.pyc"}, {"/lib/y.py", "/lib/__pycache__/y.pyc"}, {"/lib/e.so", ""}}
	now := time.Now()
	if c.ModulesCurrent(used, a, now) {
		t.Fatal("current without a record")
	}
	c.SaveModules(c.LoadModules(), used, a, now)
	reversed := slices.Clone(used)
	slices.Reverse(reversed)
	fresh := func() *Cache { return newCache(dir, testEnv("/lib"), &warnings) }
	for _, tc := range []struct {
		name    string
		used    [][2]string
		program uint64
		at      time.Time
		want    bool
	}{
		{"same run an hour later", used, a, now.Add(time.Hour), true},
		{"same modules in another order, twice", append(reversed, used[0]), a, now.Add(time.Hour), true},
		{"one module more", append(slices.Clone(used), [2]string{"/lib/z.py", "/lib/__pycache__/z.pyc"}), a, now.Add(time.Hour), false},
		{"one module less", used[:2], a, now.Add(time.Hour), false},
		{"another bytecode file", [][2]string{used[0], {"/lib/y.py", "/p/y.pyc"}, used[2]}, a, now.Add(time.Hour), false},
		{"another program", used, b, now.Add(time.Hour), false},
		{"a stamp older than stampEvery", used, a, now.Add(stampEvery + time.Minute), false},
	} {
		if got := fresh().ModulesCurrent(tc.used, tc.program, tc.at); got != tc.want {
			t.Errorf("%s: current = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Another program's save keeps a's set; many programs later a's set
	// has made way (at most maxSets), and the head still fits what is read.
	c = fresh()
	c.SaveModules(c.LoadModules(), [][2]string{{"/lib/z.py", "/lib/__pycache__/z.pyc"}}, b, now.Add(time.Minute))
	if !fresh().ModulesCurrent(used, a, now.Add(time.Hour)) || !fresh().ModulesCurrent([][2]string{{"/lib/z.py", "/lib/__pycache__/z.pyc"}}, b, now.Add(time.Hour)) {
		t.Error("a save of program b lost program a's set, or did not record its own")
	}
	other := [][2]string{{"/lib/w.py", "/lib/__pycache__/w.pyc"}}
	for i := range maxSets {
		c = fresh()
		c.SaveModules(c.LoadModules(), other, ProgramID(fmt.Sprint("p", i)), now.Add(time.Duration(i+2)*time.Minute))
	}
	if fresh().ModulesCurrent(used, a, now.Add(time.Hour)) {
		t.Error("program a's set outlived maxSets later programs")
	}
	if !fresh().ModulesCurrent(other, ProgramID(fmt.Sprint("p", maxSets-1)), now.Add(time.Hour)) {
		t.Error("the last program's set is not current")
	}
	// A run current by the old rule (every module stamped) but without a
	// set writes once, to add it.
	c = fresh()
	c.SaveModules(c.LoadModules(), used, a, now.Add(2*time.Hour))
	if !fresh().ModulesCurrent(used, a, now.Add(3*time.Hour)) {
		t.Error("a run of program a did not record its set again")
	}
	// A damaged head is no set, and LoadModules says what is wrong.
	data, err := os.ReadFile(c.file("modules"))
	if err != nil {
		t.Fatal(err)
	}
	data[6] ^= 0xff
	os.WriteFile(c.file("modules"), data, 0o600)
	c = fresh()
	if c.ModulesCurrent(used, a, now.Add(3*time.Hour)) || len(warnings) != 0 {
		t.Errorf("a damaged head is current, or warned at once: %q", warnings)
	}
	if ms := c.LoadModules(); ms != nil || len(warnings) != 1 {
		t.Errorf("damaged head: modules %v, warnings %q", ms, warnings)
	}
	if len(warnings) != 0 && !strings.Contains(warnings[0], "modules record") {
		t.Errorf("warning %q does not name the modules record", warnings[0])
	}
}

// UpdateModules writes what LoadModules and SaveModules write together,
// byte for byte, whatever the record held: random histories of programs
// loading overlapping modules over weeks (stamps within and past
// stampEvery and maxAge, bytecode that moved, programs beyond
// maxPrograms), and records it cannot copy from (a module named twice,
// out of order, damaged), which take SaveModules's way with its warning.
func TestUpdateModulesIsLoadAndSave(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Now()
	mod := func(i int, moved bool) [2]string {
		pyc := fmt.Sprintf("/lib/__pycache__/m%d.pyc", i)
		switch {
		case i%7 == 0:
			pyc = "" // an extension module
		case moved:
			pyc = fmt.Sprintf("/prefix/lib/m%d.pyc", i)
		}
		return [2]string{fmt.Sprintf("/lib/m%d.py", i), pyc}
	}
	damage := []struct {
		name string
		dmg  func([]byte) []byte
	}{
		{"none", func(b []byte) []byte { return b }},
		{"named twice", func(b []byte) []byte {
			return rewrite(t, b, func(ms []Module) []Module { return append(ms, ms[len(ms)/2]) })
		}},
		{"out of order", func(b []byte) []byte {
			return rewrite(t, b, func(ms []Module) []Module { ms[0], ms[len(ms)-1] = ms[len(ms)-1], ms[0]; return ms })
		}},
		{"relative path", func(b []byte) []byte {
			return rewrite(t, b, func(ms []Module) []Module { ms[len(ms)/2].Source = "lib/x.py"; return ms })
		}},
		{"flipped byte", func(b []byte) []byte { b[len(b)-9] ^= 0x20; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)*2/3] }},
	}
	for round := range 40 {
		// A history: saves by a handful of programs, days apart.
		var warnings []string
		c := newCache(filepath.Join(t.TempDir(), "history"), testEnv("/lib"), &warnings)
		at := t0.Add(-40 * 24 * time.Hour)
		for range 2 + rng.IntN(12) {
			at = at.Add(time.Duration(rng.Int64N(int64(10 * 24 * time.Hour))))
			var used [][2]string
			for range 1 + rng.IntN(40) {
				used = append(used, mod(rng.IntN(80), rng.IntN(10) == 0))
			}
			c.SaveModules(c.LoadModules(), used, ProgramID(fmt.Sprint(rng.IntN(12))), at)
		}
		if len(warnings) != 0 {
			t.Fatal(warnings)
		}
		record, err := os.ReadFile(c.file("modules"))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range damage {
			name, dmg := d.name, d.dmg
			if name != "none" && round%4 != 0 {
				continue
			}
			var used [][2]string
			for range rng.IntN(30) {
				used = append(used, mod(rng.IntN(100), rng.IntN(10) == 0))
			}
			used = append(used, [2]string{"relative.py", ""}) // never recorded
			if len(used) == 1 {
				used = append(used, mod(0, false)) // else nothing to record
			}
			program := ProgramID(fmt.Sprint(rng.IntN(14)))
			now := at.Add(time.Duration(rng.Int64N(int64(3 * 24 * time.Hour))))
			var got [2][]string
			var files [2][]byte
			// As launch's saveCache did before UpdateModules, and does now.
			for k, save := range []func(c *Cache){
				func(c *Cache) {
					if !c.ModulesCurrent(used, program, now) {
						c.SaveModules(c.LoadModules(), used, program, now)
					}
				},
				func(c *Cache) {
					if !c.ModulesCurrent(used, program, now) {
						c.UpdateModules(used, program, now)
					}
				},
			} {
				dir := filepath.Join(t.TempDir(), fmt.Sprint(k))
				c := newCache(dir, testEnv("/lib"), &got[k])
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(c.file("modules"), dmg(slices.Clone(record)), 0o600); err != nil {
					t.Fatal(err)
				}
				save(c)
				files[k], _ = os.ReadFile(c.file("modules"))
			}
			if !bytes.Equal(files[0], files[1]) || !slices.Equal(got[0], got[1]) {
				t.Fatalf("round %d, %s: UpdateModules wrote %d bytes (warnings %q), LoadModules+SaveModules %d (%q)",
					round, name, len(files[1]), got[1], len(files[0]), got[0])
			}
			damaged := name == "relative path" || name == "flipped byte" || name == "truncated"
			if damaged != (len(got[0]) == 1) || len(got[0]) > 1 {
				t.Fatalf("round %d, %s: warnings %q", round, name, got[0])
			}
			// The record was copied from exactly when it was as SaveModules
			// writes them (else SaveModules's way wrote it).
			var none []string
			c := newCache(filepath.Join(t.TempDir(), "direct"), testEnv("/lib"), &none)
			if copied := c.updateEncoded(dmg(slices.Clone(record)), used, program, now); copied != (name == "none") {
				t.Fatalf("round %d, %s: copied from the record: %v", round, name, copied)
			}
		}
	}
}

// rewrite is a modules record with its modules changed by f, written as
// SaveModules writes (frames and checksums valid).
func rewrite(t *testing.T, record []byte, f func([]Module) []Module) []byte {
	t.Helper()
	sets, rest, err := decodeSets(record)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeModules(rest)
	if err != nil || len(ms) < 2 {
		t.Fatalf("%d modules, %v", len(ms), err)
	}
	ms = f(slices.Clone(ms))
	var warnings []string
	c := newCache(filepath.Join(t.TempDir(), "rewrite"), testEnv("/lib"), &warnings)
	c.writeModules(sets, len(ms), func(e *frame.Encoder) {
		for i := range ms {
			encodeModule(e, &ms[i])
		}
	})
	b, err := os.ReadFile(c.file("modules"))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("%v %q", err, warnings)
	}
	return b
}

// A program new to the environment that loaded what two other programs
// last loaded (a many-task workflow's next task) need not write: every
// module it loaded is recorded, recent, and common ground. One other
// program's set, or two that are stale or of other bytecode, is not
// enough; a warm run's set counts as two.
func TestModulesCurrentForASharedSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	var warnings []string
	fresh := func() *Cache { return newCache(dir, testEnv("/lib"), &warnings) }
	used := [][2]string{{"/lib/x.py", "/lib/__pycache__/x.pyc"}, {"/lib/e.so", ""}}
	a, b, n := ProgramID("a"), ProgramID("b"), ProgramID("new")
	now := time.Now()
	save := func(used [][2]string, program uint64, at time.Time) {
		c := fresh()
		c.SaveModules(c.LoadModules(), used, program, at)
	}
	save(used, a, now)
	if fresh().ModulesCurrent(used, n, now.Add(time.Minute)) {
		t.Error("current for a new program after one other program's set")
	}
	save(used, b, now.Add(time.Minute))
	if !fresh().ModulesCurrent(used, n, now.Add(time.Hour)) {
		t.Error("not current for a new program after two programs' sets")
	}
	// What the new program skipped writing, SaveModules would not have
	// changed for any other program: every module common ground already.
	ms := fresh().LoadModules()
	for _, m := range ms {
		if len(m.Programs) < 2 {
			t.Errorf("%s: loaded by %d programs", m.Source, len(m.Programs))
		}
	}
	if got, seen := ForProgram(ms, n); seen || len(got) != len(used) {
		t.Errorf("a new program's bundle: %d modules (seen %v), want %d", len(got), seen, len(used))
	}
	for _, tc := range []struct {
		name string
		used [][2]string
		at   time.Time
	}{
		{"one module more", append(slices.Clone(used), [2]string{"/lib/y.py", "/lib/__pycache__/y.pyc"}), now.Add(time.Hour)},
		{"one module less", used[:1], now.Add(time.Hour)},
		{"another bytecode file", [][2]string{{"/lib/x.py", "/p/x.pyc"}, used[1]}, now.Add(time.Hour)},
		{"the sets older than stampEvery", used, now.Add(stampEvery + 2*time.Minute)},
	} {
		if fresh().ModulesCurrent(tc.used, n, tc.at) {
			t.Errorf("%s: current for a new program", tc.name)
		}
	}
	// A warm run's set alone is the environment's common ground.
	dir = filepath.Join(t.TempDir(), "warm")
	save(used, WarmProgram, now)
	if !fresh().ModulesCurrent(used, n, now.Add(time.Hour)) {
		t.Error("not current for a new program after a warm run's set")
	}
	if len(warnings) != 0 {
		t.Error(warnings)
	}
}
