//go:build cgo && !nompi

package mpiglue

/*
// No mpi.h and no -lmpi: mpi_shim.c reaches MPI only through dlsym, for
// Open MPI's ABI and MPICH's alike, so the binary does not list libmpi as
// NEEDED and a plain run never maps it.
#cgo LDFLAGS: -ldl -Wl,--wrap=_exit -Wl,--wrap=execv -Wl,--wrap=execve -Wl,--wrap=fexecve
#include <stdlib.h>
#include "mpi_shim.h"
*/
import "C"

import (
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

var (
	// mu serializes loading, Init, Finalize and every collective: MPI
	// requires collectives on one communicator to be issued in the same
	// order on every rank, so concurrent ones are a bug anyway, and it makes
	// MPI_THREAD_SERIALIZED as good as MULTIPLE for mpiglue's own calls.
	mu sync.Mutex

	// loaded is set once the shim's pointers are resolved, and never reset:
	// the library stays mapped for the life of the process.
	loaded  atomic.Bool
	libName string // guarded by mu; constant once loaded

	initDone    atomic.Bool  // Init succeeded and Finalize has not run
	worldRank   atomic.Int64 // valid while initDone
	worldSize   atomic.Int64
	threadLevel atomic.Int64
	peerRank    atomic.Int64 // in pyhost's own communicator
	peerSize    atomic.Int64
	peersHow    string // guarded by mu

	// maxMessage is the largest count passed to one MPI call. MPI counts
	// are C ints; tests lower it to exercise the chunked paths. Guarded by
	// mu, and must be the same on every rank.
	maxMessage = math.MaxInt32
)

func init() {
	worldSize.Store(1)
	peerSize.Store(1)
	threadLevel.Store(-1)
}

// Available reports whether this build of pyhost has MPI support. It does
// not say whether an MPI library can be loaded: [Init] finds that out.
func Available() bool { return true }

// libraryNames lists the sonames to dlopen, in order: library if set,
// else the launcher's family first (see [Launch]).
func libraryNames(library string) []string {
	if library != "" {
		return []string{library}
	}
	return Detect().libraries()
}

// load dlopens the MPI library if that has not happened yet. mu is held.
func load(library string) error {
	if loaded.Load() {
		return nil
	}
	var tried []string
	msg := make([]byte, 1024)
	for _, name := range libraryNames(library) {
		cname := C.CString(name)
		rc := C.pyhost_mpi_load(cname, (*C.char)(unsafe.Pointer(&msg[0])), C.int(len(msg)))
		C.free(unsafe.Pointer(cname))
		if rc == 0 {
			libName = name
			loaded.Store(true)
			return nil
		}
		why := C.GoString((*C.char)(unsafe.Pointer(&msg[0])))
		if !strings.Contains(why, name) {
			why = name + ": " + why // a library that loaded but is no MPI
		}
		tried = append(tried, why)
	}
	return fmt.Errorf("mpiglue: %w: %s", ErrNoLibrary, strings.Join(tried, "; "))
}

// adopt resolves the shim from an MPI library some other code (mpi4py)
// already loaded, without mapping one itself, and reports whether the shim
// is usable. mu is held.
func adopt() bool {
	if loaded.Load() {
		return true
	}
	for _, name := range libraryNames("") {
		cname := C.CString(name)
		rc := C.pyhost_mpi_adopt(cname)
		C.free(unsafe.Pointer(cname))
		if rc == 0 {
			libName = name
			loaded.Store(true)
			return true
		}
	}
	return false
}

// usable resolves the shim if possible without loading anything.
func usable() bool {
	if loaded.Load() {
		return true
	}
	mu.Lock()
	defer mu.Unlock()
	return adopt()
}

// mpiError turns a failed call's code into an error naming the call.
func mpiError(call string, rc C.int) error {
	buf := make([]byte, 1024)
	C.pyhost_mpi_error_string(rc, (*C.char)(unsafe.Pointer(&buf[0])), C.int(len(buf)))
	msg := C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
	return fmt.Errorf("mpiglue: %s: %w", call, &Error{Code: int(rc), Msg: msg})
}

func queryFlag(call string, f func(*C.int) C.int) (bool, error) {
	var v C.int
	if rc := f(&v); rc != 0 {
		return false, mpiError(call, rc)
	}
	return v != 0, nil
}

func isInitialized() (bool, error) {
	return queryFlag("MPI_Initialized", func(p *C.int) C.int { return C.pyhost_mpi_initialized(p) })
}

func isFinalized() (bool, error) {
	return queryFlag("MPI_Finalized", func(p *C.int) C.int { return C.pyhost_mpi_finalized(p) })
}

// Init loads the MPI library, initializes MPI and forms pyhost's own
// communicator, on which [Bcast], [Gather] and [Barrier] run.
//
// The library is opts.Library if set (pyhost: $PYHOST_LIBMPI, unless
// python's -E or -I), otherwise, for Open MPI's mpirun and PMIx launchers,
// the first of libmpi.so.40 (Open MPI), libmpi.so.12, libmpich.so.12 (MPICH
// ABI) and libmpi.so that loads; for Hydra and PMI-2 launchers the MPICH
// names first. It is opened RTLD_NOW|RTLD_GLOBAL. If none loads, the error
// wraps [ErrNoLibrary] and names what was tried.
//
// Init requests MPI_THREAD_MULTIPLE and sets MPI_ERRORS_RETURN on
// MPI_COMM_WORLD. In the pyhost executable the application's own
// MPI_Init_thread is then answered on top (see the package doc), so it may
// ask for any level. It then forms the communicator of pyhost's peers:
// collective over them only, never over MPI_COMM_WORLD (see peers.go); ranks
// whose opts.ShareKey differs end in different communicators.
//
// If the launcher said how many processes it started and MPI formed a
// world of another size (the wrong MPI for this launcher: srun
// --mpi=pmix with MPICH gives singletons), Init returns nil after
// printing one warning line naming the library, and pyhost shares nothing.
//
// If MPI is already initialized by someone else, Init adopts it. Once Init
// has succeeded, further calls are no-ops returning nil. After MPI was
// finalized, Init fails: MPI cannot be initialized twice in a process.
//
// Call Init and [Finalize] from the same OS thread (the goroutine calls
// runtime.LockOSThread first): MPI calls that thread the main thread.
// Under a launcher this is collective: every rank must call it.
func Init(opts Options) error {
	mu.Lock()
	defer mu.Unlock()
	if initDone.Load() {
		return nil
	}
	if err := load(opts.Library); err != nil {
		return err
	}
	fin, err := isFinalized()
	if err != nil {
		return err
	}
	if fin {
		return fmt.Errorf("mpiglue: init: %w: it was finalized and cannot be initialized again", ErrNotInitialized)
	}
	ini, err := isInitialized()
	if err != nil {
		return err
	}
	var provided C.int
	if !ini {
		if rc := C.pyhost_mpi_init_thread(ThreadMultiple, &provided); rc != 0 {
			return mpiError("MPI_Init_thread", rc)
		}
	} else if rc := C.pyhost_mpi_query_thread(&provided); rc != 0 {
		return mpiError("MPI_Query_thread", rc)
	}
	if rc := C.pyhost_mpi_world_errors_return(); rc != 0 {
		return mpiError("MPI_Comm_set_errhandler", rc)
	}
	var rank, size C.int
	if rc := C.pyhost_mpi_world_rank(&rank); rc != 0 {
		return mpiError("MPI_Comm_rank", rc)
	}
	if rc := C.pyhost_mpi_world_size(&size); rc != 0 {
		return mpiError("MPI_Comm_size", rc)
	}
	worldRank.Store(int64(rank))
	worldSize.Store(int64(size))
	threadLevel.Store(int64(provided))
	peerRank.Store(0)
	peerSize.Store(1)
	initDone.Store(true)

	l := opts.Launch
	if l.Role == Alone && l.Launcher == "" {
		l = Detect()
	}
	if l.Size > 0 && int(size) != l.Size {
		fmt.Fprintf(os.Stderr, "pyhost: the MPI library %s (%s) formed a job of %d process(es), but the %s launcher started %d: wrong MPI library or PMI plugin for this launcher; pyhost shares nothing\n",
			libName, abiName(), int(size), l.Launcher, l.Size)
		peersHow = "alone: wrong MPI for the launcher"
		return nil
	}
	appnum, flag := C.int(0), C.int(0)
	if rc := C.pyhost_mpi_appnum(&appnum, &flag); rc != 0 || flag == 0 {
		appnum = -1
	}
	p := findPeers(l, os.Getenv, int(rank), int(size), int(appnum), system)
	peersHow = p.how
	if len(p.ranks) < 2 {
		return nil
	}
	ranks := make([]C.int, len(p.ranks))
	for i, r := range p.ranks {
		ranks[i] = C.int(r)
	}
	var prank, psize C.int
	if rc := C.pyhost_mpi_make_peers(&ranks[0], C.int(len(ranks)), C.int(shareColor(opts.ShareKey)), &prank, &psize); rc != 0 {
		return mpiError("MPI_Comm_create_group", rc)
	}
	peerRank.Store(int64(prank))
	peerSize.Store(int64(psize))
	return nil
}

func abiName() string {
	if C.pyhost_mpi_is_openmpi() != 0 {
		return "Open MPI"
	}
	return "MPICH ABI"
}

// PeerRank returns this process's rank among its peers: the ranks pyhost
// shares its work with (see [Init]); 0 before Init, or when it shares
// with no one.
func PeerRank() int {
	if !initDone.Load() {
		return 0
	}
	return int(peerRank.Load())
}

// PeerSize returns the number of peers including this process; 1 before
// Init, or when pyhost shares with no one.
func PeerSize() int {
	if !initDone.Load() {
		return 1
	}
	return int(peerSize.Load())
}

// Peers says how the peers were found (for diagnostics): "app context N
// of Open MPI's layout", "pyhost siblings on this node", or "alone: why".
func Peers() string {
	mu.Lock()
	defer mu.Unlock()
	return peersHow
}

// AppState is the application's view of MPI's lifetime, as the
// interposed MPI_Init and friends answer it in the pyhost executable:
// whether the application initialized and finalized MPI, and the thread
// level it was given (-1 before it initialized).
func AppState() (initialized, finalized bool, level int) {
	var i, f, lv C.int
	C.pyhost_mpi_app_state(&i, &f, &lv)
	return i != 0, f != 0, int(lv)
}

// Initialized reports whether MPI_Init has been called in this process, by
// [Init] or by anyone else (mpi4py), even if MPI has since been finalized,
// as MPI_Initialized does. It never loads the MPI library: if no MPI library
// is mapped yet, the answer is false.
func Initialized() bool {
	if !usable() {
		return false
	}
	ini, err := isInitialized()
	return err == nil && ini
}

// Finalized reports whether MPI_Finalize has been called in this process,
// by [Finalize] or anyone else. Like [Initialized] it never loads the
// library.
func Finalized() bool {
	if !usable() {
		return false
	}
	fin, err := isFinalized()
	return err == nil && fin
}

// Rank returns this process's rank in MPI_COMM_WORLD, as of [Init]. Before
// Init (or after Finalize) it is 0, the single-process view.
func Rank() int {
	if !initDone.Load() {
		return 0
	}
	return int(worldRank.Load())
}

// Size returns the size of MPI_COMM_WORLD, as of [Init]; 1 before Init or
// after Finalize.
func Size() int {
	if !initDone.Load() {
		return 1
	}
	return int(worldSize.Load())
}

// ThreadLevel returns the thread support MPI provided ([ThreadSingle] to
// [ThreadMultiple]), or -1 before [Init]. Below ThreadSerialized, only the
// thread that called Init may call into MPI (that includes mpi4py).
func ThreadLevel() int {
	if !initDone.Load() {
		return -1
	}
	return int(threadLevel.Load())
}

// Library returns the name of the MPI library that was dlopened (or found
// already loaded), or "" if none is.
func Library() string {
	mu.Lock()
	defer mu.Unlock()
	return libName
}

// ready checks, with mu held, that collectives may run.
func ready() error {
	if !initDone.Load() {
		return fmt.Errorf("mpiglue: %w: call Init first", ErrNotInitialized)
	}
	fin, err := isFinalized()
	if err != nil {
		return err
	}
	if fin {
		return fmt.Errorf("mpiglue: %w: MPI was finalized", ErrNotInitialized)
	}
	return nil
}

// bytesPtr returns the address of b's first byte, or nil for an empty b
// (MPI accepts any buffer with a count of 0). b holds no Go pointers, so it
// may be passed to C for the duration of one call.
func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// Bcast broadcasts peer 0's data to every peer (see [PeerRank]; never
// over MPI_COMM_WORLD): peer 0 passes its data, the others pass nil (anything they pass is ignored), and
// every rank gets rank 0's bytes. Rank 0 gets its own slice back, not a
// copy; the others get a new slice. An empty broadcast returns an empty,
// non-nil slice.
//
// The length travels first, then the payload in pieces of at most 2^31-1
// bytes, so any length works. It is collective: every rank must call it,
// in the same order relative to the other collectives. After an error the
// ranks may disagree on how far they got; the only safe reaction is
// [Abort].
func Bcast(data []byte) ([]byte, error) {
	return BcastInto(data, nil)
}

// BcastInto is [Bcast] receiving into memory of the caller's: on the
// ranks other than peer 0, alloc(n) gives the buffer of exactly n bytes
// the payload is received into (make when alloc is nil), such as memory
// outside Go's heap that the caller gives back to the system piecewise.
func BcastInto(data []byte, alloc func(n int) []byte) ([]byte, error) {
	mu.Lock()
	defer mu.Unlock()
	if err := ready(); err != nil {
		return nil, err
	}
	root := peerRank.Load() == 0
	if peerSize.Load() == 1 {
		if data == nil {
			data = []byte{}
		}
		return data, nil
	}
	var n C.int64_t
	if root {
		n = C.int64_t(len(data))
	}
	if rc := C.pyhost_mpi_bcast_int64(&n); rc != 0 {
		return nil, mpiError("MPI_Bcast (length)", rc)
	}
	var buf []byte
	switch {
	case root && data != nil:
		buf = data
	case root:
		buf = []byte{}
	case int64(n) < 0 || int64(n) > int64(math.MaxInt):
		return nil, fmt.Errorf("mpiglue: MPI_Bcast: length %d from rank 0 does not fit in memory", int64(n))
	case alloc != nil:
		if buf = alloc(int(n)); len(buf) != int(n) {
			return nil, fmt.Errorf("mpiglue: MPI_Bcast: a receive buffer of %d bytes for %d", len(buf), int64(n))
		}
	default:
		buf = make([]byte, int(n))
	}
	for off := 0; off < len(buf); off += maxMessage {
		piece := buf[off:min(off+maxMessage, len(buf))]
		if rc := C.pyhost_mpi_bcast_bytes(bytesPtr(piece), C.int(len(piece))); rc != 0 {
			return nil, mpiError("MPI_Bcast", rc)
		}
	}
	return buf, nil
}

// Gather collects every peer's data at peer 0, in peer order; lengths may
// differ. Rank 0 gets one slice per rank (empty, not nil, for ranks that
// sent nothing; the slices may share one backing array but do not overlap);
// the others get nil.
//
// Lengths travel first with MPI_Allgather rather than MPI_Gather: every rank
// must know whether the payload needs more than one MPI_Gatherv (counts and
// displacements are C ints) to make the same calls. It is collective, with
// the same rules as [Bcast].
func Gather(data []byte) ([][]byte, error) {
	mu.Lock()
	defer mu.Unlock()
	if err := ready(); err != nil {
		return nil, err
	}
	root := peerRank.Load() == 0
	size := int(peerSize.Load())
	if size == 1 {
		if data == nil {
			data = []byte{}
		}
		return [][]byte{data}, nil
	}
	lens := make([]int64, size)
	if rc := C.pyhost_mpi_allgather_int64(C.int64_t(len(data)), (*C.int64_t)(unsafe.Pointer(&lens[0]))); rc != 0 {
		return nil, mpiError("MPI_Allgather (lengths)", rc)
	}
	var total, longest int64
	for _, n := range lens {
		total += n
		longest = max(longest, n)
	}
	var out [][]byte
	if root {
		out = make([][]byte, size)
	}
	counts := make([]C.int, size)
	displs := make([]C.int, size)
	limit := int64(maxMessage)

	if total <= limit {
		// One call, straight into a shared buffer.
		var buf []byte
		if root {
			buf = make([]byte, total)
		}
		var off int64
		for i, n := range lens {
			counts[i], displs[i] = C.int(n), C.int(off)
			if root {
				out[i] = buf[off : off+n : off+n]
			}
			off += n
		}
		if total > 0 {
			rc := C.pyhost_mpi_gatherv_bytes(bytesPtr(data), C.int(len(data)), bytesPtr(buf), &counts[0], &displs[0])
			if rc != 0 {
				return nil, mpiError("MPI_Gatherv", rc)
			}
		}
		return out, nil
	}

	// Rounds: in round r every rank sends bytes [r*per, (r+1)*per) of its
	// data (possibly none), so no count, displacement or round total
	// exceeds limit.
	per := max(limit/int64(size), 1)
	var tmp []byte
	if root {
		for i, n := range lens {
			out[i] = make([]byte, n)
		}
		tmp = make([]byte, per*int64(size))
	}
	mine := int64(len(data))
	for lo := int64(0); lo < longest; lo += per {
		var off int64
		for i, n := range lens {
			c := min(max(n-lo, 0), per)
			counts[i], displs[i] = C.int(c), C.int(off)
			off += c
		}
		send := data[min(lo, mine):min(lo+per, mine)]
		var recv []byte
		if root {
			recv = tmp[:off]
		}
		rc := C.pyhost_mpi_gatherv_bytes(bytesPtr(send), C.int(len(send)), bytesPtr(recv), &counts[0], &displs[0])
		if rc != 0 {
			return nil, mpiError("MPI_Gatherv", rc)
		}
		if root {
			for i := range out {
				if d, c := int64(displs[i]), int64(counts[i]); c > 0 {
					copy(out[i][lo:], recv[d:d+c])
				}
			}
		}
	}
	return out, nil
}

// Barrier blocks until every peer has called it (MPI_Barrier on pyhost's
// own communicator).
func Barrier() error {
	mu.Lock()
	defer mu.Unlock()
	if err := ready(); err != nil {
		return err
	}
	if peerSize.Load() == 1 {
		return nil
	}
	if rc := C.pyhost_mpi_barrier(); rc != 0 {
		return mpiError("MPI_Barrier", rc)
	}
	return nil
}

// Abort ends every process of the job with MPI_Abort(MPI_COMM_WORLD, code).
// It does not return. If MPI is not initialized (or already finalized) in
// this process, it exits this process alone with code. It does not wait for
// collectives in progress on other goroutines, and runs no deferred calls
// or C atexit handlers.
func Abort(code int) {
	if usable() {
		ini, err1 := isInitialized()
		fin, err2 := isFinalized()
		if err1 == nil && err2 == nil && ini && !fin {
			C.pyhost_mpi_abort(C.int(code))
		}
	}
	os.Exit(code)
}

// Finalize calls MPI_Finalize if [Init] initialized MPI and it is not
// finalized yet; otherwise (MPI never initialized, initialized by someone
// else, already finalized) it does nothing and returns nil, so it is safe
// to call once at exit whatever happened. It never loads the MPI library.
// Call it from the thread that called [Init], after the interpreter is
// finalized (in pyhost, the application's MPI_Finalize, mpi4py's at exit
// included, only marks MPI finalized for the application). Collective:
// every rank calls it.
func Finalize() error {
	mu.Lock()
	defer mu.Unlock()
	if !initDone.Load() || !adopt() {
		return nil
	}
	ini, err := isInitialized()
	if err != nil || !ini {
		return err
	}
	fin, err := isFinalized()
	if err != nil {
		return err
	}
	initDone.Store(false)
	if fin {
		return nil
	}
	if rc := C.pyhost_mpi_finalize(); rc != 0 {
		return mpiError("MPI_Finalize", rc)
	}
	return nil
}

// LibraryVersion returns MPI_Get_library_version's text (for
// `pyhost -X pyhost.version`), or "" if no MPI library can be loaded.
// library is as [Options.Library]. MPI allows this call before MPI_Init;
// it loads the library if need be, which costs a few milliseconds, so do
// not call it on a plain run's hot path.
func LibraryVersion(library string) string {
	mu.Lock()
	defer mu.Unlock()
	if load(library) != nil {
		return ""
	}
	buf := make([]byte, 4096)
	if C.pyhost_mpi_library_version((*C.char)(unsafe.Pointer(&buf[0])), C.int(len(buf))) != 0 {
		return ""
	}
	return strings.TrimSpace(C.GoString((*C.char)(unsafe.Pointer(&buf[0]))))
}

// RefuseAppInit makes the application's MPI_Init and MPI_Init_thread
// (mpi4py's, any extension's) fail with why, printed as one line, instead
// of reaching the library: for a descendant of a rank that holds MPI
// ([Launch.Held]), whose launcher variables name a rank already taken,
// the library's initialisation fails after leaving the launcher's daemon
// in a state that hangs the whole job at its end.
func RefuseAppInit(why string) {
	cs := C.CString(why)
	C.pyhost_mpi_refuse_app_init(cs) // kept: the process's lifetime
}

// appFinalize is the hook OnAppFinalize sets (nil: none).
var appFinalize atomic.Pointer[func() bool]

// OnAppFinalize sets what runs when the application calls MPI_Finalize on
// the MPI pyhost initialized (mpi4py's, explicitly or at exit): hook may
// end the job (Abort) instead, and returns whether pyhost still needs MPI
// until its own exit (then the finalization is only marked for the
// application); otherwise MPI is finalized for real then, as the
// application's own MPI would be, and pyhost's exit finds it finalized.
func OnAppFinalize(hook func() (keep bool)) { appFinalize.Store(&hook) }

//export goAppFinalize
func goAppFinalize() C.int {
	if h := appFinalize.Load(); h != nil && (*h)() {
		return 1
	}
	return 0
}
