package mpiglue

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Finding the ranks pyhost may share with.
//
// pyhost's collectives must involve only ranks that run pyhost and reach
// the same collectives: in an MPMD job (`mpirun -np 1 pyhost a.py : -np 2
// ./cworker`) the other programs' ranks never call them. A collective over
// a group (MPI_Comm_create_group) involves only the group's members, so
// every member must compute the same group without talking to anyone:
//
//   - Open MPI says how many processes each app context (each
//     colon-separated part of the command line) has (OMPI_APP_CTX_NUM_PROCS)
//     and which one this process belongs to (OMPI_MCA_orte_app_num), and
//     what it runs (OMPI_COMMAND). If the command is this executable, the
//     group is the whole app context: one command line, so every one of its
//     ranks is pyhost. Every member reads the same variables.
//   - Otherwise (Hydra, srun, a wrapper script as the command) pyhost looks
//     at its siblings on this node: the processes its launcher daemon
//     (its parent: mpirun, hydra_pmi_proxy, slurmstepd) started directly
//     for the same job and app context whose executable is this one. After
//     MPI_Init every rank has exec'd its program (initialization waits for
//     all of them), so every member sees the same siblings; forked
//     children that have not exec'd yet are waited for, briefly.
//   - If neither gives a group containing this rank and another, pyhost
//     shares nothing: every rank works as it would alone.
//
// The group is then split by a hash of the sharing settings, so ranks of
// one group started with different -X pyhost.* options never meet in a
// collective.

// peerSet is the outcome: world ranks (ascending, including this one) and
// how they were found.
type peerSet struct {
	ranks []int
	how   string
}

// procReader is what peer discovery reads of the system, replaceable in
// tests.
type procReader struct {
	self     func() (string, error) // this executable
	ppid     func() int             // this process's parent
	children func(ppid int) []int   // pids whose parent is ppid
	exe      func(pid int) string   // /proc/pid/exe
	environ  func(pid int) []string // /proc/pid/environ
	cmdline  func(pid int) []string // /proc/pid/cmdline
	args0    string                 // this process's argv[0]
	sleep    func(time.Duration)
}

var system = procReader{
	self: func() (string, error) { return os.Readlink("/proc/self/exe") },
	ppid: os.Getppid,
	children: func(ppid int) []int {
		ents, _ := os.ReadDir("/proc")
		var pids []int
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...: comm may hold spaces and parens.
			i := bytes.LastIndexByte(stat, ')')
			if i < 0 {
				continue
			}
			f := strings.Fields(string(stat[i+1:]))
			if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
				pids = append(pids, pid)
			}
		}
		return pids
	},
	exe: func(pid int) string {
		s, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		return s
	},
	environ: func(pid int) []string { return nulSplit("/proc/" + strconv.Itoa(pid) + "/environ") },
	cmdline: func(pid int) []string { return nulSplit("/proc/" + strconv.Itoa(pid) + "/cmdline") },
	args0:   os.Args[0],
	sleep:   time.Sleep,
}

func nulSplit(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

func envOf(env []string, name string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// findPeers computes the group for this rank. getenv reads this process's
// environment; appnum is MPI_APPNUM (-1 if unset).
func findPeers(l Launch, getenv func(string) string, rank, size, appnum int, sys procReader) peerSet {
	alone := peerSet{ranks: []int{rank}, how: "alone"}
	if size <= 1 {
		return alone
	}
	self, err := sys.self()
	if err != nil {
		return alone
	}
	if p, ok := openMPIAppContext(getenv, rank, size, appnum, sys); ok {
		return p
	}
	p := siblings(l, getenv, rank, size, self, sys)
	if len(p.ranks) < 2 {
		alone.how = "alone: " + p.how
		return alone
	}
	return p
}

// openMPIAppContext is the exact layout Open MPI publishes.
func openMPIAppContext(getenv func(string) string, rank, size, appnum int, sys procReader) (peerSet, bool) {
	counts := strings.Fields(getenv("OMPI_APP_CTX_NUM_PROCS"))
	app := appnum
	if s := getenv("OMPI_MCA_orte_app_num"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			app = n
		}
	}
	if len(counts) == 0 || app < 0 || app >= len(counts) || !isAppCommand(getenv("OMPI_COMMAND"), sys.args0) {
		return peerSet{}, false
	}
	first, total := 0, 0
	for i, c := range counts {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return peerSet{}, false
		}
		if i < app {
			first += n
		}
		total += n
	}
	n, _ := strconv.Atoi(counts[app])
	if total != size || rank < first || rank >= first+n {
		return peerSet{}, false
	}
	ranks := make([]int, n)
	for i := range ranks {
		ranks[i] = first + i
	}
	return peerSet{ranks: ranks, how: "app context " + strconv.Itoa(app) + " of Open MPI's layout"}, true
}

