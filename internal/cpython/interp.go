package cpython

// #cgo LDFLAGS: -Wl,--export-dynamic
// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"
)

// InitOptions configure the core phase of start-up.
type InitOptions struct {
	Args                  []string // the command line, Args[0] the program name
	ParseArgv             bool     // parse Args as python3 parses its command line
	Isolated              bool     // CPython's isolated configuration
	InstallSignalHandlers bool
	SiteImport            bool
}

// StatusError is a failed start-up phase: Exit when the command line
// asked Python to exit (--version, -h, an unknown option: CPython has
// printed what python3 prints; Code is the status), otherwise an error
// reported by Func with Msg.
type StatusError struct {
	Exit      bool
	Code      int
	Func, Msg string
}

func (e *StatusError) Error() string {
	if e.Exit {
		return fmt.Sprintf("cpython: python exited with status %d", e.Code)
	}
	if e.Func != "" {
		return fmt.Sprintf("cpython: start python: %s: %s", e.Func, e.Msg)
	}
	return "cpython: start python: " + e.Msg
}

func statusError(st C.pyhost_status) error {
	switch st.kind {
	case 0:
		return nil
	case 1:
		return &StatusError{Exit: true, Code: int(st.exit_code)}
	}
	e := &StatusError{}
	if st.where != nil {
		e.Func = C.GoString(st.where)
	}
	if st.msg != nil {
		e.Msg = C.GoString(st.msg)
	}
	return e
}

// ErrStarted is returned by InitCore once Python has been started in
// this process: CPython cannot be initialised twice (extension modules
// such as numpy crash on a second start).
var ErrStarted = errors.New("cpython: the Python interpreter was already started in this process")

var startedOnce atomic.Bool

