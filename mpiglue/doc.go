// Package mpiglue is pyhost's only contact with MPI: it loads the MPI
// library, initializes and finalizes MPI, and offers the few collectives the
// importer needs ([Bcast], [Gather], [Barrier]) on MPI_COMM_WORLD, plus
// [Abort]. No other package imports MPI's C API; none of this package's
// exported signatures mention C types.
//
// # Loading MPI at run time
//
// A plain run of pyhost (no launcher) must pay nothing for MPI, and mapping
// Open MPI's libraries costs milliseconds. So the binary does not link
// libmpi: the C shim (mpi_shim.c) is compiled against mpi.h but calls MPI
// only through function pointers it gets from dlsym, and, for Open MPI,
// whose MPI_COMM_WORLD, MPI_BYTE and friends are addresses of global
// objects (ompi_mpi_comm_world, ...), looks those up with dlsym too; MPICH's
// handles are integer constants. The link line still carries pkg-config's
// -lmpi, but behind -Wl,--as-needed, so with no symbol referenced it is not
// recorded as NEEDED (check with `readelf -d pyhost`).
//
// [Init] dlopens the library (see Init for the names tried, and
// PYHOST_LIBMPI to override them) with RTLD_NOW|RTLD_GLOBAL: Open MPI's
// plugins and mpi4py's extension resolve libmpi's symbols from the global
// scope. [LauncherDetected] is a pure environment check, so the CLI can
// decide whether to call Init at all without loading anything.
// [Initialized], [Finalized] and [Finalize] never load the library either;
// [LibraryVersion] does.
//
// A build with tag nompi (or with cgo disabled) needs no mpi.h: the same
// API is there, [Available] is false and [Init] fails with [ErrNotBuilt].
//
// # Threads
//
// MPI calls the thread that initialized it the main thread, and
// MPI_Finalize belongs on it. Call [Init] and [Finalize] from one OS
// thread: the caller's goroutine must hold runtime.LockOSThread across
// both (the CLI's main goroutine does). Init requests MPI_THREAD_MULTIPLE,
// as mpi4py does; [ThreadLevel] says what was provided. mpiglue serializes
// its own MPI calls with a mutex, which suffices for
// MPI_THREAD_SERIALIZED; below that, only the main thread may call
// collectives.
//
// # Collectives and imports
//
// [Bcast], [Gather] and [Barrier] are collective: every rank must call them,
// in the same order. Imports must never be collective: ranks import
// different modules, in different orders, or not at all, and a collective
// hidden in an import deadlocks the job (the fate of earlier MPI import
// hooks). The importer therefore calls Bcast exactly once, in every rank, at
// start-up before the script runs: rank 0 lists the import index and
// broadcasts it; after that, lookups are local. After an error from a
// collective the ranks may disagree on where they are; call [Abort].
//
// # Coexisting with mpi4py
//
// If a script imports mpi4py after Init, mpi4py finds MPI initialized, uses
// it, and leaves finalization to the host: call [Finalize] after the
// interpreter is finalized. If mpi4py initialized MPI first, Init adopts
// it; if mpi4py or a script finalized MPI, Finalize is a no-op. Init sets
// MPI_ERRORS_RETURN on MPI_COMM_WORLD, which mpi4py does as well.
package mpiglue
