package share

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/internal/dirfd"
	"github.com/pyhost/pyhost/internal/frame"
	"github.com/pyhost/pyhost/pathscan"
)

// Limits of the cache: what one environment's files may hold, and how long
// what no run has used is kept.
const (
	settle  = 2 * time.Second // see pathscan.CachePolicy.Settle
	maxAge  = 30 * 24 * time.Hour
	maxDirs = 20000
	// maxProgramDirs: of them, directories outside the environment's
	// trees (see pathscan.CachePolicy.MaxProgramDirs).
	maxProgramDirs = 256
	maxModules     = 8000
	maxEnvs        = 32             // environments kept in one cache directory
	maxFile        = 256 << 20      // a cache file larger than this is not read
	stampEvery     = 24 * time.Hour // the modules record is rewritten at least this often when used
	filePrefix     = "env-"         // env-<key>.index, env-<key>.modules, env-<key>.pack (pack.go)
	tmpPrefix      = ".pyhost-"     // temporary files, renamed over the real ones
	tmpSuffix      = ".tmp"
	staleTmp       = 10 * time.Minute // a temporary file this old was left by a killed run
)

// Env identifies an environment: the runs that see the same trees. Two
// programs run by the same interpreter with the same search path share one
// cache, so any earlier run (a test on a login node, another script) warms
// every later job.
type Env struct {
	PyhostVersion string
	PythonVersion string
	Executable    string
	Prefix        string
	SearchPath    []string // the interpreter's module search path (sys.path less the script's directory)
}

// Key names the environment's files. FNV (not a cryptographic hash: the
// key only names files in the user's own directory, and linking crypto
// would cost every start its initialisation and 32 MB of address space).
// The index's format is part of it: a pyhost that writes another never
// reads the files of this one (nor warns about them); they age out.
func (e Env) Key() string {
	h := fnv.New128a()
	format := "index format " + strconv.Itoa(pathscan.FormatVersion) + ", modules format " + strconv.Itoa(modulesVersion) +
		", " + keyGeneration
	for _, s := range append([]string{format, e.PyhostVersion, e.PythonVersion, e.Executable, e.Prefix}, e.SearchPath...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// keyGeneration changes the key of every environment when what older
// caches may hold must not be used: since "images excluded", nothing of
// an image file system's (see imageFSNames), which earlier versions kept.
const keyGeneration = "images excluded"

// DefaultDir is $XDG_CACHE_HOME/pyhost, else ~/.cache/pyhost; home is
// the home directory in the second case (it must exist for the cache to
// be made there: pyhost never makes a home, as python3 makes nothing).
// A relative XDG_CACHE_HOME is ignored (the XDG spec), a relative HOME
// is an error.
func DefaultDir() (dir, home string, err error) {
	if x := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "pyhost"), "", nil
	}
	home, err = os.UserHomeDir()
	if err != nil {
		return "", "", err
	}
	if !filepath.IsAbs(home) {
		return "", "", fmt.Errorf("HOME %q is not an absolute path", home)
	}
	return filepath.Join(home, ".cache", "pyhost"), home, nil
}

// A Cache is one environment's files in a cache directory: the index (the
// directory listings lookups used) and the modules record (which modules
// the environment's runs loaded from source, for the bytecode bundle).
//
// Every failure costs at most one warning line per run (Warn), and the run
// goes on without the cache. Files are trusted only if they are regular,
// the user's own and writable by nobody else, in a directory that is the
// same; they are opened without following symlinks and without blocking
// (a FIFO at a cache path is refused, not waited on), and written through a
// temporary file renamed over them.
type Cache struct {
	dir   string
	key   string
	write bool
	// uid is the effective user the run started as, whose cache this is.
	// A program that changes its identity during the run (a daemon or
	// a server dropping root) has no cache from then on: nothing is
	// written (a file written as the new user would be refused by every
	// later run of the old one, as another user's) and nothing reported
	// (python3 says nothing of a __pycache__ it can no longer write).
	uid int

	// Warn prints one line; the Cache calls it at most once.
	Warn   func(msg string)
	warned bool

	// Home, if set, is the directory the cache directory is made in
	// (DefaultDir's home): the cache is not made if Home does not exist,
	// and a cache directory that cannot be made there is no cache, without
	// a warning (a service account's HOME of /nonexistent: python3 says
	// nothing there either). A directory the user chose warns.
	Home string

	// absent: the directory was not there when a read looked, and no
	// write has made it since: later reads of the run answer "no such
	// file" without looking again (a run without a cache directory, -B,
	// looked for it three times).
	absent atomic.Bool

	// sets: the loaded sets of the modules record LoadModules read, which
	// SaveModules carries over.
	sets []loadedSet
}

