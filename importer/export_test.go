package importer

// PrecompiledFinder reports whether Install runs finder.code (the GIL
// must be held).
func PrecompiledFinder() bool {
	_, ok := precompiledFinder()
	return ok
}
