package pathscan

import (
	"fmt"
	"os"
	"path"
	"slices"
)

// SetLoaders replaces the loader order, for an Index whose listings were
// merged before the interpreter could say which suffixes it loads.
// Listings do not depend on the loaders; only lookups do.
func (ix *Index) SetLoaders(loaders []Suffix) error {
	for _, s := range loaders {
		if s.Kind < Extension || s.Kind > Bytecode {
			return fmt.Errorf("pathscan: loader suffix %q has no loader kind", s.Suffix)
		}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.loaders = slices.Clone(loaders)
	return nil
}

// IsDir reports whether dir is a directory, as a path hook needs to know
// of a sys.path entry. It answers from the index when dir, or its parent,
// is listed in this run (or verified since) and not checked at every use
// (Options.Check), and otherwise stats dir once. A false answer is safe
// for the caller (the entry then goes through CPython's own path hooks);
// a true one means dir was a directory when it was listed (a listing
// from a cache file is not enough: the directory may be a zip file now).
func (ix *Index) IsDir(dir string) bool {
	ix.mu.Lock()
	if l := ix.get(dir); l != nil && ix.known(l) {
		ix.mu.Unlock()
		return l.state != stateMissing
	}
	if dir != "/" {
		parent, name := path.Split(dir)
		if p := ix.get(path.Clean(parent)); p != nil && ix.known(p) && p.state == stateOK && p.unpack() {
			i, ok := p.lookup(name, "")
			isDir := ok && p.ents()[i].kind() == typeDir
			ix.mu.Unlock()
			return isDir
		}
	}
	ix.mu.Unlock()
	st, err := os.Stat(dir)
	return err == nil && st.IsDir()
}

// known reports whether l answers without a look at the file system.
// Needs ix.mu.
func (ix *Index) known(l *listing) bool {
	return !l.stale && !l.transient && !l.unverified && !ix.isChecked(l)
}
