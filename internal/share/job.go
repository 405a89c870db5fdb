package share

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pyhost/pyhost/mpiglue"
	"github.com/pyhost/pyhost/pathscan"
)

// A Job is this process's place among its peers: the ranks of the same
// MPI job that run pyhost with the same sharing settings (mpiglue's peers
// communicator, never MPI_COMM_WORLD). The zero Job is a process alone:
// every collective is then a no-op.
//
// Every method that says it is collective must be called by every peer,
// in the same order; none is ever called from the import path, so ranks
// that import differently never wait for each other.
type Job struct {
	rank, size int
	// nodes is set on the root by ShareIndex when the peers run on more
	// than one node: what it may share (see nodes.go).
	nodes *nodeFilter
	// hosts are the peers' host names, by peer rank, on the root after
	// LearnNodes.
	hosts []string
	// learnt: LearnNodes ran (on every peer).
	learnt bool
}

// Alone is the Job of a process that shares with nobody.
var Alone = Job{size: 1}

// MPIJob is the Job among mpiglue's peers; MPI must be initialised.
func MPIJob() Job { return Job{rank: mpiglue.PeerRank(), size: mpiglue.PeerSize()} }

// Root reports whether this process reads for the others (peer 0, or a
// process alone).
func (j Job) Root() bool { return j.rank == 0 }

// Shared reports whether there are peers to share with.
func (j Job) Shared() bool { return j.size > 1 }

// Roots are what the root lists ahead for the job: the trees imports can
// reach (the interpreter's search path and site directories) in full, and
// the working and script directories shallowly, since they may be anything
// (a home directory with a million files).
type Roots struct {
	Trees []string
	Local []string
	// Uses are the directories the environment's record says the job
	// will use (those of the modules its program loaded before, and of
	// their packages; for a program new to the environment, those the
	// environment's runs used): warm, the root verifies only these and the
	// trees' tops, and lists the Local directories themselves (not below
	// them), instead of walking the trees.
	Uses []string
	// New: the program is new to the environment. Warm, the root then
	// also lists each tree's top-level packages themselves (not below
	// them; at most newTopsMaxDirs per tree), so that a package the record
	// does not hold, a dependency the program does not name (urllib under
	// email, mpmath under sympy), is known at least at its top, and the
	// Named packages in full.
	New bool
	// Named are the top-level modules a program new to the environment
	// names (its imports, as its text says them): warm, the root lists
	// ahead the trees of the packages they are found to be (in Local,
	// then Trees, as sys.path orders them; cached listings there cost an
	// fstat, verified ones an open), so that the ranks do not each list
	// them at their first import.
	Named []string
}

// Eager listing limits.
const (
	treeDepth      = 16
	treeMaxDirs    = 50000
	localDepth     = 3
	localMaxDirs   = 500
	namedMaxDirs   = 4000 // per package a new program names
	namedMaxTotal  = 8000 // for all of them
	newTopsMaxDirs = 1024 // a tree's top-level packages, for a new program
	handOnMaxDirs  = 2048 // cached listings handed on unverified
)

