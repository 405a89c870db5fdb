//go:build cgo && !nompi

package mpiglue

// SetMaxMessage lowers the largest count per MPI call, to exercise chunking,
// and returns a function restoring it. Every rank must set the same value.
func SetMaxMessage(n int) (restore func()) {
	mu.Lock()
	defer mu.Unlock()
	old := maxMessage
	maxMessage = n
	return func() {
		mu.Lock()
		defer mu.Unlock()
		maxMessage = old
	}
}

// Loaded reports whether the MPI library has been mapped by this package.
func Loaded() bool { return loaded.Load() }
