package importer

import (
	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/internal/native"
)

// SetNative makes the importer load the table's extension modules from
// their node-local copies (see package internal/native). Called before
// Install.
func (im *Importer) SetNative(t *native.Table) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.native = t
}

// native_take(path, dlopenflags) -> None | copy: the copy of the extension
// module at path to dlopen instead of it, its libraries preloaded; None
// when it is to be loaded from path.
func (im *Importer) nativeTake(a cpython.Args) cpython.Owned {
	path, ok := pathArg(a, 0)
	if !ok {
		return cpython.Owned{}
	}
	flags := int64(2) // RTLD_NOW, Python's default
	if len(a.Pos) > 1 && a.Pos[1].IsInt() {
		flags, _ = a.Pos[1].Int64()
	}
	im.mu.Lock()
	t := im.native
	im.mu.Unlock()
	copy, ok := t.Take(path, int(flags))
	if !ok {
		im.extensionsFS.Add(1)
		return cpython.None()
	}
	return cpython.NewPath(copy)
}

// native_failed(path): loading path from the copy native_take gave
// failed; the module is loaded from its original.
func (im *Importer) nativeFailed(a cpython.Args) cpython.Owned {
	path, ok := pathArg(a, 0)
	if !ok {
		return cpython.Owned{}
	}
	im.mu.Lock()
	t := im.native
	im.mu.Unlock()
	if t != nil {
		t.Failed(path)
		im.extensionsFS.Add(1)
	}
	return cpython.None()
}
