// Package launch assembles the pyhost command from the packages an
// embedding application uses too: host (CPython), importer (the finder),
// pathscan (its index) and mpiglue (MPI). It reads pyhost's own options,
// which never collide with python3's: -X pyhost.<name>[=value] on the
// command line (CPython keeps unknown -X options in sys._xoptions) or
// PYHOST_<NAME> in the environment, the command line winning.
package launch

import (
	"fmt"
	"github.com/pyhost/pyhost/internal/share"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/importer"
	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/mpiglue"
	"github.com/pyhost/pyhost/pathscan"
)

// Version is pyhost's version.
const Version = "0.1.0"

// Settings are pyhost's own options.
type Settings struct {
	Importer    bool   // -X pyhost.importer=on|off
	MissesFinal bool   // -X pyhost.misses=final|revalidate
	Stats       bool   // -X pyhost.stats
	Version     bool   // -X pyhost.version
	MPI         string // -X pyhost.mpi=auto|on|off: auto initialises MPI under a launcher
	Cache       string // -X pyhost.cache=on|off|rebuild: the persistent index cache
	CacheDir    string // -X pyhost.cachedir=DIR: where it lives
}

// option names and their environment variables.
var optionNames = []string{"importer", "misses", "stats", "version", "mpi", "cache", "cachedir"}

// parseSettings reads -X pyhost.* (xopts, from the running config) over
// PYHOST_* variables (getenv). ignoreEnv is python3's -E/-I: then
// PYHOST_* variables are ignored too.
func parseSettings(xopts []string, getenv func(string) string, ignoreEnv bool) (Settings, error) {
	vals := map[string]string{}
	if !ignoreEnv {
		for _, n := range optionNames {
			if v, ok := lookupEnv(getenv, "PYHOST_"+strings.ToUpper(n)); ok {
				vals[n] = v
			}
		}
	}
	for _, x := range xopts {
		name, val, hasVal := strings.Cut(x, "=")
		n, ok := strings.CutPrefix(name, "pyhost.")
		if !ok {
			continue
		}
		if !known(n) {
			return Settings{}, fmt.Errorf("unknown option -X %s (pyhost's options: %s)", name, "pyhost."+strings.Join(optionNames, ", pyhost."))
		}
		if !hasVal {
			if n == "cachedir" {
				return Settings{}, fmt.Errorf("-X pyhost.cachedir needs a directory: -X pyhost.cachedir=DIR")
			}
			val = "1"
		}
		vals[n] = val
	}
	s := Settings{Importer: true, MPI: "auto", Cache: "on"}
	var err error
	for n, v := range vals {
		switch n {
		case "importer":
			s.Importer, err = parseBool("importer", v)
		case "misses":
			switch v {
			case "final":
				s.MissesFinal = true
			case "revalidate", "":
				s.MissesFinal = false
			default:
				err = fmt.Errorf("-X pyhost.misses=%s: want final or revalidate", v)
			}
		case "stats":
			s.Stats, err = parseBool("stats", v)
		case "version":
			s.Version, err = parseBool("version", v)
		case "cache":
			switch v {
			case "on", "off", "rebuild":
				s.Cache = v
			case "1":
				s.Cache = "on"
			case "0":
				s.Cache = "off"
			default:
				err = fmt.Errorf("-X pyhost.cache=%s: want on, off or rebuild", v)
			}
		case "cachedir":
			s.CacheDir = v
		case "mpi":
			switch v {
			case "auto", "on", "off":
				s.MPI = v
			default:
				err = fmt.Errorf("-X pyhost.mpi=%s: want auto, on or off", v)
			}
		}
		if err != nil {
			return Settings{}, err
		}
	}
	return s, nil
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func known(n string) bool {
	for _, k := range optionNames {
		if k == n {
			return true
		}
	}
	return false
}

func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "on", "true", "yes":
		return true, nil
	case "0", "off", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("-X pyhost.%s=%s: want on or off", name, v)
}

// Main runs the pyhost command with the process's arguments and returns
// its exit status (see cpython.Main).
func Main(args []string) int {
	l := &launcher{imp: importer.New(importer.Options{})}
	if err := host.Register(l.publicModule()); err != nil {
		fmt.Fprintln(os.Stderr, "pyhost:", err)
		return 1
	}
	return cpython.Main(cpython.MainOptions{
		Args:    args,
		Modules: []*cpython.Module{l.imp.Module()},
		Setup:   func() error { return host.Attach(l.setup) },
	})
}