// notOwnedError is a cache directory or file of another user's.
type notOwnedError struct{ msg string }

func (e *notOwnedError) Error() string { return e.msg }

// noDirError is a cache directory that could not be made.
type noDirError struct{ err error }

func (e *noDirError) Error() string { return e.err.Error() }
func (e *noDirError) Unwrap() error { return e.err }

// Open returns the cache of env in dir. write is false when Python writes
// no bytecode (-B, PYTHONDONTWRITEBYTECODE): then nothing is written.
func Open(dir string, env Env, write bool) *Cache {
	return &Cache{dir: dir, key: env.Key(), write: write, uid: os.Geteuid()}
}

// sameUser reports whether the process still runs as the user it started
// as (see Cache.uid).
func (c *Cache) sameUser() bool { return os.Geteuid() == c.uid }

// writable reports whether the run may write the cache.
func (c *Cache) writable() bool { return c.write && c.sameUser() }

func (c *Cache) warn(format string, args ...any) {
	if c.warned || c.Warn == nil || !c.sameUser() {
		return
	}
	// The default directory (Home set) that cannot be made, reached (a
	// HOME of another user's: su without -; a HOME of /dev/null) or
	// trusted, or cannot be written (a read-only or full home, a quota,
	// ulimit -f) is no cache, as python3 says nothing of a __pycache__ it
	// cannot use or write.
	var noDir *noDirError
	var foreign *notOwnedError
	for _, a := range args {
		if err, ok := a.(error); ok && c.Home != "" &&
			(errors.As(err, &noDir) || errors.As(err, &foreign) || errors.Is(err, fs.ErrPermission) ||
				errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.ENOSPC) ||
				errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)) {
			return
		}
	}
	c.warned = true
	c.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// writeFailed reports a cache file that could not be written, in one
// line, unless the program had used up its file descriptors (EMFILE,
// ENFILE: a program that ends so gets python3's outcome, nothing on
// stderr; a later run writes the file).
func (c *Cache) writeFailed(what string, err error) {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		return
	}
	c.warn("%s not written: %v", what, err)
}

func (c *Cache) file(kind string) string {
	return filepath.Join(c.dir, filePrefix+c.key+"."+kind)
}

// IndexFile is the path of the index file.
func (c *Cache) IndexFile() string { return c.file("index") }

// LoadIndex merges the cached listings into ix, unverified: each is used
// only once one stat of its directory finds it unchanged (pathscan's
// MergeUnverified). A file that cannot be used is reported and rebuilt.
func (c *Cache) LoadIndex(ix *pathscan.Index) {
	data, err := c.read(c.IndexFile())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		c.warn("ignoring the index cache: %v", err)
	default:
		if err := ix.MergeUnverified(data); err != nil {
			c.warn("ignoring the index cache %s, which will be rebuilt: %v", c.IndexFile(), err)
		}
	}
}

// programDir: a directory of a program's rather than of the environment's
// installed trees.
func programDir(dir string) bool { return !pathscan.IsEnvironmentDir(dir) }

// SaveIndex writes what ix should keep (pathscan's MarshalCache), if
// anything changed.
func (c *Cache) SaveIndex(ix *pathscan.Index, now time.Time) {
	if !c.writable() || !ix.NeedsSave(now) {
		return
	}
	images, ok := readImages()
	if !ok {
		return // no telling which listings are of image file systems: keep the file as it is
	}
	blob, err := ix.MarshalCache(pathscan.CachePolicy{Settle: settle, MaxAge: maxAge, MaxDirs: maxDirs,
		MaxProgramDirs: maxProgramDirs, ProgramDir: programDir, SkipDev: images.Has, Now: now})
	if err == nil {
		err = c.writeAtomic(c.IndexFile(), blob)
	}
	if err != nil {
		c.writeFailed("index cache", err)
		return
	}
	c.prune(now)
}