// ShareIndex is collective: the root lists roots into ix and broadcasts
// its listings; the others merge them, listing nothing. When warm (the
// environment ran before and ix holds its cached listings), the root
// verifies the cached listings of roots.Uses and lists the Local
// directories themselves (for a new program also the trees' top-level
// packages and the Named ones: see Roots), walking no tree; the cached
// listings it did not verify go along unverified, so that a rank that needs one stats its directory instead
// of reading it. A directory the cache lacks is listed by each rank that
// needs it. Only the root's roots are used.
//
// facts, called on the root once the peers' nodes are known (MayShare is
// valid then), gives what else start-up shares in the same broadcast (the
// path configuration, site's answers); every peer gets it back (nil on a
// process alone, or when facts is nil).
//
// A failure to serialise or to merge costs the others their sharing, not
// their run: they list for themselves. A failed broadcast ends the job
// (the peers would wait forever).
//
// It first learns whether the peers run on more than one node (a gather of
// their host names): then what the root read on a node-local file system
// is not shared (see nodes.go).
func (j *Job) ShareIndex(ix *pathscan.Index, roots Roots, warm bool, facts func() []byte) []byte {
	if !j.Shared() {
		return nil
	}
	j.LearnNodes()
	var blob []byte
	if j.Root() {
		// What facts reads, it reads while the trees are listed (facts
		// alone uses the node filter until both are done).
		var extra []byte
		done := make(chan struct{})
		go func() {
			defer close(done)
			if facts != nil {
				extra = facts()
			}
		}()
		listRoots(ix, roots, warm)
		<-done
		var keep func(string, uint64) bool
		if j.nodes != nil {
			keep = j.nodes.dir
		}
		index, err := ix.MarshalBinaryWhere(keep)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pyhost: serialise the import index:", err)
			index = nil
		}
		var unverified []byte
		if index != nil {
			// The most recently used only: every rank holds them, and
			// those the job uses were verified above if predicted.
			handOn := map[string]bool{}
			for _, d := range ix.CachedDirs(handOnMaxDirs) {
				handOn[d] = true
			}
			unverified, _ = ix.MarshalUnverifiedWhere(func(dir string, dev uint64) bool {
				return handOn[dir] && (keep == nil || keep(dir, dev))
			})
		}
		blob = appendPart(nil, extra)
		blob = appendPart(blob, index)
		blob = append(blob, unverified...)
	}
	blob = j.Broadcast(blob, "the import index")
	extra, rest, ok1 := cutPart(blob)
	index, unverified, ok2 := cutPart(rest)
	if !ok1 || !ok2 {
		fmt.Fprintln(os.Stderr, "pyhost: the broadcast import index was malformed, listing locally")
		return nil
	}
	if !j.Root() && len(index) > 0 {
		err := ix.Merge(index)
		if err == nil && len(unverified) > 0 {
			err = ix.MergeUnverified(unverified)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "pyhost: the broadcast import index was rejected, listing locally:", err)
		}
	}
	return extra
}

// LearnNodes is collective, once per job (later calls do nothing): the
// root learns the peers' host names, and so whether they run on more than
// one node (then what it read on a node-local file system is not shared:
// see nodes.go) and how many run on its own.
func (j *Job) LearnNodes() {
	if !j.Shared() || j.learnt {
		return
	}
	j.learnt = true
	hosts, err := mpiglue.Gather([]byte(hostname()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "pyhost: gather of the peers' host names failed:", err)
		mpiglue.Abort(1)
	}
	if j.Root() {
		for _, h := range hosts {
			j.hosts = append(j.hosts, string(h))
		}
		for _, h := range hosts[1:] {
			if string(h) != string(hosts[0]) {
				j.nodes = newNodeFilter()
				break
			}
		}
	}
}

// appendPart appends part to blob, its length first.
func appendPart(blob, part []byte) []byte {
	blob = binary.LittleEndian.AppendUint64(blob, uint64(len(part)))
	return append(blob, part...)
}

// cutPart takes the part appendPart put first in blob.
func cutPart(blob []byte) (part, rest []byte, ok bool) {
	if len(blob) < 8 || uint64(len(blob)-8) < binary.LittleEndian.Uint64(blob) {
		return nil, nil, false
	}
	n := binary.LittleEndian.Uint64(blob)
	return blob[8 : 8+n], blob[8+n:], true
}

// MayShare reports whether the root may give the other peers what it read
// of the file path: always in a job on one node; in a job over several
// nodes, only what is on a file system all nodes share. Valid after
// ShareIndex.
func (j *Job) MayShare(path string) bool {
	return j.nodes == nil || j.nodes.file(path)
}

// NodeWriters is, on the root after ShareIndex, the peer that writes what
// is materialised on each node (internal/native) other than the root's
// own: the lowest peer rank of each host; nil when the peers run on one
// node.
func (j *Job) NodeWriters() []int {
	if j.nodes == nil {
		return nil
	}
	var out []int
	seen := map[string]bool{j.hosts[0]: true}
	for r, h := range j.hosts {
		if !seen[h] {
			seen[h] = true
			out = append(out, r)
		}
	}
	return out
}

// Rank is this process's peer rank.
func (j Job) Rank() int { return j.rank }

