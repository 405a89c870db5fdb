//go:build !sharedpython

// Py_Exit and _Py_HandleSystemExit, wrapped at link time
// (-Wl,--wrap=..., link_static.go): the status a SystemExit that reached
// the top asked for, kept for the exit hooks that run in the
// finalization that follows (see RequestedExitStatus). A script and -c
// end through Py_Exit (pythonrun.c's own call of _Py_HandleSystemExit is
// inside its object file, where a wrap does not reach); -m through
// _Py_HandleSystemExit, called from main.c, and Py_RunMain's return.

#include <stddef.h>

extern void __real_Py_Exit(int);
extern int __real__Py_HandleSystemExit(int *);

static volatile int requested_exit_status;

void __wrap_Py_Exit(int sts) {
	requested_exit_status = sts;
	__real_Py_Exit(sts);
}

int __wrap__Py_HandleSystemExit(int *exitcode) {
	int handled = __real__Py_HandleSystemExit(exitcode);
	if (handled && exitcode != NULL) {
		requested_exit_status = *exitcode;
	}
	return handled;
}

int pyhost_requested_exit_status(void) { return requested_exit_status; }
