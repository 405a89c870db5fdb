// Package native materialises extension modules and the shared libraries
// they need in node-local storage, once per node, and serves the copies to
// the loader, so that the ranks of a job do not each dlopen them through
// the shared file system.
//
// # Resolution
//
// A [Resolver] resolves an extension module's DT_NEEDED closure as glibc's
// loader would (breadth first, a name matching an object already mapped by
// its name or SONAME; DT_RPATH of the requesting object and its loaders
// when it has no DT_RUNPATH, and of the executable; LD_LIBRARY_PATH;
// DT_RUNPATH; /etc/ld.so.cache; the system directories; $ORIGIN and $LIB
// expanded). It reads each directory searched once (a listing) and each
// object's dynamic section once. What it cannot decide as the loader
// would (hwcaps subdirectories, $PLATFORM, relative directories, a cache
// name with hwcaps variants) and what the loader could not load
// (an unresolvable DT_NEEDED) is never planned: such a module is the
// stock loader's, with python3's outcome, error or success.
//
// # What is copied
//
// [Build] copies the extension module and every library of its closure
// except the system's: a library in a system directory (the loader's
// default path or a directory of its cache) on a node-local file system is
// left to the loader. A copied library must be matched by the loader
// through its SONAME (the DT_NEEDED that names it equals it), since the
// copies are preloaded by full path, dependencies first: the loader then
// finds each later DT_NEEDED among the objects already mapped, and no
// $ORIGIN search from a copy is ever needed.
//
// # The node directory
//
// Copies live in base/<environment key> (base: /dev/shm/pyhost-<uid> by
// default), both 0700 directories of the user, checked with lstat (never
// a symlink, never another user's, never writable by others, not on a
// noexec mount). A copy is named after its original's path and identity
// (device, inode, size, mtime, ctime): a replaced original gets a new
// copy, a stale copy is never looked up. Copies are written to a
// temporary file renamed over the name, so they are whole or absent; a
// copy is used only if it is a regular file of the user's, writable by
// nobody else, of the original's size.
//
// # Loading
//
// A [Table] serves a [Plan]: Take checks and preloads, and returns the
// copy that the importer's loader hands to _imp.create_dynamic; the module
// still names its original (__file__, __spec__). Drop
// (importlib.invalidate_caches) stops serving copies.
//
// Nothing here is collective and nothing here needs the GIL; a Table is
// safe for concurrent use, a Resolver is not.
package native
