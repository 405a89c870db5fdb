package launch

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/pathscan"
)

// Version is pyhost's version.
const Version = "0.1.0"

// Settings are pyhost's own options.
type Settings struct {
	Importer    bool   // -X pyhost.importer=auto|on|off (auto: on, where Go's runtime runs)
	MissesFinal bool   // -X pyhost.misses=final|revalidate
	Stats       bool   // -X pyhost.stats
	Version     bool   // -X pyhost.version
	MPI         string // -X pyhost.mpi=auto|on|off: auto initialises MPI under a launcher
	Cache       string // -X pyhost.cache=on|off|rebuild: the persistent index cache
	CacheDir    string // -X pyhost.cachedir=DIR: where it lives
	// -X pyhost.concurrency=N: how many directories and files the root
	// lists, verifies or reads at once; 0: the default (concurrency()).
	Concurrency int
	NodeDir     string // -X pyhost.nodedir=DIR|off: node-local copies of extension modules ("": the default)
	// -X pyhost.nodecopies=shared|all: which extension modules get
	// node-local copies: those on a file system recognised as shared (the
	// default: a copy of a file on local disk saves nothing), or all.
	NodeCopies string
	// -X pyhost.rootreads=shared|all: under MPI, what the root reads for
	// every rank (the trees a first job lists ahead, the bytecode bundle):
	// what is on a file system recognised as shared (the default: from
	// local disk each rank reads its own, from the page cache, faster than
	// the root can read it for all of them and broadcast it, also on a node
	// with more ranks than processors), or all of it.
	RootReads string
	// -X pyhost.warm: this run warms its environment for every program
	// (what it loads goes in the bundle of each program new to it).
	Warm bool
}

// maxConcurrency bounds -X pyhost.concurrency: each costs a thread.
const maxConcurrency = 256

// option names and their environment variables.
var optionNames = []string{"importer", "misses", "stats", "version", "mpi", "cache", "cachedir", "concurrency", "nodedir", "nodecopies", "rootreads", "warm"}

// oneOf is v when it is one of want, else the error that names them:
// "-X pyhost.<name>=<v>: want a, b or c".
func oneOf(name, v string, want ...string) (string, error) {
	if slices.Contains(want, v) {
		return v, nil
	}
	return "", fmt.Errorf("-X pyhost.%s=%s: want %s or %s", name, v, strings.Join(want[:len(want)-1], ", "), want[len(want)-1])
}

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
			if n == "cachedir" || n == "nodedir" {
				return Settings{}, fmt.Errorf("-X pyhost.%s needs a directory: -X pyhost.%s=DIR", n, n)
			}
			val = "1"
		}
		vals[n] = val
	}
	s := Settings{Importer: true, MPI: "auto", Cache: "on", NodeCopies: "shared", RootReads: "shared"}
	var err error
	for n, v := range vals {
		switch n {
		case "importer":
			// auto: the importer wherever Go's runtime runs (limits.c's
			// nothing_to_save chose a plain run where it has nothing to save).
			if strings.EqualFold(v, "auto") {
				s.Importer = true
				break
			}
			if s.Importer, err = parseBool("importer", v); err != nil {
				err = fmt.Errorf("-X pyhost.importer=%s: want auto, on or off", v)
			}
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
		case "warm":
			s.Warm, err = parseBool("warm", v)
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
		case "concurrency":
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 1 || n > maxConcurrency {
				err = fmt.Errorf("-X pyhost.concurrency=%s: want a number from 1 to %d", v, maxConcurrency)
			}
			s.Concurrency = n
		case "nodedir":
			if v != "off" && !strings.HasPrefix(v, "/") {
				err = fmt.Errorf("-X pyhost.nodedir=%s: want an absolute directory or off", v)
			}
			s.NodeDir = v
		case "nodecopies":
			s.NodeCopies, err = oneOf(n, v, "shared", "all")
		case "rootreads":
			s.RootReads, err = oneOf(n, v, "shared", "all")
		case "mpi":
			s.MPI, err = oneOf(n, v, "auto", "on", "off")
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

// concurrency is how many directories and files the root lists, verifies
// or reads at once: the setting, else pathscan.DefaultConcurrency, or 4
// for a user held to a finite process limit (ulimit -u), where each
// costs Go's runtime a thread that the limit counts (see limits.c).
func (s Settings) concurrency() int {
	if s.Concurrency > 0 {
		return s.Concurrency
	}
	var r unix.Rlimit
	if unix.Getuid() != 0 && unix.Getrlimit(unix.RLIMIT_NPROC, &r) == nil && r.Cur != unix.RLIM_INFINITY {
		return min(4, pathscan.DefaultConcurrency)
	}
	return pathscan.DefaultConcurrency
}
