package launch

import (
	"strings"
	"testing"

	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/pathscan"
)

func TestParseSettings(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	def := Settings{Importer: true, MPI: "auto", Cache: "on", NodeCopies: "shared", RootReads: "shared"}
	tests := []struct {
		name      string
		xopts     []string
		env       map[string]string
		ignoreEnv bool
		want      Settings
		err       string
	}{
		{name: "defaults", want: def},
		{name: "other -X options are python's", xopts: []string{"dev", "utf8=1", "importtime"}, want: def},
		{name: "importer off", xopts: []string{"pyhost.importer=off"}, want: with(def, func(s *Settings) { s.Importer = false })},
		{name: "stats flag", xopts: []string{"pyhost.stats"}, want: with(def, func(s *Settings) { s.Stats = true })},
		{name: "misses final", xopts: []string{"pyhost.misses=final"}, want: with(def, func(s *Settings) { s.MissesFinal = true })},
		{name: "cache dir", xopts: []string{"pyhost.cachedir=/c", "pyhost.cache=rebuild"}, want: with(def, func(s *Settings) { s.CacheDir, s.Cache = "/c", "rebuild" })},
		{name: "env", env: map[string]string{"PYHOST_IMPORTER": "off", "PYHOST_STATS": "1", "PYHOST_MPI": "off"},
			want: with(def, func(s *Settings) { s.Importer, s.Stats, s.MPI = false, true, "off" })},
		{name: "command line beats env", xopts: []string{"pyhost.importer=on"}, env: map[string]string{"PYHOST_IMPORTER": "off"}, want: def},
		{name: "-E ignores env", env: map[string]string{"PYHOST_IMPORTER": "off"}, ignoreEnv: true, want: def},
		{name: "unknown option", xopts: []string{"pyhost.importr=off"}, err: "unknown option -X pyhost.importr"},
		{name: "bad importer", xopts: []string{"pyhost.importer=maybe"}, err: "want auto, on or off"},
		{name: "bad bool", xopts: []string{"pyhost.stats=maybe"}, err: "want on or off"},
		{name: "importer auto", xopts: []string{"pyhost.importer=auto"}, want: def},
		{name: "importer auto from the environment", env: map[string]string{"PYHOST_IMPORTER": "AUTO"}, want: def},
		{name: "bad misses", xopts: []string{"pyhost.misses=sometimes"}, err: "want final or revalidate"},
		{name: "bad mpi", env: map[string]string{"PYHOST_MPI": "always"}, err: "want auto, on or off"},
		{name: "cachedir needs a value", xopts: []string{"pyhost.cachedir"}, err: "needs a directory"},
		{name: "node dir", env: map[string]string{"PYHOST_NODEDIR": "/scratch/me"}, want: with(def, func(s *Settings) { s.NodeDir = "/scratch/me" })},
		{name: "node dir off", xopts: []string{"pyhost.nodedir=off"}, want: with(def, func(s *Settings) { s.NodeDir = "off" })},
		{name: "node dir relative", xopts: []string{"pyhost.nodedir=shm"}, err: "want an absolute directory or off"},
		{name: "node dir needs a value", xopts: []string{"pyhost.nodedir"}, err: "needs a directory"},
		{name: "bad cache", xopts: []string{"pyhost.cache=sometimes"}, err: "want on, off or rebuild"},
		{name: "node copies all", env: map[string]string{"PYHOST_NODECOPIES": "all"}, want: with(def, func(s *Settings) { s.NodeCopies = "all" })},
		{name: "node copies bad", xopts: []string{"pyhost.nodecopies=some"}, err: "want shared or all"},
		{name: "root reads all", env: map[string]string{"PYHOST_ROOTREADS": "all"}, want: with(def, func(s *Settings) { s.RootReads = "all" })},
		{name: "root reads bad", xopts: []string{"pyhost.rootreads=none"}, err: "-X pyhost.rootreads=none: want shared or all"},
		{name: "concurrency", xopts: []string{"pyhost.concurrency=64"}, want: with(def, func(s *Settings) { s.Concurrency = 64 })},
		{name: "concurrency from env", env: map[string]string{"PYHOST_CONCURRENCY": "3"}, want: with(def, func(s *Settings) { s.Concurrency = 3 })},
		{name: "concurrency zero", xopts: []string{"pyhost.concurrency=0"}, err: "want a number from 1 to 256"},
		{name: "concurrency too high", xopts: []string{"pyhost.concurrency=100000"}, err: "want a number from 1 to 256"},
		{name: "concurrency not a number", env: map[string]string{"PYHOST_CONCURRENCY": "many"}, err: "want a number from 1 to 256"},
		{name: "concurrency flag without value", xopts: []string{"pyhost.concurrency"}, want: with(def, func(s *Settings) { s.Concurrency = 1 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSettings(tt.xopts, env(tt.env), tt.ignoreEnv)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func with(s Settings, f func(*Settings)) Settings {
	f(&s)
	return s
}

func TestConcurrencyDefault(t *testing.T) {
	if got := (Settings{Concurrency: 7}).concurrency(); got != 7 {
		t.Errorf("set: %d, want 7", got)
	}
	got := (Settings{}).concurrency()
	if got != pathscan.DefaultConcurrency && got != 4 {
		t.Errorf("default: %d", got)
	}
}

// Ranks that differ only in concurrency still share: it decides no
// collective.
func TestShareKeyIgnoresConcurrency(t *testing.T) {
	a, b := Settings{Importer: true, Concurrency: 2}, Settings{Importer: true, Concurrency: 64}
	if shareKey(a) != shareKey(b) {
		t.Errorf("share keys differ: %q, %q", shareKey(a), shareKey(b))
	}
	if shareKey(a) == shareKey(Settings{Importer: false}) {
		t.Error("importer on and off share a key")
	}
}

func TestPlainRunsModuleHasThisVersion(t *testing.T) {
	// A plain run's pyhost module (internal/cpython/plain.c) reports the
	// version by a constant of its own.
	if got := cpython.PlainVersion(); got != Version {
		t.Errorf("plain run's pyhost.version() = %q, want %q (launch.Version)", got, Version)
	}
}

func TestPlainChoiceReadsEveryOptionsVariable(t *testing.T) {
	// limits.c decides, before Go's runtime starts, whether a PYHOST_*
	// setting asks for pyhost: it must know every one parseSettings reads.
	var want []string
	for _, n := range optionNames {
		want = append(want, "PYHOST_"+strings.ToUpper(n))
	}
	if got := cpython.EnvOptions(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("limits.c's env_options = %v, want %v (launch's optionNames)", got, want)
	}
}
