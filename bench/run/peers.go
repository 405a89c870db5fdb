package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// The peers are what HPC users run instead of pyhost when Python's start-up
// hurts, built here from Debian packages by the runner itself:
//
//   - container: the environment (the interpreter's stdlib and
//     dist-packages, plus the app trees) in a squashfs image built with
//     mksquashfs, mounted per node with squashfuse as a user does without
//     root (Shifter, podman-hpc and Apptainer mount such an image); the
//     image file lives on the store, which is on slowfs, so only the
//     image's own metadata (a handful of requests) reaches the metadata
//     server; every lookup inside it is answered by the node.
//   - staged: the same environment as a tarball on the store, untarred into
//     node-local memory (/dev/shm) before the job, as python-mpi-bcast,
//     sbcast or a copy into $SLURM_TMPDIR do.
//
// Both run Debian's python3.11 with PYTHONHOME pointing into their copy;
// under mpirun with `from mpi4py import MPI` first (mpi4pyBoot), so that
// MPI is initialised before the workload, as pyhost does. The executable and the shared
// libraries ld.so finds in system directories stay on local disk for
// every interpreter alike.

// defaultEnvTrees are the interpreter's trees that go into the image and
// the tarball, relative to /: what PYTHONHOME=<root>/usr needs.
const defaultEnvTrees = "usr/lib/python3.11,usr/lib/python3/dist-packages"

// store holds the peers' prebuilt artefacts: on local disk at
// <tmp>/store, mounted through slowfs in slowfs environments.
type store struct {
	dir     string
	tarball string // env.tar: envTrees + app/
	image   string // env.sqfs: the same content
}

// setupRow is one price a peer's user pays: building the image or the
// tarball (once per change of the environment), mounting the image or
// staging the copy (once per job and node).
type setupRow struct {
	Env      string  `json:"env"`
	Peer     string  `json:"peer"`
	What     string  `json:"what"`
	Seconds  float64 `json:"seconds"`
	Bytes    int64   `json:"bytes,omitempty"`
	Metadata uint64  `json:"metadata_requests,omitempty"`
	Error    string  `json:"error,omitempty"`
}

// buildStore writes the tarball and, when mksquashfs exists, the image
// from it; each failure is reported in its row, not fatal.
func (r *runner) buildStore(ctx context.Context) (*store, []setupRow) {
	s := &store{dir: filepath.Join(r.tmp, "store")}
	os.MkdirAll(s.dir, 0o755)
	var rows []setupRow

	row := setupRow{Peer: "staged", What: "build tarball (tar of the environment and app)"}
	start := time.Now()
	tarball := filepath.Join(s.dir, "env.tar")
	args := append([]string{"-b", "2048", "-C", "/", "-cf", tarball}, r.envTrees...)
	args = append(args, "-C", r.root, "app")
	if out, err := exec.CommandContext(ctx, "tar", args...).CombinedOutput(); err != nil {
		row.Error = fmt.Sprintf("tar: %v: %s", err, tail(string(out), 300))
	} else {
		s.tarball = tarball
		row.Bytes = fileSize(tarball)
	}
	row.Seconds = time.Since(start).Seconds()
	rows = append(rows, row)
	r.logf("store: %s: %.1fs %s", row.What, row.Seconds, row.Error)

	row = setupRow{Peer: "container", What: "build image (mksquashfs -comp lz4 of the same tree)"}
	start = time.Now()
	switch {
	case s.tarball == "":
		row.Error = "no tarball to build the image from"
	case r.mksquashfs == "":
		row.Error = "mksquashfs not found (apt-get install squashfs-tools)"
	default:
		image := filepath.Join(s.dir, "env.sqfs")
		cmd := exec.CommandContext(ctx, r.mksquashfs, "-", image, "-tar", "-noappend", "-quiet", "-no-progress", "-comp", "lz4")
		f, err := os.Open(s.tarball)
		if err == nil {
			cmd.Stdin = f
			var out []byte
			out, err = cmd.CombinedOutput()
			f.Close()
			if err != nil {
				err = fmt.Errorf("%v: %s", err, tail(string(out), 300))
			}
		}
		if err != nil {
			row.Error = "mksquashfs: " + err.Error()
		} else {
			s.image = image
			row.Bytes = fileSize(image)
		}
	}
	row.Seconds = time.Since(start).Seconds()
	rows = append(rows, row)
	r.logf("store: %s: %.1fs %s", row.What, row.Seconds, row.Error)
	return s, rows
}