// read reads a cache file if it and its directory are the user's own and
// nobody else can write them.
func (c *Cache) read(file string) ([]byte, error) {
	data, err := c.readUpTo(file, maxFile+1)
	if err == nil && len(data) > maxFile {
		return nil, fmt.Errorf("%s: more than %d bytes is larger than a cache file should be", file, maxFile)
	}
	return data, err
}

// readUpTo is read of at most the first limit bytes of file.
func (c *Cache) readUpTo(file string, limit int64) ([]byte, error) {
	if err := c.trustedDir(); err != nil {
		return nil, err
	}
	data, st, err := dirfd.ReadFile(file, syscall.O_NOFOLLOW, limit)
	switch {
	case errors.Is(err, syscall.ELOOP):
		return nil, fmt.Errorf("%s is a symbolic link", file)
	case st == nil:
		return nil, err
	}
	if err := ownedBySelf(file, st, false); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	return data, nil
}

// trusted checks the cache directory, following a symbolic link to it (a
// ~/.cache/pyhost that points to scratch space): what it names must be
// the user's own directory that nobody else can write.
func trusted(dir string) error {
	return trustedStat(dir, nil)
}

// trustedDir is trusted(c.dir) for reading: a directory found missing
// once in the run is missing for every later read (see absent).
func (c *Cache) trustedDir() error {
	if c.absent.Load() {
		return &os.PathError{Op: "stat", Path: c.dir, Err: unix.ENOENT}
	}
	var missing bool
	err := trustedStat(c.dir, &missing)
	if missing {
		c.absent.Store(true)
	}
	return err
}

// trustedStat is trusted; *missing (if not nil) is set when dir does not
// exist.
func trustedStat(dir string, missing *bool) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		if missing != nil && err == unix.ENOENT {
			*missing = true
		}
		return &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	return ownedBySelf(dir, &st, true)
}

func ownedBySelf(name string, st *unix.Stat_t, isDir bool) error {
	typ, perm := st.Mode&unix.S_IFMT, st.Mode&0o777
	switch {
	case isDir && typ != unix.S_IFDIR:
		return fmt.Errorf("%s is not a directory", name)
	case !isDir && typ != unix.S_IFREG:
		return fmt.Errorf("%s is not a regular file", name)
	case int(st.Uid) != os.Geteuid():
		return &notOwnedError{fmt.Sprintf("%s belongs to another user (uid %d)", name, st.Uid)}
	case perm&0o022 != 0:
		return fmt.Errorf("%s can be written by others (mode %04o)", name, perm)
	}
	return nil
}

// writeAtomic writes data to file through a temporary file renamed over it
// (which replaces a symlink or FIFO there, never writes through it), in a
// private directory.
func (c *Cache) writeAtomic(file string, blob []byte) error {
	return c.writeAtomicFunc(file, func(w io.Writer) error {
		_, err := w.Write(blob)
		return err
	})
}

// writeAtomicFunc is writeAtomic with the contents written by write.
func (c *Cache) writeAtomicFunc(file string, write func(io.Writer) error) error {
	if c.Home != "" {
		if st, err := os.Stat(c.Home); err != nil || !st.IsDir() {
			return &noDirError{fmt.Errorf("home directory %s: not there", c.Home)}
		}
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return &noDirError{err}
	}
	c.absent.Store(false)
	if err := trusted(c.dir); err != nil {
		return err
	}
	return dirfd.Replace(c.dir, tmpPrefix, tmpSuffix, file, func(tmp *os.File) error { return write(tmp) })
}

