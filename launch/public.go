package launch

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/importer"
	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/mpiglue"
)

func versionText() string {
	return fmt.Sprintf("pyhost %s\npython %s\nmpi: %s\n", Version, strings.ReplaceAll(host.PythonVersion(), "\n", " "), mpiDescription())
}

func mpiDescription() string {
	if !mpiglue.Available() {
		return "not built in (-tags nompi)"
	}
	v := mpiglue.LibraryVersion("")
	if v == "" {
		return "built in; no MPI library found (set PYHOST_LIBMPI)"
	}
	if i := strings.IndexAny(v, "\n,"); i > 0 {
		v = v[:i]
	}
	return "built in; " + mpiglue.Library() + ": " + strings.TrimSpace(v)
}

// printStats prints the counters and the start-up phases at exit, a line
// each; under MPI, peer 0 prints its peers' lines, gathered, each labelled
// with its world rank.
func (l *launcher) printStats() {
	stats, phases := statsLine(l.settings, l.imp.Stats()), "pyhost phases: "+l.phases.String()
	line := stats + "\n" + phases
	if !l.mpi || mpiglue.Size() == 1 {
		fmt.Fprintln(os.Stderr, line)
		return
	}
	label := fmt.Sprintf("rank %d: ", mpiglue.Rank())
	line = label + stats + "\n" + label + phases
	if mpiglue.PeerSize() == 1 {
		fmt.Fprintln(os.Stderr, line)
		return
	}
	all, err := mpiglue.Gather([]byte(line))
	if err != nil {
		fmt.Fprintf(os.Stderr, "pyhost: rank %d: gather stats: %v\n%s\n", mpiglue.Rank(), err, line)
		return
	}
	for _, b := range all {
		fmt.Fprintf(os.Stderr, "%s\n", b)
	}
}

func statsLine(s Settings, st importer.Stats) string {
	if !s.Importer {
		return "pyhost stats: importer off"
	}
	return fmt.Sprintf("pyhost stats: lookups=%d hits=%d final_misses=%d hand_offs=%d entry_lookups=%d dirs_listed=%d dirs_merged=%d verifications=%d revalidations=%d relists=%d bundled=%d packed=%d ext_nodelocal=%d libs_nodelocal=%d ext_fs=%d",
		st.Lookups, st.Hits, st.FinalMisses, st.HandOffs, st.EntryLookups,
		st.Index.DirsListed, st.Index.DirsMerged, st.Index.Verifications, st.Index.Revalidations, st.Index.Relists, st.Bundled, st.Packed,
		st.Native.Extensions, st.Native.Libraries, st.ExtensionsFS)
}

func statsDict(s Settings, st importer.Stats) map[string]any {
	return map[string]any{
		"importer":      s.Importer,
		"plain":         false, // true in a plain run's module (internal/cpython/plain.c)
		"lookups":       st.Lookups,
		"hits":          st.Hits,
		"final_misses":  st.FinalMisses,
		"hand_offs":     st.HandOffs,
		"entry_lookups": st.EntryLookups,
		"dirs_listed":   st.Index.DirsListed,
		"dirs_merged":   st.Index.DirsMerged,
		"revalidations": st.Index.Revalidations,
		"relists":       st.Index.Relists,
		"verifications": st.Index.Verifications,
		"bundled":       st.Bundled,
		"packed":        st.Packed,
		// Extension modules loaded from node-local copies, the libraries
		// preloaded from them, and extension modules found for loading
		// from the file system (a copy that could not be used included).
		"ext_nodelocal":  st.Native.Extensions,
		"libs_nodelocal": st.Native.Libraries,
		"ext_fs":         st.ExtensionsFS,
	}
}

