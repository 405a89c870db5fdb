package cpython

// #include "shim.h"
import "C"

import "bytes"

// SourceModules is (spec.origin, spec.cached) of every module in
// sys.modules whose loader is a SourceFileLoader, and (spec.origin, "") of
// every one whose loader is an ExtensionFileLoader (those classes exactly:
// importlib.machinery's, taken from _frozen_importlib_external, not
// imported for it), as bytes (os.fsencode's); what cannot be read is
// skipped. One call into C for the whole walk: a process alone pays it at
// every exit. The GIL must be held; no exception is left set.
func SourceModules() [][2]string {
	b := Owned{Ref{C.pyhost_source_modules()}}
	if b.IsNull() {
		ErrClear()
		return nil
	}
	defer b.Decref()
	data, ok := b.BytesCopy()
	if !ok {
		ErrClear()
		return nil
	}
	var out [][2]string
	for len(data) > 0 {
		src, rest, ok1 := bytes.Cut(data, []byte{0})
		pyc, rest, ok2 := bytes.Cut(rest, []byte{0})
		if !ok1 || !ok2 {
			break
		}
		out = append(out, [2]string{string(src), string(pyc)})
		data = rest
	}
	return out
}
