package launch

import (
	"path/filepath"

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
// KIND_NATIVE). With the cache off, in a first job of an environment, or
// with -X pyhost.nodedir=off, nothing is planned and extension modules
// load from their original paths.
func (l *launcher) shareNative() {
	if l.settings.NodeDir == "off" {
		return
	}
	var blob []byte
	if l.job.Root() {
		blob = l.planNative()
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
// is nothing to share.
func (l *launcher) planNative() []byte {
	mods, _ := share.ForProgram(l.modules, l.program)
	var exts []string
	for _, m := range mods {
		// An extension module on a node-local file system is each node's own.
		if m.Extension() && l.job.MayShare(m.Source) {
			exts = append(exts, m.Source)
		}
	}
	if len(exts) == 0 {
		return nil
	}
	dir, err := native.OpenDir(l.nodeBase(), l.env.Key(), true)
	if err != nil {
		warn("extension modules are loaded from their original paths: %v", err)
		return nil
	}
	plan := native.Build(exts, native.NewResolver(), share.OnSharedFS, dir)
	ok, err := plan.Materialise()
	if err != nil {
		warn("extension modules are loaded from their original paths: %v", err)
	}
	plan = plan.Keep(ok)
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

// materialise writes the plan's copies on a node other than the root's.
func (l *launcher) materialise(plan *native.Plan) {
	dir := plan.Dir
	if _, err := native.OpenDir(dirOf(dir), baseOf(dir), true); err != nil {
		warn("extension modules are loaded from their original paths: %v", err)
		return
	}
	if _, err := plan.Materialise(); err != nil {
		warn("extension modules are loaded from their original paths: %v", err)
	}
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
