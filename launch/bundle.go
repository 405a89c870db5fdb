package launch

import (
	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/importer"
	"github.com/pyhost/pyhost/internal/share"
)

// Under MPI, the root also shares loading: the modules this program (or,
// for a program new to the environment, what share.ForProgram predicts)
// loaded from source in earlier runs go into a bundle of their sources' stats and .pyc
// bytes, broadcast with the index, so the other ranks need no stat and no
// open per module. importer.MakeBundle says what is checked.
const bundleMaxBytes = 512 << 20

// makeBundle reads the bundle on the root, marshalled into memory outside
// Go's heap (importer.BundleMemory); nil when there is nothing to share.
func (l *launcher) makeBundle() *importer.BundleMemory {
	mods, _ := share.ForProgram(l.modules, l.program)
	if len(mods) == 0 {
		return nil
	}
	magic := pythonMagic()
	if magic == nil {
		return nil
	}
	pairs := make([][2]string, 0, len(mods))
	// A module on a node-local file system is each node's own; and one not
	// on a shared file system is each rank's own (unless rootReadsLocal):
	// from the page cache a rank reads its bytecode faster than the root
	// can read it for all of them and broadcast it (measured: the heavy
	// import's 38 MB at np = 2 on local disk, 140 ms of the root's
	// start-up, which every rank waited for), but for a node with more
	// ranks than processors.
	onShared := share.SharedFSByDir()
	for _, m := range mods {
		if m.Extension() {
			continue
		}
		if !l.job.MayShare(m.Source) || !l.job.MayShare(m.Bytecode) {
			continue
		}
		if !l.rootReadsLocal && (!onShared(m.Source) || !onShared(m.Bytecode)) {
			continue
		}
		pairs = append(pairs, [2]string{m.Source, m.Bytecode})
	}
	// The pack's copies, where valid, save the root its reads: each .pyc
	// is read once per job, by the root, from the pack or its file.
	l.pack.InPackOrder(pairs)
	entries := importer.MakeBundle(pairs, magic, bundleMaxBytes, l.settings.concurrency(), l.pack)
	if len(entries) == 0 {
		return nil
	}
	return importer.MarshalBundleMemory(entries)
}

// pythonMagic is importlib's MAGIC_NUMBER: what a .pyc of this
// interpreter starts with.
func pythonMagic() (magic []byte) {
	_ = host.Attach(func(py *host.Py) error {
		m, err := py.Import("_frozen_importlib_external")
		if err != nil {
			return err
		}
		defer m.Close()
		v, err := m.Attr("MAGIC_NUMBER")
		if err != nil {
			return err
		}
		defer v.Close()
		magic, err = v.AsBytes()
		return err
	})
	return magic
}
