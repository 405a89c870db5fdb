package launch

import (
	"fmt"
	"github.com/pyhost/pyhost/internal/share"
	"os"
	"path/filepath"
	"strings"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/importer"
	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/mpiglue"
	"github.com/pyhost/pyhost/pathscan"
)

// Eager listing limits for rank 0: the trees imports can reach (the
// interpreter's search path and site directories) in full, the current
// and script directories shallowly, since they may be anything (a home
// directory with a million files).
const (
	treeDepth    = 16
	treeMaxDirs  = 50000
	localDepth   = 3
	localMaxDirs = 500
)

// startMPI initialises MPI when an MPI launcher started pyhost, and shares
// the index among pyhost's peers (mpiglue.PeerRank): peer 0 lists, every
// peer gets the listings by one broadcast. It runs in Setup on the main
// thread, on every rank, before any import searches sys.path and before
// Python's os module copies the environment, so every rank reaches the
// broadcast and Mark's variable reaches os.environ.
//
// A process is a rank exactly when python3 + mpi4py would be one: the
// process a launcher started, not its descendants (mpiglue.Detect).
func (l *launcher) startMPI(py *host.Py) error {
	run := mpiglue.Detect()
	// Whatever the settings, what this process starts is not launched.
	if err := run.Mark(); err != nil {
		return err
	}
	if l.settings.MPI == "off" || run.Role != mpiglue.Launched && l.settings.MPI != "on" {
		if w := run.Warning(); w != "" && l.settings.MPI != "off" {
			fmt.Fprintln(os.Stderr, w)
		}
		return nil
	}
	if !mpiglue.Available() {
		fmt.Fprintln(os.Stderr, "pyhost: started by an MPI launcher, but this pyhost was built without MPI (-tags nompi): each rank runs as a single process")
		return nil
	}
	if err := mpiglue.CheckResources(); err != nil {
		fmt.Fprintf(os.Stderr, "pyhost: %v: MPI is left to the application; pyhost shares nothing\n", err)
		return nil
	}
	ignoreEnv, err := flag(py, "ignore_environment")
	if err != nil {
		return err
	}
	opts := mpiglue.Options{ShareKey: shareKey(l.settings), Launch: run}
	if !ignoreEnv {
		// It loads code: ignored under -E and -I, as every PYHOST_* is.
		opts.Library = os.Getenv("PYHOST_LIBMPI")
	}
	if err := mpiglue.Init(opts); err != nil {
		return fmt.Errorf("MPI initialization failed: %w", err)
	}
	// Registered first, so it runs last: after the stats are gathered.
	if err := cpython.AtExit(func() { _ = mpiglue.Finalize() }); err != nil {
		return err
	}
	l.mpi = true
	if !l.settings.Importer || mpiglue.PeerSize() == 1 {
		return nil
	}
	// The interpreter's search path is computed in the main phase of
	// start-up, so the index is shared at the first import that searches
	// it (encodings, on every rank), before site and the script run.
	ix := l.index
	l.imp.SetPrepare(func(py *host.Py) error {
		if mpiglue.PeerRank() == 0 && l.settings.Cache != "off" {
			if err := l.loadCache(py); err != nil {
				return err
			}
		}
		return l.shareIndex(py, ix)
	})
	return nil
}

// shareKey is what peers must agree on to share: every pyhost setting
// that decides which collectives a rank makes (importer, cache, stats,
// ...). Ranks whose keys differ get different communicators.
func shareKey(s Settings) string {
	return fmt.Sprintf("%+v", s)
}

// shareIndex lists on peer 0 and broadcasts; the other peers merge.
func (l *launcher) shareIndex(py *host.Py, ix *pathscan.Index) error {
	var blob []byte
	if mpiglue.PeerRank() == 0 {
		cfg, err := cpython.ReadConfig()
		if err != nil {
			fmt.Fprintln(os.Stderr, "pyhost: rank 0: read the configuration:", err)
			mpiglue.Abort(1)
		}
		l.listRoots(ix, cfg)
		if blob, err = ix.MarshalBinary(); err != nil {
			fmt.Fprintln(os.Stderr, "pyhost: rank 0: serialise the index:", err)
			blob = nil // the others then list for themselves
		}
	}
	blob, err := mpiglue.Bcast(blob)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pyhost: broadcast of the import index failed:", err)
		mpiglue.Abort(1)
	}
	if mpiglue.PeerRank() != 0 && len(blob) > 0 {
		if err := ix.Merge(blob); err != nil {
			fmt.Fprintln(os.Stderr, "pyhost: the broadcast import index was rejected, listing locally:", err)
		}
	}
	return l.shareBundle(py)
}

