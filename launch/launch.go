// Package launch assembles the pyhost command from the packages an
// embedding application uses too: host (CPython), importer (the finder),
// pathscan (its index) and mpiglue (MPI). It reads pyhost's own options,
// which never collide with python3's: -X pyhost.<name>[=value] on the
// command line (CPython keeps unknown -X options in sys._xoptions) or
// PYHOST_<NAME> in the environment, the command line winning.
package launch

import (
	"fmt"
	"os"
	"strings"

	"pyhost/host"
	"pyhost/importer"
)

// Version is pyhost's version.
const Version = "0.1.0"

// Settings are pyhost's own options.
type Settings struct {
	Importer    bool // -X pyhost.importer=on|off
	MissesFinal bool // -X pyhost.misses=final|revalidate
	Stats       bool // -X pyhost.stats
	Version     bool // -X pyhost.version
}

// option names and their environment variables.
var optionNames = []string{"importer", "misses", "stats", "version"}

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
			val = "1"
		}
		vals[n] = val
	}
	s := Settings{Importer: true}
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
// its exit status (see host.Main).
func Main(args []string) int {
	l := &launcher{imp: importer.New(importer.Options{})}
	return host.Main(host.Options{
		Args:    args,
		Modules: []*host.Module{l.imp.Module(), l.publicModule()},
		Setup:   l.setup,
	})
}

type launcher struct {
	settings Settings
	imp      *importer.Importer
}

func (l *launcher) setup(py *host.Py) error {
	xopts, err := py.XOptions()
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
		host.Exit(2)
	}
	l.settings = s
	if s.Version {
		fmt.Print(versionText())
		host.Exit(0)
	}
	if s.Stats {
		if err := host.AtExit(l.printStats); err != nil {
			return err
		}
	}
	if !s.Importer {
		return nil
	}
	l.imp.SetMissesFinal(s.MissesFinal)
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

func versionText() string {
	return fmt.Sprintf("pyhost %s\npython %s\nmpi %s\n", Version, host.PythonVersion(), mpiDescription())
}

func (l *launcher) printStats() {
	fmt.Fprintln(os.Stderr, statsLine(l.settings, l.imp.Stats()))
}

func statsLine(s Settings, st importer.Stats) string {
	if !s.Importer {
		return "pyhost stats: importer off"
	}
	return fmt.Sprintf("pyhost stats: lookups=%d hits=%d final_misses=%d hand_offs=%d entry_lookups=%d dirs_listed=%d dirs_merged=%d revalidations=%d relists=%d",
		st.Lookups, st.Hits, st.FinalMisses, st.HandOffs, st.EntryLookups,
		st.Index.DirsListed, st.Index.DirsMerged, st.Index.Revalidations, st.Index.Relists)
}

// publicModule is the pyhost module scripts import.
func (l *launcher) publicModule() *host.Module {
	return &host.Module{
		Name: "pyhost",
		Doc:  "pyhost: rank, size and counters of the running pyhost.",
		Funcs: []host.Func{
			{Name: "stats", Doc: "stats() -> dict: the importer's counters.", Fn: func(py *host.Py, a host.Args) (any, error) {
				st := l.imp.Stats()
				return map[string]any{
					"importer":      l.settings.Importer,
					"lookups":       st.Lookups,
					"hits":          st.Hits,
					"final_misses":  st.FinalMisses,
					"hand_offs":     st.HandOffs,
					"entry_lookups": st.EntryLookups,
					"dirs_listed":   st.Index.DirsListed,
					"dirs_merged":   st.Index.DirsMerged,
					"revalidations": st.Index.Revalidations,
				}, nil
			}},
			{Name: "version", Doc: "version() -> str", Fn: func(py *host.Py, a host.Args) (any, error) { return Version, nil }},
		},
	}
}

func mpiDescription() string { return "not built in" }
