package share

import (
	"testing"

	"golang.org/x/sys/unix"
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
// told by the type the mount table gives them, FUSE's subtypes included.
func TestMountsImages(t *testing.T) {
	info := `22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
34 22 0:43 / /mnt/with\040space rw - fuse.squashfuse squashfuse ro
45 22 7:0 / /opt/env ro,relatime - squashfs /dev/loop0 ro,errors=continue
46 22 0:50 / /ctr rw - overlay overlay rw,lowerdir=/a:/b,upperdir=/u,workdir=/w
47 22 0:51 / /cvmfs/sft.cern.ch ro - fuse cvmfs2 ro
48 22 0:52 / /home rw - nfs4 srv:/home rw
49 22 bad / /x rw - erofs /dev/x ro
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
		0:                  false,
	} {
		if got := im.Has(dev); got != want {
			t.Errorf("Has(%d:%d) = %v, want %v", unix.Major(dev), unix.Minor(dev), got, want)
		}
	}
	if len(im) != 3 {
		t.Errorf("%d image devices, want 3 (a device field that does not parse is none)", len(im))
	}
	var none Images
	if none.Has(unix.Mkdev(7, 0)) {
		t.Error("no table says image")
	}
}