// abortSource makes an uncaught exception on one rank abort the whole job,
// as python -m mpi4py does, so that the other ranks do not wait forever
// in a collective. SystemExit never reaches sys.excepthook. As under
// python -m mpi4py the rank first ends as Python ends (its atexit
// handlers, its objects' finalizers, its files' buffers written); the
// abort comes where MPI would be finalized (see uncaughtStatus). Only the
// interpreter's own report of an uncaught exception marks the rank
// (PyErr_Print sets sys.last_value just before it calls the hook), not a
// program's own call of sys.excepthook for an exception it handled.
const abortSource = `
import sys as _sys

def _abort_on_uncaught(exc_type, exc, tb, _print=_sys.excepthook):
    try:
        _print(exc_type, exc, tb)
        for f in (_sys.stderr, _sys.stdout):
            if f is not None:
                f.flush()
    finally:
        if getattr(_sys, 'last_value', None) is exc:
            _mpi_uncaught()

_sys.excepthook = _abort_on_uncaught
`

// uncaught is set when an exception reached the top of the program on a
// rank (abortSource).
var uncaught atomic.Bool

// uncaughtStatus is the status the job is aborted with when this rank
// ends by an uncaught exception (0: it does not): 1, as python -m mpi4py
// aborts with. A program that never used MPI (or finalized it) is no MPI
// process under python3: no rank can be waiting for it in a collective,
// and it ends as python3 ends (status 1; for KeyboardInterrupt, killed by
// SIGINT: the job 130), which the launcher reports as python3's.
func uncaughtStatus() int {
	if !uncaught.Load() {
		return 0
	}
	if initialized, finalized, _ := mpiglue.AppState(); !initialized || finalized {
		return 0
	}
	return 1
}

// abortOnUncaught installs the excepthook that ends the job (not under
// -i: the session goes on after an exception).
func (l *launcher) abortOnUncaught() error {
	if l.interactive() {
		return nil
	}
	// ParentOnly: a child of fork() is no rank; it ends as under python3.
	return runPrivate(abortSource, "<pyhost mpi>", cpython.Func{Name: "_mpi_uncaught", ParentOnly: true, Call: cpython.Recover(func(a cpython.Args) cpython.Owned {
		uncaught.Store(true)
		return cpython.None()
	})})
}

// recordLoaded registers, with Python's atexit (its callbacks run before
// finalisation, when sys.modules is complete), what lists the modules
// loaded from source with their bytecode files and the extension modules
// loaded (with no bytecode file), for the modules record, and reads
// whether bytecode may be written now (sys.dont_write_bytecode, which a
// program may set); on the root under MPI, or a process alone, with the
// cache on. Nothing is
// compiled or imported for it: a process alone pays it at every start,
// and python3 has no atexit in sys.modules (nor its line in -X
// importtime) unless the program imports it.
func (l *launcher) recordLoaded() error {
	register, err := atexitRegister()
	if err != nil {
		return err
	}
	defer register.Decref()
	// ParentOnly: a child of fork() records nothing (fork.go).
	fn := cpython.NewFunction(cpython.Func{Name: "_record_loaded", ParentOnly: true, Call: cpython.Recover(func(cpython.Args) cpython.Owned {
		l.loaded = cpython.SourceModules()
		l.dontWriteAtExit = dontWriteBytecodeNow()
		return cpython.None()
	})}, "_pyhost")
	if fn.IsNull() {
		return cpython.TakeError()
	}
	r := register.CallSteal([]cpython.Owned{fn})
	if r.IsNull() {
		return cpython.TakeError()
	}
	r.Decref()
	return nil
}

