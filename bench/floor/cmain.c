// The floor of a C program over the static libpython pyhost links (Debian's
// libpython3.11.a: built with profile feedback, without the link-time
// optimisation of /usr/bin/python3.11): Py_BytesMain and nothing else.
// Built by scripts/compare-start.py when FLOOR=1 (gcc -O2 -no-pie).
#include <Python.h>

int main(int argc, char **argv) { return Py_BytesMain(argc, argv); }
