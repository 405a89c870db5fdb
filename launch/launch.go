// Package launch is the pyhost command: python3's own start-up and exit
// (CPython parses every option and PYTHON* variable), with pyhost's steps
// between CPython's two phases of start-up. It reads pyhost's own options,
// which never collide with python3's: -X pyhost.<name>[=value] on the
// command line (CPython keeps unknown -X options in sys._xoptions) or
// PYHOST_<NAME> in the environment (ignored under -E and -I), the command
// line winning.
//
// # The start-up sequence
//
// [Main] runs CPython's core phase, then pyhost's steps, each a plain call
// in (*launcher).start, on the main thread with the GIL held:
//
//  1. read pyhost's settings;
//  2. start MPI, when a launcher started this process (mpiglue);
//  3. compute the search path, as CPython's main phase would (probing the
//     file system once: the main phase is handed the result, checked to
//     be what it would compute; see cpython.ComputePaths), on the root
//     and on a process alone;
//  4. open the environment's cache (on the root only) into a new index,
//     with its bytecode pack (read at the first .pyc a loader asks for);
//  5. share, collectively among pyhost's peers: the root lists or
//     verifies, reads the bytecode bundle, and broadcasts them with its
//     path configuration and site's answers; the others merge, adopt the
//     root's path configuration when their inputs to it are the same
//     (else compute their own: step 3, late) and answer site's scan from
//     the root's answers (internal/share, sitescan.go);
//     then the root plans and writes the node-local copies of extension
//     modules and broadcasts the plan (native.go);
//  6. install the importer over the index and the bundle;
//  7. register the exit hooks (with the cache: the record of the modules
//     loaded, then the cache's save);
//
// then CPython's main phase (encodings, the streams, site) and the program.
// Step 5 is the only collective of start-up, and no collective is ever
// made from an import. MPI starts before the search path is computed so
// that the other ranks can take the root's in that one collective instead
// of probing the file system themselves; nothing MPI's start-up does is
// an input to the computation (cpython.AdoptPaths compares them).
//
// It owns the process's exit too: hooks run once Python is finalised, in
// reverse order of registration (MPI is finalised last).
//
// It must never be imported by an embedding application: it exits the
// process.
package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/importer"
	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/internal/dirfd"
	"github.com/pyhost/pyhost/internal/share"
	"github.com/pyhost/pyhost/pathscan"
)

// Main runs the pyhost command with the process's arguments and returns
// its exit status; when Python itself ends the process (sys.exit under -c
// or a script, as python3 does) it does not return.
func Main(args []string) int {
	l := &launcher{imp: importer.New(), job: share.Alone}
	if err := host.Register(l.publicModule()); err != nil {
		fmt.Fprintln(os.Stderr, "pyhost:", err)
		return 1
	}
	return cpython.Main(cpython.MainOptions{Args: args, Setup: l.start, AfterMain: l.afterMain})
}

type launcher struct {
	settings  Settings
	ignoreEnv bool // -E or -I: PYHOST_* variables are ignored
	imp       *importer.Importer
	index     *pathscan.Index // nil with the importer off
	job       share.Job       // this process among its peers (share.Alone without MPI)
	mpi       bool            // MPI initialised by pyhost (under a launcher)

	cache   *share.Cache   // nil without a cache, and on a rank that is not the root
	env     share.Env      // the environment the cache is of
	modules []share.Module // the cache's record of the modules loaded from source
	// modulesRead: modules was read at start-up (else saveCache reads it,
	// if the run loaded anything).
	modulesRead bool
	program     uint64      // this run's program within the environment (share.ProgramID)
	pack        *share.Pack // the environment's bytecode copies (nil without a cache)
	// (source, bytecode) of the modules loaded, recorded at exit on the
	// root under MPI or a process alone ("" bytecode: an extension module).
	loaded [][2]string

	magic           []byte // importlib's MAGIC_NUMBER, read with the cache
	dontWriteAtExit bool   // sys.dont_write_bytecode at exit (recorded with loaded)

	phases phases // how long each start-up step took, for -X pyhost.stats

	undoSite func() // takes site's answers away after the main phase (nil: none given)

	// startFiles: under MPI, the descriptors open when the program
	// started (see releaseProgramFiles).
	startFiles map[int]fileID

	// rootReadsLocal: under MPI, the root lists ahead and bundles what is on
	// local disk too (see Settings.RootReads), not only what is on a shared
	// file system.
	rootReadsLocal bool
}

