package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/pyhost/pyhost/bench/slowfs/latencyfs"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A ledger records, in a file of its own, every mount, daemon and scratch
// directory a runner leaves on the machine while it works, so that a
// runner killed by SIGKILL (or a crash, or an OOM kill) leaves enough
// behind for the next one to undo it: [sweep] runs at every start and
// cleans up after each ledger whose owner is gone. A runner that ends
// normally or by SIGINT/SIGTERM cleans up itself ([ledger.release]).
//
// The FUSE servers of slowfs live inside the runner and die with it, but
// their mounts stay ("Transport endpoint is not connected"); squashfuse is
// a child started with a parent-death signal, but the ledger does not
// rely on that; staged copies in /dev/shm would hold memory until reboot.
type ledger struct {
	path string
	mu   sync.Mutex
	st   ledgerState
}

type ledgerState struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // the owner's start time (/proc/PID/stat), against PID reuse
	// Mounts are mount points, Dirs directories to remove once nothing
	// is mounted under them, Daemons processes to end.
	Mounts  []string `json:"mounts"`
	Dirs    []string `json:"dirs"`
	Daemons []daemon `json:"daemons"`
}

type daemon struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	What  string `json:"what"`
}

// defaultLedgerDir is shared by every runner on the machine.
func defaultLedgerDir() string { return filepath.Join(os.TempDir(), "pyhost-bench-ledger") }

func newLedger(dir string) (*ledger, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bench: ledger: %w", err)
	}
	pid := os.Getpid()
	l := &ledger{path: filepath.Join(dir, strconv.Itoa(pid)+".json"), st: ledgerState{PID: pid, Start: startTime(pid)}}
	return l, l.save()
}

func (l *ledger) save() error {
	b, err := json.MarshalIndent(&l.st, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("bench: ledger: %w", err)
	}
	return os.Rename(tmp, l.path)
}

func (l *ledger) update(f func(*ledgerState)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.st)
	if err := l.save(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
}

func without[T comparable](xs []T, x T) []T {
	var out []T
	for _, y := range xs {
		if y != x {
			out = append(out, y)
		}
	}
	return out
}

// The add calls come before the thing exists (a mount, a copy), so that a
// kill between the two leaves nothing unrecorded.
func (l *ledger) addMount(p string) {
	l.update(func(s *ledgerState) { s.Mounts = append(s.Mounts, p) })
}
func (l *ledger) dropMount(p string) {
	l.update(func(s *ledgerState) { s.Mounts = without(s.Mounts, p) })
}
func (l *ledger) addDir(p string)  { l.update(func(s *ledgerState) { s.Dirs = append(s.Dirs, p) }) }
func (l *ledger) dropDir(p string) { l.update(func(s *ledgerState) { s.Dirs = without(s.Dirs, p) }) }
func (l *ledger) addDaemon(pid int, what string) {
	l.update(func(s *ledgerState) {
		s.Daemons = append(s.Daemons, daemon{PID: pid, Start: startTime(pid), What: what})
	})
}
func (l *ledger) dropDaemon(pid int) {
	l.update(func(s *ledgerState) {
		var out []daemon
		for _, d := range s.Daemons {
			if d.PID != pid {
				out = append(out, d)
			}
		}
		s.Daemons = out
	})
}

// release undoes whatever the ledger still holds and removes its file.
func (l *ledger) release(log io.Writer) {
	l.mu.Lock()
	st := l.st
	l.mu.Unlock()
	undo(st, log)
	os.Remove(l.path)
}

// sweep cleans up after every runner whose ledger is in dir and who is no
// longer running; it returns what it did, one line each.
func sweep(dir string, log io.Writer) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var st ledgerState
		if err := json.Unmarshal(b, &st); err != nil {
			fmt.Fprintf(log, "bench: ledger %s unreadable (%v): removed\n", f, err)
			os.Remove(f)
			continue
		}
		if st.PID == os.Getpid() || alive(st.PID, st.Start) {
			continue
		}
		fmt.Fprintf(log, "bench: runner %d is gone: cleaning up %d mounts, %d daemons, %d directories it left\n",
			st.PID, len(st.Mounts), len(st.Daemons), len(st.Dirs))
		undo(st, log)
		os.Remove(f)
	}
}

