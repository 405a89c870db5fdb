// Package mpiglue is pyhost's only contact with MPI: it decides whether this
// process is an MPI rank ([Detect]), loads the MPI library, initializes and
// finalizes MPI, forms pyhost's own communicator of peers, and offers the
// few collectives the importer needs on it ([Bcast], [Gather], [Barrier]),
// plus [Abort] of the whole job. No other package imports MPI's C API;
// none of this package's exported signatures mention C types.
//
// # Ranks and their descendants
//
// pyhost is an MPI rank exactly when python3 with mpi4py would be one: the
// process a launcher started, not what that process starts (subprocess of
// sys.executable, multiprocessing's spawn and forkserver, os.exec), which
// inherits the launcher's variables unchanged. [Detect] classifies the
// process from its environment: [Alone] (no launcher variable), [Launched],
// [Descendant] (the environment carries the mark a rank of the same launch
// set with [Launch.Mark]), or [Stale] (the variables name a launch that is
// gone: PMI_FD is not an open socket, PMIX_SERVER_TMPDIR does not exist).
// A nested launcher (mpirun run by a rank) gives its processes a new
// identity (PMIx namespace, PMI socket), so they are ranks again.
//
// # Loading MPI at run time, either ABI
//
// A plain run of pyhost must pay nothing for MPI, so the binary does not
// link libmpi: the C shim (mpi_shim.c) calls MPI only through pointers it
// gets from dlsym, and includes no mpi.h, so one binary speaks Open MPI's
// ABI (handles are addresses of ompi_mpi_* objects, looked up with dlsym)
// and MPICH's (handles are integer constants), chosen by what the loaded
// library exports. [Init] loads the library its launcher belongs to
// (Open MPI's libmpi.so.40 under mpirun and PMIx, MPICH's libmpich.so.12
// under Hydra and srun --mpi=pmi2), or [Options.Library], with
// RTLD_NOW|RTLD_GLOBAL: Open MPI's plugins and mpi4py resolve libmpi's
// symbols from the global scope. [Initialized], [Finalized] and [Finalize]
// never load the library; [LibraryVersion] does.
//
// A build with tag nompi (or with cgo disabled) has the same API;
// [Available] is false and [Init] fails with [ErrNotBuilt].
//
// # pyhost's own communicator
//
// pyhost's collectives never run on MPI_COMM_WORLD: in an MPMD job the
// other programs' ranks (C, Fortran, python3) must never wait for or
// receive anything of pyhost's. Init forms a communicator of the ranks of
// pyhost's own app context that run pyhost, with MPI_Comm_create_group,
// which is collective over its members only, then splits it by a hash of
// [Options.ShareKey]. How the members are found without talking to anyone
// is in peers.go: Open MPI's published layout when its app context's
// command is pyhost itself, else pyhost's sibling processes on the node.
// When neither says, pyhost shares with no one ([PeerSize] is 1) and never
// waits for another rank.
//
// # The application's MPI_Init and MPI_Finalize
//
// pyhost initializes MPI before the interpreter's main phase (to share
// its import index), requesting MPI_THREAD_MULTIPLE. The shim also defines
// MPI_Init, MPI_Init_thread, MPI_Initialized, MPI_Finalized, MPI_Finalize
// and MPI_Query_thread; the pyhost executable exports them
// (--export-dynamic), so mpi4py's MPI.so binds to them before libmpi's.
// While pyhost owns MPI they answer as an MPI the application alone
// initializes would: not initialized until the application calls
// MPI_Init or MPI_Init_thread (mpi4py.rc.initialize=False works), then at
// min(requested, provided) (mpi4py.rc.thread_level is what
// MPI.Query_thread reports), finalized once it calls MPI_Finalize (mpi4py's
// at exit, or the script's own); the real MPI_Finalize runs in [Finalize],
// after the interpreter is finalized. Everything else goes to the library
// itself. When pyhost does not own MPI they pass every call to the
// library's PMPI_ entry points. [AppState] reads the application's view.
//
// # Threads
//
// MPI calls the thread that initialized it the main thread, and
// MPI_Finalize belongs on it. Call [Init] and [Finalize] from one OS
// thread: the caller's goroutine must hold runtime.LockOSThread across
// both (the CLI's main goroutine does). mpiglue serializes its own MPI
// calls with a mutex.
//
// # Collectives and imports
//
// [Bcast], [Gather] and [Barrier] are collective over the peers: every
// peer must call them, in the same order. Imports must never be
// collective: ranks import different modules, in different orders, or not
// at all, and a collective hidden in an import deadlocks the job (the fate
// of earlier MPI import hooks). The importer therefore calls Bcast exactly
// once, in every peer, at start-up before the script runs: peer 0 lists
// the import index and broadcasts it; after that, lookups are local. After
// an error from a collective the peers may disagree on where they are;
// call [Abort].
package mpiglue
