package native

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// lddPaths is what ldd says each DT_NEEDED of the closure resolves to
// (name => path), the interpreter and the vDSO left out.
func lddPaths(t *testing.T, so string, env []string) map[string]string {
	t.Helper()
	cmd := exec.Command("ldd", so)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("ldd %s: %v", so, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), " => ")
		if !ok || strings.HasPrefix(name, "ld-linux") {
			continue
		}
		path, _, _ := strings.Cut(rest, " (")
		m[name] = path
	}
	return m
}

func closurePaths(c *Closure) map[string]string {
	m := map[string]string{}
	for _, o := range c.Objects {
		for k, d := range o.Deps {
			if !strings.HasPrefix(o.Needed[k], "ld-linux") {
				if _, seen := m[o.Needed[k]]; !seen {
					m[o.Needed[k]] = d.Path
				}
			}
		}
	}
	return m
}

// TestResolveLikeLdd compares closures of the system's extension modules
// with ldd's answer (the loader itself, in trace mode).
func TestResolveLikeLdd(t *testing.T) {
	var mods []string
	for _, pattern := range []string{"/usr/lib/python3.11/lib-dynload/*.so", "/usr/lib/python3/dist-packages/*.so", "/usr/lib/python3/dist-packages/*/*.so", "/usr/lib/python3/dist-packages/numpy/core/*.so"} {
		m, _ := filepath.Glob(pattern)
		mods = append(mods, m...)
	}
	if len(mods) < 10 {
		t.Skip("fewer than 10 system extension modules to compare with")
	}
	r := NewResolver()
	r.LibraryPath = nil
	env := []string{"PATH=" + os.Getenv("PATH")}
	compared := 0
	for _, so := range mods {
		c, err := r.Resolve(so)
		if err != nil {
			t.Errorf("%s: %v", so, err)
			continue
		}
		want, got := lddPaths(t, so, env), closurePaths(c)
		if !equalMaps(want, got) {
			t.Errorf("%s:\n ldd  %v\n ours %v", so, sorted(want), sorted(got))
		}
		compared++
	}
	t.Logf("%d extension modules compared with ldd", compared)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func sorted(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func TestLDCache(t *testing.T) {
	c, err := ReadLDCache("/etc/ld.so.cache")
	if err != nil {
		t.Fatal(err)
	}
	p, ok, _ := c.Lookup("libc.so.6")
	if !ok || filepath.Base(p) != "libc.so.6" {
		t.Errorf("libc.so.6 => %q, %v", p, ok)
	}
	if _, ok, _ := c.Lookup("libdoesnotexist.so.9"); ok {
		t.Error("a name the cache lacks was found")
	}
	for _, bad := range [][]byte{nil, []byte("glibc-ld.so.cache1.1"), []byte("ld.so-1.7.0\x00\xff\xff\xff\x7f")} {
		if _, err := ParseLDCache(bad); err == nil {
			t.Errorf("ParseLDCache(%q) accepted", bad)
		}
	}
}

func FuzzParseLDCache(f *testing.F) {
	if data, err := os.ReadFile("/etc/ld.so.cache"); err == nil {
		f.Add(data[:min(len(data), 4096)])
	}
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = ParseLDCache(data) })
}
