package launch

import (
	"reflect"
	"testing"

	"github.com/pyhost/pyhost/internal/share"
)

// A warm root verifies the directories of the modules the program loaded
// and of their packages, up to (not including) the tree they are in.
func TestUsedDirs(t *testing.T) {
	mods := []share.Module{
		{Source: "/lib/py/json/__init__.py"},
		{Source: "/lib/py/json/decoder.py"},
		{Source: "/lib/py/email/mime/text.py"},
		{Source: "/lib/py/os.py"},
		{Source: "/site/numpy/core/_methods.py"},
		{Source: "/work/job/helper.py"},
	}
	got := usedDirs(mods, []string{"/lib/py", "/site/", "/work/job"}, -1)
	want := []string{"/lib/py/json", "/lib/py/email/mime", "/lib/py/email", "/site/numpy/core", "/site/numpy"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("usedDirs = %q, want %q", got, want)
	}
	// Outside every tree: up to the root of the file system, once.
	got = usedDirs([]share.Module{{Source: "/a/b/m.py"}, {Source: "/a/c.py"}}, nil, -1)
	want = []string{"/a/b", "/a", "/"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("usedDirs outside the trees = %q, want %q", got, want)
	}
	// Bounded, in the order of the modules (for a new program: ByUse's).
	got = usedDirs(mods, []string{"/lib/py", "/site/", "/work/job"}, 2)
	want = []string{"/lib/py/json", "/lib/py/email/mime"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("usedDirs bounded = %q, want %q", got, want)
	}
}
