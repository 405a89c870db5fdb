package mpiglue_test

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pyhost/pyhost/mpiglue"
)

// helperEnv selects what TestHelperProcess does when the test binary is
// re-executed (alone, or by mpirun).
const helperEnv = "MPIGLUE_TEST_HELPER"

func clearLauncherEnv(t *testing.T) {
	t.Helper()
	for _, name := range mpiglue.LauncherVars {
		t.Setenv(name, "") // restored after the test
		os.Unsetenv(name)
	}
}

func TestLauncherDetected(t *testing.T) {
	clearLauncherEnv(t)
	if mpiglue.LauncherDetected() {
		t.Fatal("LauncherDetected() = true with every launcher variable unset")
	}
	for _, name := range mpiglue.LauncherVars {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "")
			if mpiglue.LauncherDetected() {
				t.Errorf("LauncherDetected() = true with %s empty", name)
			}
			t.Setenv(name, "3")
			if !mpiglue.LauncherDetected() {
				t.Errorf("LauncherDetected() = false with %s=3", name)
			}
		})
	}
}

// TestAvailable checks Available against what was linked: the C shim is in
// the binary exactly when MPI support was built, and the API behaves
// accordingly.
func TestAvailable(t *testing.T) {
	f, err := elf.Open(os.Args[0])
	if err != nil {
		t.Skipf("cannot read own executable: %v", err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Skipf("own executable has no symbol table: %v", err)
	}
	shim := false
	for _, s := range syms {
		shim = shim || s.Name == "pyhost_mpi_load"
	}
	if got := mpiglue.Available(); got != shim {
		t.Fatalf("Available() = %v, but the MPI shim is linked: %v", got, shim)
	}
	if mpiglue.Available() {
		if _, err := mpiglue.Bcast([]byte("x")); errors.Is(err, mpiglue.ErrNotBuilt) || err == nil {
			t.Errorf("Bcast before Init in an MPI build = %v, want an error other than ErrNotBuilt", err)
		}
		return
	}
	if err := mpiglue.Init(mpiglue.Options{}); !errors.Is(err, mpiglue.ErrNotBuilt) {
		t.Errorf("Init() = %v, want ErrNotBuilt", err)
	} else if !strings.Contains(err.Error(), "built without MPI") {
		t.Errorf("Init() error %q does not say pyhost was built without MPI", err)
	}
	if _, err := mpiglue.Bcast([]byte("x")); !errors.Is(err, mpiglue.ErrNotBuilt) {
		t.Errorf("Bcast() error = %v, want ErrNotBuilt", err)
	}
	if _, err := mpiglue.Gather([]byte("x")); !errors.Is(err, mpiglue.ErrNotBuilt) {
		t.Errorf("Gather() error = %v, want ErrNotBuilt", err)
	}
	if err := mpiglue.Barrier(); !errors.Is(err, mpiglue.ErrNotBuilt) {
		t.Errorf("Barrier() error = %v, want ErrNotBuilt", err)
	}
	if err := mpiglue.Finalize(); err != nil {
		t.Errorf("Finalize() = %v, want nil", err)
	}
	if v := mpiglue.LibraryVersion(""); v != "" {
		t.Errorf("LibraryVersion() = %q, want empty", v)
	}
}

var libmpiName = regexp.MustCompile(`lib(mpi|mpich|open-pal|open-rte|pmix)[._]`)

// mappedMPI returns the MPI libraries mapped into this process.
func mappedMPI(t *testing.T) []string {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	var libs []string
	for _, line := range strings.Split(string(maps), "\n") {
		if f := strings.Fields(line); len(f) >= 6 && libmpiName.MatchString(filepath.Base(f[5])) {
			libs = append(libs, f[5])
		}
	}
	return libs
}

// TestNotLinked checks what a plain run pays for MPI: nothing, because the
// binary does not depend on libmpi and nothing maps it before Init.
func TestNotLinked(t *testing.T) {
	f, err := elf.Open(os.Args[0])
	if err != nil {
		t.Skipf("cannot read own executable: %v", err)
	}
	defer f.Close()
	needed, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	for _, lib := range needed {
		if libmpiName.MatchString(lib) {
			t.Errorf("test binary has NEEDED %s: MPI must be dlopened, not linked", lib)
		}
	}
	if mpiglue.Loaded() {
		t.Skip("an earlier test loaded the MPI library; TestHelperProcess checks a fresh process")
	}
	if libs := mappedMPI(t); len(libs) > 0 {
		t.Fatalf("MPI libraries mapped before Init: %v", libs)
	}
	// None of these may load the library.
	_ = mpiglue.Initialized()
	_ = mpiglue.Finalized()
	if err := mpiglue.Finalize(); err != nil {
		t.Errorf("Finalize() before Init = %v, want nil", err)
	}
	if libs := mappedMPI(t); len(libs) > 0 {
		t.Fatalf("MPI libraries mapped by Initialized/Finalized/Finalize: %v", libs)
	}
}

func TestBeforeInit(t *testing.T) {
	if !mpiglue.Available() {
		t.Skip("built without MPI")
	}
	if mpiglue.Rank() != 0 || mpiglue.Size() != 1 || mpiglue.ThreadLevel() != -1 {
		t.Errorf("before Init: Rank, Size, ThreadLevel = %d, %d, %d; want 0, 1, -1",
			mpiglue.Rank(), mpiglue.Size(), mpiglue.ThreadLevel())
	}
	if _, err := mpiglue.Bcast([]byte("x")); !errors.Is(err, mpiglue.ErrNotInitialized) {
		t.Errorf("Bcast before Init: %v, want ErrNotInitialized", err)
	}
	if _, err := mpiglue.Gather([]byte("x")); !errors.Is(err, mpiglue.ErrNotInitialized) {
		t.Errorf("Gather before Init: %v, want ErrNotInitialized", err)
	}
	if err := mpiglue.Barrier(); !errors.Is(err, mpiglue.ErrNotInitialized) {
		t.Errorf("Barrier before Init: %v, want ErrNotInitialized", err)
	}
}

func TestError(t *testing.T) {
	err := fmt.Errorf("mpiglue: MPI_Bcast: %w", &mpiglue.Error{Code: 5, Msg: "MPI_ERR_COUNT: invalid count argument"})
	if got := mpiglue.ErrCode(err); got != 5 {
		t.Errorf("ErrCode = %d, want 5", got)
	}
	if got, want := err.Error(), "mpiglue: MPI_Bcast: MPI error 5: MPI_ERR_COUNT: invalid count argument"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := mpiglue.ErrCode(errors.New("other")); got != 0 {
		t.Errorf("ErrCode(non-MPI error) = %d, want 0", got)
	}
}

// helperCommand re-executes this test binary as TestHelperProcess in mode,
// under mpirun if np > 0, with a 60 s limit.
func helperCommand(t *testing.T, ctx context.Context, mode string, np int) *exec.Cmd {
	t.Helper()
	self := []string{os.Args[0], "-test.run=^TestHelperProcess$", "-test.v", "-test.timeout=55s"}
	var cmd *exec.Cmd
	if np == 0 {
		cmd = exec.CommandContext(ctx, self[0], self[1:]...)
	} else {
		mpirun, err := exec.LookPath("mpirun")
		if err != nil {
			t.Skip("mpirun not found in PATH; install openmpi-bin to run the multi-rank tests")
		}
		args := []string{}
		if os.Geteuid() == 0 {
			args = append(args, "--allow-run-as-root")
		}
		args = append(args, "--oversubscribe", "-np", fmt.Sprint(np), "-x", helperEnv)
		cmd = exec.CommandContext(ctx, mpirun, append(args, self...)...)
	}
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	// SIGTERM lets mpirun take its ranks down with it; SIGKILL would orphan them.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

func TestPlainProcess(t *testing.T) {
	if !mpiglue.Available() {
		t.Skip("built without MPI")
	}
	clearLauncherEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := helperCommand(t, ctx, "plain", 0).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("mpiglue-helper plain ok")) {
		t.Fatalf("plain helper: %v\n%s", err, out)
	}

	out, err = helperCommand(t, ctx, "nolib", 0).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("mpiglue-helper nolib ok")) {
		t.Fatalf("helper with Options.Library unloadable: %v\n%s", err, out)
	}
}

