# pyhost's import finder: the Python side of package importer.
#
# Executed between the two phases of start-up, before PathFinder exists
# and before site runs (only builtin and frozen modules can be imported
# here), in a namespace of its own named importlib._bootstrap_external and
# compiled as "<frozen importlib._bootstrap_external>": to tracers and
# debuggers its frames are CPython's own import machinery (see package
# importer). The namespace holds the Go functions (find_spec, lookup,
# entry_is_dir, invalidate, bundle_take, pack_setup, open_code, native_take,
# native_failed, set_loaders) and the kinds of a
# lookup's answer (KIND_*), both defined in Go; this file only turns
# answers into the specs FileFinder would have made.

import sys
import _imp
import _frozen_importlib as _bootstrap
import _frozen_importlib_external as _bootstrap_external

_FileFinder = _bootstrap_external.FileFinder
_path_join = _bootstrap_external._path_join
_ModuleSpec = _bootstrap.ModuleSpec
_getcwd = _bootstrap_external._os.getcwd

# (loader class, suffixes) in FileFinder's order: extensions, source,
# bytecode; the suffixes are the running interpreter's, handed to the Go
# index once (set_loaders).
_loader_details = _bootstrap_external._get_supported_file_loaders()
set_loaders([list(suffixes) for _, suffixes in _loader_details])
_SourceFileLoader = _bootstrap_external.SourceFileLoader
_loader_for_kind = {
    KIND_EXTENSION: _loader_details[0][0],
    KIND_SOURCE: _loader_details[1][0],
    KIND_BYTECODE: _loader_details[2][0],
    KIND_BUNDLED: _loader_details[1][0],
    KIND_NATIVE: _loader_details[0][0],
}

_PathFinder = _bootstrap_external.PathFinder
_default_hooks = None  # sys.path_hooks as installed by CPython (captured lazily)


class IndexedFileFinder(_FileFinder):
    """A FileFinder answered from pyhost's index instead of the file system.

    It answers find_spec exactly as FileFinder would, builds the same specs
    with the same loaders, and is what sys.path_importer_cache holds for
    the directories pyhost indexes.
    """

    __module__ = "pyhost"

    def __init__(self, path):
        _FileFinder.__init__(self, path, *_loader_details)

    def invalidate_caches(self):
        self._path_mtime = -1
        invalidate(self.path)

    def find_spec(self, fullname, target=None):
        answer = lookup(self.path, fullname.rpartition('.')[2])
        if answer is None:
            return None
        if answer is False:
            # The program changed the machinery (a loader suffix added, as
            # Hy adds its own; FileFinder's or PathFinder's methods
            # wrapped): FileFinder's find_spec, as it now stands, searches
            # the directory itself.
            find_spec = getattr(_FileFinder, 'find_spec', None)
            if find_spec is None:
                raise AttributeError("'FileFinder' object has no attribute 'find_spec'")
            return find_spec(self, fullname, target)
        return _spec(self, fullname, answer, target)


def _spec(finder, fullname, answer, target):
    kind, filename, location = answer
    if kind == KIND_NAMESPACE:
        spec = _ModuleSpec(fullname, None)
        spec.submodule_search_locations = [location]
        return spec
    return _make_spec(finder, fullname, kind, filename, location)


_spec_from_file_location = _bootstrap_external.spec_from_file_location
_get_spec = _FileFinder._get_spec



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


def _serve_native(loader, path):
    """Make loader dlopen the node-local copy of the extension module at
    path (see internal/native), once: native_take checks the copy and
    preloads the libraries it needs, _imp.create_dynamic loads it with
    the spec's origin pointing at it for the call only, and the module
    names path, as the stock loader's would. A copy that fails to load
    leaves the module to the stock loader: python3's outcome."""

    def create_module(spec):
        del loader.create_module
        if spec.origin != path:
            return loader.create_module(spec)
        copy = native_take(path, sys.getdlopenflags())
        if copy is None:
            return loader.create_module(spec)
        spec.origin = copy
        try:
            module = _bootstrap._call_with_frames_removed(_imp.create_dynamic, spec)
        except ImportError:
            module = None
        finally:
            spec.origin = path
        if module is None:
            native_failed(path)
            return loader.create_module(spec)
        # A single-phase module's __file__ is the path it was loaded from.
        if getattr(module, '__file__', None) == copy:
            module.__file__ = path
        _bootstrap._verbose_message('extension module {!r} loaded from {!r}', spec.name, path)
        return module

    loader.create_module = create_module


def _make_spec(finder, fullname, kind, filename, location):
    """The spec finder.find_spec would return for a hit (FileFinder._get_spec)."""
    loader_class = _loader_for_kind[kind]
    if (_bootstrap_external.spec_from_file_location is not _spec_from_file_location
            or type(finder)._get_spec is not _get_spec):
        # Patched (tests do that): go the long way.
        return finder._get_spec(loader_class, fullname, filename,
                                None if location is None else [location], None)
    # What spec_from_file_location does for an absolute str location, a
    # loader and explicit search locations, without its generality.
    loader = loader_class(fullname, filename)
    if kind == KIND_BUNDLED and loader_class is _SourceFileLoader:
        _serve_from_bundle(loader, filename)
    elif kind == KIND_NATIVE:
        _serve_native(loader, filename)
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

    __module__ = "pyhost"

    # find_spec(fullname, path=None, target=None) is the Go function
    # find_spec, set below: no Python frame on the hot path.

    @classmethod
    def invalidate_caches(cls):
        invalidate(None)

    def __repr__(self):
        return "<pyhost GoFinder>"


GoFinder.find_spec = staticmethod(find_spec)

if HAVE_PACK:
    # The loaders read .pyc files through _bootstrap_external's _io: make
    # it a copy of _io whose open_code (Go's, a builtin: no frame of its
    # own in a traceback) serves the pack's valid copies (see importer's
    # package doc). The stock loader does the rest: it stats the source
    # and checks the header against it, as with the file.
    _io = _bootstrap_external._io
    pack_setup(_io.open_code, _io.BytesIO, sys.audit, sys,
               _bootstrap_external._os.O_RDONLY | _bootstrap_external._os.O_CLOEXEC)
    _packed_io = type(sys)(_io.__name__, _io.__doc__)
    _packed_io.__dict__.update(_io.__dict__)
    _packed_io.open_code = open_code
    _bootstrap_external._io = _packed_io


def _after_fork_in_child():
    """In a child of fork() (without exec) Go's runtime cannot schedule
    (its other threads are gone: internal/cpython/fork.go): the importer
    leaves, and CPython's own finders and loaders answer the child's
    imports, as under python3."""
    try:
        sys.meta_path.remove(GoFinder)
    except ValueError:
        pass
    cache = sys.path_importer_cache
    for key, finder in list(cache.items()):
        if type(finder) is IndexedFileFinder:
            del cache[key]
    if HAVE_PACK and _bootstrap_external._io is _packed_io:
        _bootstrap_external._io = _io


_bootstrap_external._os.register_at_fork(after_in_child=_after_fork_in_child)

# Appended now, before the main phase: CPython appends PathFinder there, so
# GoFinder ends up right before it.
sys.meta_path.append(GoFinder)
