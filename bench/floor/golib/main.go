// Command golib is the Go half of the library-mode floor: built with
// -buildmode=c-archive and linked under bench/floor/libmain.c, its runtime
// starts on a thread of its own while the C main initialises CPython (Go's
// library mode), and the main waits for it only between CPython's two
// phases, where pyhost's own start-up runs. It measures what starting Go's
// runtime beside Python's start-up, instead of before it, would save.
// scripts/compare-start.py times it when FLOOR=1.
package main

import "C"

// Ready is called between CPython's core and main phases; a call into Go
// waits until the runtime has started.
//
//export Ready
func Ready() C.int { return 0 }

func main() {}
