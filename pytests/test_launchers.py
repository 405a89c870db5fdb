"""Every way HPC jobs start processes, each compared with python3.11 + mpi4py
on the same script: children of ranks (subprocess, multiprocessing spawn and
forkserver), MPMD jobs with C and python3 ranks, mpi4py's own options, a
nested mpirun, MPICH's hydra and Slurm's srun (PMIx and PMI-2) with pyhost
sharing its index, stale launcher environments, faults.

Every job runs under a timeout that fails the test (and kills the job's
process group) rather than hanging CI.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REFERENCE, REPO, base_env

MPIRUN = shutil.which("mpirun")
MPIEXEC_MPICH = shutil.which("mpiexec.mpich")
MPICC = shutil.which("mpicc.openmpi") or shutil.which("mpicc")
JOB_TIMEOUT = 60
ROOT = os.geteuid() == 0

needs_mpirun = pytest.mark.skipif(MPIRUN is None, reason="mpirun not found (apt-get install openmpi-bin)")


def _mpi4py_available():
    r = subprocess.run([REFERENCE, "-c", "import mpi4py"], capture_output=True, timeout=60)
    return r.returncode == 0


needs_mpi4py = pytest.mark.skipif(not _mpi4py_available(),
                                  reason="python3.11 has no mpi4py (apt-get install python3-mpi4py)")


class Job:
    def __init__(self, argv, returncode, stdout, stderr, elapsed):
        self.argv, self.returncode, self.elapsed = argv, returncode, elapsed
        self.stdout, self.stderr = stdout.decode(errors="replace"), stderr.decode(errors="replace")

    def lines(self, prefix=""):
        return sorted(l for l in self.stdout.splitlines() if l.startswith(prefix))

    def __repr__(self):
        return (f"<job {' '.join(map(str, self.argv))}: exit {self.returncode} in {self.elapsed:.1f} s\n"
                f"stdout:\n{self.stdout}\nstderr:\n{self.stderr[-3000:]}>")


def run_job(argv, cwd, env=None, timeout=JOB_TIMEOUT):
    """Runs a launcher command in its own session; a timeout kills the whole
    session and fails the test."""
    e = base_env()
    # A cache of the test's own: never the user's, and empty at the start.
    e["PYHOST_CACHEDIR"] = str(Path(cwd) / ".pyhost-cache")
    # The jobs' trees are on local disk, where by default each rank lists
    # and reads what it imports itself (-X pyhost.rootreads): these tests
    # check the sharing a shared file system gets.
    e["PYHOST_ROOTREADS"] = "all"
    e.update(env or {})
    t0 = time.monotonic()
    p = subprocess.Popen([str(a) for a in argv], cwd=cwd, env=e, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
        pytest.fail(f"{' '.join(map(str, argv))} did not finish in {timeout} s:\n"
                    f"{out.decode(errors='replace')}\n{err.decode(errors='replace')[-3000:]}")
    return Job(argv, p.returncode, out, err, time.monotonic() - t0)


def mpirun_argv(*apps):
    """mpirun argv for app contexts given as (np, [argv...])."""
    argv = [MPIRUN, "--oversubscribe"]
    if ROOT:
        argv.append("--allow-run-as-root")
    for i, (np, app) in enumerate(apps):
        if i:
            argv.append(":")
        argv += ["-np", str(np)] + list(app)
    return argv


def both(make_argv, cwd, *, env=None, timeout=JOB_TIMEOUT, pyhost):
    """Runs make_argv(exe) with pyhost and with python3.11; returns both."""
    return (run_job(make_argv(pyhost), cwd, env, timeout),
            run_job(make_argv(REFERENCE), cwd, env, timeout))


def assert_same_outcome(host, ref, prefix=""):
    assert host.returncode == ref.returncode, f"pyhost: {host!r}\npython3.11: {ref!r}"
    assert host.lines(prefix) == ref.lines(prefix), f"pyhost: {host!r}\npython3.11: {ref!r}"


# --- children of ranks -------------------------------------------------------

CHILD = """\
import subprocess, sys
from mpi4py import MPI
c = MPI.COMM_WORLD
r = subprocess.run([sys.executable, "-c", "import sys; print('child says', 6 * 7)"],
                   capture_output=True, text=True, timeout=30)
