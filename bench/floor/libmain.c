// The C main of the library-mode floor (see golib/main.go): CPython's core
// phase, one call into Go's runtime (started at load on its own thread),
// then the main phase and the program, as pyhost's start-up is ordered.
// Built by scripts/compare-start.py when FLOOR=1.
#include <Python.h>

extern int Ready(void);

static void check(PyStatus st) {
	if (PyStatus_Exception(st)) {
		Py_ExitStatusException(st);
	}
}

int main(int argc, char **argv) {
	PyConfig config;
	PyConfig_InitPythonConfig(&config);
	config._init_main = 0;
	check(PyConfig_SetBytesArgv(&config, argc, argv));
	PyStatus st = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	check(st);
	Ready();
	check(_Py_InitializeMain());
	return Py_RunMain();
}
