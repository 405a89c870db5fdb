package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/importer"
	"github.com/pyhost/pyhost/internal/share"
	"github.com/pyhost/pyhost/pathscan"
)

// The start-up sequence, run in this test process as the pyhost command
// runs it between CPython's two phases (host.Start's Setup is that point):
// every step runs, in order, and leaves what the next one needs; the
// environment's cache is written at exit and read by the next process.
// Python starts once per process, so this is the package's one test that
// starts it.
// startSequenceRan is set by TestStartSequence's first run.
var startSequenceRan bool

func TestStartSequence(t *testing.T) {
	if startSequenceRan {
		t.Skip("Python starts once per process: this test runs once however large -count is")
	}
	startSequenceRan = true
	cacheDir := t.TempDir()
	lib := t.TempDir()
	if share.OnImage(lib) {
		t.Skipf("%s is on an image file system (a container's overlay root?): the cache keeps nothing of it", lib)
	}
	if err := os.WriteFile(filepath.Join(lib, "startmod.py"), []byte("v = 42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PYTHONPATH", lib)
	t.Setenv("PYHOST_MISSES", "final")
	t.Setenv("PYTHONDONTWRITEBYTECODE", "") // the cache is written only when bytecode is
	l := &launcher{imp: importer.New(), job: share.Alone}
	if err := host.Register(l.publicModule()); err != nil {
		t.Fatal(err)
	}
	in, err := host.Start(host.Options{
		Args:      []string{"pyhost", "-X", "pyhost.cachedir=" + cacheDir, "-X", "pyhost.stats", "-c", "pass"},
		ParseArgv: true,
		Setup:     func(*host.Py) error { return l.start() },
	})
	if err != nil {
		t.Fatal(err)
	}
	// 1: settings from -X over PYHOST_*.
	if !l.settings.Stats || !l.settings.MissesFinal || l.settings.CacheDir != cacheDir {
		t.Errorf("settings = %+v", l.settings)
	}
	// 2: no launcher, no MPI; the job is this process alone.
	if l.mpi || l.job.Shared() || !l.job.Root() {
		t.Errorf("mpi %v, job %+v: want a process alone", l.mpi, l.job)
	}
	// 4: the cache of this environment, keyed by the search path computed
	// in step 3 (PYTHONPATH is in it).
	if l.cache == nil || !strings.HasPrefix(filepath.Base(l.cache.IndexFile()), "env-") {
		t.Fatalf("cache = %+v", l.cache)
	}
	// 6: the importer answers from the index.
	err = in.Do(func(py *host.Py) error {
		v, err := py.Eval("__import__('startmod').v")
		if err != nil {
			return err
		}
		defer v.Close()
		n, err := v.AsInt()
		if n != 42 {
			t.Errorf("startmod.v = %d", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := l.imp.Stats(); st.Hits == 0 || st.Index.DirsListed == 0 {
		t.Errorf("importer stats %+v: want hits from listed directories", st)
	}
	want := []string{"settings", "mpi", "paths", "cache", "install"}
	if strings.Join(l.phases.names, ",") != strings.Join(want, ",") {
		t.Errorf("phases %v, want %v", l.phases.names, want)
	}
	if s := l.phases.String(); !strings.Contains(s, "paths=") || !strings.Contains(s, "ms") {
		t.Errorf("phases line %q", s)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	// 7: the exit hooks wrote the environment's index (what lookups used
	// and had settled: lib was just written, the interpreter's own trees
	// were not).
	if _, err := os.Stat(l.cache.IndexFile()); err != nil {
		t.Fatalf("index not written at exit: %v", err)
	}
	next := share.Open(cacheDir, l.env, false)
	ix := pathscan.New(pathscan.Options{})
	next.LoadIndex(ix)
	if ix.Stats().DirsMerged == 0 {
		t.Error("the next run of the environment finds nothing in its cache")
	}
}