// prune bounds the cache directory: the files of environments no run has
// used for maxAge go, then the least recently used beyond maxEnvs, and
// temporary files a killed run left behind. Only pyhost's own names are
// touched; an environment's files are as old as its newest.
func (c *Cache) prune(now time.Time) {
	names, err := dirfd.ReadDirNames(c.dir)
	if err != nil {
		return
	}
	lastUse := map[string]time.Time{}
	files := map[string][]string{}
	for _, name := range names {
		var st unix.Stat_t
		if unix.Lstat(filepath.Join(c.dir, name), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		mtime := time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
		if isTempName(name) {
			if now.Sub(mtime) > staleTmp {
				os.Remove(filepath.Join(c.dir, name))
			}
			continue
		}
		key, ok := cacheFileKey(name)
		if !ok {
			continue // not pyhost's: a directory the user chose may hold anything
		}
		files[key] = append(files[key], name)
		if mtime.After(lastUse[key]) {
			lastUse[key] = mtime
		}
	}
	keys := make([]string, 0, len(lastUse))
	for k := range lastUse {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lastUse[keys[i]].After(lastUse[keys[j]]) })
	for i, k := range keys {
		if k == c.key || i < maxEnvs && now.Sub(lastUse[k]) < maxAge {
			continue
		}
		for _, name := range files[k] {
			os.Remove(filepath.Join(c.dir, name))
		}
	}
}

// cacheFileKey is the environment key of a cache file's name, exactly as
// Cache.file makes it: env-<24 hex digits>.index, .modules or .pack.
// Nothing else in the directory is pruned, whatever its name begins with.
func cacheFileKey(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, filePrefix)
	if !ok {
		return "", false
	}
	key, kind, ok := strings.Cut(rest, ".")
	if !ok || len(key) != 24 || strings.Trim(key, "0123456789abcdef") != "" {
		return "", false
	}
	switch kind {
	case "index", "modules", "pack":
		return key, true
	}
	return "", false
}

// isTempName says whether name is a temporary file's, as dirfd.CreateTemp
// names them here: .pyhost-<1 to 7 base-36 digits>.tmp.
func isTempName(name string) bool {
	mid, ok := strings.CutPrefix(name, tmpPrefix)
	if !ok {
		return false
	}
	mid, ok = strings.CutSuffix(mid, tmpSuffix)
	return ok && len(mid) >= 1 && len(mid) <= 7 && strings.Trim(mid, "0123456789abcdefghijklmnopqrstuvwxyz") == ""
}

// A Module is one module the environment's runs loaded: from source, with
// the bytecode file its loader used, or an extension module (Source is its
// file, Bytecode is empty).
type Module struct {
	Source, Bytecode string
	UsedAt           int64    // when a run last loaded it (ns since 1970)
	Programs         []uint64 // the programs (ProgramID) that loaded it recently, newest first
}

// Extension reports whether m is an extension module.
func (m Module) Extension() bool { return m.Bytecode == "" }

// maxPrograms bounds the programs remembered per module.
const maxPrograms = 8

// ProgramID names a program within an environment: what runs (a script's
// absolute path; or a module or command with the working directory).
func ProgramID(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// WarmProgram is the program of a run under -X pyhost.warm: what it
// loaded goes in the bundle of every program new to the environment.
var WarmProgram = ProgramID("pyhost.warm")

// ForProgram is what the bundle of a run of program should hold: the
// modules that program loaded before; or, for a program the environment
// has not run yet (seen is false), those at least two of the
// environment's programs loaded or a warm run (WarmProgram) loaded, the
// most shared first (byUse). One other program's modules say little about
// a new one's (a job that imports scipy after one that imported sympy
// would be sent sympy), and bundling a module costs the root a stat and
// a read and every rank its bytes; a module two programs loaded is the
// environment's common ground (its own package, numpy, the standard
// library's usual modules), and a warm run is the user saying so.
func ForProgram(ms []Module, program uint64) (out []Module, seen bool) {
	for _, m := range ms {
		if slices.Contains(m.Programs, program) {
			out = append(out, m)
		}
	}
	if out != nil {
		return out, true
	}
	for _, m := range byUse(ms) {
		if len(m.Programs) >= 2 || slices.Contains(m.Programs, WarmProgram) {
			out = append(out, m)
		}
	}
	return out, false
}

// byUse returns ms ordered as a new program would most likely need them:
// those a warm run loaded first, then by the number of programs that
// loaded each, most first, then most recently used first. ms is not
// changed.
func byUse(ms []Module) []Module {
	out := slices.Clone(ms)
	rank := func(m *Module) int {
		if slices.Contains(m.Programs, WarmProgram) {
			return maxPrograms + 1
		}
		return len(m.Programs)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ri, rj := rank(&out[i]), rank(&out[j]); ri != rj {
			return ri > rj
		}
		return out[i].UsedAt > out[j].UsedAt
	})
	return out
}

