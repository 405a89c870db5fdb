package cpython

// extern unsigned long pyhost_fork_generation;
import "C"

// ForkGeneration counts the forks between the process that started pyhost
// and this one (os.fork, multiprocessing's fork start method): a value
// that changed since the last call means the caller runs in a child, as
// the only thread the fork kept. posix_spawn and vfork, which run no
// fork handlers, exec before running any of pyhost's code.
func ForkGeneration() uint64 { return uint64(C.pyhost_fork_generation) }
