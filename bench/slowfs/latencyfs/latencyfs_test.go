package latencyfs_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pyhost/pyhost/bench/slowfs/latencyfs"
)

// fuseUsable skips the test when this machine cannot mount FUSE at all.
func fuseUsable(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("FUSE unavailable: %v", err)
	}
}

// mount mounts src on a fresh temporary directory, skipping the test
// when FUSE is unavailable, and unmounts at the end of the test.
func mount(t *testing.T, src string, opt latencyfs.Options) *latencyfs.Mount {
	t.Helper()
	fuseUsable(t)
	dir := t.TempDir()
	m, err := latencyfs.New(src, dir, opt)
	if errors.Is(err, latencyfs.ErrUnavailable) {
		t.Skipf("FUSE unavailable: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
		if isMounted(t, dir) {
			t.Errorf("%s still mounted after Unmount", dir)
		}
	})
	return m
}

func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// fixture is a small source tree: a/b/c.txt, a/link -> b/c.txt, top.txt.
func fixture(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"a/b/c.txt": "hello", "top.txt": "top"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("b/c.txt", filepath.Join(src, "a", "link")); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestPassthroughAndCounts(t *testing.T) {
	m := mount(t, fixture(t), latencyfs.Options{})
	dir := m.Dir()

	before := m.Stats()
	st, err := os.Stat(filepath.Join(dir, "a", "b", "c.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 5 {
		t.Errorf("size = %d, want 5", st.Size())
	}
	entries, err := os.ReadDir(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, ","); got != "b,link" {
		t.Errorf("ReadDir(a) = %s, want b,link", got)
	}
	body, err := os.ReadFile(filepath.Join(dir, "a", "link"))
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "hello" {
		t.Errorf("read through symlink = %q, want hello", body)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat missing: %v, want not exist", err)
	}

	d := m.Stats().Sub(before)
	for _, typ := range []string{"LOOKUP", "OPENDIR", "OPEN", "READLINK", "READ"} {
		if d.Requests[typ] == 0 {
			t.Errorf("no %s request counted; got %v", typ, d.Requests)
		}
	}
	if d.Requests["READDIR"]+d.Requests["READDIRPLUS"] == 0 {
		t.Errorf("no READDIR/READDIRPLUS counted; got %v", d.Requests)
	}
	if d.ReadBytes < 5 {
		t.Errorf("read bytes = %d, want >= 5", d.ReadBytes)
	}
	// This test process made the requests; its command name is the
	// test binary's (truncated to 15 bytes by the kernel).
	self, _ := os.ReadFile("/proc/self/comm")
	if comm := strings.TrimSpace(string(self)); d.ByCommand[comm] == 0 {
		t.Errorf("no requests counted for %q; by command: %v", comm, d.ByCommand)
	}
	if d.Metadata == 0 || !latencyfs.IsMetadata("LOOKUP") || latencyfs.IsMetadata("READ") {
		t.Errorf("metadata classification wrong: %+v", d)
	}
}

// Without a kernel cache every stat of a path revalidates each component.
func TestNoCacheByDefault(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opt       latencyfs.Options
		wantFewer bool
	}{
		{"default", latencyfs.Options{}, false},
		{"cache", latencyfs.Options{Cache: true, NegativeCache: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mount(t, fixture(t), tc.opt)
			path := filepath.Join(m.Dir(), "a", "b", "c.txt")
			missing := filepath.Join(m.Dir(), "nope")
			os.Stat(path) // warm
			os.Stat(missing)
			before := m.Stats()
			const n = 10
			for i := 0; i < n; i++ {
				os.Stat(path)
				os.Stat(missing)
			}
			lookups := m.Stats().Sub(before).Requests["LOOKUP"]
			if tc.wantFewer && lookups > 0 {
				t.Errorf("%d LOOKUPs with the cache on, want 0", lookups)
			}
			if !tc.wantFewer && lookups < n*4 {
				t.Errorf("%d LOOKUPs for %d stats of a 3-component path and %d misses, want >= %d", lookups, n, n, n*4)
			}
		})
	}
}

func TestLatencyIsSerialized(t *testing.T) {
	const latency = 2 * time.Millisecond
	m := mount(t, fixture(t), latencyfs.Options{Latency: latency})
	path := filepath.Join(m.Dir(), "top.txt")

	before := m.Stats()
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				if _, err := os.Stat(path); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	served := m.Stats().Sub(before).Metadata
	// One queue: concurrent requests wait for each other, so the total
	// is at least served×latency, not served×latency/4.
	if min := time.Duration(served) * latency; elapsed < min*9/10 {
		t.Errorf("%d requests at %v took %v, want >= %v (serialized)", served, latency, elapsed, min)
	}
	if served < 20 {
		t.Errorf("served %d metadata requests for 20 stats, want >= 20", served)
	}
}

func TestBadInput(t *testing.T) {
	fuseUsable(t)
	src := fixture(t)
	file := filepath.Join(src, "top.txt")
	for _, tc := range []struct {
		name, src, dir, want string
	}{
		{"missing source", filepath.Join(src, "nope"), t.TempDir(), "source"},
		{"source is a file", file, t.TempDir(), "not a directory"},
		{"missing mount point", src, filepath.Join(t.TempDir(), "nope"), "mount point"},
		{"mount point is a file", src, file, "not a directory"},
		{"same directory", src, src, "same directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := latencyfs.New(tc.src, tc.dir, latencyfs.Options{})
			if err == nil {
				m.Unmount()
				t.Fatalf("New(%q, %q) succeeded", tc.src, tc.dir)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	t.Run("mount point in use", func(t *testing.T) {
		m := mount(t, src, latencyfs.Options{})
		m2, err := latencyfs.New(src, m.Dir(), latencyfs.Options{})
		if err == nil {
			m2.Unmount()
			t.Fatal("second mount on the same directory succeeded")
		}
		if !strings.Contains(err.Error(), "in use") {
			t.Errorf("error %q does not say in use", err)
		}
	})
}

func TestStatsSubAndWrite(t *testing.T) {
	a := latencyfs.Stats{Requests: map[string]uint64{"LOOKUP": 3, "READ": 1}, Metadata: 3, Data: 1}
	b := latencyfs.Stats{Requests: map[string]uint64{"LOOKUP": 10, "READ": 1, "OPEN": 2}, Metadata: 12, Data: 1}
	d := b.Sub(a)
	if d.Requests["LOOKUP"] != 7 || d.Requests["OPEN"] != 2 || d.Metadata != 9 || d.Data != 0 {
		t.Errorf("Sub = %+v", d)
	}
	if _, ok := d.Requests["READ"]; ok {
		t.Errorf("Sub kept a zero count: %v", d.Requests)
	}
	path := filepath.Join(t.TempDir(), "s.json")
	if err := d.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	var back latencyfs.Stats
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &back); err != nil || back.Requests["LOOKUP"] != 7 {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

func TestReadOnly(t *testing.T) {
	src := fixture(t)
	m := mount(t, src, latencyfs.Options{ReadOnly: true})
	err := os.WriteFile(filepath.Join(m.Dir(), "new.txt"), []byte("x"), 0o644)
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("write through a read-only mount: %v, want EROFS", err)
	}
	if _, err := os.Stat(filepath.Join(src, "new.txt")); err == nil {
		t.Error("file appeared in the source")
	}
	if b, err := os.ReadFile(filepath.Join(m.Dir(), "top.txt")); err != nil || string(b) != "top" {
		t.Errorf("read: %q %v", b, err)
	}
}