func TestMPIRun(t *testing.T) {
	if !mpiglue.Available() {
		t.Skip("built without MPI")
	}
	if mpiglue.LauncherDetected() {
		t.Skip("already running under an MPI launcher; not nesting mpirun")
	}
	if testing.Short() {
		t.Skip("-short: skipping mpirun tests")
	}

	t.Run("collectives", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		start := time.Now()
		out, err := helperCommand(t, ctx, "collectives", 3).CombinedOutput()
		t.Logf("mpirun -np 3 took %v", time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("mpirun: %v\n%s", err, out)
		}
		if testing.Verbose() {
			t.Logf("helper output:\n%s", out)
		}
		for rank := 0; rank < 3; rank++ {
			want := fmt.Sprintf("mpiglue-helper rank=%d size=3 ", rank)
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("abort", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		start := time.Now()
		out, err := helperCommand(t, ctx, "abort", 3).CombinedOutput()
		elapsed := time.Since(start)
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("mpirun with Abort(3) on rank 1: %v, want a non-zero exit\n%s", err, out)
		}
		t.Logf("job ended in %v with %v", elapsed.Round(time.Millisecond), exit)
		if ctx.Err() != nil || elapsed > 30*time.Second {
			t.Fatalf("Abort did not end the job promptly (%v)\n%s", elapsed, out)
		}
		if bytes.Contains(out, []byte("survived")) {
			t.Errorf("a rank ran past the barrier after Abort:\n%s", out)
		}
	})
}