// phases times the steps of start-up.
type phases struct {
	names []string
	took  []time.Duration
	last  time.Time
}

// mark ends the step called name.
func (p *phases) mark(name string) {
	now := time.Now()
	if !p.last.IsZero() {
		p.names = append(p.names, name)
		p.took = append(p.took, now.Sub(p.last))
	}
	p.last = now
}

// String is "name=1.2ms ..." in the order the steps ran.
func (p *phases) String() string {
	var b strings.Builder
	for i, n := range p.names {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%.1fms", n, float64(p.took[i].Microseconds())/1000)
	}
	return b.String()
}

// start is pyhost's part of start-up (see the package doc): between
// CPython's core phase and its main phase, on the main thread, with the
// GIL held, the same steps in the same order on every rank.
func (l *launcher) start() error {
	l.phases.mark("")
	s, ignoreEnv, err := readSettings()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pyhost:", err)
		cpython.Exit(2)
	}
	if v, err := sysFlagValue("verbose"); err == nil && v >= 2 {
		// -vv traces every file FileFinder tries ("# trying ..."), which
		// is what a user debugging an import asks it for: CPython's own
		// finders answer, as under python3.
		s.Importer = false
	}
	l.settings, l.ignoreEnv = s, ignoreEnv
	if s.Version {
		fmt.Print(versionText())
		cpython.Exit(0)
	}
	l.phases.mark("settings")
	if err := l.startMPI(); err != nil {
		fmt.Fprintln(os.Stderr, "pyhost:", err)
		cpython.Exit(1)
	}
	l.phases.mark("mpi")
	// A rank that shares takes the root's search path in step 5.
	sharing := s.Importer && l.job.Shared()
	var cfg cpython.Config
	if !sharing || l.job.Root() {
		if cfg, err = cpython.ComputePaths(); err != nil {
			return fmt.Errorf("compute the search path: %w", err)
		}
		l.phases.mark("paths")
	}
	if s.Importer {
		opts := pathscan.Options{RevalidateMisses: !s.MissesFinal, Concurrency: s.concurrency()}
		// The program's directories (its own, the working directory's,
		// PYTHONPATH's, those it adds) are checked at every use, as
		// FileFinder checks them, so that it sees what it changes there
		// during the run; an installed environment's are trusted once
		// verified (pathscan/check.go).
		opts.Check = func(dir string) bool { return !pathscan.IsEnvironmentDir(dir) }
		if l.job.Shared() {
			// A rank checks only what is on its node's own file systems:
			// on a shared one a stat at every use is a request per rank
			// that the sharing saves, and changes made there during the
			// job are the job's to order (importlib.invalidate_caches).
			mounts := share.ReadMounts()
			opts.Check = func(dir string) bool { return !pathscan.IsEnvironmentDir(dir) && !mounts.Shared(dir) }
		}
		l.index = pathscan.New(opts)
		if s.Cache != "off" && l.job.Root() {
			l.openCache(cfg)
		} else if s.Warm && s.Cache == "off" {
			warn("-X pyhost.warm records nothing: the cache is off")
		}
		l.phases.mark("cache")
		bundle, err := l.share(cfg)
		if err != nil {
			return err
		}
		if err := l.imp.Install(l.index, bundle); err != nil {
			return err
		}
		l.phases.mark("install")
	}
	l.noteStartFiles()
	return l.registerExitHooks()
}

// readSettings reads -X pyhost.* over PYHOST_* (ignored under -E and -I,
// which it also reports).
func readSettings() (s Settings, ignoreEnv bool, err error) {
	xopts, err := cpython.XOptions()
	if err != nil {
		return Settings{}, false, err
	}
	if ignoreEnv, err = sysFlag("ignore_environment"); err != nil {
		return Settings{}, false, err
	}
	s, err = parseSettings(xopts, os.Getenv, ignoreEnv)
	return s, ignoreEnv, err
}

