package share

import "testing"

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