// TestHelperProcess is not a test: it is the body of the processes that
// TestPlainProcess and TestMPIRun start.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process for TestPlainProcess and TestMPIRun")
	}
	// Init and Finalize must run on one OS thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// A fresh process: nothing of MPI may be mapped yet.
	if libs := mappedMPI(t); len(libs) > 0 {
		t.Fatalf("MPI libraries mapped before Init: %v", libs)
	}
	switch mode {
	case "plain":
		helperPlain(t)
	case "nolib":
		err := mpiglue.Init(mpiglue.Options{Library: "libmpiglue-test-missing.so"})
		if !errors.Is(err, mpiglue.ErrNoLibrary) || !strings.Contains(err.Error(), "libmpiglue-test-missing.so") {
			t.Fatalf("Init with PYHOST_LIBMPI unloadable = %v, want ErrNoLibrary naming it", err)
		}
		if v := mpiglue.LibraryVersion("libmpiglue-test-missing.so"); v != "" {
			t.Fatalf("LibraryVersion() = %q without a library", v)
		}
		fmt.Println("mpiglue-helper nolib ok")
	case "collectives":
		helperCollectives(t)
	case "abort":
		helperAbort(t)
	default:
		t.Fatalf("unknown helper mode %q", mode)
	}
}

func helperPlain(t *testing.T) {
	if mpiglue.LauncherDetected() {
		t.Fatal("LauncherDetected() = true in a plain run")
	}
	v := mpiglue.LibraryVersion("")
	if v == "" {
		t.Fatal("LibraryVersion() is empty")
	}
	t.Logf("library %s: %s", mpiglue.Library(), strings.SplitN(v, "\n", 2)[0])
	if len(mappedMPI(t)) == 0 {
		t.Error("LibraryVersion did not map libmpi (is /proc/self/maps lying?)")
	}
	if mpiglue.Initialized() || mpiglue.Finalized() {
		t.Error("Initialized() or Finalized() true without Init")
	}
	if err := mpiglue.Finalize(); err != nil {
		t.Errorf("Finalize() without Init = %v, want nil", err)
	}
	fmt.Println("mpiglue-helper plain ok")
}

func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

