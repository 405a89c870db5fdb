package latencyfs

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Queue serializes delayed requests as one server with a fixed service
// time would: a request starts when the previous one has finished and
// takes Latency. One Queue may be shared by several mounts so that they
// model the same metadata server. Its methods are safe for concurrent use.
type Queue struct {
	latency time.Duration
	// perClient: every request waits latency on its own, none waits for
	// another (see NewPerClient).
	perClient bool

	mu        sync.Mutex
	busyUntil time.Time // end of the last scheduled request

	served    atomic.Uint64
	residence atomic.Int64 // total ns requests spent queued and in service
}

// NewQueue returns a queue whose every request takes latency; zero or a
// negative latency means requests pass without waiting (but are counted).
func NewQueue(latency time.Duration) *Queue {
	if latency < 0 {
		latency = 0
	}
	return &Queue{latency: latency}
}

// NewPerClient returns a "queue" without contention: each request waits
// latency from its own arrival, whatever else is in flight, as if every
// client had its own metadata latency (a network round trip) and the
// server had capacity to spare. A Python process makes its requests one
// after another, so this is one latency per request per rank. The
// one-queue model ([NewQueue]) favours designs that cut the total number
// of requests; this one favours designs that cut each rank's own.
func NewPerClient(latency time.Duration) *Queue {
	q := NewQueue(latency)
	q.perClient = true
	return q
}

// PerClient reports whether requests wait independently (NewPerClient).
func (q *Queue) PerClient() bool { return q.perClient }

// Latency is the service time of one request.
func (q *Queue) Latency() time.Duration { return q.latency }

// Served is the number of requests that went through the queue.
func (q *Queue) Served() uint64 { return q.served.Load() }

// Residence is the total time requests spent waiting in the queue and
// being served; divided by Served it is the mean response time, which
// grows above Latency when requests pile up.
func (q *Queue) Residence() time.Duration { return time.Duration(q.residence.Load()) }

// serve blocks the caller for its turn and its service time.
func (q *Queue) serve() {
	q.served.Add(1)
	if q.latency <= 0 {
		return
	}
	if q.perClient {
		now := time.Now()
		sleepUntil(now.Add(q.latency))
		q.residence.Add(int64(time.Since(now)))
		return
	}
	// A virtual clock rather than a mutex held across time.Sleep: the
	// timer's overshoot delays this request only, not every later one.
	q.mu.Lock()
	now := time.Now()
	start := q.busyUntil
	if start.Before(now) {
		start = now
	}
	end := start.Add(q.latency)
	q.busyUntil = end
	q.mu.Unlock()
	sleepUntil(end)
	q.residence.Add(int64(time.Since(now)))
}

// sleepUntil blocks the calling thread in nanosleep(2). time.Sleep wakes
// through the runtime's netpoller, whose timeout has 1 ms granularity on
// Linux: a 200 µs latency would become 1.08 ms. A blocking syscall costs
// an OS thread per sleeper, which the runtime hands off cheaply.
func sleepUntil(end time.Time) {
	for {
		d := time.Until(end)
		if d <= 0 {
			return
		}
		ts := unix.NsecToTimespec(int64(d))
		if err := unix.Nanosleep(&ts, nil); err == nil {
			return
		}
		// EINTR (a signal, e.g. Go's preemption): sleep the rest.
	}
}