// Barrier is collective: every peer waits for all the others (what names
// it in an error). A failed barrier aborts the job, as a failed broadcast
// does.
func (j Job) Barrier(what string) {
	if !j.Shared() {
		return
	}
	if err := mpiglue.Barrier(); err != nil {
		fmt.Fprintf(os.Stderr, "pyhost: barrier after %s failed: %v\n", what, err)
		mpiglue.Abort(1)
	}
}

// Broadcast is collective: every peer gets the root's blob (what names it
// in an error). A failed broadcast aborts the job: the peers would
// otherwise wait forever in the next collective.
func (j Job) Broadcast(blob []byte, what string) []byte {
	if !j.Shared() {
		return blob
	}
	out, err := mpiglue.Bcast(blob)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pyhost: broadcast of %s failed: %v\n", what, err)
		mpiglue.Abort(1)
	}
	return out
}

// SharePaths is collective (pyhost.share_paths): the root lists the given
// directories and broadcasts them; every peer merges.
func (j Job) SharePaths(ix *pathscan.Index, paths []string) error {
	if !j.Shared() {
		return nil
	}
	var blob []byte
	if j.Root() {
		part := pathscan.New(pathscan.Options{})
		for _, p := range paths {
			if p = strings.TrimRight(p, "/"); filepath.IsAbs(p) {
				_ = part.ListTree(p, treeDepth, treeMaxDirs)
			}
		}
		var err error
		if blob, err = part.MarshalBinary(); err != nil {
			blob = nil
		}
	}
	blob, err := mpiglue.Bcast(blob)
	if err != nil {
		return fmt.Errorf("pyhost.share_paths: %w", err)
	}
	if len(blob) == 0 {
		return nil
	}
	return ix.Merge(blob)
}

// listNamed lists ahead the directories roots.Named are found to be, each
// the first directory so named in roots.Local and roots.Trees (sys.path's
// order).
func listNamed(ix *pathscan.Index, roots Roots) {
	if len(roots.Named) == 0 {
		return
	}
	search := append(append([]string{}, roots.Local...), roots.Trees...)
	budget := namedMaxTotal
	for _, name := range roots.Named {
		for _, dir := range search {
			if dir = filepath.Clean(dir); !filepath.IsAbs(dir) {
				continue
			}
			if !ix.HasDir(dir, name) {
				continue
			}
			if pkg := filepath.Join(dir, name); budget > 0 {
				before := ix.Stats().DirsListed
				_ = ix.ListTree(pkg, treeDepth, min(namedMaxDirs, budget))
				budget -= int(ix.Stats().DirsListed - before)
			}
			break
		}
	}
}

// listRoots lists (or, warm, verifies) the roots into ix. What fails to
// list is listed lazily later.
func listRoots(ix *pathscan.Index, roots Roots, warm bool) {
	if warm && roots.Uses != nil {
		// The trees' tops and the Local directories are listed (or
		// verified) themselves, not below them, alongside: every
		// top-level import searches the tops, a new program's own
		// directory is not in the cache, nor is a listing too fresh to
		// have been kept, and the others would each list them at their
		// first import.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, d := range append(append([]string{}, roots.Trees...), roots.Local...) {
				if d = filepath.Clean(d); filepath.IsAbs(d) {
					_ = ix.ListTree(d, 0, 1)
				}
			}
		}()
		ix.VerifyDirs(roots.Uses)
		<-done
		if roots.New {
			for _, d := range roots.Trees {
				if d = filepath.Clean(d); filepath.IsAbs(d) {
					_ = ix.ListTree(d, 1, newTopsMaxDirs)
				}
			}
			listNamed(ix, roots)
		}
		return
	}
	seen := map[string]bool{}
	list := func(dir string, depth, max int) {
		dir = filepath.Clean(dir)
		if !filepath.IsAbs(dir) || seen[dir] {
			return
		}
		seen[dir] = true
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return
		}
		if warm {
			_ = ix.VerifyTree(dir)
		} else {
			_ = ix.ListTree(dir, depth, max)
		}
	}
	for _, d := range roots.Trees {
		list(d, treeDepth, treeMaxDirs)
	}
	for _, d := range roots.Local {
		list(d, localDepth, localMaxDirs)
	}
}