// The modules record is one file: the loaded sets (a frame, after its
// length as 4 bytes little endian), then the modules (a frame). A run
// reads the sets alone, the file's first setsRead bytes, to learn that
// it has nothing to add (see ModulesCurrent): reading and decoding the
// whole record (thousands of modules) at every exit cost a process that
// imports nothing new some 8% of the CPU time of `pyhost -c pass`.
const (
	modulesMagic   = "PYHM"
	modulesVersion = 2
	setsMagic      = "PYHS"
	setsVersion    = 1
	maxSets        = 64   // loaded sets kept: the programs last recorded
	setsRead       = 4096 // what ModulesCurrent reads; the sets frame fits in it
)

// A loadedSet is what a program last recorded: the digest of the modules
// it loaded (digestUsed) and the oldest stamp they carry in the record
// after that save. A later run of the program that loaded the same
// modules while that stamp is newer than stampEvery has nothing to
// record: SaveModules would find every module stamped, with its bytecode
// and the program, and write nothing.
type loadedSet struct {
	program, digest uint64
	oldest          int64
}

// digestUsed is the digest of the modules SaveModules records of used
// (each source once, absolute paths only), whatever their order; ok is
// false when there are none.
func digestUsed(used [][2]string) (digest uint64, ok bool) {
	seen := make(map[string]bool, len(used))
	n := uint64(0)
	for _, u := range used {
		if seen[u[0]] || !filepath.IsAbs(u[0]) || u[1] != "" && !filepath.IsAbs(u[1]) {
			continue
		}
		seen[u[0]] = true
		n++
		// FNV-1a of "source\x00bytecode", mixed (the sum of plain FNV
		// values of similar strings is weak), summed: order does not matter.
		h := fnv64a(fnv64a(fnv64a(14695981039346656037, u[0]), "\x00"), u[1])
		h ^= h >> 33
		h *= 0xff51afd7ed558ccd
		h ^= h >> 33
		digest += h
	}
	return digest ^ n*0x9e3779b97f4a7c15, n > 0
}

func fnv64a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// ModulesCurrent reports whether the modules record already says what
// later runs need of this run (so that it need neither read nor write
// the record): the program's last loaded set is used's, recent enough;
// or, for a program that has no such set, two other programs' current
// sets are used's (a warm run's counts as two). It reads the record's
// first setsRead bytes; any doubt (no record, a damaged one) is false,
// and LoadModules then says what is wrong.
//
// The second case is a many-task workflow's: each task's `-c`, working
// directory or script is a program of its own, and most load what others
// loaded. Every module such a run loaded is then recorded, stamped
// within stampEvery, and common ground (ForProgram gives it to any
// program new to the environment); what SaveModules would add is only
// this program's name on each, which matters to a later job of this
// program under MPI alone (it is then new, and gets the common ground).
// Writing it cost each such run a read and a rewrite of the whole record
// (some 200 KB and 3 ms in an environment of 1,400 modules, a tenth of
// `python3 -c pass`).
func (c *Cache) ModulesCurrent(used [][2]string, program uint64, now time.Time) bool {
	digest, ok := digestUsed(used)
	if !c.writable() || !ok {
		return true // SaveModules would write nothing
	}
	data, err := c.readUpTo(c.file("modules"), setsRead)
	if err != nil {
		return false
	}
	sets, _, err := decodeSets(data)
	if err != nil {
		return false
	}
	return findSet(sets, program, digest, now) >= 0 || sharedSet(sets, digest, now)
}