// sysFlag reads sys.flags.<name> as a bool.
func sysFlag(name string) (on bool, err error) {
	n, err := sysFlagValue(name)
	return n != 0, err
}

// sysFlagValue is sys.flags.<name> (verbose counts its -v's).
func sysFlagValue(name string) (n int64, err error) {
	err = host.Attach(func(py *host.Py) error {
		sys, err := py.Import("sys")
		if err != nil {
			return err
		}
		defer sys.Close()
		flags, err := sys.Attr("flags")
		if err != nil {
			return err
		}
		defer flags.Close()
		v, err := flags.Attr(name)
		if err != nil {
			return err
		}
		defer v.Close()
		n, err = v.AsInt()
		return err
	})
	return n, err
}

// openCache opens the environment's cache and loads it into the index.
func (l *launcher) openCache(cfg cpython.Config) {
	dontWrite, err := sysFlag("dont_write_bytecode")
	if err != nil {
		return
	}
	if dontWrite && l.settings.Warm {
		warn("-X pyhost.warm records nothing: Python writes no bytecode here (-B, PYTHONDONTWRITEBYTECODE)")
	}
	dir, home := l.settings.CacheDir, ""
	if dir == "" {
		if dir, home, err = share.DefaultDir(); err != nil {
			return // no home: no cache
		}
	} else if dir, err = filepath.Abs(dir); err != nil {
		return
	}
	l.env = envOf(cfg)
	l.cache = share.Open(dir, l.env, !dontWrite)
	l.cache.Warn = func(msg string) { warn("%s", msg) }
	l.cache.Home = home
	// The record of the modules loaded serves the bytecode bundle and the
	// node-local copies, which only peers share: a process alone does not
	// read it at start-up, only at exit when it loaded anything (its
	// modules warm the environment for later jobs).
	l.program = programID(cfg)
	if l.settings.Warm {
		l.program = share.WarmProgram
	}
	read := l.settings.Cache != "rebuild"
	if read {
		l.cache.LoadIndex(l.index)
		if l.job.Shared() {
			l.modules, l.modulesRead = l.cache.LoadModules(), true
		}
	}
	// Read at the first .pyc a loader asks for.
	l.pack = l.cache.Pack(read)
	l.imp.SetPack(l.pack)
	l.magic = pythonMagic() // an attribute of a module imported already: no import
}

// envOf is the environment this run is of (see share.Env).
func envOf(cfg cpython.Config) share.Env {
	return share.Env{
		PyhostVersion: Version,
		PythonVersion: cpython.Version(),
		Executable:    cfg.Executable,
		Prefix:        cfg.Prefix,
		SearchPath:    cfg.ModuleSearchPaths,
	}
}

// programID names what this run runs within its environment: the script,
// or the module or command and the directory it runs in.
func programID(cfg cpython.Config) uint64 {
	if cfg.RunFilename != "" {
		if abs, err := filepath.Abs(cfg.RunFilename); err == nil {
			return share.ProgramID("script", abs)
		}
	}
	wd, _ := os.Getwd()
	return share.ProgramID("cwd", wd, "module", cfg.RunModule, "command", cfg.RunCommand)
}

