package cpython_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/internal/cpython"
)

func TestRemoteMounts(t *testing.T) {
	const (
		root    = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
		proc    = "23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n"
		shm     = "24 22 0:23 / /dev/shm rw shared:3 - tmpfs tmpfs rw\n"
		cgroups = "25 22 0:24 / /sys/fs/cgroup ro master:4 - cgroup2 cgroup2 rw\n"
		tmp     = "26 22 0:25 / /tmp rw - tmpfs tmpfs rw,size=100k\n"
		binfmt  = "27 23 0:26 / /proc/sys/fs/binfmt_misc rw shared:13 - autofs systemd-1 rw,fd=29\n"
		portal  = "28 22 0:27 / /run/user/1000/doc rw,nosuid shared:40 - fuse.portal portal rw,user_id=1000\n"
		snap    = "29 22 7:3 / /snap/core/1 ro,nodev shared:30 - squashfs /dev/loop3 ro\n"
		spaced  = "30 22 0:28 / /mnt/with\\040space rw - xfs /dev/sdb1 rw\n"
		noopt   = "31 22 0:29 / /scratch rw - ext4 /dev/sdc1 rw\n"
		lxcfs   = "32 22 0:30 / /var/lib/lxcfs rw,nosuid - fuse.lxcfs lxcfs rw,user_id=0\n"
	)
	local := root + proc + shm + cgroups + tmp + binfmt + portal + snap + spaced + noopt + lxcfs
	tests := []struct {
		name, table string
		remote      bool
	}{
		{"local disks, memory and kernel interfaces", local, false},
		{"an NFS home", local + "40 22 0:40 / /home rw,relatime shared:50 - nfs4 srv:/home rw,vers=4.2\n", true},
		{"Lustre", local + "41 22 0:41 / /lustre rw - lustre 10.0.0.1@o2ib:/fs rw\n", true},
		{"GPFS with several optional fields", local + "42 22 0:42 / /gpfs rw shared:7 master:2 propagate_from:1 - gpfs gpfs0 rw\n", true},
		{"squashfuse", local + "43 22 0:43 / /opt/env ro,nosuid - fuse.squashfuse squashfuse ro,user_id=0\n", true},
		{"ntfs through FUSE", local + "44 22 8:17 / /media/d rw - fuseblk /dev/sdb1 rw\n", true},
		{"an automount point", local + "45 22 0:45 / /apps rw - autofs /etc/auto.apps rw,fd=7\n", true},
		{"a type unknown here", local + "46 22 0:46 / /data rw - wekafs default rw\n", true},
		{"FUSE under /run only", root + portal, false},
		{"a line not in the format", root + "garbage\n", true},
		{"empty", "", true},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, string(rune('a'+i)))
			if err := os.WriteFile(p, []byte(tt.table), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := cpython.RemoteMounts(p); got != tt.remote {
				t.Errorf("RemoteMounts(%q) = %v, want %v", tt.table, got, tt.remote)
			}
		})
	}
	if !cpython.RemoteMounts(filepath.Join(dir, "missing")) {
		t.Error("a table that cannot be read must count as having a remote file system")
	}
}

func TestRemotePaths(t *testing.T) {
	dir := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	other := fmt.Sprintf("%d:%d", unix.Major(st.Dev)+1000, unix.Minor(st.Dev))
	line := func(dev, mp, typ string) string {
		return "22 1 " + dev + " / " + mp + " rw,relatime shared:1 - " + typ + " src rw\n"
	}
	table := func(lines ...string) string {
		p := filepath.Join(t.TempDir(), "mountinfo")
		if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "no-such-dir")
	tests := []struct {
		name  string
		table string
		paths []string
		want  int
	}{
		{"on a local disk", table(line(dev, "/", "ext4")), []string{dir}, 0},
		{"on NFS", table(line(dev, "/", "nfs4")), []string{dir}, 1},
		{"on FUSE", table(line(other, "/", "ext4"), line(dev, "/x", "fuse.sshfs")), []string{dir}, 1},
		{"a remote mount elsewhere", table(line(dev, "/", "ext4"), line(other, "/home", "nfs4")), []string{dir}, 0},
		{"a kernel interface", table(line(dev, "/", "tmpfs")), []string{dir}, 0},
		{"a directory that does not exist", table(line(dev, "/", "ext4")), []string{missing, dir}, 0},
		{"a file in the way", table(line(dev, "/", "ext4")), []string{filepath.Join(dir, "f", "x")}, 0},
		{"inside a file on NFS (a zip's directory)", table(line(dev, "/", "nfs")), []string{filepath.Join(dir, "f", "x", "y")}, 1},
		{"a symlink loop", table(line(dev, "/", "nfs")), []string{filepath.Join(dir, "loop")}, 0},
		{"a device the table does not list", table(line(other, "/", "ext4")), []string{dir}, -1},
		{"unlisted, then remote", table(line(other, "/", "nfs")), []string{missing, dir}, -1},
		{"a line not in the format", table(line(dev, "/", "ext4"), "garbage\n"), []string{dir}, 1},
		{"a device not in the format", table("22 1 zero / / rw - ext4 src rw\n"), []string{dir}, 1},
		{"empty", table(), []string{dir}, 1},
		{"no directories", table(line(dev, "/", "ext4")), nil, 0},
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop", filepath.Join(dir, "loop")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cpython.RemotePaths(tt.table, tt.paths); got != tt.want {
				t.Errorf("RemotePaths(%q) = %d, want %d", tt.paths, got, tt.want)
			}
		})
	}
	if got := cpython.RemotePaths(filepath.Join(dir, "missing"), []string{dir}); got != 1 {
		t.Errorf("a table that cannot be read: %d, want 1", got)
	}
}

// The interpreter's part of the search path, as the library pyhost links
// computes it for its prefix (python3.11 of the same build, -I: no user
// site, no PYTHONPATH), lies in the trees a process alone looks at.
func TestInterpreterTreesHoldTheSearchPath(t *testing.T) {
	py := "/usr/bin/python3.11"
	if _, err := os.Stat(py); err != nil {
		t.Skipf("%s: %v (the library's own interpreter, to read its search path)", py, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-I", "-c", "import sys, os; print('\\n'.join(p for p in sys.path if os.path.isdir(p)))").Output()
	if err != nil {
		t.Fatal(err)
	}
	trees := cpython.InterpreterTrees()
	for _, p := range strings.Fields(string(out)) {
		in := false
		for _, tree := range trees {
			in = in || p == tree || strings.HasPrefix(p, tree+"/")
		}
		if !in {
			t.Errorf("%s, on python3.11's search path, is in none of %q", p, trees)
		}
	}
}
