package importer

import (
	"bytes"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BundleMemory holds bundle data outside Go's heap: an anonymous private
// mapping whose pages go back to the system as soon as no data held in
// them is needed (hold, drop), or, where no mapping can be had, Go's
// memory (given back by Go's collector). A broadcast bundle's frame lives
// in one (see Bundle), and so, on the root, does the bytecode MakeBundle
// reads before it is marshalled.
type BundleMemory struct {
	b        []byte // the memory handed out
	mapping  []byte // the whole mapping, pages rounded up; nil when Go's
	mapped   bool
	pageSize int

	unmap *unmapper // for a mapping: gives it back, once

	mu    sync.Mutex
	pages []int32 // per page: the data held in it (hold) not yet dropped
	used  int     // bytes of b handed out (bundleSlab)
}

// An unmapper gives a mapping back once: at Free, or when its
// BundleMemory becomes unreachable without one (slices of the mapping
// are not references Go's collector knows: whoever uses them keeps the
// BundleMemory too).
type unmapper struct {
	once sync.Once
	mem  []byte
}

func (u *unmapper) do() { u.once.Do(func() { _ = unix.Munmap(u.mem) }) }

// NewBundleMemory is n bytes of zeroed memory for a bundle.
func NewBundleMemory(n int) *BundleMemory {
	m := newMapped(n)
	if m == nil {
		m = &BundleMemory{b: make([]byte, n), pageSize: os.Getpagesize()}
	}
	return m
}

// newMapped is n bytes of a new anonymous mapping; nil when there is none.
func newMapped(n int) *BundleMemory {
	ps := os.Getpagesize()
	if n <= 0 {
		return nil
	}
	size := (n + ps - 1) / ps * ps
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil
	}
	// Filled at once (a broadcast, the root's reads): in huge pages where
	// the system has them, a fraction of the page faults (settle ends it).
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	u := &unmapper{mem: mem}
	m := &BundleMemory{b: mem[:n:n], mapping: mem, mapped: true, pageSize: ps, unmap: u, pages: make([]int32, size/ps)}
	runtime.AddCleanup(m, (*unmapper).do, u)
	return m
}

// Bytes is the memory (nil for a nil BundleMemory); it is valid until Free.
func (m *BundleMemory) Bytes() []byte {
	if m == nil {
		return nil
	}
	return m.b
}

// Free gives the memory back; m must not be used afterwards.
func (m *BundleMemory) Free() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mapped {
		m.unmap.do()
	}
	m.b, m.mapping, m.mapped, m.pages = nil, nil, false, nil
}

// settle ends the filling: from now on the mapping's pages go back one
// by one (drop), so no huge pages are to be made of it again (khugepaged
// would fill in pages given back).
func (m *BundleMemory) settle() {
	if m == nil || !m.mapped {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = unix.Madvise(m.mapping, unix.MADV_NOHUGEPAGE)
}

// span is the first and last page data occupies; ok false when data is
// empty or not in m's mapping.
func (m *BundleMemory) span(data []byte) (p0, p1 int, ok bool) {
	if m == nil || !m.mapped || len(data) == 0 {
		return 0, 0, false
	}
	off := uintptr(unsafe.Pointer(unsafe.SliceData(data))) - uintptr(unsafe.Pointer(unsafe.SliceData(m.mapping)))
	if off >= uintptr(len(m.mapping)) || int(off)+len(data) > len(m.mapping) {
		return 0, 0, false
	}
	return int(off) / m.pageSize, (int(off) + len(data) - 1) / m.pageSize, true
}

// hold counts data (a part of m) as needed: its pages stay until drop.
func (m *BundleMemory) hold(data []byte) {
	p0, p1, ok := m.span(data)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := p0; p <= p1; p++ {
		m.pages[p]++
	}
}

// drop ends hold(data): the pages that hold no other held data go back to
// the system; data must not be read afterwards.
func (m *BundleMemory) drop(data []byte) {
	p0, p1, ok := m.span(data)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := p0; p <= p1; p++ {
		m.pages[p]--
	}
	// Pages strictly inside the span held data alone; the first and last
	// may hold a neighbour's too.
	if m.pages[p0] != 0 {
		p0++
	}
	if m.pages[p1] != 0 {
		p1--
	}
	m.dontNeed(p0, p1+1)
}

// dropUnheld gives back every page that holds no held data.
func (m *BundleMemory) dropUnheld() {
	if m == nil || !m.mapped {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := 0; p < len(m.pages); {
		if m.pages[p] != 0 {
			p++
			continue
		}
		q := p
		for q < len(m.pages) && m.pages[q] == 0 {
			q++
		}
		m.dontNeed(p, q)
		p = q
	}
}

// dontNeed gives pages [p, q) of the mapping back to the system; they
// read as zeros afterwards. m.mu is held.
func (m *BundleMemory) dontNeed(p, q int) {
	if !m.mapped || p >= q {
		return
	}
	_ = unix.Madvise(m.mapping[p*m.pageSize:min(q*m.pageSize, len(m.mapping))], unix.MADV_DONTNEED)
}

// bundleSlab places bytecode in mappings of its own (chunks) outside Go's
// heap, one after another: MakeBundle's copies, which MarshalBundleMemory
// gives back entry by entry as it copies them into the frame, so that the
// root never holds two copies of the bundle.
type bundleSlab struct {
	mu     sync.Mutex
	chunks []*BundleMemory
}

// slabChunk is a chunk's size; data larger than a quarter of it get a
// mapping of their own.
const slabChunk = 4 << 20

// copyOf is a copy of data in the slab and the memory that holds it (nil:
// Go's, when no mapping can be had); safe for concurrent use.
func (s *bundleSlab) copyOf(data []byte) ([]byte, *BundleMemory) {
	if len(data) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	var c *BundleMemory
	if n := len(s.chunks); n > 0 && s.chunks[n-1].used+len(data) <= len(s.chunks[n-1].b) {
		c = s.chunks[n-1]
	} else {
		size := slabChunk
		if len(data) > slabChunk/4 {
			size = len(data)
		}
		if c = newMapped(size); c == nil {
			s.mu.Unlock()
			return bytes.Clone(data), nil
		}
		if size == slabChunk || len(s.chunks) == 0 {
			s.chunks = append(s.chunks, c)
		} else {
			// Alone in its mapping: the current chunk stays current.
			s.chunks = append(s.chunks[:len(s.chunks)-1], c, s.chunks[len(s.chunks)-1])
		}
	}
	out := c.b[c.used : c.used+len(data) : c.used+len(data)]
	c.used += len(data)
	s.mu.Unlock()
	copy(out, data)
	return out, c
}