// isAppCommand reports whether command, Open MPI's OMPI_COMMAND (the base
// name of what the launcher ran for this app context), is this process's
// own program name: then the launcher ran pyhost itself, not a wrapper
// that might run other programs in other ranks.
func isAppCommand(command, args0 string) bool {
	return command != "" && args0 != "" && command == filepath.Base(args0)
}

// jobVars are the variables whose values siblings of one job and app
// context share.
var jobVars = []string{"PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid", "OMPI_MCA_orte_app_num", "SLURM_JOB_ID", "SLURM_STEP_ID", "PMI_SIZE"}

// rankVars give a sibling's world rank, first found wins.
var rankVars = []string{"PMIX_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"}

func worldRankOf(env []string) (int, bool) {
	for _, v := range rankVars {
		if s := envOf(env, v); s != "" {
			n, err := strconv.Atoi(s)
			return n, err == nil
		}
	}
	return 0, false
}

// siblings scans the processes this one's parent started.
func siblings(l Launch, getenv func(string) string, rank, size int, self string, sys procReader) peerSet {
	ppid := sys.ppid()
	if ppid <= 1 {
		return peerSet{how: "no launcher parent"}
	}
	parentExe := sys.exe(ppid)
	var pids []int
	// A sibling forked by the launcher but not yet exec'd shows the
	// launcher's executable: wait for it to become what it will be.
	for try := 0; ; try++ {
		pids = sys.children(ppid)
		pending := false
		for _, pid := range pids {
			if parentExe != "" && sys.exe(pid) == parentExe {
				pending = true
			}
		}
		if !pending || try >= 200 {
			break
		}
		sys.sleep(10 * time.Millisecond)
	}
	seen := map[int]bool{}
	var ranks []int
	for _, pid := range pids {
		if sys.exe(pid) != self {
			continue
		}
		env := sys.environ(pid)
		if env == nil {
			continue
		}
		same := true
		for _, v := range jobVars {
			same = same && envOf(env, v) == getenv(v)
		}
		if !same || mpiOff(env, sys.cmdline(pid)) {
			continue
		}
		r, ok := worldRankOf(env)
		if !ok || r < 0 || r >= size {
			continue
		}
		if seen[r] {
			// Two processes claim one rank: not a launcher's children.
			return peerSet{how: "siblings claim the same rank"}
		}
		seen[r] = true
		ranks = append(ranks, r)
	}
	if !seen[rank] {
		return peerSet{how: "this rank is not among its parent's children"}
	}
	sort.Ints(ranks)
	return peerSet{ranks: ranks, how: "pyhost siblings on this node"}
}

// mpiOff reports whether a sibling was told not to use MPI.
func mpiOff(env, cmdline []string) bool {
	for i, a := range cmdline {
		if a == "-Xpyhost.mpi=off" || a == "pyhost.mpi=off" && i > 0 && cmdline[i-1] == "-X" {
			return true
		}
	}
	return envOf(env, "PYHOST_MPI") == "off"
}

// shareColor hashes the sharing settings to a non-negative color for
// MPI_Comm_split (FNV-1a, 31 bits).
func shareColor(key string) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h & 0x7fffffff)
}
