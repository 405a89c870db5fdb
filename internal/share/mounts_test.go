package share

import (
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/pathscan"
)

func TestMountsShared(t *testing.T) {
	info := `22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:26 / /tmp rw,nosuid shared:2 - tmpfs tmpfs rw
31 22 0:40 / /lus rw shared:3 - lustre 10.0.0.1@tcp:/fs rw
32 31 0:41 / /lus/local rw - ext4 /dev/sdb rw
33 22 0:42 / /home rw shared:4 master:1 - nfs4 srv:/home rw
34 22 0:43 / /mnt/with\040space rw - fuse.squashfuse squashfuse ro
35 22 0:44 / /lus rw - xfs /dev/sdc rw
`
	m := parseMountInfo(info)
	for path, want := range map[string]bool{
		"/usr/lib/python3.11": false,
		"/tmp/x":              false,
		"/home/u/env":         true,
		"/homework":           false, // not below /home
		"/mnt/with space/lib": true,
		"/lus/local/x":        false, // mounted below the shared one
		"/lus/x":              false, // /lus mounted over by xfs (a later line)
		"/":                   false,
		"/home":               true,
	} {
		if got := m.Shared(path); got != want {
			t.Errorf("Shared(%q) = %v, want %v", path, got, want)
		}
	}
	var none *Mounts
	if none.Shared("/home/x") {
		t.Error("a nil table says shared")
	}
}

// The devices of image file systems (times and inodes from an image) are
// told by the type the mount table gives them, FUSE's subtypes included,
// or by the device they are mounted from (a loop or nbd device: a file's
// image, whatever its type).
func TestMountsImages(t *testing.T) {
	info := `22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
34 22 0:43 / /mnt/with\040space rw - fuse.squashfuse squashfuse ro
45 22 7:0 / /opt/env ro,relatime - squashfs /dev/loop0 ro,errors=continue
46 22 0:50 / /ctr rw - overlay overlay rw,lowerdir=/a:/b,upperdir=/u,workdir=/w
47 22 0:51 / /cvmfs/sft.cern.ch ro - fuse cvmfs2 ro
48 22 0:52 / /home rw - nfs4 srv:/home rw
49 22 bad / /x rw - erofs /dev/x ro
50 22 7:3 / /opt/rel ro,relatime - ext4 /dev/loop3 ro
51 22 43:1 / /opt/qcow rw - xfs /dev/nbd0p1 rw
52 22 8:1 / /scratch rw - xfs /dev/sda1 rw
53 22 0:53 / /opt/dw ro - fuse.dwarfs dwarfs ro
`
	m := parseMountInfo(info)
	im := m.Images()
	for dev, want := range map[uint64]bool{
		unix.Mkdev(252, 0): false,
		unix.Mkdev(0, 43):  true,
		unix.Mkdev(7, 0):   true,
		unix.Mkdev(0, 50):  true,
		unix.Mkdev(0, 51):  false, // a FUSE file system of its own kind
		unix.Mkdev(0, 52):  false,
		unix.Mkdev(7, 3):   true, // any file system from a loop device
		unix.Mkdev(43, 1):  true, // or from nbd
		unix.Mkdev(8, 1):   false,
		unix.Mkdev(0, 53):  true,
		0:                  false,
	} {
		if got := im.Has(dev); got != want {
			t.Errorf("Has(%d:%d) = %v, want %v", unix.Major(dev), unix.Minor(dev), got, want)
		}
	}
	if len(im) != 6 {
		t.Errorf("%d image devices, want 6 (a device field that does not parse is none)", len(im))
	}
	var none Images
	if none.Has(unix.Mkdev(7, 0)) {
		t.Error("no table says image")
	}
}

// Nothing of an image file system is kept: not a listing of one of its
// directories, not a copy of one of its .pyc files; and when the mount
// table cannot be read, no copy is taken and the index file is left as
// it is.
func TestImagesAreLeftOut(t *testing.T) {
	defer func(saved func() (Images, bool)) { readImages = saved }(readImages)
	lib := settledTree(t)
	files := map[string][]byte{"a": pyc(0, "AAAA")}
	_, pairs := pycTree(t, files, "a")
	devOf := func(p string) uint64 {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return uint64(st.Dev)
	}
	for _, tc := range []struct {
		name   string
		images func() (Images, bool)
		kept   bool
	}{
		{"not an image", func() (Images, bool) { return nil, true }, true},
		{"an image", func() (Images, bool) {
			return Images{devOf(lib): true, devOf(filepath.Dir(pairs[0][1])): true}, true
		}, false},
		{"no mount table", func() (Images, bool) { return nil, false }, false},
	} {
		readImages = tc.images
		dir := filepath.Join(t.TempDir(), "cache")
		var warnings []string
		c := newCache(dir, testEnv(lib), &warnings)
		ix := pathscan.New(pathscan.Options{Loaders: loaders})
		c.LoadIndex(ix)
		ix.Find(lib, "m")
		c.SaveIndex(ix, time.Now())
		next := pathscan.New(pathscan.Options{Loaders: loaders})
		newCache(dir, testEnv(lib), &warnings).LoadIndex(next)
		if merged := next.Stats().DirsMerged > 0; merged != tc.kept {
			t.Errorf("%s: listing kept %v, want %v", tc.name, merged, tc.kept)
		}
		p := c.Pack(true)
		c.SavePack(p, pairs, testMagic, later())
		if has := newCache(dir, testEnv(lib), &warnings).Pack(true).Has(pairs[0][1]); has != tc.kept {
			t.Errorf("%s: bytecode copy kept %v, want %v", tc.name, has, tc.kept)
		}
		if len(warnings) != 0 {
			t.Errorf("%s: warnings %q", tc.name, warnings)
		}
	}
}