// atexitRegister is atexit.register: from sys.modules when the atexit
// module is there, else from an instance of the builtin module made by
// _imp (as the import system makes it, without importing it: not in
// sys.modules). Its callbacks are the interpreter's, whichever instance
// registers them. The GIL must be held.
func atexitRegister() (cpython.Owned, error) {
	sys := cpython.Import("sys")
	if sys.IsNull() {
		return cpython.Owned{}, cpython.TakeError()
	}
	defer sys.Decref()
	modules := sys.Attr("modules")
	if modules.IsNull() {
		return cpython.Owned{}, cpython.TakeError()
	}
	defer modules.Decref()
	if m := modules.DictGetString("atexit"); !m.IsNull() { // borrowed
		return attrOrError(m, "register")
	}
	imp, bootstrap := modules.DictGetString("_imp"), modules.DictGetString("_frozen_importlib") // borrowed
	if imp.IsNull() || bootstrap.IsNull() {
		return cpython.Owned{}, fmt.Errorf("no _imp or _frozen_importlib in sys.modules")
	}
	specType, err := attrOrError(bootstrap, "ModuleSpec")
	if err != nil {
		return cpython.Owned{}, err
	}
	defer specType.Decref()
	spec := specType.CallSteal([]cpython.Owned{cpython.NewStr("atexit"), cpython.None()})
	if spec.IsNull() {
		return cpython.Owned{}, cpython.TakeError()
	}
	defer spec.Decref()
	create, err := attrOrError(imp, "create_builtin")
	if err != nil {
		return cpython.Owned{}, err
	}
	defer create.Decref()
	mod := create.CallSteal([]cpython.Owned{spec.NewRef()})
	if mod.IsNull() {
		return cpython.Owned{}, cpython.TakeError()
	}
	defer mod.Decref()
	exec, err := attrOrError(imp, "exec_builtin")
	if err != nil {
		return cpython.Owned{}, err
	}
	defer exec.Decref()
	if r := exec.CallSteal([]cpython.Owned{mod.NewRef()}); r.IsNull() {
		return cpython.Owned{}, cpython.TakeError()
	} else {
		r.Decref()
	}
	// Kept for the life of the process: freed, the instance would say
	// "# destroy atexit" under -v, a module python3 never destroys at
	// start-up.
	privateAtexit = mod.NewRef()
	return attrOrError(mod.Ref, "register")
}

// privateAtexit is the atexit instance atexitRegister made, if it made one.
var privateAtexit cpython.Owned

// attrOrError is o.name, or the exception as an error.
func attrOrError(o cpython.Ref, name string) (cpython.Owned, error) {
	v := o.Attr(name)
	if v.IsNull() {
		return v, cpython.TakeError()
	}
	return v, nil
}

// runPrivate runs src in a namespace of its own with fns: no module is
// imported or created for it, so python3's -X importtime output and
// sys.modules are unchanged. The GIL must be held.
func runPrivate(src, filename string, fns ...cpython.Func) error {
	ns := cpython.NewDict()
	if ns.IsNull() {
		return cpython.TakeError()
	}
	defer ns.Decref()
	builtins := cpython.Import("builtins")
	if builtins.IsNull() {
		return cpython.TakeError()
	}
	defer builtins.Decref()
	name := cpython.NewStr("_pyhost")
	if name.IsNull() {
		return cpython.TakeError()
	}
	defer name.Decref()
	if !ns.DictSetString("__name__", name.Ref) || !ns.DictSetString("__builtins__", builtins.Ref) {
		return cpython.TakeError()
	}
	for _, f := range fns {
		fn := cpython.NewFunction(f, "_pyhost")
		if fn.IsNull() {
			return cpython.TakeError()
		}
		ok := ns.DictSetString(f.Name, fn.Ref)
		fn.Decref()
		if !ok {
			return cpython.TakeError()
		}
	}
	r := cpython.Exec(ns.Ref, src, filename, cpython.FileInput)
	if r.IsNull() {
		return cpython.TakeError()
	}
	r.Decref()
	return nil
}

