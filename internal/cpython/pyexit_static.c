//go:build !sharedpython

// Py_Exit, wrapped at link time (-Wl,--wrap=Py_Exit, link_static.go): the
// status a SystemExit that reached the top asked for, kept for the exit
// hooks that run inside the finalization Py_Exit starts (see
// RequestedExitStatus).
extern void __real_Py_Exit(int);

static volatile int requested_exit_status;

void __wrap_Py_Exit(int sts) {
	requested_exit_status = sts;
	__real_Py_Exit(sts);
}

int pyhost_requested_exit_status(void) { return requested_exit_status; }
