package latencyfs

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// callers counts requests by the command name of the calling thread, so
// that a benchmark can tell its interpreters' requests from those of a
// stray process walking the mount (a find, an indexer, a test).
type callers struct {
	mu     sync.Mutex
	byTID  map[uint32]string // thread id -> command name, as first seen
	byComm map[string]uint64
}

func (c *callers) count(tid uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byComm == nil {
		c.byTID, c.byComm = map[uint32]string{}, map[string]uint64{}
	}
	comm, ok := c.byTID[tid]
	if !ok {
		comm = commOf(tid)
		if len(c.byTID) > 1<<16 { // ids are reused; keep the map bounded
			clear(c.byTID)
		}
		c.byTID[tid] = comm
	}
	c.byComm[comm]++
}

func (c *callers) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.byComm))
	for k, v := range c.byComm {
		out[k] = v
	}
	return out
}

// commOf reads the thread's command name; /proc/<tid> works for threads
// too. A caller that has already gone is "?", the kernel itself "kernel".
func commOf(tid uint32) string {
	if tid == 0 {
		return "kernel"
	}
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(tid), 10) + "/comm")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
