package mpiglue

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDetect(t *testing.T) {
	openmpi := map[string]string{
		"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2",
		"PMIX_RANK": "1", "PMIX_NAMESPACE": "75202561", "PMIX_SERVER_TMPDIR": "/tmp/ompi.vm.0/pid.1",
	}
	hydra := map[string]string{"PMI_RANK": "0", "PMI_SIZE": "2", "PMI_FD": "6", "HYDI_CONTROL_FD": "7", "MPI_LOCALNRANKS": "2"}
	slurmPMI2 := map[string]string{"PMI_RANK": "1", "PMI_SIZE": "2", "PMI_FD": "5", "SLURM_JOB_ID": "3", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "2"}
	slurmPMIx := map[string]string{"PMIX_RANK": "0", "PMIX_NAMESPACE": "slurm.pmix.3.0", "SLURM_JOB_ID": "3", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "2"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	sockets := map[int]uint64{5: 500, 6: 600} // open sockets and their inodes
	socketInode := func(fd int) (uint64, bool) { ino, ok := sockets[fd]; return ino, ok }
	dirs := map[string]bool{"/tmp/ompi.vm.0/pid.1": true}
	dirExists := func(d string) bool { return dirs[d] }

	tests := []struct {
		name     string
		env      map[string]string
		role     Role
		launcher string
		size     int
	}{
		{"no launcher", map[string]string{"SLURM_PROCID": "0", "SLURM_JOB_ID": "3"}, Alone, "", 0},
		{"open mpi rank", openmpi, Launched, "openmpi", 2},
		{"open mpi descendant", with(openmpi, MarkVar, "pmix:75202561:1@1234"), Descendant, "openmpi", 2},
		{"open mpi nested launch", with(openmpi, MarkVar, "pmix:99999:0@1234"), Launched, "openmpi", 2},
		{"open mpi job gone", with(openmpi, "PMIX_SERVER_TMPDIR", "/tmp/ompi.vm.0/pid.2"), Stale, "openmpi", 2},
		{"open mpi job gone, marked", with(openmpi, "PMIX_SERVER_TMPDIR", "/tmp/ompi.vm.0/pid.2", MarkVar, "pmix:1:1@1"), Descendant, "openmpi", 2},
		{"hydra rank", hydra, Launched, "hydra", 2},
		{"hydra descendant keeping PMI_FD", with(hydra, MarkVar, "pmi:0:fd6:ino600@77"), Descendant, "hydra", 2},
		{"hydra nested launch, same fd number", with(hydra, MarkVar, "pmi:0:fd6:ino111@77"), Launched, "hydra", 2},
		{"hydra descendant, PMI_FD closed", with(hydra, "PMI_FD", "9", MarkVar, "pmi:0:fd9:ino900@77"), Descendant, "hydra", 2},
		{"hydra replayed, PMI_FD closed", with(hydra, "PMI_FD", "9"), Stale, "hydra", 2},
		{"srun pmi2", slurmPMI2, Launched, "slurm-pmi2", 2},
		{"srun pmix", slurmPMIx, Launched, "slurm-pmix", 2},
		{"hydra local vars alone", map[string]string{"MPI_LOCALRANKID": "0"}, Stale, "hydra", 0},
		{"open mpi size alone", map[string]string{"OMPI_COMM_WORLD_SIZE": "junk"}, Stale, "MPI", 0},
		{"pmix rank without namespace", map[string]string{"PMIX_RANK": "3"}, Stale, "MPI", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := detect(envFunc(tt.env), socketInode, dirExists)
			if l.Role != tt.role || l.Launcher != tt.launcher || l.Size != tt.size {
				t.Fatalf("detect = %+v, want role %v launcher %q size %d", l, tt.role, tt.launcher, tt.size)
			}
			if (l.Role == Stale) != (l.Warning() != "") {
				t.Errorf("Warning() = %q for role %v", l.Warning(), l.Role)
			}
			if l.Role == Launched && l.ID == "" {
				t.Errorf("a launched process has no ID")
			}
		})
	}

	// The warning names the variables that were set.
	for env, want := range map[string]string{
		"MPI_LOCALRANKID":      "name no live hydra launch (MPI_LOCALRANKID set without the variables that name a rank)",
		"OMPI_COMM_WORLD_SIZE": "name no live MPI launch (OMPI_COMM_WORLD_SIZE set without the variables that name a rank)",
		"PMIX_RANK":            "name no live MPI launch (PMIX_RANK set without the variables that name a rank)",
	} {
		if w := detect(envFunc(map[string]string{env: "1"}), socketInode, dirExists).Warning(); !strings.Contains(w, want) {
			t.Errorf("%s alone: Warning() = %q, want it to say %q", env, w, want)
		}
	}

	// The mark a rank sets makes the same environment a descendant.
	l := detect(envFunc(hydra), socketInode, dirExists)
	t.Setenv(MarkVar, "")
	if err := l.Mark(); err != nil {
		t.Fatal(err)
	}
	marked := with(hydra, MarkVar, os.Getenv(MarkVar))
	if got := detect(envFunc(marked), socketInode, dirExists); got.Role != Descendant {
		t.Errorf("after Mark, detect = %+v, want Descendant", got)
	}
}