func helperCollectives(t *testing.T) {
	if !mpiglue.LauncherDetected() {
		t.Fatal("LauncherDetected() = false under mpirun")
	}
	if err := mpiglue.Init(mpiglue.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := mpiglue.Init(mpiglue.Options{}); err != nil {
		t.Fatalf("second Init() = %v, want nil (no-op)", err)
	}
	if !mpiglue.Initialized() || mpiglue.Finalized() {
		t.Fatal("after Init: Initialized() false or Finalized() true")
	}
	rank, size := mpiglue.Rank(), mpiglue.Size()
	if size != 3 || rank < 0 || rank >= size {
		t.Fatalf("Rank, Size = %d, %d", rank, size)
	}

	// Open MPI must not have replaced Go's SIGSEGV handler: a nil
	// dereference still panics recoverably.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("nil dereference did not panic")
			}
		}()
		var p *int
		_ = *p
	}()

	check := func(name string, chunk int) {
		if chunk > 0 {
			defer mpiglue.SetMaxMessage(chunk)()
		}
		for _, n := range []int{0, 1, 4096 + 17, 3<<20 + 5} {
			var in []byte
			if rank == 0 {
				in = pattern(n, n)
			}
			got, err := mpiglue.Bcast(in)
			if err != nil {
				t.Fatalf("%s: Bcast(%d bytes): %v", name, n, err)
			}
			if got == nil || !bytes.Equal(got, pattern(n, n)) {
				t.Fatalf("%s: rank %d: Bcast of %d bytes got %d bytes, wrong", name, rank, n, len(got))
			}
		}
		lens := func(r int) int { return r * 1500 } // rank 0 sends nothing
		all, err := mpiglue.Gather(pattern(lens(rank), rank))
		if err != nil {
			t.Fatalf("%s: Gather: %v", name, err)
		}
		if rank != 0 {
			if all != nil {
				t.Fatalf("%s: Gather on rank %d returned %d slices, want nil", name, rank, len(all))
			}
		} else {
			if len(all) != size {
				t.Fatalf("%s: Gather returned %d slices, want %d", name, len(all), size)
			}
			for r, b := range all {
				if b == nil || !bytes.Equal(b, pattern(lens(r), r)) {
					t.Fatalf("%s: Gather: rank %d's %d bytes arrived as %d, wrong", name, r, lens(r), len(b))
				}
			}
		}
		if err := mpiglue.Barrier(); err != nil {
			t.Fatalf("%s: Barrier: %v", name, err)
		}
	}
	check("one call", 0)
	check("chunked", 1000) // Bcast in 5 pieces, Gather in rounds of 333 bytes

	level := mpiglue.ThreadLevel()
	if err := mpiglue.Finalize(); err != nil {
		t.Fatalf("Finalize: %v", err)
	}
	if !mpiglue.Finalized() {
		t.Error("Finalized() false after Finalize")
	}
	if err := mpiglue.Finalize(); err != nil {
		t.Errorf("second Finalize() = %v, want nil", err)
	}
	if _, err := mpiglue.Bcast(nil); !errors.Is(err, mpiglue.ErrNotInitialized) {
		t.Errorf("Bcast after Finalize: %v, want ErrNotInitialized", err)
	}
	if err := mpiglue.Init(mpiglue.Options{}); err == nil {
		t.Error("Init after Finalize succeeded")
	}
	fmt.Printf("mpiglue-helper rank=%d size=%d level=%d ok\n", rank, size, level)
}

func helperAbort(t *testing.T) {
	if err := mpiglue.Init(mpiglue.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := mpiglue.Barrier(); err != nil {
		t.Fatal(err)
	}
	if mpiglue.Rank() == 1 {
		fmt.Println("mpiglue-helper rank 1 aborting")
		mpiglue.Abort(3)
		t.Fatal("Abort returned")
	}
	// Rank 1 never arrives: only Abort can end this.
	err := mpiglue.Barrier()
	fmt.Printf("mpiglue-helper rank %d survived: %v\n", mpiglue.Rank(), err)
	os.Exit(0)
}