// undo ends the daemons, unmounts the mounts (deepest first, and anything
// else still mounted under the directories) and removes the directories
// that have nothing mounted under them any more.
func undo(st ledgerState, log io.Writer) {
	for _, d := range st.Daemons {
		if alive(d.PID, d.Start) {
			stopProcess(d.PID, d.Start)
			fmt.Fprintf(log, "bench: ended %s (pid %d)\n", d.What, d.PID)
		}
	}
	mounts := append([]string{}, st.Mounts...)
	for _, m := range mountPoints() {
		for _, d := range st.Dirs {
			if m == d || strings.HasPrefix(m, d+"/") {
				mounts = append(mounts, m)
			}
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	done := map[string]bool{}
	for _, m := range mounts {
		if done[m] || !isMounted(m) {
			continue
		}
		done[m] = true
		if err := detach(m); err != nil {
			fmt.Fprintf(log, "bench: unmount %s: %v\n", m, err)
		} else {
			fmt.Fprintf(log, "bench: unmounted %s\n", m)
		}
	}
	for _, d := range st.Dirs {
		if busy := mountedUnder(d); busy != "" {
			fmt.Fprintf(log, "bench: %s is still mounted: leaving %s in place\n", busy, d)
			continue
		}
		if _, err := os.Lstat(d); err == nil {
			os.RemoveAll(d)
		}
	}
}

// detach unmounts a FUSE mount whose server may be dead: MNT_FORCE first,
// which aborts the FUSE connection, so that processes waiting on it get
// an error instead of waiting forever; then lazily, so that the mount
// disappears from the tree at once and the kernel finishes when the last
// user has gone.
func detach(dir string) error {
	if os.Geteuid() == 0 {
		abortFUSE(dir)
		if err := syscall.Unmount(dir, syscall.MNT_FORCE); err == nil {
			return nil
		}
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err == nil {
			return nil
		}
	}
	for _, helper := range []string{"fusermount3", "fusermount"} {
		if path, err := exec.LookPath(helper); err == nil {
			if out, err := exec.Command(path, "-u", "-z", dir).CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v: %s", helper, err, strings.TrimSpace(string(out)))
			}
			return nil
		}
	}
	return errors.New("not root and no fusermount helper")
}

// abortFUSE aborts the FUSE connection of the mount at dir through the
// fusectl file system, when it is mounted at /sys/fs/fuse/connections.
func abortFUSE(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || latencyfs.UnescapeMountinfo(f[4]) != dir || !strings.Contains(line, " - fuse") {
			continue
		}
		if _, minor, ok := strings.Cut(f[2], ":"); ok {
			os.WriteFile("/sys/fs/fuse/connections/"+minor+"/abort", []byte("1"), 0)
		}
	}
}

// mountPoints lists the mount points in /proc/self/mountinfo.
func mountPoints() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			out = append(out, latencyfs.UnescapeMountinfo(f[4]))
		}
	}
	return out
}

// mountType is the file-system type of the mount at dir ("" if none).
func mountType(dir string) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && latencyfs.UnescapeMountinfo(f[4]) == dir {
			for i, x := range f {
				if x == "-" && i+1 < len(f) {
					return f[i+1]
				}
			}
		}
	}
	return ""
}

func isMounted(dir string) bool {
	for _, m := range mountPoints() {
		if m == dir {
			return true
		}
	}
	return false
}

func mountedUnder(dir string) string {
	for _, m := range mountPoints() {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			return m
		}
	}
	return ""
}

// startTime is field 22 of /proc/PID/stat (clock ticks since boot), 0 if
// the process does not exist.
func startTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// alive reports whether pid is still the process that was recorded, and
// not a zombie.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
		return false
	}
	return start == 0 || startTime(pid) == start
}

// stopProcess sends SIGTERM (a FUSE daemon then unmounts), then SIGKILL
// after 3 s.
func stopProcess(pid int, start uint64) {
	syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 60 && alive(pid, start); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(pid, start) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