// cStrings converts a string slice to a C array that lives until free.
func cStrings(ss []string) (**C.char, func()) {
	if len(ss) == 0 {
		return nil, func() {}
	}
	arr := unsafe.Slice((**C.char)(C.malloc(C.size_t(len(ss))*C.size_t(unsafe.Sizeof((*C.char)(nil))))), len(ss))
	for i, s := range ss {
		arr[i] = C.CString(s)
	}
	return &arr[0], func() {
		for _, p := range arr {
			C.free(unsafe.Pointer(p))
		}
		C.free(unsafe.Pointer(&arr[0]))
	}
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// InitCore runs the core phase of start-up (builtins, sys, the frozen
// importlib) on the calling OS thread, which must be locked and will be
// the one that finalises Python; it returns with the GIL held by it. It
// succeeds once per process (ErrStarted afterwards).
func InitCore(o InitOptions) error {
	if !startedOnce.CompareAndSwap(false, true) {
		return ErrStarted
	}
	args := o.Args
	if len(args) == 0 {
		args = []string{"python3"}
	}
	argv, free := cStrings(args)
	defer free()
	var co C.pyhost_options
	co.parse_argv = cbool(o.ParseArgv)
	co.isolated = cbool(o.Isolated)
	co.install_signal_handlers = cbool(o.InstallSignalHandlers)
	co.site_import = cbool(o.SiteImport)
	co.argc = C.int(len(args))
	co.argv = argv
	if err := statusError(C.pyhost_init_core(&co)); err != nil {
		return err
	}
	registerAtFork()
	C.pyhost_set_state(C.PYHOST_RUNNING)
	return nil
}

// InitMain runs the main phase of start-up (PathFinder, the streams,
// site) and makes the cancellation exception. The GIL must be held.
func InitMain() error {
	if err := statusError(C.pyhost_init_main()); err != nil {
		return err
	}
	if C.pyhost_make_cancelled() < 0 {
		return TakeError()
	}
	return nil
}

// AppendPaths appends to the module search path of the running
// configuration (between the two phases, before sys.path exists: the
// main phase makes sys.path from it). The GIL must be held.
func AppendPaths(paths []string) error {
	cp, free := cStrings(paths)
	defer free()
	if C.pyhost_append_paths(C.int(len(paths)), cp) < 0 {
		return TakeError()
	}
	return nil
}

// ThreadState is a thread's saved Python state while it runs without
// the GIL.
type ThreadState struct{ p *C.PyThreadState }

// SaveThread gives up the GIL the calling thread holds.
func SaveThread() ThreadState { return ThreadState{C.PyEval_SaveThread()} }

// Restore takes the GIL back for the thread that saved ts.
func (ts ThreadState) Restore() { C.PyEval_RestoreThread(ts.p) }

// Finalize finalises Python (Py_FinalizeEx) on the thread that started
// it, which holds the GIL. Afterwards HoldsGIL answers GILNotRunning.
func Finalize() error {
	DrainReleases()
	rc := C.Py_FinalizeEx()
	C.pyhost_set_state(C.PYHOST_FINALIZED)
	if rc < 0 {
		return errors.New("cpython: Py_FinalizeEx reported an error while flushing buffered data")
	}
	return nil
}

// MainOptions configure Main.
type MainOptions struct {
	Args    []string  // python3's command line, Args[0] the program name
	Modules []*Module // registered before start-up
	// Setup runs with the GIL held between the core and main phases:
	// before PathFinder is installed, before any import that searches
	// sys.path and before site.
	Setup func() error
	// AfterMain, when set, runs with the GIL held once the main phase
	// (site included) is done, before the program.
	AfterMain func()
}

// Main runs Python as the python3 command does, for the pyhost command:
// it parses o.Args as python3's command line, starts the interpreter,
// runs what the command line names and finalises Python. It returns the
// exit status; when Python itself ends the process (sys.exit under -c or
// a script, as python3 does, or a command line that asks to exit) it
// does not return.
//
// Main must be called from the main goroutine with its OS thread locked
// (runtime.LockOSThread in an init function): signals sent to the
// process are delivered to the main thread, which is where CPython
// handles them.
func Main(o MainOptions) int {
	C.pyhost_restore_go_settings()
	C.pyhost_restore_signals()
	if err := mainInit(o); err != nil {
		C.pyhost_flush_stdio()
		var se *StatusError
		if errors.As(err, &se) {
			C.pyhost_exit_status() // prints as python3 does; exits
		}
		fmt.Fprintln(os.Stderr, "pyhost:", err)
		return 1
	}
	code := int(C.pyhost_run_main())
	C.pyhost_set_state(C.PYHOST_FINALIZED)
	return code
}

// ReleaseSignals is for programs that start Python with their own
// interpreter thread (host.Start) rather than Main: the handlers Go's
// runtime wanted for signals blocked at the process's start are
// installed, and the signals held until then raised (see shim.c).
func ReleaseSignals() { C.pyhost_release_signals() }

// IgnoreFileSizeSignal ignores SIGXFSZ, as CPython's main phase does, for
// pyhost's own writes (its cache at exit, node-local copies before the
// main phase): a file past `ulimit -f` is then a failed write (EFBIG),
// never the process killed where python3 would have ended normally (a
// program may have set SIGXFSZ back to its default).
func IgnoreFileSizeSignal() { C.pyhost_ignore_xfsz() }

func mainInit(o MainOptions) error {
	for _, m := range o.Modules {
		if err := RegisterModule(m); err != nil {
			return err
		}
	}
	if err := InitCore(InitOptions{Args: o.Args, ParseArgv: true, InstallSignalHandlers: true, SiteImport: true}); err != nil {
		return err
	}
	if o.Setup != nil {
		if err := o.Setup(); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	if err := InitMain(); err != nil {
		return err
	}
	if o.AfterMain != nil {
		o.AfterMain()
	}
	return nil
}

// Exit ends the process with the given status as C's exit does: C stdio
// buffers are flushed and C atexit handlers run (os.Exit does neither).
func Exit(code int) {
	C.pyhost_flush_stdio()
	C.pyhost_c_exit(C.int(code))
}

var atExit struct {
	sync.Mutex
	fns        []func()
	registered bool
}

var errAtExitFull = errors.New("cpython: CPython's table of exit functions is full")

// AtExit registers fn to run once Python has been finalised, on every
// exit path that finalises it (the end of the program, sys.exit, an
// uncaught exception): the place to finalise MPI. Functions run in
// reverse order of registration, without the GIL; they must not use
// Python. A child of fork() (without exec) does not run them (fork.go).
func AtExit(fn func()) error {
	atExit.Lock()
	defer atExit.Unlock()
	if !atExit.registered {
		if C.pyhost_atexit_register() < 0 {
			return errAtExitFull
		}
		atExit.registered = true
	}
	atExit.fns = append(atExit.fns, fn)
	return nil
}

// Version is the version of the libpython linked (Py_GetVersion), for
// example "3.11.2 (main, ...) [GCC 12.2.0]". No GIL needed.
func Version() string { return C.GoString(C.Py_GetVersion()) }

// ErrNoGIL is returned by ReadConfig and XOptions called without the GIL.
var ErrNoGIL = errors.New("cpython: called without the GIL")

func gilHeld() error {
	switch HoldsGIL() {
	case GILHeld:
		return nil
	case GILNotHeld:
		return ErrNoGIL
	}
	return ErrNotRunning
}

// XOptions returns the -X options of the running configuration ("name"
// or "name=value"). Unlike sys._xoptions it is available between the two
// phases of start-up. The GIL must be held (ErrNoGIL otherwise).
func XOptions() ([]string, error) {
	if err := gilHeld(); err != nil {
		return nil, err
	}
	l := Owned{Ref{C.pyhost_xoptions()}}
	if l.IsNull() {
		return nil, TakeError()
	}
	defer l.Decref()
	return strs(l.Ref)
}

func strs(l Ref) ([]string, error) {
	var out []string
	for _, it := range l.Items() {
		s, ok := it.GoString()
		if !ok {
			return nil, TakeError()
		}
		out = append(out, s)
	}
	return out, nil
}

// Config is what the running configuration says of paths, readable
// between the two phases of start-up (before sys.path and sys.prefix
// exist).
type Config struct {
	ModuleSearchPaths                              []string
	Prefix, ExecPrefix, BasePrefix, BaseExecPrefix string
	Executable                                     string
	RunFilename, RunModule, RunCommand             string
	UserSiteDirectory, SiteImport, Interactive     bool

	// Portable is what ComputePaths computed, for AdoptPaths in another
	// process; nil when the main phase computes for itself.
	Portable []byte
}

// ComputePaths computes the path configuration (the module search path,
// the prefixes, the executable) with CPython's own getpath, as the main
// phase of start-up will, and returns the configuration with it. Called
// between the phases, it lets the search path be known, listed and shared
// before any import searches it.
//
// The file system is probed once: the running configuration is left with
// what was found, checked to make the main phase compute exactly the same
// paths without probing (see paths.c); where it would not (a ._pth file,
// a build directory), it is left as it was and the main phase computes
// for itself, as under python3. The GIL must be held.
func ComputePaths() (Config, error) {
	if err := gilHeld(); err != nil {
		return Config{}, err
	}
	return configFrom(Owned{Ref{C.pyhost_compute_paths()}})
}

// AdoptPaths gives the main phase the path configuration another process
// computed (its Config.Portable) when this process's inputs to the
// computation are the same as that process's (the configuration's path
// fields, PATH, PYTHONHOME, PYTHONEXECUTABLE, the working directory): then
// nothing is probed here and adopted is true. Otherwise nothing changes
// (ComputePaths is still to be called). The GIL must be held.
func AdoptPaths(portable []byte) (adopted bool, err error) {
	if err := gilHeld(); err != nil {
		return false, err
	}
	if len(portable) == 0 {
		return false, nil
	}
	p := C.CBytes(portable)
	defer C.free(p)
	switch C.pyhost_adopt_paths((*C.char)(p), C.Py_ssize_t(len(portable))) {
	case 1:
		return true, nil
	case 0:
		return false, nil
	}
	return false, TakeError()
}

// ReadConfig reads the running interpreter's configuration. The GIL must
// be held (ErrNoGIL otherwise).
func ReadConfig() (Config, error) {
	if err := gilHeld(); err != nil {
		return Config{}, err
	}
	return configFrom(Owned{Ref{C.pyhost_config_paths()}})
}

// configFrom converts pyhost_config_paths's dict, and releases it.
func configFrom(d Owned) (Config, error) {
	if d.IsNull() {
		return Config{}, TakeError()
	}
	defer d.Decref()
	var c Config
	var err error
	if c.ModuleSearchPaths, err = strs(d.DictGetString("module_search_paths")); err != nil {
		return Config{}, err
	}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"prefix", &c.Prefix}, {"exec_prefix", &c.ExecPrefix},
		{"base_prefix", &c.BasePrefix}, {"base_exec_prefix", &c.BaseExecPrefix},
		{"executable", &c.Executable},
		{"run_filename", &c.RunFilename}, {"run_module", &c.RunModule}, {"run_command", &c.RunCommand},
	} {
		if v := d.DictGetString(f.key); !v.IsNull() {
			s, ok := v.GoString()
			if !ok {
				return Config{}, TakeError()
			}
			*f.dst = s
		}
	}
	if b := d.DictGetString("portable"); !b.IsNull() {
		c.Portable, _ = b.BytesCopy()
	}
	c.UserSiteDirectory = d.DictGetString("user_site_directory").IsTrue()
	c.SiteImport = d.DictGetString("site_import").IsTrue()
	c.Interactive = d.DictGetString("interactive").IsTrue()
	return c, nil
}