// publicModule is the pyhost module scripts import.
func (l *launcher) publicModule() *host.Module {
	return &host.Module{
		Name: "pyhost",
		Doc:  "pyhost: MPI rank and size, the importer's counters, shared sys.path entries.",
		Funcs: []host.Func{
			{Name: "stats", Doc: "stats() -> dict: this process's importer counters.", Fn: func(py *host.Py, a host.Args) (any, error) {
				d := statsDict(l.settings, l.imp.Stats())
				ph := map[string]any{}
				for i, n := range l.phases.names {
					ph[n] = l.phases.took[i].Seconds()
				}
				d["phases"] = ph
				return d, nil
			}},
			{Name: "version", Doc: "version() -> str: pyhost's version.", Fn: func(py *host.Py, a host.Args) (any, error) {
				return Version, nil
			}},
			{Name: "mpi_active", Doc: "mpi_active() -> bool: whether pyhost initialised MPI (started by an MPI launcher).", Fn: func(py *host.Py, a host.Args) (any, error) {
				return l.mpi, nil
			}},
			{Name: "peers", Doc: "peers() -> (rank, size, how): this process's place among the ranks pyhost shares its index with, and how they were found ((0, 1, '') without MPI).", Fn: func(py *host.Py, a host.Args) (any, error) {
				if !l.mpi {
					return []any{0, 1, ""}, nil
				}
				return []any{mpiglue.PeerRank(), mpiglue.PeerSize(), mpiglue.Peers()}, nil
			}},
			{Name: "rank", Doc: "rank() -> int: this process's rank in MPI_COMM_WORLD (0 without MPI).", Fn: func(py *host.Py, a host.Args) (any, error) {
				if !l.mpi {
					return 0, nil
				}
				return mpiglue.Rank(), nil
			}},
			{Name: "size", Doc: "size() -> int: the number of ranks (1 without MPI).", Fn: func(py *host.Py, a host.Args) (any, error) {
				if !l.mpi {
					return 1, nil
				}
				return mpiglue.Size(), nil
			}},
			{Name: "share_paths", Doc: "share_paths(paths): collective; rank 0 lists the directories and broadcasts them to every rank. Every rank must call it, with the same paths, before importing from them. Without MPI it does nothing.", Fn: func(py *host.Py, a host.Args) (any, error) {
				paths, ok, err := a.Strings(0)
				if err != nil {
					return nil, err
				}
				for i := range ok {
					if !ok[i] {
						return nil, host.Raise("TypeError", "share_paths: paths must be str")
					}
				}
				var shareErr error
				// Other Python threads may run while this rank waits for the others.
				py.AllowThreads(func() {
					if l.index == nil {
						shareErr = fmt.Errorf("pyhost.share_paths: the importer is off")
						return
					}
					shareErr = l.job.SharePaths(l.index, paths)
				})
				if shareErr != nil {
					return nil, host.Raise("RuntimeError", "%v", shareErr)
				}
				return nil, nil
			}},
		},
	}
}

// dontWriteBytecodeNow is sys.dont_write_bytecode (false when it cannot be
// read; see importer.DontWriteValue). The GIL must be held; no exception
// is left set.
func dontWriteBytecodeNow() bool {
	defer cpython.ErrClear()
	sys := cpython.Import("sys") // imported at start-up: a lookup
	if sys.IsNull() {
		return false
	}
	defer sys.Decref()
	dwb := sys.Ref.Attr("dont_write_bytecode")
	if dwb.IsNull() {
		return false
	}
	defer dwb.Decref()
	return importer.DontWriteValue(dwb.Ref)
}

// interactive reports whether the session goes on after the program
// (-i, PYTHONINSPECT): then nothing aborts the job for it.
func (l *launcher) interactive() bool {
	for _, f := range []string{"interactive", "inspect"} {
		if on, err := sysFlag(f); err != nil || on {
			return true
		}
	}
	return false
}

// abortOnFailedExit is abortOnUncaught for sys.exit(n), n not 0.
func (l *launcher) abortOnFailedExit() error {
	if l.interactive() {
		return nil
	}
	return cpython.AtExit(func() {
		// Finalized already (the application's MPI_Finalize): the job
		// ends as it does under python3 + mpi4py, with the rank's status.
		if mpiglue.Finalized() {
			return
		}
		if st := uncaughtStatus(); st != 0 {
			mpiglue.Abort(st)
		}
		st := cpython.RequestedExitStatus()
		if st == 0 {
			return
		}
		if initialized, _, _ := mpiglue.AppState(); !initialized {
			// A program that never used MPI is no MPI process under
			// python3: no rank can be waiting for it in a collective. The
			// rank finalizes pyhost's MPI as any rank does and ends with
			// its status, which the launcher reports as python3's (under
			// srun --mpi=pmi2, MPI_Abort made it 137, killed; and left
			// unfinalized, the other ranks waited for it in MPI_Finalize).
			return
		}
		mpiglue.Abort(st)
	})
}
