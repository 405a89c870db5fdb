package latencyfs

import (
	"sync"
	"testing"
	"time"
)

func TestQueueSerializes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		latency time.Duration
		workers int
	}{
		{"200us x 8", 200 * time.Microsecond, 8},
		{"1ms x 4", time.Millisecond, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue(tc.latency)
			const each = 10
			start := time.Now()
			var wg sync.WaitGroup
			for w := 0; w < tc.workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						q.serve()
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			n := tc.workers * each
			want := time.Duration(n) * tc.latency
			if elapsed < want {
				t.Errorf("%d requests took %v, want >= %v", n, elapsed, want)
			}
			// The virtual clock keeps timer slack from accumulating (a
			// mutex held across time.Sleep would make 200 µs about 1 ms
			// each, 5x); the margin is for a loaded, shared machine.
			if elapsed > want*3+10*time.Millisecond {
				t.Errorf("%d requests took %v, want about %v", n, elapsed, want)
			}
			if q.Served() != uint64(n) {
				t.Errorf("Served = %d, want %d", q.Served(), n)
			}
			if mean := q.Residence() / time.Duration(n); mean < tc.latency {
				t.Errorf("mean residence %v < latency %v", mean, tc.latency)
			}
		})
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/tmp/a\040b`: "/tmp/a b",
		`/plain`:      "/plain",
		`/tab\011x`:   "/tab\tx",
	} {
		if got := UnescapeMountinfo(in); got != want {
			t.Errorf("UnescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// Per-client latency: concurrent requests do not wait for each other, so
// 8 workers of 10 requests take about 10 latencies, not 80.
func TestPerClientDoesNotSerialize(t *testing.T) {
	const latency, workers, each = 2 * time.Millisecond, 8, 10
	q := NewPerClient(latency)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				q.serve()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if elapsed < each*latency {
		t.Errorf("%d requests per worker took %v, want >= %v", each, elapsed, each*latency)
	}
	if serialized := workers * each * latency; elapsed > serialized/2 {
		t.Errorf("%d workers x %d requests took %v: serialized (one queue would take %v)", workers, each, elapsed, serialized)
	}
	if !q.PerClient() || q.Served() != workers*each {
		t.Errorf("PerClient %v, Served %d", q.PerClient(), q.Served())
	}
}
