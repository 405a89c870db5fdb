package launch

import (
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/internal/dirfd"
	"github.com/pyhost/pyhost/internal/native"
	"github.com/pyhost/pyhost/internal/share"
)

// shareNative is the last part of step 5, collective among the peers: the
// root plans node-local copies of the extension modules this program (or,
// for a program new to the environment, any program of it) loaded in
// earlier jobs, and of the libraries they need outside the system's
// directories (internal/native); it writes them on its node and
// broadcasts the plan. In a job over several nodes the lowest peer of
// every other node writes them there from the originals, and every peer
// waits for that in one barrier, inside this step; on one node, the
// broadcast itself orders the root's writing before any use. Every rank
// then loads the planned extension modules from the copies (importer's
// KIND_NATIVE). With -X pyhost.nodedir=off nothing is planned; with the
// cache off, or in a first job of an environment, only the script
// directory's extension modules are (see planNative).
func (l *launcher) shareNative(cfg cpython.Config) {
	if l.settings.NodeDir == "off" {
		return
	}
	var blob []byte
	if l.job.Root() {
		blob = l.planNative(cfg)
	}
	blob = l.job.Broadcast(blob, "the node-local plan")
	if len(blob) == 0 {
		return
	}
	plan, err := native.UnmarshalPlan(blob)
	if err != nil {
		warn("the broadcast node-local plan was rejected, loading extension modules from their files: %v", err)
		return
	}
	if len(plan.Leaders) > 0 {
		for _, r := range plan.Leaders {
			if r == l.job.Rank() {
				l.materialise(plan)
			}
		}
		l.job.Barrier("writing the node-local copies")
	}
	l.imp.SetNative(native.NewTable(plan))
}

// planNative makes and carries out the plan on the root; nil when there
// is nothing to share. The extension modules planned are those the
// environment's earlier runs loaded (the modules record) and those in the
// script's own directory (Pynamic's layout; at most maxScriptExtensions),
// which even a first job in a new environment knows.
func (l *launcher) planNative(cfg cpython.Config) []byte {
	mods, _ := share.ForProgram(l.modules, l.program)
	var exts []string
	seen := map[string]bool{}
	for _, m := range mods {
		if m.Extension() && !seen[m.Source] {
			seen[m.Source] = true
			exts = append(exts, m.Source)
		}
	}
	if cfg.RunFilename != "" {
		if abs, err := filepath.Abs(cfg.RunFilename); err == nil {
			for _, e := range scriptExtensions(filepath.Dir(abs)) {
				if !seen[e] {
					seen[e] = true
					exts = append(exts, e)
				}
			}
		}
	}
	// An extension module on a node-local file system is each node's own;
	// and unless told otherwise (-X pyhost.nodecopies=all), one that is
	// not on a shared file system is loaded from where it is: a copy of a
	// file on local disk saves nothing and costs the copying.
	onShared := share.SharedFSByDir() // modules' and libraries' alike
	exts = slices.DeleteFunc(exts, func(e string) bool {
		return !l.job.MayShare(e) || (l.settings.NodeCopies != "all" && !onShared(e))
	})
	if len(exts) == 0 {
		return nil
	}
	cpython.IgnoreFileSizeSignal() // as the main phase will: a copy past ulimit -f fails, never kills
	dir, err := native.OpenDir(l.nodeBase(), envOf(cfg).Key(), true)
	if err != nil {
		warn("extension modules are loaded from their original paths: %v", err)
		return nil
	}
	images, known := share.ReadImages()
	image := func(dev uint64) bool { return !known || images.Has(dev) } // no telling: copy nothing
	plan, err := native.Build(exts, native.NewResolver(), onShared, image, dir, nativeWorkers)
	if err != nil {
		warn("extension modules are loaded from their original paths: %v", err)
	}
	plan = plan.Keep(plan.Present())
	prune(plan)
	plan.Leaders = l.job.NodeWriters()
	if len(plan.Modules) == 0 {
		return nil
	}
	blob, err := plan.MarshalBinary()
	if err != nil {
		return nil
	}
	return blob
}

// nativeWorkers is how many files the writer of a node reads and writes
// at once: a parallel file system serves many requests in flight per
// client, a local disk loses nothing by it.
const nativeWorkers = 16

// maxScriptExtensions bounds the extension modules of the script's
// directory planned without a record of their use.
const maxScriptExtensions = 1000

// scriptExtensions are the extension modules in dir (the names with the
// interpreter's extension suffixes).
func scriptExtensions(dir string) []string {
	suffixes := extensionSuffixes()
	if len(suffixes) == 0 {
		return nil
	}
	names, err := dirfd.ReadDirNames(dir)
	if err != nil {
		return nil
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		for _, s := range suffixes {
			if strings.HasSuffix(n, s) && len(n) > len(s) {
				out = append(out, filepath.Join(dir, n))
				break
			}
		}
		if len(out) == maxScriptExtensions {
			break
		}
	}
	return out
}

// extensionSuffixes is _imp.extension_suffixes(): what
// importlib.machinery.EXTENSION_SUFFIXES holds.
func extensionSuffixes() (out []string) {
	_ = host.Attach(func(py *host.Py) error {
		m, err := py.Import("_imp")
		if err != nil {
			return err
		}
		defer m.Close()
		v, err := m.CallMethod("extension_suffixes")
		if err != nil {
			return err
		}
		defer v.Close()
		out, err = host.As[[]string](v)
		return err
	})
	return out
}

// materialise writes the plan's copies on a node other than the root's.
func (l *launcher) materialise(plan *native.Plan) {
	dir := plan.Dir
	if _, err := native.OpenDir(dirOf(dir), baseOf(dir), true); err != nil {
		warn("extension modules are loaded from their original paths: %v", err)
		return
	}
	if _, err := plan.Materialise(nativeWorkers); err != nil {
		warn("extension modules are loaded from their original paths: %v", err)
	}
	prune(plan)
}

// prune bounds this node's directory, keeping the plan's copies.
func prune(plan *native.Plan) {
	keep := make(map[string]bool, len(plan.Files))
	for _, f := range plan.Files {
		keep[f.ID.CopyName(f.Orig)] = true
	}
	native.Prune(plan.Dir, keep, time.Now())
}

// nodeBase is the node-local base directory (-X pyhost.nodedir).
func (l *launcher) nodeBase() string {
	if l.settings.NodeDir != "" {
		return l.settings.NodeDir
	}
	return native.DefaultBase()
}

func dirOf(p string) string { return filepath.Dir(p) }

func baseOf(p string) string { return filepath.Base(p) }