// share is step 5, collective among the peers: the root lists what the
// job's imports can reach (or, in an environment that ran before,
// verifies what its record says the job will use and lists what the
// program names; see share.Roots) and reads the bytecode bundle; every peer gets both, and the others the root's path
// configuration (cfg, computed on the root only) and site's answers. It
// returns this rank's bundle (nil when there is none).
func (l *launcher) share(cfg cpython.Config) (*importer.Bundle, error) {
	if !l.job.Shared() {
		return nil, nil
	}
	var r share.Roots
	var warm bool
	var facts func() []byte
	l.job.LearnNodes()
	// What is on local disk the root reads for all only when told to (see
	// Settings.RootReads), however many ranks share the node's processors:
	// a warm job's bundle from local disk made sci jobs 1.2x slower than
	// python3 + mpi4py at np = 4 and 8 on 2 processors (rank 0 reads and
	// sends what every rank would read from the page cache meanwhile).
	l.rootReadsLocal = l.settings.RootReads == "all"
	if l.job.Root() {
		r = roots(cfg)
		// Warm: the environment ran before (its listings are cached and
		// its record names modules). A program it ran verifies the
		// directories its own modules are in; a new one every directory
		// the environment's runs used (the cached listings, the most
		// recently used first, bounded) and lists what it names.
		if warm = len(l.modules) > 0 && l.index.Stats().DirsMerged > 0; warm {
			if mods, seen := share.ForProgram(l.modules, l.program); seen {
				r.Uses = usedDirs(mods, append(append([]string{}, r.Trees...), r.Local...), -1)
			} else {
				r.Uses = l.index.CachedDirs(maxNewProgramDirs)
				r.New, r.Named = true, namedImports(cfg)
			}
		}
		if !l.rootReadsLocal {
			// The root lists ahead (a first job's trees, the directories
			// in the working directory and the script's, a new program's
			// packages) only what is on a shared file system: from local
			// disk each rank lists what it imports from, as python3 does.
			// What the environment's record says the job uses is verified
			// whatever the file system (a stat each, against a listing
			// per rank).
			local := func(d string) bool { return !share.OnSharedFS(d) }
			r.Trees = slices.DeleteFunc(r.Trees, local)
			r.Local = slices.DeleteFunc(r.Local, local)
		}
		facts = func() []byte { return l.rootFacts(cfg) }
	}
	got := l.job.ShareIndex(l.index, r, warm, facts)
	l.phases.mark("share_index")
	if !l.job.Root() {
		if err := l.takeFacts(got); err != nil {
			return nil, err
		}
		l.phases.mark("paths")
	}
	// The bundle travels in memory outside Go's heap, which each rank gives
	// back page by page as its loaders take the modules (importer.Bundle).
	var mem *importer.BundleMemory
	if l.job.Root() {
		mem = l.makeBundle()
		// The entries read are garbage now: give their memory back at
		// once rather than at the runtime's leisure.
		debug.FreeOSMemory()
	}
	l.job.BroadcastInto(mem.Bytes(), func(n int) []byte {
		mem = importer.NewBundleMemory(n)
		return mem.Bytes()
	}, "the bytecode bundle")
	l.phases.mark("share_bundle")
	l.shareNative(cfg)
	l.phases.mark("share_native")
	if len(mem.Bytes()) == 0 {
		mem.Free()
		return nil, nil
	}
	bundle, err := importer.OpenBundle(mem)
	if err != nil {
		warn("the broadcast bytecode bundle was rejected, loading from files: %v", err)
		return nil, nil
	}
	bundle.ReleaseWhenIdle(bundleIdle)
	return bundle, nil
}

// bundleIdle is how long a rank keeps what is left of its bundle after
// its loaders last took a module from it (importer.Bundle.ReleaseWhenIdle):
// long enough to span a start-up's slow steps (an extension module's
// libraries loaded from a busy file system), short next to a job.
const bundleIdle = 10 * time.Second

// startFacts is what the root shares in the index's broadcast besides
// the index.
type startFacts struct {
	Paths []byte      // cpython.Config.Portable: nil when the others compute their own
	Site  siteAnswers // the answers to site's scan
	// Absent are the search path's entries that do not exist (stat:
	// ENOENT), such as lib/python311.zip: every path hook refuses them,
	// and PathFinder caches None for them at the first import, as the
	// others do at once, without probing.
	Absent []string
}

// rootFacts are the root's start-up facts, encoded: its path
// configuration, when the other ranks would probe the same files for it
// (one node, or a shared file system), its answers to site's scan and the
// search path's absent entries.
func (l *launcher) rootFacts(cfg cpython.Config) []byte {
	f := startFacts{Paths: cfg.Portable}
	for _, p := range append([]string{cfg.Executable, filepath.Dir(cfg.Executable)}, cfg.ModuleSearchPaths...) {
		if !l.job.MayShare(p) {
			f.Paths = nil
			break
		}
	}
	if cfg.SiteImport {
		f.Site = siteAnswersFor(cfg, l.job.MayShare)
	}
	for _, p := range cfg.ModuleSearchPaths {
		var st unix.Stat_t
		if filepath.IsAbs(p) && unix.Stat(p, &st) == unix.ENOENT && l.job.MayShare(p) {
			f.Absent = append(f.Absent, p)
		}
	}
	return f.marshal()
}