func fileSize(p string) int64 {
	if st, err := os.Stat(p); err == nil {
		return st.Size()
	}
	return 0
}

// mountContainer mounts the image found under storeDir (the store as this
// environment sees it) with squashfuse on a fresh directory: a foreground
// child with a parent-death signal, recorded in the ledger.
func (r *runner) mountContainer(ctx context.Context, p *place, storeDir string) *view {
	v := &view{kind: "container"}
	if r.store == nil || r.store.image == "" {
		v.err = errors.New("no image (see the setup table)")
		return v
	}
	if r.squashfuse == "" {
		v.err = errors.New("squashfuse not found (apt-get install squashfuse)")
		return v
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		v.err = fmt.Errorf("FUSE unavailable: %v", err)
		return v
	}
	dir, err := os.MkdirTemp(r.tmp, "container-"+p.env.Name+"-")
	if err != nil {
		v.err = err
		return v
	}
	image := filepath.Join(storeDir, filepath.Base(r.store.image))
	before := p.stats()
	start := time.Now()
	cmd := exec.Command(r.squashfuse, "-f", image, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Its own process group (a Ctrl-C to the runner reaches the runner,
	// which unmounts in order), and SIGTERM when the runner dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	r.ledger.addMount(dir)
	if err := cmd.Start(); err != nil {
		r.ledger.dropMount(dir)
		v.err = fmt.Errorf("squashfuse: %w", err)
		return v
	}
	r.ledger.addDaemon(cmd.Process.Pid, "squashfuse "+image)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for !isMounted(dir) {
		select {
		case err := <-exited:
			r.ledger.dropDaemon(cmd.Process.Pid)
			r.ledger.dropMount(dir)
			v.err = fmt.Errorf("squashfuse exited: %v: %s", err, tail(stderr.String(), 300))
			return v
		case <-time.After(5 * time.Millisecond):
		}
		if time.Since(start) > 30*time.Second || ctx.Err() != nil {
			stopProcess(cmd.Process.Pid, 0)
			<-exited
			detach(dir)
			r.ledger.dropDaemon(cmd.Process.Pid)
			r.ledger.dropMount(dir)
			v.err = fmt.Errorf("squashfuse did not mount in 30 s: %s", tail(stderr.String(), 300))
			return v
		}
	}
	// The first stat waits for the file system to answer.
	if _, err := os.Stat(filepath.Join(dir, "usr", "lib")); err != nil {
		v.err = fmt.Errorf("image mounted but unreadable: %v", err)
	}
	v.setup = setupRow{Env: p.env.Name, Peer: "container", What: "mount image (squashfuse, per job and node)",
		Seconds: time.Since(start).Seconds(), Metadata: p.stats().Sub(before).Metadata}
	v.root, v.home = dir, filepath.Join(dir, "usr")
	pid := cmd.Process.Pid
	v.daemon = pid
	v.cleanup = func() error {
		stopProcess(pid, 0) // squashfuse unmounts on SIGTERM
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		var err error
		if isMounted(dir) {
			err = detach(dir)
		}
		r.ledger.dropDaemon(pid)
		r.ledger.dropMount(dir)
		if err == nil {
			os.Remove(dir)
		}
		return err
	}
	return v
}

// stage untars the tarball found under storeDir into /dev/shm (or
// -stage-dir) and times it: a copy per job and node.
func (r *runner) stage(ctx context.Context, p *place, storeDir string) *view {
	v := &view{kind: "staged"}
	if r.store == nil || r.store.tarball == "" {
		v.err = errors.New("no tarball (see the setup table)")
		return v
	}
	dir := filepath.Join(r.stageDir, fmt.Sprintf("pyhost-bench-%d-%s", os.Getpid(), p.env.Name))
	r.ledger.addDir(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.ledger.dropDir(dir)
		v.err = fmt.Errorf("staging directory: %w", err)
		return v
	}
	before := p.stats()
	start := time.Now()
	tarball := filepath.Join(storeDir, filepath.Base(r.store.tarball))
	// 1 MiB records: fewer, larger reads of the tarball, as a tool made
	// for staging half a gigabyte does.
	out, err := exec.CommandContext(ctx, "tar", "-b", "2048", "-C", dir, "-xf", tarball).CombinedOutput()
	v.setup = setupRow{Env: p.env.Name, Peer: "staged", What: "stage (untar into " + r.stageDir + ", per job and node)",
		Seconds: time.Since(start).Seconds(), Metadata: p.stats().Sub(before).Metadata, Bytes: r.store.sizeOnDisk()}
	v.cleanup = func() error {
		err := os.RemoveAll(dir)
		r.ledger.dropDir(dir)
		return err
	}
	if err != nil {
		v.err = fmt.Errorf("staging failed (%s full?): tar: %v: %s", r.stageDir, err, tail(string(out), 300))
		return v
	}
	v.root, v.home = dir, filepath.Join(dir, "usr")
	return v
}

func (s *store) sizeOnDisk() int64 { return fileSize(s.tarball) }

// openRe finds the path of a successful open in an strace line:
//
//	1234  openat(AT_FDCWD, "/x/json/__init__.py", O_RDONLY|O_CLOEXEC) = 3
var openRe = regexp.MustCompile(`open(?:at)?\((?:[A-Z_]+|\d+), "([^"]+)".*\) = \d+`)

// verifyPeer proves, before anything is measured, that the interpreter
// reads its stdlib and numpy where the cell claims: strace shows the
// files json and numpy are loaded from, and they must be under the view's
// PYTHONHOME; for the container that directory must be a squashfuse
// mount, for staged a tmpfs (node-local memory).
func (r *runner) verifyPeer(ctx context.Context, p *place, in Interpreter, v *view) verification {
	prefix := v.home
	if prefix == "" {
		prefix = "/usr/lib/python3" // the system's own: python3.11/ and python3/dist-packages/
	}
	res := verification{Env: p.env.Name, Interpreter: in.Name, Root: prefix}
	fail := func(format string, args ...any) verification {
		res.Detail = fmt.Sprintf(format, args...)
		return res
	}
	if r.strace == "" {
		return fail("strace not found: cannot verify (apt-get install strace)")
	}
	switch v.kind {
	case "container":
		if t := mountType(v.root); t != "fuse.squashfuse" {
			return fail("%s is not a squashfuse mount (type %q)", v.root, t)
		}
	case "staged":
		var st syscall.Statfs_t
		if err := syscall.Statfs(v.root, &st); err != nil {
			return fail("statfs %s: %v", v.root, err)
		} else if st.Type != 0x01021994 {
			return fail("%s is not on tmpfs (statfs type %#x): not node-local memory", v.root, st.Type)
		}
	}
	trace, err := os.CreateTemp(r.tmp, "verify-*.strace")
	if err != nil {
		return fail("%v", err)
	}
	trace.Close()
	defer os.Remove(trace.Name())
	w := Workload{Name: "verify", Args: []string{"-c", "import json, numpy"}}
	wrap := []string{r.strace, "-f", "--seccomp-bpf", "-e", "trace=open,openat", "-o", trace.Name()}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd, err := r.command(ctx, p, in, w, 0, wrap)
	if err != nil {
		return fail("%v", err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fail("run under strace: %v: %s", err, tail(string(out), 300))
	}
	f, err := os.Open(trace.Name())
	if err != nil {
		return fail("%v", err)
	}
	defer f.Close()
	want := map[string]string{"json": "", "numpy": ""}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		m := openRe.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		for mod, got := range want {
			if got == "" && (strings.Contains(m[1], "/"+mod+"/__init__.py") || strings.Contains(m[1], "/"+mod+"/__pycache__/__init__.")) {
				want[mod] = m[1]
			}
		}
	}
	for _, mod := range []string{"json", "numpy"} {
		got := want[mod]
		res.Opened = append(res.Opened, got)
		if got == "" {
			return fail("strace shows no open of %s/__init__", mod)
		}
		if !strings.HasPrefix(got, prefix) {
			return fail("%s was read from %s, not under %s", mod, got, prefix)
		}
	}
	res.OK = true
	res.Detail = fmt.Sprintf("strace: json and numpy read from %s (%s)", prefix, map[string]string{
		"container": "a fuse.squashfuse mount", "staged": "tmpfs", "": "the environment's own tree"}[v.kind])
	return res
}

// verification records where an interpreter was seen reading its stdlib.
type verification struct {
	Env         string   `json:"env"`
	Interpreter string   `json:"interpreter"`
	Root        string   `json:"root"`
	OK          bool     `json:"ok"`
	Opened      []string `json:"opened,omitempty"`
	Detail      string   `json:"detail"`
}
