// Package pathscan is pyhost's in-memory index of sys.path directories: it
// lists directories once and answers, for a directory and a module's last
// name, exactly what CPython 3.11's
// importlib._bootstrap_external.FileFinder.find_spec answers for that
// directory on Linux, without touching the file system again.
//
// pathscan owns the listings and the lookup rules. It is plain Go: it never
// imports Python or C, never needs the GIL, and decides nothing about which
// directories are on sys.path (the importer calls [Index.Find] for them, in
// order) or about loading (it returns paths and loader kinds).
//
// # The lookup
//
// [Index.Find](dir, tail) follows find_spec step by step:
//
//  1. If tail is a name in dir's listing and, following links, a directory,
//     look for dir/tail/__init__<suffix> for each loader suffix in order; the
//     first regular file makes a package. Otherwise dir/tail is a possible
//     namespace portion.
//  2. For each suffix in order, a name tail+suffix in the listing that is a
//     regular file makes a module.
//  3. A possible portion from step 1 is the answer; else nothing is found.
//
// The loader suffixes come from [Options] (the running interpreter's
// _get_supported_file_loaders()); pathscan knows none of its own.
//
// Step 1 needs dir/tail's listing, which is read lazily the first time and
// kept: it is what the submodule imports of that package look in next.
// Entry types come from d_type; only symlinks are stat'ed (following them),
// so "regular file" and "directory" mean what Python's stat-based
// _path_isfile and _path_isdir mean. A directory that cannot be listed
// (missing, not a directory, permission denied) has an empty listing, as in
// FileFinder._fill_cache.
//
// # Staleness
//
// A hit never touches the file system. FileFinder stats its directory on
// every lookup; pathscan does that only for answers that are not hits, and
// only with [Options].RevalidateMisses: one stat of dir for a miss (plus one
// of dir/tail for a namespace answer, because Python would see a new
// __init__ file at once). A moved mtime relists the directory and drops the
// cached listings right below it whose own mtime moved. Without
// RevalidateMisses, answers hold until [Index.Invalidate] or
// [Index.InvalidateAll] (importlib.invalidate_caches).
//
// Python's FileFinder also caches names until the directory's mtime moves,
// but it stats each candidate file live. So pathscan answers differently
// from it only when something changed that moves no mtime of a directory
// involved (a symlink retargeted, a file's type changed in place), or when
// a hit went stale (a module or __init__ file removed after it was found:
// hits are never revalidated; the loader will then fail as it would for a
// file removed between find_spec and exec_module).
//
// # Why the B-tree is keyed by directory
//
// The tree holds one item per directory (github.com/google/btree, BTreeG),
// and each item holds that directory's sorted names with their types. The
// alternative, one item per (directory, name), would make a lookup one
// tree search instead of two (directory, then a binary search of its
// names), but a directory is the unit of everything else: it is read in one
// getdents pass, goes stale as a whole (one mtime), is invalidated and
// serialized as a whole, and "this directory was listed and has no such
// name", the answer a final miss rests on, needs a per-directory record
// anyway. Per-name items would also carry the directory path in every key
// and make relisting a delete-and-insert of every name. Keyed by path,
// a directory's subtree is a contiguous key range (dir, then dir+"/"...),
// which is what [Index.Forget] and [Index.Invalidate] walk. Lookups of
// tail+suffix compare the two parts in place, and the child listing used
// by step 1 is cached on its parent's entry, so a hit costs one tree search
// and no allocation beyond the returned path.
//
// # Sharing listings
//
// [Index.ListTree] lists a tree eagerly (the rank that lists for many);
// [Index.MarshalBinary] and [Index.Merge] move listings between processes
// or through a cache file. Merged listings behave as if listed here.
//
// # Differences from FileFinder
//
//   - Find takes the part of tail after its last dot, as find_spec does with
//     its fullname; tails that are empty or contain '/' or NUL are never names
//     in a listing and behave as in FileFinder (an empty tail can find a file
//     named ".py").
//   - os.listdir errors other than ENOENT, ENOTDIR and EACCES raise in Python;
//     pathscan treats them as an empty listing.
//   - mtimes are compared in nanoseconds, not as floats.
package pathscan
