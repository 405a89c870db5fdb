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
//  2. compute the search path, as CPython's main phase would;
//  3. start MPI, when a launcher started this process (mpiglue);
//  4. open the environment's cache (on the root only) into a new index;
//  5. share, collectively among pyhost's peers: the root lists or
//     verifies, reads the bytecode bundle, and broadcasts; the others merge
//     (internal/share);
//  6. install the importer over the index and the bundle;
//  7. register the exit hooks;
//
// then CPython's main phase (encodings, the streams, site) and the program.
// Step 5 is the only collective of start-up, and no collective is ever
// made from an import.
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
	"strings"
	"time"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/importer"
	"github.com/pyhost/pyhost/internal/cpython"
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
	return cpython.Main(cpython.MainOptions{Args: args, Setup: l.start})
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
	program uint64         // this run's program within the environment (share.ProgramID)
	loaded  [][2]string    // (source, bytecode) of the modules loaded, recorded at exit on the root

	phases phases // how long each start-up step took, for -X pyhost.stats
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
	l.settings, l.ignoreEnv = s, ignoreEnv
	if s.Version {
		fmt.Print(versionText())
		cpython.Exit(0)
	}
	l.phases.mark("settings")
	cfg, err := cpython.ComputePaths()
	if err != nil {
		return fmt.Errorf("compute the search path: %w", err)
	}
	l.phases.mark("paths")
	if err := l.startMPI(); err != nil {
		fmt.Fprintln(os.Stderr, "pyhost:", err)
		cpython.Exit(1)
	}
	l.phases.mark("mpi")
	if s.Importer {
		l.index = pathscan.New(pathscan.Options{RevalidateMisses: !s.MissesFinal})
		if s.Cache != "off" && l.job.Root() {
			l.openCache(cfg)
		}
		l.phases.mark("cache")
		bundle := l.share(cfg)
		if err := l.imp.Install(l.index, bundle); err != nil {
			return err
		}
		l.phases.mark("install")
	}
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
		n, err := v.AsInt()
		on = n != 0
		return err
	})
	return on, err
}

// openCache opens the environment's cache and loads it into the index.
func (l *launcher) openCache(cfg cpython.Config) {
	dontWrite, err := sysFlag("dont_write_bytecode")
	if err != nil {
		return
	}
	dir := l.settings.CacheDir
	if dir == "" {
		if dir, err = share.DefaultDir(); err != nil {
			return // no home: no cache
		}
	} else if dir, err = filepath.Abs(dir); err != nil {
		return
	}
	l.env = share.Env{
		PyhostVersion: Version,
		PythonVersion: cpython.Version(),
		Executable:    cfg.Executable,
		Prefix:        cfg.Prefix,
		SearchPath:    cfg.ModuleSearchPaths,
	}
	l.cache = share.Open(dir, l.env, !dontWrite)
	l.cache.Warn = func(msg string) { warn("%s", msg) }
	// The record of the modules loaded serves the bytecode bundle, which
	// only peers share: a process alone neither reads nor writes it.
	shared := l.job.Shared()
	if shared {
		l.program = programID(cfg)
	}
	if l.settings.Cache != "rebuild" {
		l.cache.LoadIndex(l.index)
		if shared {
			l.modules = l.cache.LoadModules()
		}
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
// job's imports can reach (or, for a program that ran before in this
// environment, verifies what the cache holds) and reads the bytecode
// bundle; every peer gets both. It returns this rank's bundle (nil when
// there is none).
func (l *launcher) share(cfg cpython.Config) *importer.Bundle {
	if !l.job.Shared() {
		return nil
	}
	_, seen := share.ForProgram(l.modules, l.program)
	l.job.ShareIndex(l.index, roots(cfg), seen && l.index.Stats().DirsMerged > 0)
	l.phases.mark("share_index")
	var blob []byte
	if l.job.Root() {
		blob = l.makeBundle()
	}
	blob = l.job.Broadcast(blob, "the bytecode bundle")
	l.phases.mark("share_bundle")
	if len(blob) == 0 {
		return nil
	}
	entries, err := importer.UnmarshalBundle(blob)
	if err != nil {
		warn("the broadcast bytecode bundle was rejected, loading from files: %v", err)
		return nil
	}
	// The broadcast itself is garbage now (the entries are copies): give
	// its memory back at once rather than at the runtime's leisure.
	blob = nil
	debug.FreeOSMemory()
	return importer.NewBundle(entries)
}

// roots are what the root lists ahead for the job.
func roots(cfg cpython.Config) share.Roots {
	r := share.Roots{Trees: append([]string{}, cfg.ModuleSearchPaths...)}
	r.Trees = append(r.Trees, share.SiteDirs([]string{cfg.Prefix, cfg.ExecPrefix, cfg.BasePrefix}, cfg.UserSiteDirectory)...)
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
		if l.cache != nil && l.job.Shared() {
			if err := l.recordLoaded(); err != nil {
				return err
			}
		}
	}
	return nil
}

// saveCache runs at exit (after Python is finalised).
func (l *launcher) saveCache() {
	now := time.Now()
	l.cache.SaveIndex(l.index, now)
	l.cache.SaveModules(l.modules, l.loaded, l.program, now)
}

// warn prints one line on stderr, as pyhost's warnings are.
func warn(format string, args ...any) {
	fmt.Fprintln(os.Stderr, "pyhost: "+strings.TrimSpace(fmt.Sprintf(format, args...)))
}