print("rank", c.rank, c.size, r.returncode, r.stdout.strip(), c.allreduce(1), flush=True)
"""


@needs_mpirun
@needs_mpi4py
def test_subprocess_of_sys_executable_in_every_rank(pyhost, tmp_path):
    (tmp_path / "job.py").write_text(CHILD)
    host, ref = both(lambda exe: mpirun_argv((3, [exe, "job.py"])), tmp_path, pyhost=pyhost)
    assert_same_outcome(host, ref, "rank")
    assert host.lines("rank") == [f"rank {r} 3 0 child says 42 3" for r in range(3)]


POOL = """\
import multiprocessing as mp, sys

def square(x):
    return x * x

if __name__ == "__main__":
    from mpi4py import MPI
    ctx = mp.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        got = pool.map(square, range(6))
    c = MPI.COMM_WORLD
    print("rank", c.rank, sys.argv[1], got, c.allreduce(sum(got)), flush=True)
"""


@needs_mpirun
@needs_mpi4py
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_multiprocessing_pool_in_ranks(pyhost, tmp_path, method):
    (tmp_path / "job.py").write_text(POOL)
    host, ref = both(lambda exe: mpirun_argv((2, [exe, "job.py", method])), tmp_path, pyhost=pyhost)
    assert_same_outcome(host, ref, "rank")
    assert len(host.lines("rank")) == 2


def test_a_child_of_a_rank_is_not_a_rank(pyhost, tmp_path):
    """Launcher variables inherited with the rank's mark: a plain process,
    silently; without the mark and with a live launcher, the variables are
    taken at their word (as python3 + mpi4py would)."""
    if MPIRUN is None:
        pytest.skip("mpirun not found")
    (tmp_path / "job.py").write_text(
        "import os, subprocess, sys, pyhost\n"
        "r = subprocess.run([sys.executable, '-c', 'import pyhost; print(pyhost.mpi_active(), pyhost.size())'],"
        " capture_output=True, text=True, timeout=30)\n"
        "print('rank', pyhost.rank(), pyhost.mpi_active(), r.stdout.strip(), repr(r.stderr), flush=True)\n")
    p = run_job(mpirun_argv((2, [pyhost, "job.py"])), tmp_path)
    assert p.returncode == 0, p
    assert p.lines("rank") == ["rank 0 True False 1 ''", "rank 1 True False 1 ''"], p


CHILD_INITS = """\
import subprocess, sys, os
r = subprocess.run([sys.executable, "-c", "from mpi4py import MPI; print('child', MPI.COMM_WORLD.size)"],
                   capture_output=True, text=True, timeout=60)
