package share

import (
	"fmt"
	"os"

	"github.com/pyhost/pyhost/mpiglue"
)

// BroadcastInto is Broadcast receiving into alloc(n) on the ranks other
// than the root (see mpiglue.BcastInto): memory the caller owns, such as
// a mapping outside Go's heap.
func (j Job) BroadcastInto(blob []byte, alloc func(n int) []byte, what string) []byte {
	if !j.Shared() {
		return blob
	}
	out, err := mpiglue.BcastInto(blob, alloc)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pyhost: broadcast of %s failed: %v\n", what, err)
		mpiglue.Abort(1)
	}
	return out
}