type launcher struct {
	settings Settings
	imp      *importer.Importer
	index    *pathscan.Index
	cache    *share.Cache
	modules  []share.Module // the cache's record of the modules loaded from source
	program  uint64         // this run's program within the environment (share.ProgramID)
	loaded   [][2]string    // (source, bytecode) of the modules loaded, recorded at exit on rank 0
	mpi      bool           // MPI initialised by pyhost (under a launcher)
}

func (l *launcher) setup(py *host.Py) error {
	xopts, err := cpython.XOptions()
	if err != nil {
		return err
	}
	ignoreEnv, err := flag(py, "ignore_environment")
	if err != nil {
		return err
	}
	s, err := parseSettings(xopts, os.Getenv, ignoreEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pyhost:", err)
		cpython.Exit(2)
	}
	l.settings = s
	if s.Version {
		fmt.Print(versionText())
		cpython.Exit(0)
	}
	l.imp.SetMissesFinal(s.MissesFinal)
	if s.Importer {
		l.index = pathscan.New(pathscan.Options{RevalidateMisses: !s.MissesFinal})
		l.imp.SetIndex(l.index)
		if s.Cache != "off" {
			// The search path exists from the first import on: the cache
			// is loaded then (on rank 0 only under MPI; see startMPI).
			l.imp.SetPrepare(l.loadCache)
			if err := cpython.AtExit(l.saveCache); err != nil {
				return err
			}
		}
	}
	if err := l.startMPI(py); err != nil {
		fmt.Fprintln(os.Stderr, "pyhost:", err)
		cpython.Exit(1)
	}
	if s.Stats {
		if err := cpython.AtExit(l.printStats); err != nil {
			return err
		}
	}
	if l.mpi {
		if err := l.abortOnUncaught(py); err != nil {
			return err
		}
		if s.Importer && s.Cache != "off" && mpiglue.Rank() == 0 && mpiglue.Size() > 1 {
			if err := l.recordLoaded(py); err != nil {
				return err
			}
		}
	}
	if !s.Importer {
		return nil
	}
	return l.imp.Install(py)
}

// flag reads sys.flags.<name> as a bool.
func flag(py *host.Py, name string) (bool, error) {
	sys, err := py.Import("sys")
	if err != nil {
		return false, err
	}
	defer sys.Close()
	flags, err := sys.Attr("flags")
	if err != nil {
		return false, err
	}
	defer flags.Close()
	v, err := flags.Attr(name)
	if err != nil {
		return false, err
	}
	defer v.Close()
	n, err := v.AsInt()
	return n != 0, err
}

// loadCache opens the index cache for this run's search path.
func (l *launcher) loadCache(py *host.Py) error {
	cfg, err := cpython.ReadConfig()
	if err != nil {
		return err
	}
	dontWrite, err := flag(py, "dont_write_bytecode")
	if err != nil {
		return err
	}
	dir := l.settings.CacheDir
	if dir == "" {
		if dir, err = share.DefaultDir(); err != nil {
			return nil // no home: no cache
		}
	} else if dir, err = filepath.Abs(dir); err != nil {
		return nil
	}
	l.cache = share.Open(dir, share.Env{
		PyhostVersion: Version,
		PythonVersion: cpython.Version(),
		Executable:    cfg.Executable,
		Prefix:        cfg.Prefix,
		SearchPath:    cfg.ModuleSearchPaths,
	}, !dontWrite)
	l.cache.Warn = func(msg string) { warn("%s", msg) }
	l.program = programID(cfg)
	if l.settings.Cache != "rebuild" {
		l.cache.LoadIndex(l.index)
		l.modules = l.cache.LoadModules()
	}
	return nil
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

// saveCache runs at exit (after Python is finalised).
func (l *launcher) saveCache() {
	if l.cache != nil {
		now := time.Now()
		l.cache.SaveIndex(l.index, now)
		l.cache.SaveModules(l.modules, l.loaded, l.program, now)
	}
}

// warn prints one line on stderr, as pyhost's warnings are.
func warn(format string, args ...any) {
	fmt.Fprintln(os.Stderr, "pyhost: "+strings.TrimSpace(fmt.Sprintf(format, args...)))
}