func TestLibrariesFollowTheLauncher(t *testing.T) {
	for launcher, first := range map[string]string{"openmpi": "libmpi.so.40", "slurm-pmix": "libmpi.so.40", "hydra": "libmpich.so.12", "slurm-pmi2": "libmpich.so.12"} {
		if got := (Launch{Launcher: launcher}).libraries()[0]; got != first {
			t.Errorf("%s: first library %s, want %s", launcher, got, first)
		}
	}
}

// fakeProcs is a process table: pid → (parent, exe, environ, cmdline).
type fakeProc struct {
	ppid    int
	exe     string
	env     []string
	cmdline []string
}

func fakeReader(self int, args0 string, procs map[int]fakeProc) procReader {
	return procReader{
		self: func() (string, error) { return procs[self].exe, nil },
		ppid: func() int { return procs[self].ppid },
		children: func(ppid int) []int {
			var out []int
			for pid, p := range procs {
				if p.ppid == ppid {
					out = append(out, pid)
				}
			}
			return out
		},
		exe:     func(pid int) string { return procs[pid].exe },
		environ: func(pid int) []string { return procs[pid].env },
		cmdline: func(pid int) []string { return procs[pid].cmdline },
		args0:   args0,
		sleep:   func(time.Duration) {},
	}
}

