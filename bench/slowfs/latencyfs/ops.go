package latencyfs

import (
	"github.com/hanwen/go-fuse/v2/fuse"
)

// op names a FUSE request type; the names are the kernel's (FUSE_LOOKUP
// without the prefix), so counts read the same as in fuse(4) and strace.
type op int

const (
	opLookup op = iota
	opGetattr
	opSetattr
	opStatx
	opAccess
	opOpen
	opOpendir
	opReaddir
	opReaddirplus
	opReadlink
	opStatfs
	opGetxattr
	opListxattr
	opSetxattr
	opRemovexattr
	opMknod
	opMkdir
	opUnlink
	opRmdir
	opRename
	opLink
	opSymlink
	opCreate
	opTmpfile
	// Not delayed below this line: data and bookkeeping.
	opRead
	opWrite
	opLseek
	opFlush
	opFsync
	opFsyncdir
	opFallocate
	opCopyFileRange
	opRelease
	opReleasedir
	opForget
	opGetlk
	opSetlk
	opIoctl
	numOps
)

// firstUndelayed is the first op that does not wait in the queue.
const firstUndelayed = opRead

var opNames = [numOps]string{
	opLookup:        "LOOKUP",
	opGetattr:       "GETATTR",
	opSetattr:       "SETATTR",
	opStatx:         "STATX",
	opAccess:        "ACCESS",
	opOpen:          "OPEN",
	opOpendir:       "OPENDIR",
	opReaddir:       "READDIR",
	opReaddirplus:   "READDIRPLUS",
	opReadlink:      "READLINK",
	opStatfs:        "STATFS",
	opGetxattr:      "GETXATTR",
	opListxattr:     "LISTXATTR",
	opSetxattr:      "SETXATTR",
	opRemovexattr:   "REMOVEXATTR",
	opMknod:         "MKNOD",
	opMkdir:         "MKDIR",
	opUnlink:        "UNLINK",
	opRmdir:         "RMDIR",
	opRename:        "RENAME",
	opLink:          "LINK",
	opSymlink:       "SYMLINK",
	opCreate:        "CREATE",
	opTmpfile:       "TMPFILE",
	opRead:          "READ",
	opWrite:         "WRITE",
	opLseek:         "LSEEK",
	opFlush:         "FLUSH",
	opFsync:         "FSYNC",
	opFsyncdir:      "FSYNCDIR",
	opFallocate:     "FALLOCATE",
	opCopyFileRange: "COPY_FILE_RANGE",
	opRelease:       "RELEASE",
	opReleasedir:    "RELEASEDIR",
	opForget:        "FORGET",
	opGetlk:         "GETLK",
	opSetlk:         "SETLK",
	opIoctl:         "IOCTL",
}

// IsMetadata reports whether requests of the named type (as in
// [Stats.Requests]) are metadata requests, the ones that wait in the queue.
func IsMetadata(name string) bool {
	for o := op(0); o < firstUndelayed; o++ {
		if opNames[o] == name {
			return true
		}
	}
	return false
}

// slowRaw sits between the kernel protocol and go-fuse's node bridge, so
// that every request is seen exactly once whatever node or handle type
// the loopback uses to answer it.
type slowRaw struct {
	fuse.RawFileSystem
	m *Mount
}

// enter counts a request and, for metadata, waits its turn in the queue.
// h is nil for requests without a caller (FORGET).
func (r *slowRaw) enter(o op, h *fuse.InHeader) {
	r.m.counts[o].Add(1)
	if h != nil {
		r.m.callers.count(h.Caller.Pid)
	}
	if o < firstUndelayed {
		r.m.queue.serve()
	}
}

func (r *slowRaw) Lookup(c <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	r.enter(opLookup, h)
	return r.RawFileSystem.Lookup(c, h, name, out)
}

func (r *slowRaw) Forget(nodeid, nlookup uint64) {
	r.enter(opForget, nil)
	r.RawFileSystem.Forget(nodeid, nlookup)
}

func (r *slowRaw) GetAttr(c <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	r.enter(opGetattr, &in.InHeader)
	return r.RawFileSystem.GetAttr(c, in, out)
}

func (r *slowRaw) SetAttr(c <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	r.enter(opSetattr, &in.InHeader)
	return r.RawFileSystem.SetAttr(c, in, out)
}

func (r *slowRaw) Statx(c <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	r.enter(opStatx, &in.InHeader)
	return r.RawFileSystem.Statx(c, in, out)
}

func (r *slowRaw) Access(c <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	r.enter(opAccess, &in.InHeader)
	return r.RawFileSystem.Access(c, in)
}

func (r *slowRaw) Open(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	r.enter(opOpen, &in.InHeader)
	return r.RawFileSystem.Open(c, in, out)
}

func (r *slowRaw) OpenDir(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	r.enter(opOpendir, &in.InHeader)
	return r.RawFileSystem.OpenDir(c, in, out)
}

func (r *slowRaw) ReadDir(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	r.enter(opReaddir, &in.InHeader)
	return r.RawFileSystem.ReadDir(c, in, out)
}