// shareBundle broadcasts the bytecode of the modules rank 0 loaded last
// time (an empty bundle on a first run or without a cache).
func (l *launcher) shareBundle(py *host.Py) error {
	var blob []byte
	if mpiglue.PeerRank() == 0 {
		if magic := pythonMagic(py); magic != nil {
			if entries := importer.MakeBundle(l.bundlePairs(), magic, bundleMaxBytes); len(entries) > 0 {
				blob = importer.MarshalBundle(entries)
			}
		}
	}
	blob, err := mpiglue.Bcast(blob)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pyhost: broadcast of the bytecode bundle failed:", err)
		mpiglue.Abort(1)
	}
	if len(blob) == 0 {
		return nil
	}
	entries, err := importer.UnmarshalBundle(blob)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pyhost: the broadcast bytecode bundle was rejected, loading from files:", err)
		return nil
	}
	l.imp.SetBundle(importer.NewBundle(entries))
	return nil
}

// listRoots lists, on rank 0, what the ranks' imports can reach. With a
// cache file loaded, it only verifies the listings the cache holds (what
// the last run's imports used) and lists nothing ahead: a directory the
// cache lacks is listed by each rank that needs it.
func (l *launcher) listRoots(ix *pathscan.Index, cfg cpython.Config) {
	// A program that ran before in this environment finds what it needs in
	// the cache: verify that and list nothing ahead. A new one gets the
	// trees listed, each directory the cache holds costing an fstat
	// instead of a read.
	_, warm := share.ForProgram(l.modules, l.program)
	warm = warm && ix.Stats().DirsMerged > 0
	seen := map[string]bool{}
	list := func(dir string, depth, max int) {
		dir = filepath.Clean(dir)
		if dir == "" || !filepath.IsAbs(dir) || seen[dir] {
			return
		}
		seen[dir] = true
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return
		}
		// What fails to list is listed lazily later.
		if warm {
			_ = ix.VerifyTree(dir)
		} else {
			_ = ix.ListTree(dir, depth, max)
		}
	}
	for _, p := range cfg.ModuleSearchPaths {
		list(p, treeDepth, treeMaxDirs)
	}
	for _, d := range siteDirs(cfg) {
		list(d, treeDepth, treeMaxDirs)
	}
	if wd, err := os.Getwd(); err == nil {
		list(wd, localDepth, localMaxDirs)
	}
	if cfg.RunFilename != "" {
		if abs, err := filepath.Abs(cfg.RunFilename); err == nil {
			list(filepath.Dir(abs), localDepth, localMaxDirs)
		}
	}
}

// siteDirs are the directories site adds for these prefixes (Debian's
// dist-packages and upstream's site-packages; the user site directory).
// Listing one that site does not add costs time, not correctness.
func siteDirs(cfg cpython.Config) []string {
	var dirs []string
	for _, prefix := range []string{cfg.Prefix, cfg.ExecPrefix, cfg.BasePrefix} {
		if prefix == "" {
			continue
		}
		for _, pattern := range []string{"lib/python3*/site-packages", "lib/python3*/dist-packages", "local/lib/python3*/dist-packages", "lib/python3/dist-packages"} {
			m, _ := filepath.Glob(filepath.Join(prefix, pattern))
			dirs = append(dirs, m...)
		}
	}
	if cfg.UserSiteDirectory {
		if home, err := os.UserHomeDir(); err == nil {
			m, _ := filepath.Glob(filepath.Join(home, ".local/lib/python3*/site-packages"))
			dirs = append(dirs, m...)
		}
	}
	return dirs
}

// shareEntries is the collective behind pyhost.share_paths: rank 0 lists
// the given directories and broadcasts them; every rank must call it.
func (l *launcher) shareEntries(paths []string) error {
	if !l.mpi || mpiglue.PeerSize() == 1 {
		return nil
	}
	ix := l.imp.Index()
	if ix == nil {
		return fmt.Errorf("pyhost.share_paths: the importer is off")
	}
	var blob []byte
	if mpiglue.PeerRank() == 0 {
		part := pathscan.New(pathscan.Options{})
		for _, p := range paths {
			if p = strings.TrimRight(p, "/"); filepath.IsAbs(p) {
				_ = part.ListTree(p, treeDepth, treeMaxDirs)
			}
		}
		var err error
		if blob, err = part.MarshalBinary(); err != nil {
			blob = nil
		}
	}
	blob, err := mpiglue.Bcast(blob)
	if err != nil {
		return fmt.Errorf("pyhost.share_paths: %w", err)
	}
	if len(blob) == 0 {
		return nil
	}
	return ix.Merge(blob)
}