// sharedSet reports whether two programs' sets in sets, current at now,
// are of digest (WarmProgram's counting as two).
func sharedSet(sets []loadedSet, digest uint64, now time.Time) bool {
	n := 0
	for _, s := range sets {
		if s.digest != digest || now.UnixNano()-s.oldest > int64(stampEvery) {
			continue
		}
		if n++; n >= 2 || s.program == WarmProgram {
			return true
		}
	}
	return false
}

// findSet is the index of program's set of digest in sets if it is
// current at now, else -1.
func findSet(sets []loadedSet, program, digest uint64, now time.Time) int {
	for i, s := range sets {
		if s.program == program && s.digest == digest && now.UnixNano()-s.oldest <= int64(stampEvery) {
			return i
		}
	}
	return -1
}

// decodeSets decodes the loaded sets at the start of a modules record;
// rest is what follows them (the modules frame, whole if data is).
func decodeSets(data []byte) (sets []loadedSet, rest []byte, err error) {
	if len(data) < 4 {
		return nil, nil, frame.Errorf("modules record of %d bytes", len(data))
	}
	n := int(binary.LittleEndian.Uint32(data))
	if n > setsRead-4 || n > len(data)-4 {
		return nil, nil, frame.Errorf("loaded sets of %d bytes", n)
	}
	d, err := frame.Open(data[4:4+n], setsMagic, setsVersion)
	if err != nil {
		return nil, nil, err
	}
	count := d.Count("set count", 3)
	for i := uint64(0); i < count && d.Err() == nil; i++ {
		sets = append(sets, loadedSet{program: d.Uvarint("program"), digest: d.Uvarint("digest"), oldest: d.Varint("oldest stamp")})
	}
	if err := d.Close(); err != nil {
		return nil, nil, err
	}
	return sets, data[4+n:], nil
}

// LoadModules reads the modules record, most recently used first; nil if
// there is none or it cannot be used.
func (c *Cache) LoadModules() []Module {
	data, err := c.read(c.file("modules"))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.warn("ignoring the modules record: %v", err)
		}
		return nil
	}
	sets, rest, err := decodeSets(data)
	var ms []Module
	if err == nil {
		ms, err = decodeModules(rest)
	}
	if err != nil {
		c.warn("ignoring the modules record, which will be rebuilt: %v", err)
		return nil
	}
	c.sets = sets
	return ms
}

func decodeModules(data []byte) ([]Module, error) {
	d, err := frame.Open(data, modulesMagic, modulesVersion)
	if err != nil {
		return nil, err
	}
	d.ShareData() // data is the caller's own and never modified
	n := d.Count("count", 3)
	ms := make([]Module, 0, n)
	for i := uint64(0); i < n && d.Err() == nil; i++ {
		m := Module{Source: d.String("source"), Bytecode: d.String("bytecode"), UsedAt: d.Varint("last use")}
		np := d.Count("program count", 1)
		for j := uint64(0); j < np && d.Err() == nil; j++ {
			m.Programs = append(m.Programs, d.Uvarint("program"))
		}
		if d.Err() == nil && (!filepath.IsAbs(m.Source) || m.Bytecode != "" && !filepath.IsAbs(m.Bytecode)) {
			d.Fail(frame.Errorf("module %q: relative path", m.Source))
		}
		ms = append(ms, m)
	}
	if err := d.Close(); err != nil {
		return nil, err
	}
	return ms, nil
}

// SaveModules records that this run, of program, loaded used (source,
// bytecode) pairs (bytecode "" for an extension module): they are stamped
// now, the record's other modules keep their stamps (another program's),
// those older than maxAge go, and at most maxModules are kept, the most
// recently used. prev is what LoadModules returned.
func (c *Cache) SaveModules(prev []Module, used [][2]string, program uint64, now time.Time) {
	digest, ok := digestUsed(used)
	if !c.writable() || !ok {
		return
	}
	stamp := now.UnixNano()
	old := make(map[string]*Module, len(prev))
	for i := range prev {
		old[prev[i].Source] = &prev[i]
	}
	out, fresh := recordUsed(used, program, stamp, old)
	if fresh && len(prev) > 0 && findSet(c.sets, program, digest, now) >= 0 {
		return // nothing new to say: spare the write
	}
	sets := c.nextSets(program, digest, out, stamp)
	seen := make(map[string]bool, len(out)+len(prev))
	for _, m := range out {
		seen[m.Source] = true
	}
	for _, m := range prev {
		if !seen[m.Source] && stamp-m.UsedAt < int64(maxAge) {
			seen[m.Source] = true
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].UsedAt > out[j].UsedAt })
	if len(out) > maxModules {
		out = out[:maxModules]
	}
	c.writeModules(sets, len(out), func(e *frame.Encoder) {
		for i := range out {
			encodeModule(e, &out[i])
		}
	})
}

