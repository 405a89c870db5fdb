package host

import "github.com/pyhost/pyhost/internal/cpython"

// QueuedReleases is how many references dropped without the GIL wait
// for the next holder of the GIL to release them.
func QueuedReleases() int64 { return cpython.QueuedReleases() }

// PinnedBuffers is how many GoBuffers still pin Go memory.
func PinnedBuffers() int { return cpython.PinnedBuffers() }

// LiveClosures is how many functions made by NewFunc Python still holds.
func LiveClosures() int { return cpython.LiveClosures() }

// AttachedValues is how many Go errors raised exceptions still carry.
func AttachedValues() int { return cpython.AttachedValues() }
