package host_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pyhost/pyhost/host"
)

// rss is the resident set size in bytes, from /proc/self/statm.
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// 100,000 calls and conversions each way: every Object released, the
// resident set flat.
func TestLeak(t *testing.T) {
	const n = 100_000
	round := func(count int) {
		do(t, func(py *host.Py) error {
			execSrc(t, py, "import gotest\ndef leakf(a, b, c):\n    return [a, b, {'k': c}]\n")
			f, err := py.Eval("leakf")
			if err != nil {
				return err
			}
			defer f.Close()
			loop, err := py.Eval("lambda n: [gotest.echo((i, 'x', [1.5])) for i in range(n)][-1]")
			if err != nil {
				return err
			}
			defer loop.Close()
			for i := 0; i < count; i++ {
				r, err := f.Call(i, "text", []any{1.5, true, nil})
				if err != nil {
					return err
				}
				if _, err := r.ToGo(); err != nil {
					return err
				}
				r.Close()
				o, err := py.FromGo(map[string]any{"i": i, "b": []byte("xyz")})
				if err != nil {
					return err
				}
				if _, err := host.As[map[string]any](o); err != nil {
					return err
				}
				o.Close()
			}
			r, err := loop.Call(count) // Python → Go count times
			if err != nil {
				return err
			}
			r.Close()
			return nil
		})
	}
	round(10_000) // warm up: caches, arenas, the Go heap
	settle(t)
	before := rss(t)
	round(n)
	if live := settle(t); live != 0 {
		t.Errorf("LiveObjects = %d after %d calls", live, n)
	}
	after := rss(t)
	if grow := after - before; grow > 8<<20 {
		t.Errorf("RSS grew %d KiB over %d calls (%d → %d KiB)", grow>>10, n, before>>10, after>>10)
	}
	t.Logf("RSS %d → %d KiB", before>>10, after>>10)
}
