package share

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/internal/dirfd"
)

// Mounts tells, from the mount table read once, whether a path is on a
// file system shared by all nodes, without a statfs (a request to the
// servers of a parallel file system) per path. The longest mount point
// that is a prefix of the path, as written, decides: a path through a
// symbolic link onto another mount is judged by where it is written, so
// a link from local disk onto a shared file system counts as local (the
// safe side for what it decides: see OnSharedMount's users).
type Mounts struct {
	points []mountPoint // longest first
	images Images       // the devices of image file systems
}

type mountPoint struct {
	dir    string
	shared bool
}

// sharedFSNames are the mount table's names of sharedFSTypes's file systems.
var sharedFSNames = map[string]bool{
	"nfs": true, "nfs4": true, "lustre": true, "gpfs": true, "beegfs": true,
	"ceph": true, "panfs": true, "pvfs2": true, "cifs": true, "smb3": true,
	"smbfs": true, "fuse": true,
}

// ReadMounts reads /proc/self/mountinfo; nil when it cannot (then
// nothing counts as shared).
func ReadMounts() *Mounts {
	// Not os.ReadFile: an os.File of a file opened so would start Go's
	// poller (an epoll and an eventfd descriptor), which a small
	// `ulimit -n` turns into a fatal error at exit (see dirfd).
	b, _, err := dirfd.ReadFile("/proc/self/mountinfo", 0, 16<<20)
	if err != nil {
		return nil
	}
	return parseMountInfo(string(b))
}

// parseMountInfo parses proc(5)'s mountinfo: the mount point is the 5th
// field (octal escapes for space, tab, newline and backslash), the type
// the first after the "-" separator.
func parseMountInfo(s string) *Mounts {
	m := &Mounts{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) {
			continue
		}
		typ := f[sep+1]
		shared := sharedFSNames[typ] || strings.HasPrefix(typ, "fuse.")
		m.points = append(m.points, mountPoint{dir: unescapeMount(f[4]), shared: shared})
		if dev, ok := parseDev(f[2]); ok && (imageFSNames[typ] || imageDevice(dev)) {
			if m.images == nil {
				m.images = Images{}
			}
			m.images[dev] = true
		}
	}
	// Longest first; a later line for the same point (mounted over) wins,
	// hence the stable order and the reverse scan below.
	pts := m.points
	for i, j := 0, len(pts)-1; i < j; i, j = i+1, j-1 {
		pts[i], pts[j] = pts[j], pts[i]
	}
	sortByLenDesc(pts)
	return m
}

func sortByLenDesc(pts []mountPoint) {
	// insertion sort keeps equal lengths in order (mount tables are short)
	for i := 1; i < len(pts); i++ {
		for j := i; j > 0 && len(pts[j].dir) > len(pts[j-1].dir); j-- {
			pts[j], pts[j-1] = pts[j-1], pts[j]
		}
	}
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// Shared reports whether the absolute path p is on a shared file system.
func (m *Mounts) Shared(p string) bool {
	if m == nil {
		return false
	}
	for _, pt := range m.points {
		if pt.dir == "/" || p == pt.dir || strings.HasPrefix(p, pt.dir) && p[len(pt.dir)] == '/' {
			return pt.shared
		}
	}
	return false
}

// imageFSNames are the file systems whose files' times (ctime included)
// and inode numbers come from an image, not from the kernel as files
// change: two images of one reproducible build (times clamped, trees of
// one shape: a container image rebuilt, an environment's new release)
// mounted one after the other at one path give each directory and file
// the same device, inode, mtime and ctime (a loop or FUSE device number
// is reused), so that no identity pyhost can read tells them apart. The
// cache keeps nothing of theirs from one run to the next (listings,
// bytecode copies, node-local copies of extension modules): a run reads
// them as python3 does. overlay is among them, as its lower layers may be
// such images (podman-hpc, Apptainer's overlays).
var imageFSNames = map[string]bool{
	"squashfs": true, "erofs": true, "iso9660": true, "cramfs": true, "romfs": true, "udf": true,
	"overlay": true, "fuse.squashfuse": true, "fuse.squashfuse_ll": true, "fuse.erofsfuse": true,
	"fuse.fuse-zip": true, "fuse.archivemount": true, "fuse.ratarmount": true, "fuse.fuse2fs": true,
	"fuse.fuseiso": true, "fuse.dwarfs": true, "fuse.fuse-archive": true, "fuse.mount-zip": true,
}

// loopMajor is the block major number of loop devices (Linux's
// devices.txt): a file system mounted from one is a file's image, of any
// type (an ext4, XFS or btrfs image of a release, made by mkfs.ext4 -d or
// a build tool from a staged tree, gets each directory the same inode
// numbers and times again), so it counts as an image file system too.
// nbd (43) serves images the same way (qemu-nbd's qcow2 files).
const (
	loopMajor = 7
	nbdMajor  = 43
)

// imageDevice reports whether a file system's device is one that serves
// an image file (see loopMajor).
func imageDevice(dev uint64) bool {
	maj := unix.Major(dev)
	return maj == loopMajor || maj == nbdMajor
}

// Images is a set of devices (st_dev) of mounted image file systems (see
// imageFSNames and imageDevice).
type Images map[uint64]bool

// Has reports whether dev is the device of an image file system.
func (im Images) Has(dev uint64) bool { return im[dev] }

// ReadImages reads the mount table's image file systems now (a run's mounts
// may change while it runs); ok is false when it cannot be read (no
// /proc, no descriptor left): then no device can be said not to be one.
func ReadImages() (im Images, ok bool) {
	m := ReadMounts()
	if m == nil {
		return nil, false
	}
	return m.images, true
}

// OnImage reports whether path is on a mounted image file system (see
// imageFSNames); false when that cannot be told. For tests whose
// temporary directories may lie on one (a container's overlay root):
// the cache keeps nothing there.
func OnImage(path string) bool {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return false
	}
	im, _ := readImages()
	return im.Has(uint64(st.Dev))
}

// readImages is ReadImages; the package's tests replace it, to test the
// cache's mechanics wherever their temporary directories lie, and what it
// leaves out.
var readImages = ReadImages

// Images is the devices of the mount table's image file systems.
func (m *Mounts) Images() Images {
	if m == nil {
		return nil
	}
	return m.images
}

// parseDev parses mountinfo's "major:minor" into an st_dev.
func parseDev(s string) (uint64, bool) {
	maj, min, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseUint(maj, 10, 32)
	b, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return unix.Mkdev(uint32(a), uint32(b)), true
}
