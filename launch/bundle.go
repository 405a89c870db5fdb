package launch

import (
	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/internal/share"
)

// Under MPI, rank 0 also shares loading: the modules rank 0 loaded from
// source in the previous run (recorded next to the index cache) go into a
// bundle of their sources' stats and .pyc bytes, broadcast with the index,
// so the other ranks need no stat and no open per module. See
// importer.Bundle for what is checked.
const bundleMaxBytes = 512 << 20

// recordSource records, at exit on rank 0, which modules were loaded
// from source with their bytecode files. Registered with Python's atexit,
// it runs before finalisation, when sys.modules is complete.
const recordSource = `
import atexit as _atexit, sys as _sys

def _record_loaded():
    from importlib.machinery import SourceFileLoader
    out = []
    for m in list(_sys.modules.values()):
        s = getattr(m, "__spec__", None)
        if s is None or type(s.loader) is not SourceFileLoader:
            continue
        if isinstance(s.origin, str) and isinstance(s.cached, str):
            out.append(s.origin + "\0" + s.cached)
    _set_loaded(out)

_atexit.register(_record_loaded)
`

// bundlePairs are the (source, bytecode) pairs the bundle of this run
// should hold (share.ForProgram).
func (l *launcher) bundlePairs() [][2]string {
	var out [][2]string
	mods, _ := share.ForProgram(l.modules, l.program)
	for _, m := range mods {
		out = append(out, [2]string{m.Source, m.Bytecode})
	}
	return out
}

func pythonMagic(py *host.Py) []byte {
	m, err := py.Import("_frozen_importlib_external")
	if err != nil {
		return nil
	}
	defer m.Close()
	v, err := m.Attr("MAGIC_NUMBER")
	if err != nil {
		return nil
	}
	defer v.Close()
	b, _ := v.AsBytes()
	return b
}