// UpdateModules is LoadModules and SaveModules in one, for a run that did
// not read the record at start-up (a process alone, at exit): the modules
// the run did not load are copied as they are encoded, not decoded. A
// program new to an environment of thousands of modules (each script, each
// `-c` and each working directory of a many-task workflow is one) spent
// some 10 ms of CPU decoding, sorting and encoding them again at exit,
// a third of what `python3 -c pass` takes. The record it writes is the one
// SaveModules would write, byte for byte; a record that is not as
// SaveModules writes them (modules out of order, one named twice, any
// damage) takes SaveModules's way, which says what is wrong.
func (c *Cache) UpdateModules(used [][2]string, program uint64, now time.Time) {
	if _, ok := digestUsed(used); !c.writable() || !ok {
		return
	}
	data, err := c.read(c.file("modules"))
	if err == nil && c.updateEncoded(data, used, program, now) {
		return
	}
	c.SaveModules(c.LoadModules(), used, program, now)
}

// updateEncoded is UpdateModules over the record's bytes; false when the
// record is not one it can copy from (nothing is written then).
func (c *Cache) updateEncoded(data []byte, used [][2]string, program uint64, now time.Time) bool {
	digest, _ := digestUsed(used)
	stamp := now.UnixNano()
	sets, rest, err := decodeSets(data)
	if err != nil {
		return false
	}
	d, err := frame.Open(rest, modulesMagic, modulesVersion)
	if err != nil {
		return false
	}
	want := make(map[string]*Module, len(used))
	for _, u := range used {
		want[u[0]] = nil
	}
	n := d.Count("count", 3)
	keep := make([][]byte, 0, n) // the others' records, as encoded
	keepAt := make([]int64, 0, n)
	sources := make(map[uint64]struct{}, n)
	last := int64(math.MaxInt64)
	for i := uint64(0); i < n; i++ {
		mark := d.Mark()
		src, bc, usedAt := d.Bytes("source"), d.Bytes("bytecode"), d.Varint("last use")
		np := d.Count("program count", 1)
		m, loaded := want[string(src)]
		if loaded && m == nil {
			m = &Module{Source: string(src), Bytecode: string(bc), UsedAt: usedAt, Programs: make([]uint64, 0, np)}
			want[m.Source] = m
		}
		for j := uint64(0); j < np; j++ {
			p := d.Uvarint("program")
			if loaded {
				m.Programs = append(m.Programs, p)
			}
		}
		h := fnv64a(14695981039346656037, unsafe.String(unsafe.SliceData(src), len(src)))
		_, twice := sources[h]
		switch {
		case d.Err() != nil, len(src) == 0 || src[0] != '/', len(bc) > 0 && bc[0] != '/':
			return false // damaged: SaveModules's way says so
		case usedAt > last, twice:
			return false // not as SaveModules writes (or two names of one digest)
		}
		last = usedAt
		sources[h] = struct{}{}
		if !loaded && stamp-usedAt < int64(maxAge) {
			keep = append(keep, d.Since(mark))
			keepAt = append(keepAt, usedAt)
		}
	}
	if d.Close() != nil {
		return false
	}
	c.sets = sets
	out, fresh := recordUsed(used, program, stamp, want)
	if fresh && n > 0 && findSet(sets, program, digest, now) >= 0 {
		return true // nothing new to say
	}
	sets = c.nextSets(program, digest, out, stamp)
	// SaveModules sorts this run's modules and then the others, stably,
	// newest first; the others are in that order already, so the two
	// lists merge (this run's first among equals).
	sort.SliceStable(out, func(i, j int) bool { return out[i].UsedAt > out[j].UsedAt })
	total := min(len(out)+len(keep), maxModules)
	c.writeModules(sets, total, func(e *frame.Encoder) {
		i, j := 0, 0
		for k := 0; k < total; k++ {
			if i < len(out) && (j == len(keep) || out[i].UsedAt >= keepAt[j]) {
				encodeModule(e, &out[i])
				i++
			} else {
				e.RawBytes(keep[j])
				j++
			}
		}
	})
	return true
}