// takeFacts is a non-root rank's step 3, after the share: it adopts the
// root's path configuration when its inputs are the same, else computes
// its own; and it answers site's scan from the root's answers.
func (l *launcher) takeFacts(blob []byte) error {
	var f startFacts
	if len(blob) > 0 {
		if err := f.unmarshal(blob); err != nil {
			warn("the root's start-up facts were rejected: %v", err)
			f = startFacts{}
		}
	}
	adopted, err := cpython.AdoptPaths(f.Paths)
	if err != nil {
		return fmt.Errorf("adopt the root's search path: %w", err)
	}
	if !adopted {
		if _, err := cpython.ComputePaths(); err != nil {
			return fmt.Errorf("compute the search path: %w", err)
		}
	}
	if len(f.Site.Modes) > 0 {
		if l.undoSite, err = answerSite(f.Site); err != nil {
			return fmt.Errorf("answer site's scan: %w", err)
		}
	}
	if len(f.Absent) > 0 {
		if err := cacheAbsent(f.Absent); err != nil {
			return fmt.Errorf("the search path's absent entries: %w", err)
		}
	}
	return nil
}

// cacheAbsent sets sys.path_importer_cache[entry] = None for each entry
// (before the main phase: before any import searches them).
func cacheAbsent(entries []string) error {
	return host.Attach(func(py *host.Py) error {
		sys, err := py.Import("sys")
		if err != nil {
			return err
		}
		defer sys.Close()
		cache, err := sys.Attr("path_importer_cache")
		if err != nil {
			return err
		}
		defer cache.Close()
		for _, e := range entries {
			if err := cache.SetItem(e, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// afterMain runs once the main phase is done, before the program.
func (l *launcher) afterMain() {
	if l.undoSite != nil {
		l.undoSite()
		l.undoSite = nil
	}
}

// roots are what the root lists ahead for the job.
func roots(cfg cpython.Config) share.Roots {
	r := share.Roots{Trees: append([]string{}, cfg.ModuleSearchPaths...)}
	// site's directories, named as site names them (no globbing: it would
	// list the prefixes' lib directories); the missing are skipped.
	r.Trees = append(r.Trees, siteDirCandidates(cfg)...)
	if wd, err := os.Getwd(); err == nil {
		r.Local = append(r.Local, wd)
	}
	if cfg.RunFilename != "" {
		if abs, err := filepath.Abs(cfg.RunFilename); err == nil {
			r.Local = append(r.Local, filepath.Dir(abs))
		}
	}
	return r
}

// maxNewProgramDirs bounds what the root verifies for a program new to
// the environment (a stat each, pyhost.concurrency at once): at 1 ms a
// request and 16 in flight, a quarter of a second at most.
const maxNewProgramDirs = 4096

// usedDirs are the directories a job that loads mods searches: each
// module's, and those between it and the tree it is in (its packages'),
// in the order of mods, at most limit (negative: all).
func usedDirs(mods []share.Module, trees []string, limit int) []string {
	top := map[string]bool{}
	for _, t := range trees {
		top[filepath.Clean(t)] = true
	}
	seen := map[string]bool{}
	out := []string{}
	for _, m := range mods {
		if limit >= 0 && len(out) >= limit {
			break
		}
		for d := filepath.Dir(m.Source); !seen[d] && !top[d]; d = filepath.Dir(d) {
			seen[d] = true
			out = append(out, d)
			if d == "/" || d == "." {
				break
			}
		}
	}
	if limit >= 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// registerExitHooks is step 7. Hooks run once Python is finalised, in
// reverse order: the stats (a collective under MPI) before MPI is
// finalised (registered in startMPI, first).
func (l *launcher) registerExitHooks() error {
	if l.cache != nil {
		if err := cpython.AtExit(l.saveCache); err != nil {
			return err
		}
	}
	if l.settings.Stats {
		if err := cpython.AtExit(l.printStats); err != nil {
			return err
		}
	}
	if l.mpi {
		if err := l.abortOnUncaught(); err != nil {
			return err
		}
	}
	// Registered last, so it runs first of pyhost's exit hooks, before any
	// collective of theirs (the stats' gather, MPI_Finalize): a rank that
	// ends with sys.exit(n), n not 0, aborts the job with n, as python -m
	// mpi4py does, rather than wait in MPI_Finalize for ranks that may be
	// waiting for it in a collective (python3 + mpi4py would hang there).
	if l.mpi {
		if err := l.abortOnFailedExit(); err != nil {
			return err
		}
	}
	// Every run that keeps a cache records what it loaded (a process
	// alone too: it warms the environment for later jobs). Only the root
	// has a cache.
	if l.cache != nil {
		if err := l.recordLoaded(); err != nil {
			return err
		}
	}
	return nil
}

// saveCache runs at exit (after Python is finalised). The modules record
// is written only when this run loaded something it does not name for
// this program (or names with a stamp older than a day); if start-up did
// not read it, its head alone says whether that is so (the program's
// last loaded set, share.Cache.ModulesCurrent), and the whole is read
// only then.
func (l *launcher) saveCache() {
	if memoryTight() {
		return
	}
	cpython.IgnoreFileSizeSignal() // Python is finalised: nothing of the program's runs after
	now := time.Now()
	l.cache.SaveIndex(l.index, now)
	if len(l.loaded) > 0 {
		switch {
		case l.modulesRead || l.settings.Cache == "rebuild":
			l.cache.SaveModules(l.modules, l.loaded, l.program, now)
		case !l.cache.ModulesCurrent(l.loaded, l.program, now):
			l.cache.UpdateModules(l.loaded, l.program, now)
		}
	}
	// The pack is not written when the program set sys.dont_write_bytecode
	// (seen at exit, and at its imports: share.Pack.Take).
	if !l.dontWriteAtExit {
		// A single process gives the pack what its loaders asked it for
		// (nil); the root under MPI what it recorded, bundled modules too
		// (extension modules have no bytecode).
		var used [][2]string
		if l.job.Shared() {
			for _, m := range l.loaded {
				if m[1] != "" {
					used = append(used, m)
				}
			}
		}
		l.cache.SavePack(l.pack, used, l.magic, now)
	}
}

// memoryTight reports whether a limit on the address space or the data
// segment, set during the run (a program's resource.setrlimit, another
// process's prlimit: one set before the start runs the process without
// Go's runtime), leaves less than tightMargin above what the process
// maps. Writing the cache then could need more than the runtime can map,
// which ends the process in a Go fatal error after the program's work;
// the cache is left as it was instead (a later run writes it).
func memoryTight() bool {
	var as, data unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_AS, &as) != nil || unix.Getrlimit(unix.RLIMIT_DATA, &data) != nil {
		return true
	}
	if as.Cur == unix.RLIM_INFINITY && data.Cur == unix.RLIM_INFINITY {
		return false
	}
	// statm: total and data (+ stack) sizes, in pages.
	b, _, err := dirfd.ReadFile("/proc/self/statm", 0, 256)
	f := strings.Fields(string(b))
	if err != nil || len(f) < 6 {
		return true
	}
	size, err1 := strconv.ParseUint(f[0], 10, 64)
	dataPages, err2 := strconv.ParseUint(f[5], 10, 64)
	if err1 != nil || err2 != nil {
		return true
	}
	page := uint64(os.Getpagesize())
	tight := func(limit, used uint64) bool { return limit != unix.RLIM_INFINITY && limit < used*page+tightMargin }
	return tight(as.Cur, size) || tight(data.Cur, dataPages)
}

// tightMargin is the room memoryTight asks for: a cache write's buffers
// and a new arena of Go's heap (64 MB) with room to spare.
const tightMargin = 256 << 20

// warn prints one line on stderr, as pyhost's warnings are.
func warn(format string, args ...any) {
	fmt.Fprintln(os.Stderr, "pyhost: "+strings.TrimSpace(fmt.Sprintf(format, args...)))
}