func (r *slowRaw) ReadDirPlus(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	r.enter(opReaddirplus, &in.InHeader)
	return r.RawFileSystem.ReadDirPlus(c, in, out)
}

func (r *slowRaw) Readlink(c <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	r.enter(opReadlink, h)
	return r.RawFileSystem.Readlink(c, h)
}

func (r *slowRaw) StatFs(c <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	r.enter(opStatfs, h)
	return r.RawFileSystem.StatFs(c, h, out)
}

func (r *slowRaw) GetXAttr(c <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	r.enter(opGetxattr, h)
	return r.RawFileSystem.GetXAttr(c, h, attr, dest)
}

func (r *slowRaw) ListXAttr(c <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	r.enter(opListxattr, h)
	return r.RawFileSystem.ListXAttr(c, h, dest)
}

func (r *slowRaw) SetXAttr(c <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	r.enter(opSetxattr, &in.InHeader)
	return r.RawFileSystem.SetXAttr(c, in, attr, data)
}

func (r *slowRaw) RemoveXAttr(c <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	r.enter(opRemovexattr, h)
	return r.RawFileSystem.RemoveXAttr(c, h, attr)
}

func (r *slowRaw) Mknod(c <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	r.enter(opMknod, &in.InHeader)
	return r.RawFileSystem.Mknod(c, in, name, out)
}

func (r *slowRaw) Mkdir(c <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	r.enter(opMkdir, &in.InHeader)
	return r.RawFileSystem.Mkdir(c, in, name, out)
}

func (r *slowRaw) Unlink(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	r.enter(opUnlink, h)
	return r.RawFileSystem.Unlink(c, h, name)
}

func (r *slowRaw) Rmdir(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	r.enter(opRmdir, h)
	return r.RawFileSystem.Rmdir(c, h, name)
}

func (r *slowRaw) Rename(c <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	r.enter(opRename, &in.InHeader)
	return r.RawFileSystem.Rename(c, in, oldName, newName)
}

func (r *slowRaw) Link(c <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	r.enter(opLink, &in.InHeader)
	return r.RawFileSystem.Link(c, in, name, out)
}

func (r *slowRaw) Symlink(c <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	r.enter(opSymlink, h)
	return r.RawFileSystem.Symlink(c, h, target, name, out)
}

func (r *slowRaw) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	r.enter(opCreate, &in.InHeader)
	return r.RawFileSystem.Create(c, in, name, out)
}

func (r *slowRaw) Tmpfile(c <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	r.enter(opTmpfile, &in.InHeader)
	return r.RawFileSystem.Tmpfile(c, in, out)
}

func (r *slowRaw) Read(c <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	r.enter(opRead, &in.InHeader)
	res, st := r.RawFileSystem.Read(c, in, buf)
	if st == fuse.OK && res != nil {
		r.m.readBytes.Add(uint64(res.Size()))
	}
	return res, st
}

func (r *slowRaw) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	r.enter(opWrite, &in.InHeader)
	return r.RawFileSystem.Write(c, in, data)
}

func (r *slowRaw) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	r.enter(opWrite, &in.InHeader)
	return r.RawFileSystem.Writev(c, in, data)
}

func (r *slowRaw) Lseek(c <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	r.enter(opLseek, &in.InHeader)
	return r.RawFileSystem.Lseek(c, in, out)
}

func (r *slowRaw) Flush(c <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	r.enter(opFlush, &in.InHeader)
	return r.RawFileSystem.Flush(c, in)
}

func (r *slowRaw) Fsync(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	r.enter(opFsync, &in.InHeader)
	return r.RawFileSystem.Fsync(c, in)
}

func (r *slowRaw) FsyncDir(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	r.enter(opFsyncdir, &in.InHeader)
	return r.RawFileSystem.FsyncDir(c, in)
}

func (r *slowRaw) Fallocate(c <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	r.enter(opFallocate, &in.InHeader)
	return r.RawFileSystem.Fallocate(c, in)
}

func (r *slowRaw) CopyFileRange(c <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	r.enter(opCopyFileRange, &in.InHeader)
	return r.RawFileSystem.CopyFileRange(c, in)
}

func (r *slowRaw) Release(c <-chan struct{}, in *fuse.ReleaseIn) {
	r.enter(opRelease, &in.InHeader)
	r.RawFileSystem.Release(c, in)
}

func (r *slowRaw) ReleaseDir(in *fuse.ReleaseIn) {
	r.enter(opReleasedir, &in.InHeader)
	r.RawFileSystem.ReleaseDir(in)
}

func (r *slowRaw) GetLk(c <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	r.enter(opGetlk, &in.InHeader)
	return r.RawFileSystem.GetLk(c, in, out)
}

func (r *slowRaw) SetLk(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	r.enter(opSetlk, &in.InHeader)
	return r.RawFileSystem.SetLk(c, in)
}

func (r *slowRaw) SetLkw(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	r.enter(opSetlk, &in.InHeader)
	return r.RawFileSystem.SetLkw(c, in)
}

func (r *slowRaw) Ioctl(c <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	r.enter(opIoctl, &in.InHeader)
	return r.RawFileSystem.Ioctl(c, in, inbuf, out, outbuf)
}