// recordUsed is what SaveModules records of the modules this run loaded
// (used, each source once, absolute paths only), given the record's
// modules by source (old; a nil entry is none): each stamped now unless
// already stamped within stampEvery, with program first among the
// programs that loaded it. fresh: every one was already recorded so.
func recordUsed(used [][2]string, program uint64, stamp int64, old map[string]*Module) (out []Module, fresh bool) {
	seen := make(map[string]bool, len(used))
	fresh = true
	out = make([]Module, 0, len(used))
	for _, u := range used {
		if seen[u[0]] || !filepath.IsAbs(u[0]) || u[1] != "" && !filepath.IsAbs(u[1]) {
			continue
		}
		seen[u[0]] = true
		m := Module{Source: u[0], Bytecode: u[1], UsedAt: stamp, Programs: []uint64{program}}
		o := old[u[0]]
		if o == nil || stamp-o.UsedAt > int64(stampEvery) || o.Bytecode != u[1] || !hasProgram(o, program) {
			fresh = false
		} else {
			m.UsedAt = o.UsedAt // a stamp within stampEvery is as good
		}
		if o != nil {
			for _, p := range o.Programs {
				if p != program && len(m.Programs) < maxPrograms {
					m.Programs = append(m.Programs, p)
				}
			}
		}
		out = append(out, m)
	}
	return out, fresh
}

// nextSets is the loaded sets after this run's save: its own first (the
// oldest stamp of out, this run's modules), then the others still
// current, at most maxSets (the frame stays well within setsRead).
func (c *Cache) nextSets(program, digest uint64, out []Module, stamp int64) []loadedSet {
	oldest := stamp
	for _, m := range out {
		oldest = min(oldest, m.UsedAt)
	}
	sets := []loadedSet{{program: program, digest: digest, oldest: oldest}}
	for _, s := range c.sets {
		if len(sets) < maxSets && !(s.program == program && s.digest == digest) && stamp-s.oldest <= int64(stampEvery) {
			sets = append(sets, s)
		}
	}
	return sets
}

func encodeModule(e *frame.Encoder, m *Module) {
	e.String(m.Source)
	e.String(m.Bytecode)
	e.Varint(m.UsedAt)
	e.Uvarint(uint64(len(m.Programs)))
	for _, p := range m.Programs {
		e.Uvarint(p)
	}
}

// writeModules writes the record: the sets' frame after its length, then
// the modules' frame, count modules that each encodes, streamed to the
// file.
func (c *Cache) writeModules(sets []loadedSet, count int, each func(e *frame.Encoder)) {
	se := frame.NewEncoder(setsMagic, setsVersion, 32*len(sets))
	se.Uvarint(uint64(len(sets)))
	for _, s := range sets {
		se.Uvarint(s.program)
		se.Uvarint(s.digest)
		se.Varint(s.oldest)
	}
	setsFrame := se.Finish()
	head := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(setsFrame)), uint32(len(setsFrame)))
	head = append(head, setsFrame...)
	err := c.writeAtomicFunc(c.file("modules"), func(w io.Writer) error {
		if _, err := w.Write(head); err != nil {
			return err
		}
		e := frame.NewStreamEncoder(w, modulesMagic, modulesVersion)
		e.Uvarint(uint64(count))
		each(e)
		return e.Close()
	})
	if err != nil {
		c.writeFailed("modules record", err)
		return
	}
	c.sets = sets
}

func hasProgram(m *Module, program uint64) bool {
	return slices.Contains(m.Programs, program)
}