print("rank", os.environ.get("OMPI_COMM_WORLD_RANK"), r.returncode, r.stdout.strip(), flush=True)
sys.stderr.write(r.stderr)
"""


@needs_mpirun
@needs_mpi4py
def test_child_of_a_rank_initialising_mpi_fails_clearly_never_hangs(pyhost, tmp_path):
    """A rank that never initialises MPI starts a child that does: under
    python3 the child becomes the rank. pyhost's rank holds MPI from its
    start, and the child's MPI_Init, reaching the library, failed and left
    the launcher's daemon hanging the whole job at its end. Now the child's
    MPI_Init fails with one line saying why and what to do; the job ends.
    With -X pyhost.mpi=off on the rank, the child is the rank, as under
    python3."""
    (tmp_path / "job.py").write_text(CHILD_INITS)
    p = run_job(mpirun_argv((2, [pyhost, "job.py"])), tmp_path)
    assert p.returncode == 0, p
    assert p.lines("rank") == ["rank 0 1 ", "rank 1 1 "], p
    assert "descends from an MPI rank whose pyhost initialised MPI" in p.stderr, p
    assert "orte_init failed" not in p.stderr, p
    host, ref = both(lambda exe: mpirun_argv((2, [exe] + (["-X", "pyhost.mpi=off"] if exe == pyhost else []) + ["job.py"])),
                     tmp_path, pyhost=pyhost)
    assert_same_outcome(host, ref, "rank")
    assert host.lines("rank") == ["rank 0 0 child 2", "rank 1 0 child 2"], host


# A rank that leaves by os._exit, or replaces itself with another program:
# under python3 a script that never initialises MPI is no MPI process, and
# the job ends as its processes do. pyhost's MPI, never finalised, made
# mpirun fail the job ("exited improperly").
LEAVES = {
    "os._exit on rank 0": ("import os, email.mime.text\n"
                           "if os.environ.get('OMPI_COMM_WORLD_RANK') == '0':\n"
                           "    os._exit(0)\n"
                           "print('rank done', flush=True)\n"),
    "os._exit(3) on rank 1": ("import os\n"
                              "if os.environ.get('OMPI_COMM_WORLD_RANK') == '1':\n"
                              "    os._exit(3)\n"
                              "print('rank done', flush=True)\n"),
    "os.execv on every rank": "import os\nos.execv('/bin/echo', ['/bin/echo', 'rank execd'])\n",
    "after MPI.Finalize, os._exit": ("from mpi4py import MPI\nimport os\nMPI.COMM_WORLD.Barrier()\nMPI.Finalize()\n"
                                     "print('rank finalized', flush=True)\nos._exit(0)\n"),
}


@needs_mpirun
@pytest.mark.parametrize("name", sorted(LEAVES))
def test_rank_leaving_without_exit_as_under_python3(pyhost, tmp_path, name):
    if "mpi4py" in LEAVES[name] and not _mpi4py_available():
        pytest.skip("python3-mpi4py not installed")
    (tmp_path / "job.py").write_text(LEAVES[name])
    host, ref = both(lambda exe: mpirun_argv((3, [exe, "job.py"])), tmp_path, pyhost=pyhost)
    if "_exit(3)" in name:
        # mpirun ends the job at the failure: how many ranks printed first
        # is a race under either interpreter.
        assert host.returncode == ref.returncode == 3, f"pyhost: {host!r}\npython3.11: {ref!r}"
        assert "returned\na non-zero exit code" in host.stderr, host
    else:
        assert_same_outcome(host, ref, "rank")
    assert "exiting improperly" not in host.stderr or "exiting improperly" in ref.stderr, host


@pytest.mark.skipif(MPIEXEC_MPICH is None, reason="mpiexec.mpich not found (apt-get install mpich)")
@needs_mpi4py
def test_mpi4py_of_another_mpi_under_mpich_is_as_under_python3(pyhost, tmp_path):
    """Debian's mpi4py is built for Open MPI: under MPICH's mpiexec each
    python3 is a singleton. pyhost (whose MPI is MPICH's there) loaded
    MPICH's library in the global scope, where mpi4py's calls found it
    before Open MPI's: two ABIs mixed, a RuntimeError or a stack smash."""
    (tmp_path / "job.py").write_text(
        "from mpi4py import MPI\nc = MPI.COMM_WORLD\n"
        "print('rank', c.rank, c.size, c.allreduce(1), MPI.Get_library_version()[:12], flush=True)\n")
    host, ref = both(lambda exe: [MPIEXEC_MPICH, "-n", "2", exe, "job.py"], tmp_path, pyhost=pyhost)
    assert_same_outcome(host, ref, "rank")
    assert ref.lines("rank") == ["rank 0 1 1 Open MPI v4.", "rank 0 1 1 Open MPI v4."], ref


# --- MPMD ----------------------------------------------------------------------

CWORKER = r"""
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv) {
    int rank, size, v = -1;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank == 0) v = 42;
    int rc = MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
    int sum = 0, one = 1;
    MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    printf("c %d got %d rc %d sum %d\n", rank, v, rc, sum);
    MPI_Finalize();
    return 0;
}
"""

DRIVER = """\
import sys
from mpi4py import MPI
import numpy as np
c = MPI.COMM_WORLD
buf = np.array([42 if c.rank == 0 else -1], dtype="i")
c.Bcast(buf, root=0)
total = np.zeros(1, dtype="i")
c.Allreduce(np.ones(1, dtype="i"), total, op=MPI.SUM)
print("py", c.rank, "got", int(buf[0]), "sum", int(total[0]), flush=True)
"""


@pytest.fixture(scope="module")
def cworker(tmp_path_factory):
    if MPICC is None:
        pytest.skip("mpicc not found (apt-get install libopenmpi-dev)")
    d = tmp_path_factory.mktemp("cworker")
    (d / "cworker.c").write_text(CWORKER)
    subprocess.run([MPICC, "-O1", "-o", str(d / "cworker"), str(d / "cworker.c")], check=True, timeout=120)
    return d / "cworker"


@needs_mpirun
@needs_mpi4py
@pytest.mark.parametrize("order", ["pyhost first", "worker first"])
def test_mpmd_with_a_c_worker(pyhost, tmp_path, cworker, order):
    (tmp_path / "driver.py").write_text(DRIVER)
    if order == "pyhost first":
        make = lambda exe: mpirun_argv((1, [exe, "driver.py"]), (2, [cworker]))
    else:
        make = lambda exe: mpirun_argv((2, [cworker]), (2, [exe, "driver.py"]))
    host, ref = both(make, tmp_path, pyhost=pyhost)
    assert_same_outcome(host, ref)
    assert all(" got 42 " in l for l in host.lines()), host
    assert len(host.lines()) == (3 if order == "pyhost first" else 4)


@needs_mpirun
@needs_mpi4py
def test_mpmd_with_python3_ranks_and_mixed_settings(pyhost, tmp_path):
    """pyhost : python3, and pyhost app contexts with different -X pyhost.*
    settings: no rank waits for another's start-up collectives."""
    (tmp_path / "driver.py").write_text(DRIVER)
    host = run_job(mpirun_argv((1, [pyhost, "-X", "pyhost.importer=off", "driver.py"]),
                               (2, [pyhost, "-X", "pyhost.stats", "driver.py"]),
                               (1, [REFERENCE, "driver.py"]),
                               (1, [pyhost, "driver.py"])), tmp_path)
    ref = run_job(mpirun_argv((5, [REFERENCE, "driver.py"])), tmp_path)
    assert_same_outcome(host, ref, "py")
    # -X pyhost.stats: the two ranks of that app context share (one lists).
    stats = re.findall(r"rank (\d+): pyhost stats: .*dirs_listed=(\d+) dirs_merged=(\d+)", host.stderr)
    assert sorted(r for r, _, _ in stats) == ["1", "2"], host
    assert sorted(int(l) == 0 for _, l, _ in stats) == [False, True], host


@needs_mpirun
def test_mpmd_peers_are_the_app_context(pyhost, tmp_path, cworker):
    (tmp_path / "peers.py").write_text(
        "import pyhost\nprint('peers', pyhost.rank(), *pyhost.peers(), flush=True)\n")
    # The C worker's Bcast from rank 0 goes to the pyhost ranks too: they
    # must take part, as any rank of MPI_COMM_WORLD.
    (tmp_path / "bcast.py").write_text(DRIVER.replace("import numpy as np", "import numpy as np\nimport pyhost") +
                                       "print('peers', pyhost.rank(), *pyhost.peers(), flush=True)\n")
    if not _mpi4py_available():
        pytest.skip("needs mpi4py")
    p = run_job(mpirun_argv((2, [cworker]), (2, [pyhost, "bcast.py"])), tmp_path)
    assert p.returncode == 0, p
    assert p.lines("peers") == ["peers 2 0 2 app context 1 of Open MPI's layout",
                                "peers 3 1 2 app context 1 of Open MPI's layout"], p


# --- mpi4py's own options ----------------------------------------------------

RC = """\
import sys, mpi4py
mode = sys.argv[1]
if mode == "noinit":
    mpi4py.rc.initialize = False
    from mpi4py import MPI
    before = MPI.Is_initialized()
    provided = MPI.Init_thread(MPI.THREAD_FUNNELED)
    print("r", before, provided, MPI.Query_thread(), MPI.Is_initialized(), MPI.COMM_WORLD.allreduce(1), flush=True)
    MPI.Finalize()
    print("r finalized", MPI.Is_finalized(), flush=True)
elif mode.startswith("level="):
    mpi4py.rc.thread_level = mode[6:]
    from mpi4py import MPI
    print("r", MPI.Query_thread(), MPI.Is_thread_main(), MPI.COMM_WORLD.allreduce(1), flush=True)
elif mode == "finalize":
    from mpi4py import MPI
    x = MPI.COMM_WORLD.allreduce(1)
    MPI.Finalize()
    print("r", x, MPI.Is_finalized(), MPI.Is_initialized(), flush=True)
elif mode == "init-twice":
    mpi4py.rc.initialize = False
    from mpi4py import MPI
    MPI.Init()
    try:
        MPI.Init()
        print("r second Init accepted", flush=True)
    except MPI.Exception as e:
        print("r second Init refused", flush=True)
"""


@needs_mpirun
@needs_mpi4py
@pytest.mark.parametrize("mode", ["noinit", "level=single", "level=funneled", "level=serialized",
                                  "level=multiple", "finalize"])
def test_mpi4py_rc_options(pyhost, tmp_path, mode):
    (tmp_path / "job.py").write_text(RC)
    host, ref = both(lambda exe: mpirun_argv((2, [exe, "job.py", mode])), tmp_path, pyhost=pyhost)
    assert_same_outcome(host, ref, "r")
    assert len(host.lines("r")) >= 2, host


@needs_mpirun
@needs_mpi4py
def test_m_mpi4py(pyhost, tmp_path):
    (tmp_path / "job.py").write_text(
        "from mpi4py import MPI\nc = MPI.COMM_WORLD\nprint('m', c.rank, c.size, c.allreduce(c.rank), flush=True)\n")
    host, ref = both(lambda exe: mpirun_argv((2, [exe, "-m", "mpi4py", "job.py"])), tmp_path, pyhost=pyhost)
    assert_same_outcome(host, ref, "m")
    assert host.lines("m") == ["m 0 2 1", "m 1 2 1"]


@needs_mpirun
@needs_mpi4py
def test_m_mpi4py_exception_ends_the_job(pyhost, tmp_path):
    (tmp_path / "job.py").write_text(
        "from mpi4py import MPI\nc = MPI.COMM_WORLD\n"
        "if c.rank == 1:\n    raise SystemError('boom')\n"
        "c.Barrier()\nprint('not reached', flush=True)\n")
    host, ref = both(lambda exe: mpirun_argv((2, [exe, "-m", "mpi4py", "job.py"])), tmp_path, pyhost=pyhost)
    assert host.returncode != 0 and ref.returncode != 0
    assert "not reached" not in host.stdout and "SystemError: boom" in host.stderr, host
    assert host.elapsed < 30, host


NESTED = """\
import os, subprocess, sys
from mpi4py import MPI
c = MPI.COMM_WORLD
if c.rank == 0:
    # Open MPI's mpirun refuses to run inside a job: start it clean, as
    # users do.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    argv = ["mpirun", "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    argv += ["-np", "2", sys.executable, "-c",
             "from mpi4py import MPI; c = MPI.COMM_WORLD; print('inner', c.rank, c.size, c.allreduce(1))"]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=40)
    for line in sorted(l for l in r.stdout.splitlines() if l.startswith("inner")):
        print("outer saw", line, flush=True)
    print("outer exit", r.returncode, flush=True)
c.Barrier()
"""


@needs_mpirun
@needs_mpi4py
def test_nested_mpirun_from_a_rank(pyhost, tmp_path):
    (tmp_path / "job.py").write_text(NESTED)
    host, ref = both(lambda exe: mpirun_argv((2, [exe, "job.py"])), tmp_path, pyhost=pyhost)
    assert_same_outcome(host, ref, "outer")
    assert host.lines("outer") == ["outer exit 0", "outer saw inner 0 2 2", "outer saw inner 1 2 2"], host


# --- faults end the job in bounded time --------------------------------------

@needs_mpirun
@needs_mpi4py
@pytest.mark.parametrize("fault", ["exception", "killed", "failing child"])
def test_fault_in_an_mpmd_job_ends_it(pyhost, tmp_path, cworker, fault):
    body = {
        "exception": "raise RuntimeError('boom')",
        "killed": "os.kill(os.getpid(), signal.SIGKILL)",
        "failing child": "subprocess.run([sys.executable, '-c', 'raise SystemExit(3)'], check=True)",
    }[fault]
    (tmp_path / "job.py").write_text(
        "import os, signal, subprocess, sys\nfrom mpi4py import MPI\n"
        f"{body}\n"
        "MPI.COMM_WORLD.Barrier()\nprint('not reached', flush=True)\n")
    # python3.11 alone would leave the C workers waiting for ever after an
    # exception; pyhost ends the job as python3.11 -m mpi4py does.
    host = run_job(mpirun_argv((1, [pyhost, "job.py"]), (2, [cworker])), tmp_path, timeout=45)
    ref = run_job(mpirun_argv((1, [REFERENCE, "-m", "mpi4py", "job.py"]), (2, [cworker])), tmp_path, timeout=45)
    assert host.returncode != 0 and "not reached" not in host.stdout, host
    assert ref.returncode != 0, ref
    assert host.elapsed < 30, host


# --- start-up under MPI ------------------------------------------------------

@needs_mpirun
def test_undecodable_script_path_runs(pyhost, tmp_path):
    d = Path(os.fsdecode(bytes(tmp_path) + b"/d\xff"))
    d.mkdir()
    (d / "job.py").write_text("import sys; print('ran', sys.argv[0].endswith('job.py'))\n")
    host, ref = both(lambda exe: mpirun_argv((2, [exe, d / "job.py"])), tmp_path, pyhost=pyhost)
    assert_same_outcome(host, ref)
    assert host.lines() == ["ran True", "ran True"]


@needs_mpirun
@needs_mpi4py
@pytest.mark.parametrize("script", ["plain", "mpi4py"])
def test_low_fd_limit(pyhost, tmp_path, script):
    (tmp_path / "job.py").write_text(
        "print('ran')\n" if script == "plain" else
        "from mpi4py import MPI\nprint('ran', MPI.COMM_WORLD.size)\n")
    host, ref = both(lambda exe: mpirun_argv((2, ["bash", "-c", f"ulimit -n 20; exec {exe} job.py"])), tmp_path,
                     pyhost=pyhost)
    assert_same_outcome(host, ref)
    assert len(host.lines("ran")) == 2
    # One line each, with the cause.
    assert host.stderr.count("ulimit -n 20") == 2, host


@needs_mpirun
def test_pyhost_libmpi_is_ignored_under_E_and_I(pyhost, tmp_path):
    env = {"PYHOST_LIBMPI": "/nonexistent/libmpi.so.40"}
    code = "import pyhost; print('size', pyhost.size(), pyhost.mpi_active())"
    p = run_job(mpirun_argv((2, [pyhost, "-c", code])), tmp_path, env)
    assert p.returncode != 0 and "size" not in p.stdout
    assert "/nonexistent/libmpi.so.40" in p.stderr and "MPI initialization failed" in p.stderr, p
    for flag in ("-E", "-I"):
        p = run_job(mpirun_argv((2, [pyhost, flag, "-c", code])), tmp_path, env)
        assert p.returncode == 0 and p.lines("size") == ["size 2 True"] * 2, p


def replay(pyhost, tmp_path, saved_env, code):
    env = json.loads(saved_env.read_text())
    t0 = time.monotonic()
    p = subprocess.run([pyhost, "-c", code], env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path)
    return p, time.monotonic() - t0


@pytest.mark.parametrize("launcher", ["mpirun", "hydra"])
def test_replayed_rank_environment_runs_alone(pyhost, tmp_path, launcher):
    argv = {"mpirun": MPIRUN and mpirun_argv((1, [REFERENCE, "save.py"])),
            "hydra": MPIEXEC_MPICH and [MPIEXEC_MPICH, "-n", "1", REFERENCE, "save.py"]}[launcher]
    if not argv:
        pytest.skip(f"{launcher} not installed")
    (tmp_path / "save.py").write_text("import os, json; json.dump(dict(os.environ), open('env.json', 'w'))\n")
    assert run_job(argv, tmp_path).returncode == 0
    p, elapsed = replay(pyhost, tmp_path, tmp_path / "env.json",
                        "import pyhost; print(pyhost.rank(), pyhost.size(), pyhost.mpi_active())")
    assert p.returncode == 0 and p.stdout == "0 1 False\n", p
    warnings = p.stderr.splitlines()
    assert len(warnings) == 1 and "running as a single process" in warnings[0], p.stderr
    assert elapsed < 10


# --- other launchers, sharing the index --------------------------------------

STATS = """\
import pyhost, re
s = pyhost.stats()
libs = sorted({m.group(0) for m in re.finditer(r"lib(mpi|mpich)\\.so\\.\\d+", open("/proc/self/maps").read())})
print("rank", pyhost.rank(), pyhost.size(), pyhost.peers()[1], s["dirs_listed"] > 0, s["dirs_merged"] > 0, *libs, flush=True)
"""


def check_sharing(job, n, lib):
    assert job.returncode == 0, job
    got = job.lines("rank")
    # Rank 0 lists, the others merge what it broadcast and list nothing.
    want = [f"rank 0 {n} {n} True False {lib}"] + [f"rank {r} {n} {n} False True {lib}" for r in range(1, n)]
    assert got == want, job


@needs_mpirun
def test_sharing_under_mpirun(pyhost, tmp_path):
    (tmp_path / "job.py").write_text(STATS)
    check_sharing(run_job(mpirun_argv((3, [pyhost, "-B", "job.py"])), tmp_path), 3, "libmpi.so.40")


@pytest.mark.skipif(MPIEXEC_MPICH is None, reason="mpiexec.mpich not found (apt-get install mpich)")
def test_sharing_under_hydra(pyhost, tmp_path):
    (tmp_path / "job.py").write_text(STATS)
    check_sharing(run_job([MPIEXEC_MPICH, "-n", "3", pyhost, "-B", "job.py"], tmp_path), 3, "libmpich.so.12")


@pytest.mark.skipif(MPIEXEC_MPICH is None, reason="mpiexec.mpich not found (apt-get install mpich)")
def test_hydra_child_and_stats(pyhost, tmp_path):
    """Under hydra too: a child of a rank is a plain process; -X pyhost.stats
    is printed by peer 0 for every rank."""
    (tmp_path / "job.py").write_text(
        "import subprocess, sys, pyhost\n"
        "r = subprocess.run([sys.executable, '-c', 'import pyhost; print(pyhost.mpi_active())'], capture_output=True,"
        " text=True, timeout=30)\n"
        "print('rank', pyhost.rank(), r.stdout.strip(), r.returncode, flush=True)\n")
    p = run_job([MPIEXEC_MPICH, "-n", "2", pyhost, "-X", "pyhost.stats", "job.py"], tmp_path)
    assert p.returncode == 0 and p.lines("rank") == ["rank 0 False 0", "rank 1 False 0"], p
    assert len(re.findall(r"^rank [01]: pyhost stats: ", p.stderr, re.M)) == 2, p


@pytest.mark.skipif(MPIEXEC_MPICH is None or shutil.which("mpicc.mpich") is None,
                    reason="MPICH not installed (apt-get install mpich libmpich-dev)")
def test_hydra_mpmd_peers_are_pyhost_siblings(pyhost, tmp_path):
    """MPICH publishes no app-context layout: pyhost finds its peers among
    its launcher's children, and the C ranks never take part."""
    (tmp_path / "noop.c").write_text(
        "#include <mpi.h>\n#include <stdio.h>\n"
        "int main(int c, char **v) { int r; MPI_Init(&c, &v); MPI_Comm_rank(MPI_COMM_WORLD, &r);"
        " printf(\"c %d\\n\", r); MPI_Finalize(); return 0; }\n")
    subprocess.run(["mpicc.mpich", "-o", str(tmp_path / "noop"), str(tmp_path / "noop.c")], check=True, timeout=120)
    (tmp_path / "job.py").write_text(STATS)
    p = run_job([MPIEXEC_MPICH, "-n", "1", tmp_path / "noop", ":", "-n", "2", pyhost, "-B", "job.py",
                 ":", "-n", "1", tmp_path / "noop"], tmp_path)
    assert p.returncode == 0, p
    assert p.lines("c ") == ["c 0", "c 3"], p
    assert p.lines("rank") == ["rank 1 4 2 True False libmpich.so.12", "rank 2 4 2 False True libmpich.so.12"], p


@pytest.mark.skipif(MPIEXEC_MPICH is None, reason="mpiexec.mpich not found (apt-get install mpich)")
def test_nested_hydra_from_a_rank(pyhost, tmp_path):
    """A child of a rank that a new launcher started is a rank of its own
    job (a new PMI socket), not a descendant."""
    (tmp_path / "job.py").write_text(
        "import subprocess, sys, pyhost\n"
        "if pyhost.rank() == 0:\n"
        "    r = subprocess.run(['mpiexec.mpich', '-n', '2', sys.executable, '-c',"
        " 'import pyhost; print(\"inner\", pyhost.rank(), pyhost.size(), pyhost.mpi_active(), flush=True)'],"
        " capture_output=True, text=True, timeout=40)\n"
        "    print('outer', r.returncode, sorted(l for l in r.stdout.split() if l in ('0', '1')), r.stdout.count('2 True'),"
        " flush=True)\n")
    p = run_job([MPIEXEC_MPICH, "-n", "2", pyhost, "job.py"], tmp_path)
    assert p.returncode == 0 and p.lines("outer") == ["outer 0 ['0', '1'] 2"], p


@pytest.fixture(scope="module")
def slurm():
    """A single-node Slurm started by scripts/slurm.sh (stopped again if this
    fixture started it)."""
    if not ROOT:
        pytest.skip("Slurm's slurmd needs root here")
    for b in ("srun", "munged", "slurmctld", "slurmd"):
        if not (shutil.which(b) or os.access(f"/usr/sbin/{b}", os.X_OK)):
            pytest.skip(f"{b} not found (scripts/install-deps.sh installs Slurm)")
    script = REPO / "scripts" / "slurm.sh"
    was_running = subprocess.run(["bash", script, "status"], capture_output=True).returncode == 0
    p = subprocess.run(["bash", script, "start"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        pytest.skip(f"scripts/slurm.sh start failed: {(p.stdout + p.stderr).strip()[-500:]}")
    conf = p.stdout.strip().rsplit("=", 1)[1]
    yield {"SLURM_CONF": conf}
    if not was_running:
        subprocess.run(["bash", script, "stop"], capture_output=True, timeout=60)


@pytest.mark.parametrize("mpi,lib", [("pmix", "libmpi.so.40"), ("pmi2", "libmpich.so.12")])
def test_sharing_under_srun(pyhost, tmp_path, slurm, mpi, lib):
    (tmp_path / "job.py").write_text(STATS)
    job = run_job(["srun", f"--mpi={mpi}", "-n", "2", "--overcommit", pyhost, "-B", "job.py"], tmp_path, env=slurm)
    check_sharing(job, 2, lib)


@needs_mpi4py
def test_mpi4py_and_children_under_srun_pmix(pyhost, tmp_path, slurm):
    (tmp_path / "job.py").write_text(CHILD)
    host, ref = both(lambda exe: ["srun", "--mpi=pmix", "-n", "2", "--overcommit", exe, "job.py"], tmp_path,
                     env=slurm, pyhost=pyhost)
    assert_same_outcome(host, ref, "rank")
    assert host.lines("rank") == [f"rank {r} 2 0 child says 42 2" for r in range(2)]


@needs_mpirun
@pytest.mark.skipif(not Path("/usr/lib/x86_64-linux-gnu/libmpich.so.12").exists(), reason="MPICH not installed")
def test_wrong_mpi_library_is_one_line_and_runs_alone(pyhost, tmp_path):
    p = run_job(mpirun_argv((2, [pyhost, "-c", "import pyhost; print('size', pyhost.size(), pyhost.peers()[1])"])),
                tmp_path, {"PYHOST_LIBMPI": "libmpich.so.12"})
    assert p.returncode == 0 and p.lines("size") == ["size 1 1"] * 2, p
    lines = [l for l in p.stderr.splitlines() if l.startswith("pyhost:")]
    assert len(lines) == 2 and all("libmpich.so.12" in l and "wrong MPI library" in l for l in lines), p


@needs_mpirun
def test_a_library_that_is_no_mpi_is_one_line_naming_it(pyhost, tmp_path):
    p = run_job(mpirun_argv((2, [pyhost, "-c", "print('not reached')"])), tmp_path, {"PYHOST_LIBMPI": "libz.so.1"})
    assert p.returncode != 0 and "not reached" not in p.stdout
    lines = [l for l in p.stderr.splitlines() if l.startswith("pyhost:")]
    # One line per rank that got that far: mpirun kills the other rank as
    # soon as the first one exits non-zero, which may be before it printed.
    assert 1 <= len(lines) <= 2 and all("libz.so.1: symbol PMPI_" in l for l in lines), p


@needs_mpi4py
def test_mpi4py_for_open_mpi_under_srun_pmi2_fails_as_with_python3(pyhost, tmp_path, slurm):
    """pyhost runs MPICH under PMI-2, mpi4py brings Open MPI: the
    application's MPI calls go to its own library, as under python3."""
    (tmp_path / "job.py").write_text("from mpi4py import MPI\nprint('size', MPI.COMM_WORLD.size, flush=True)\n")
    host, ref = both(lambda exe: ["srun", "--mpi=pmi2", "-n", "2", "--overcommit", exe, "job.py"], tmp_path,
                     env=slurm, pyhost=pyhost)
    assert (host.returncode != 0) == (ref.returncode != 0) and host.lines("size") == ref.lines("size"), (host, ref)