func TestFindPeers(t *testing.T) {
	const pyhost, cworker, orted = "/opt/bin/pyhost", "/opt/bin/cworker", "/usr/bin/orterun"
	ompiEnv := func(rank, app int, counts, command string) map[string]string {
		return map[string]string{
			"OMPI_COMM_WORLD_RANK": itoa(rank), "PMIX_RANK": itoa(rank), "PMIX_NAMESPACE": "5",
			"OMPI_APP_CTX_NUM_PROCS": counts, "OMPI_MCA_orte_app_num": itoa(app), "OMPI_COMMAND": command,
		}
	}
	toList := func(m map[string]string) []string {
		var out []string
		for k, v := range m {
			out = append(out, k+"="+v)
		}
		return out
	}
	hydraEnv := func(rank int) []string { return []string{"PMI_RANK=" + itoa(rank), "PMI_SIZE=4"} }

	t.Run("open mpi layout, pyhost second app context", func(t *testing.T) {
		env := ompiEnv(2, 1, "1 2", "pyhost")
		sys := fakeReader(10, "/opt/bin/pyhost", map[int]fakeProc{10: {ppid: 1, exe: pyhost}})
		got := findPeers(Launch{Launcher: "openmpi"}, envFunc(env), 2, 3, 1, sys)
		if !reflect.DeepEqual(got.ranks, []int{1, 2}) {
			t.Errorf("peers %v (%s), want [1 2]", got.ranks, got.how)
		}
	})
	t.Run("open mpi layout, wrapper command: siblings", func(t *testing.T) {
		procs := map[int]fakeProc{
			9:  {ppid: 1, exe: orted},
			10: {ppid: 9, exe: pyhost, env: toList(ompiEnv(0, 0, "2 1", "run.sh"))},
			11: {ppid: 9, exe: cworker, env: toList(ompiEnv(1, 0, "2 1", "run.sh"))},
			12: {ppid: 9, exe: pyhost, env: toList(ompiEnv(2, 1, "2 1", "pyhost"))},
		}
		env := ompiEnv(0, 0, "2 1", "run.sh")
		got := findPeers(Launch{Launcher: "openmpi"}, envFunc(env), 0, 3, 0, fakeReader(10, "pyhost", procs))
		if !reflect.DeepEqual(got.ranks, []int{0}) {
			t.Errorf("peers %v (%s), want [0] (the wrapper's other rank runs cworker; rank 2 is another app context)", got.ranks, got.how)
		}
	})
	t.Run("hydra siblings, mixed programs", func(t *testing.T) {
		procs := map[int]fakeProc{
			9:  {ppid: 1, exe: "/usr/bin/hydra_pmi_proxy"},
			10: {ppid: 9, exe: cworker, env: hydraEnv(0)},
			11: {ppid: 9, exe: pyhost, env: hydraEnv(1)},
			12: {ppid: 9, exe: pyhost, env: hydraEnv(2), cmdline: []string{"pyhost", "-X", "pyhost.mpi=off", "x.py"}},
			13: {ppid: 9, exe: pyhost, env: hydraEnv(3)},
			14: {ppid: 11, exe: pyhost, env: hydraEnv(1)}, // a child of rank 1
		}
		getenv := func(k string) string { return envOf(hydraEnv(3), k) }
		got := findPeers(Launch{Launcher: "hydra"}, getenv, 3, 4, 0, fakeReader(13, "pyhost", procs))
		if !reflect.DeepEqual(got.ranks, []int{1, 3}) {
			t.Errorf("peers %v (%s), want [1 3]", got.ranks, got.how)
		}
	})
	t.Run("parent is a shell running copies: alone", func(t *testing.T) {
		procs := map[int]fakeProc{
			9:  {ppid: 1, exe: "/bin/bash"},
			10: {ppid: 9, exe: pyhost, env: hydraEnv(0)},
			11: {ppid: 9, exe: pyhost, env: hydraEnv(0)},
		}
		getenv := func(k string) string { return envOf(hydraEnv(0), k) }
		got := findPeers(Launch{Launcher: "hydra"}, getenv, 0, 4, 0, fakeReader(10, "pyhost", procs))
		if !reflect.DeepEqual(got.ranks, []int{0}) || !strings.HasPrefix(got.how, "alone") {
			t.Errorf("peers %v (%s), want alone", got.ranks, got.how)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestMPIOff(t *testing.T) {
	off := []string{"PYHOST_MPI=off"}
	for _, tt := range []struct {
		env     []string
		cmdline []string
		want    bool
	}{
		{nil, []string{"pyhost", "x.py"}, false},
		{nil, []string{"pyhost", "-X", "pyhost.mpi=off", "x.py"}, true},
		{nil, []string{"pyhost", "-Xpyhost.mpi=off", "x.py"}, true},
		{nil, []string{"pyhost", "x.py", "-X", "pyhost.mpi=off"}, false}, // the script's arguments
		{off, []string{"pyhost", "x.py"}, true},
		{off, []string{"pyhost", "-E", "x.py"}, false},
		{off, []string{"pyhost", "-sI", "-c", "pass"}, false},
		{off, []string{"pyhost", "-X", "dev", "-W", "error", "x.py"}, true},
		{off, []string{"pyhost", "-W", "error", "-E", "x.py"}, false},
	} {
		if got := mpiOff(tt.env, tt.cmdline); got != tt.want {
			t.Errorf("mpiOff(%v, %v) = %v, want %v", tt.env, tt.cmdline, got, tt.want)
		}
	}
}

func TestShareColor(t *testing.T) {
	a, b := shareColor("{Importer:true}"), shareColor("{Importer:false}")
	if a == b || a < 0 || b < 0 || shareColor("{Importer:true}") != a {
		t.Errorf("shareColor: %d, %d", a, b)
	}
}
