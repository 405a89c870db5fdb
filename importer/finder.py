# pyhost's import finder: the Python side of package importer.
#
# Executed in the namespace of the builtin module _pyhost during the core
# phase of start-up, before PathFinder exists and before site runs: only
# builtin and frozen modules can be imported here. The lookups themselves
# are Go functions of _pyhost (find_spec, lookup, entry_is_dir, ...); this file
# only turns their answers into the specs FileFinder would have made.

import sys
import _imp
import _frozen_importlib as _bootstrap
import _frozen_importlib_external as _bootstrap_external

_FileFinder = _bootstrap_external.FileFinder
_path_join = _bootstrap_external._path_join
_ModuleSpec = _bootstrap.ModuleSpec
_getcwd = _bootstrap_external._os.getcwd

# (loader class, suffixes) in FileFinder's order; the suffix order is the
# running interpreter's, handed to the Go index once (set_loaders).
_loader_details = _bootstrap_external._get_supported_file_loaders()
_loader_classes = tuple(loader for loader, _ in _loader_details)
set_loaders([list(suffixes) for _, suffixes in _loader_details])

_PathFinder = _bootstrap_external.PathFinder
_default_hooks = None  # sys.path_hooks as installed by CPython (captured lazily)


class IndexedFileFinder(_FileFinder):
    """A FileFinder answered from pyhost's index instead of the file system.

    It answers find_spec exactly as FileFinder would, builds the same specs
    with the same loaders, and is what sys.path_importer_cache holds for
    the directories pyhost indexes.
    """

    def __init__(self, path):
        _FileFinder.__init__(self, path, *_loader_details)

    def invalidate_caches(self):
        self._path_mtime = -1
        invalidate(self.path)

    def find_spec(self, fullname, target=None):
        answer = lookup(self.path, fullname.rpartition('.')[2])
        if answer is None:
            return None
        return _spec(self, fullname, answer, target)


def _spec(finder, fullname, answer, target):
    kind, filename, location = answer
    if kind < 0:
        spec = _ModuleSpec(fullname, None)
        spec.submodule_search_locations = [location]
        return spec
    return _make_spec(finder, fullname, kind, filename, location)


_spec_from_file_location = _bootstrap_external.spec_from_file_location
_get_spec = _FileFinder._get_spec


_SourceFileLoader = _bootstrap_external.SourceFileLoader


def _serve_from_bundle(loader, source_path):
    """Make loader take the source's stat and its bytecode from the bundle
    (see importer.Bundle), once: get_code asks path_stats(source) and then
    get_data(bytecode); after that the loader is a plain one again."""
    entry = bundle_take(source_path)
    if entry is None:
        return
    bytecode_path, sec, nsec, size, data = entry
    stats = {'mtime': sec + nsec * 1e-9, 'size': size}

    def path_stats(path):
        if path == source_path:
            return stats
        return _SourceFileLoader.path_stats(loader, path)

    def get_data(path):
        if path == bytecode_path:
            del loader.path_stats, loader.get_data
            return data
        return _SourceFileLoader.get_data(loader, path)

    loader.path_stats = path_stats
    loader.get_data = get_data


def _make_spec(finder, fullname, kind, filename, location):
    """The spec finder.find_spec would return for a hit (FileFinder._get_spec)."""
    bundled = kind == 3
    if bundled:
        kind = 1  # a source module: SourceFileLoader
    loader_class = _loader_classes[kind]
    if (_bootstrap_external.spec_from_file_location is not _spec_from_file_location
            or type(finder)._get_spec is not _get_spec):
        # Patched (tests do that): go the long way.
        return finder._get_spec(loader_class, fullname, filename,
                                None if location is None else [location], None)
    # What spec_from_file_location does for an absolute str location, a
    # loader and explicit search locations, without its generality.
    loader = loader_class(fullname, filename)
    if bundled and loader_class is _SourceFileLoader:
        _serve_from_bundle(loader, filename)
    spec = _ModuleSpec(fullname, loader, origin=filename)
    spec._set_fileattr = True
    spec.submodule_search_locations = None if location is None else [location]
    return spec


def _finder_for(entry):
    """The path entry finder PathFinder would use for entry (a str)."""
    key = entry
    if key == '':
        try:
            key = _getcwd()
        except FileNotFoundError:
            return None
    cache = sys.path_importer_cache
    try:
        return cache[key]
    except KeyError:
        pass
    global _default_hooks
    if _default_hooks is None:
        _default_hooks = list(sys.path_hooks)
    # With CPython's own hooks (zipimporter, then FileFinder's), a directory
    # gets a FileFinder: make it an indexed one, without the hooks' stats.
    # Anything else goes through the stock machinery, unchanged.
    if sys.path_hooks == _default_hooks and entry_is_dir(key):
        finder = IndexedFileFinder(key)
        cache[key] = finder
        return finder
    return _PathFinder._path_importer_cache(entry)


class GoFinder:
    """pyhost's meta path finder, just before PathFinder in sys.meta_path.

    For the directories pyhost indexes it answers as PathFinder would, from
    the index, in one call into Go. Whatever it cannot answer exactly
    (namespace packages, entries served by other path hooks) it leaves to
    PathFinder, whose finders for indexed directories are indexed too.
    """

    # find_spec(fullname, path=None, target=None) is the Go function
    # _pyhost.find_spec, set below: no Python frame on the hot path.

    @classmethod
    def invalidate_caches(cls):
        invalidate(None)

    def __repr__(self):
        return "<pyhost GoFinder>"


GoFinder.find_spec = staticmethod(find_spec)

# Appended now, before the main phase: CPython appends PathFinder there, so
# GoFinder ends up right before it.
sys.meta_path.append(GoFinder)
