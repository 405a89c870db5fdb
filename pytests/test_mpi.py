"""pyhost under mpirun: mpi4py works, imports are never collective, an
uncaught exception on one rank ends the job, and non-root ranks list nothing.

Every job runs under a timeout: a hang fails the test instead of CI.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import base_env, run

MPIRUN = shutil.which("mpirun")
pytestmark = pytest.mark.skipif(MPIRUN is None, reason="mpirun not found (apt-get install openmpi-bin)")

JOB_TIMEOUT = 120


def mpirun(pyhost, np, args, cwd, timeout=JOB_TIMEOUT, env=None):
    argv = [MPIRUN, "--oversubscribe", "-np", str(np)]
    if os.geteuid() == 0:
        argv.insert(1, "--allow-run-as-root")
    e = base_env()
    # These jobs run on local disk (tmp_path), where by default the root
    # bundles no bytecode (a rank reads its own from the page cache faster):
    # bundle everything, as on a shared file system, unless a test says.
    e["PYHOST_ROOTREADS"] = "all"
    e.update(env or {})
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv + [pyhost] + args, cwd=cwd, env=e, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as ex:
        pytest.fail(f"mpirun -np {np} did not finish in {timeout} s:\n{ex.stderr!r}")
    p.elapsed = time.monotonic() - t0
    return p


def lines(p, prefix):
    return sorted(l for l in p.stdout.decode().splitlines() if l.startswith(prefix))


@pytest.mark.parametrize("np", [1, 2, 3, 4])
def test_mpi4py_hello_bcast_allreduce(pyhost, tmp_path, np):
    (tmp_path / "job.py").write_text(
        "from mpi4py import MPI\n"
        "import pyhost\n"
        "c = MPI.COMM_WORLD\n"
        "v = c.bcast({'k': 42} if c.rank == 0 else None, root=0)\n"
        "s = c.allreduce(c.rank + 1)\n"
        "c.Barrier()\n"
        "print('rank', c.rank, c.size, pyhost.rank(), pyhost.size(), pyhost.mpi_active(), v['k'], s, MPI.Is_initialized())\n")
    p = mpirun(pyhost, np, ["job.py"], tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    want = sorted(f"rank {r} {np} {r} {np} True 42 {np * (np + 1) // 2} True" for r in range(np))
    assert lines(p, "rank ") == want


def test_uncaught_exception_ends_the_rank_as_python_then_aborts(pyhost, tmp_path):
    # Rank 1 raises while the others wait in a collective: without an
    # abort they would wait forever. As under python -m mpi4py, the
    # failing rank's atexit handlers and finalizers run and its files'
    # buffers are written, then the job is aborted.
    # pyhost aborted from the excepthook, and the rank's file stayed empty.
    (tmp_path / "job.py").write_text(
        "import atexit, sys\n"
        "from mpi4py import MPI\n"
        "c = MPI.COMM_WORLD\n"
        "if c.rank == 1:\n"
        "    f = open('buffered.txt', 'w'); f.write('written at exit\\n')\n"
        "    atexit.register(lambda: open('atexit.txt', 'w').write('ran'))\n"
        "    raise RuntimeError('rank one fails')\n"
        "c.Barrier()\n"
        "print('not reached', flush=True)\n")
    p = mpirun(pyhost, 3, ["job.py"], tmp_path, timeout=60)
    assert p.returncode != 0
    assert b"RuntimeError: rank one fails" in p.stderr
    assert b"not reached" not in p.stdout
    assert (tmp_path / "atexit.txt").read_text() == "ran"
    assert (tmp_path / "buffered.txt").read_text() == "written at exit\n"
    assert p.elapsed < 30, f"the job took {p.elapsed:.1f} s to end"


def test_excepthook_called_by_the_program_does_not_abort(pyhost, tmp_path):
    # A program that reports an exception it handled through
    # sys.excepthook (as some logging setups do) goes on; pyhost aborted
    # the job from the hook.
    (tmp_path / "job.py").write_text(
        "import sys\n"
        "from mpi4py import MPI\n"
        "c = MPI.COMM_WORLD\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n    sys.excepthook(*sys.exc_info())\n"
        "c.Barrier()\n"
        "print('rank', c.rank, 'done', flush=True)\n")
    p = mpirun(pyhost, 2, ["job.py"], tmp_path, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    assert lines(p, "rank ") == ["rank 0 done", "rank 1 done"]
    assert p.stderr.count(b"ZeroDivisionError") == 2, p.stderr


@pytest.mark.parametrize("exc", ["KeyboardInterrupt", "ValueError('rank one fails')"])
@pytest.mark.parametrize("mpi", ["", "from mpi4py import MPI; MPI.Finalize()\n"])
def test_uncaught_exception_in_a_rank_not_using_mpi_ends_as_python3s(pyhost, reference, tmp_path, exc, mpi):
    # A rank whose program never used MPI (or finalized it) is no MPI
    # process under python3: rank 1's exception ends it as python3 ends
    # (KeyboardInterrupt: killed by SIGINT, the job 130; else status 1),
    # not with MPI_Abort, while rank 0 finishes its work.
    (tmp_path / "job.py").write_text(
        "import os, time\n" + mpi +
        "if os.environ['OMPI_COMM_WORLD_RANK'] == '1':\n"
        f"    raise {exc}\n"
        "print('rank 0 done', flush=True)\n")
    got = {}
    for exe in (pyhost, reference):
        p = mpirun(exe, 2, ["job.py"], tmp_path, timeout=60)
        err = p.stderr.decode()
        got[exe] = (p.returncode, "MPI_ABORT" in err, "exited on signal 2" in err,
                    err.count("Traceback (most recent call last)"), exc.split("(")[0] in err)
    assert got[pyhost] == got[reference], got
    assert got[reference][0] == (130 if exc == "KeyboardInterrupt" else 1), got


@pytest.mark.parametrize("how", [["job.py"], ["-m", "job"], ["-m", "mpi4py", "job.py"]])
def test_system_exit_nonzero_aborts_the_job(pyhost, tmp_path, how):
    # Rank 1 leaves with sys.exit(4) while the others wait in a collective:
    # MPI_Finalize would wait for them, and they for it (python3 + mpi4py
    # hangs there); the job ends with 4, as under python -m mpi4py.
    (tmp_path / "job.py").write_text(
        "import sys\nfrom mpi4py import MPI\nc = MPI.COMM_WORLD\n"
        "if c.rank == 1:\n    sys.exit(4)\nc.Barrier()\nprint('not reached', flush=True)\n")
    p = mpirun(pyhost, 3, how, tmp_path, timeout=60)
    assert p.returncode == 4, p.stderr.decode()
    assert b"not reached" not in p.stdout
    assert p.elapsed < 30, f"the job took {p.elapsed:.1f} s to end"


def test_mpi_call_after_finalize_fails_at_once(pyhost, reference, tmp_path):
    # The application's MPI_Finalize is a real one: a collective after it
    # fails at once, as under python3 + mpi4py; pyhost's finalization,
    # only marked, left rank 0's Barrier waiting for rank 1, gone into
    # pyhost's own MPI_Finalize at exit, forever.
    # Rank 0 calls the collective only once rank 1 has printed (a mark file,
    # waited for at most 20 s): the abort it causes kills rank 1, and without
    # the wait whether rank 1's line came out first was a race, under
    # python3 as under pyhost.
    (tmp_path / "job.py").write_text(
        "import os, time\nfrom mpi4py import MPI\nc = MPI.COMM_WORLD\nr = c.rank\nMPI.Finalize()\n"
        "print('finalized', r, MPI.Is_finalized(), flush=True)\n"
        "if r == 1:\n    open(os.environ['MARK'], 'w').close()\n"
        "if r == 0:\n    t = time.monotonic() + 20\n"
        "    while not os.path.exists(os.environ['MARK']) and time.monotonic() < t:\n"
        "        time.sleep(0.01)\n    c.Barrier()\n")
    host = mpirun(pyhost, 2, ["job.py"], tmp_path, timeout=60, env={"MARK": str(tmp_path / "host.mark")})
    ref = mpirun(reference, 2, ["job.py"], tmp_path, timeout=60, env={"MARK": str(tmp_path / "ref.mark")})
    assert ref.returncode != 0 and b"called after MPI_FINALIZE" in ref.stderr, ref.stderr.decode()
    assert host.returncode == ref.returncode, host.stderr.decode()
    assert b"called after MPI_FINALIZE" in host.stderr, host.stderr.decode()
    assert lines(host, "finalized") == lines(ref, "finalized") == ["finalized 0 True", "finalized 1 True"]


@pytest.mark.parametrize("how", ["raise", "exit3", "end"])
def test_forked_child_of_a_rank_is_no_rank(pyhost, reference, tmp_path, how):
    # A child of fork() in a rank whose program never used MPI: an uncaught
    # exception there ran pyhost's MPI_Abort hook in the child, which hung
    # the job; the child ends as under python3.
    (tmp_path / "job.py").write_text(
        "import os, sys\npid = os.fork()\nif pid == 0:\n"
        "    import json\n"
        "    if sys.argv[1] == 'raise':\n        raise KeyError('child')\n"
        "    if sys.argv[1] == 'exit3':\n        sys.exit(3)\n"
        "    sys.exit(0)\n"
        "print('child status', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)\n")
    host = mpirun(pyhost, 2, ["job.py", how], tmp_path, timeout=60)
    ref = mpirun(reference, 2, ["job.py", how], tmp_path, timeout=60)
    assert host.returncode == ref.returncode == 0, host.stderr.decode()
    assert lines(host, "child") == lines(ref, "child")


def test_system_exit_zero_does_not_abort(pyhost, tmp_path):
    (tmp_path / "job.py").write_text(
        "import sys\nfrom mpi4py import MPI\nc = MPI.COMM_WORLD\nc.Barrier()\n"
        "print('done', c.rank, flush=True)\nsys.exit(0)\n")
    p = mpirun(pyhost, 2, ["job.py"], tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    assert lines(p, "done") == ["done 0", "done 1"]


@pytest.mark.parametrize("held", ["flock", "fifo"])
def test_rank_waiting_for_a_never_mpi_ranks_files(pyhost, tmp_path, held):
    # A program that never uses MPI: its ranks are no MPI processes under
    # python3, and rank 1 waits for what rank 0's end releases (a lock
    # held on a raw descriptor, the write end of a FIFO). pyhost's rank 0
    # waits in MPI_Finalize for rank 1: it closes what its program left
    # open first, as python3's exit would.
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "job.py").write_text(
        "import fcntl, os, time, pyhost\n"
        "if pyhost.rank() == 0:\n"
        "    if HELD == 'flock':\n"
        "        fd = os.open('lock', os.O_WRONLY | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "        open('ready', 'w').close()\n"
        "    else:\n"
        "        fd = os.open('fifo', os.O_WRONLY); os.write(fd, b'x')\n"
        "    print('rank 0 done', flush=True)\n"
        "elif HELD == 'flock':\n"
        "    while not os.path.exists('ready'): time.sleep(0.01)\n"
        "    fcntl.flock(os.open('lock', os.O_WRONLY | os.O_CREAT), fcntl.LOCK_EX); print('rank 1 locked', flush=True)\n"
        "else:\n"
        "    with open('fifo', 'rb') as f: print('rank 1 read', f.read(), flush=True)\n"
        .replace("HELD", repr(held)))
    p = mpirun(pyhost, 2, ["job.py"], tmp_path, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    assert len(lines(p, "rank ")) == 2, p.stdout.decode()


def test_divergent_ranks_do_not_deadlock(pyhost, tmp_path):
    # Different sys.path changes and imports on each rank: imports are never
    # collective, so every rank finishes.
    for r in range(3):
        d = tmp_path / f"only{r}"
        d.mkdir()
        (d / f"mod{r}.py").write_text(f"v = {r}\n")
    (tmp_path / "job.py").write_text(
        "import os, sys, importlib, pyhost\n"
        "r = pyhost.rank()\n"
        "sys.path.insert(0, os.path.abspath(f'only{r}'))\n"
        "m = importlib.import_module(f'mod{r}')\n"
        "extra = ['json', 'email.mime.text', 'xml.dom.minidom'][r]\n"
        "importlib.import_module(extra)\n"
        "try:\n    importlib.import_module(f'mod{(r + 1) % 3}')\n    other = True\n"
        "except ImportError:\n    other = False\n"
        "print('rank', r, m.v, other, flush=True)\n")
    p = mpirun(pyhost, 3, ["job.py"], tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    assert lines(p, "rank ") == ["rank 0 0 False", "rank 1 1 False", "rank 2 2 False"]


def test_non_root_ranks_list_nothing(pyhost, tmp_path):
    # Rank 0 lists and broadcasts; the others import the standard library
    # (and the job's own directory) without listing a directory. (-B: a
    # rank writing __pycache__ changes the directory, and the others would
    # rightly list it again.)
    (tmp_path / "helper_mod.py").write_text("x = 1\n")
    (tmp_path / "job.py").write_text(
        "import json, email.mime.text, xml.dom.minidom, helper_mod, pyhost\n"
        "print('listed', pyhost.rank(), pyhost.stats()['dirs_listed'], flush=True)\n")
    p = mpirun(pyhost, 3, ["-B", "-X", "pyhost.stats", "job.py"], tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    listed = {int(r): int(n) for _, r, n in (l.split() for l in lines(p, "listed"))}
    assert listed[0] > 0 and listed[1] == 0 and listed[2] == 0, listed
    # -X pyhost.stats: rank 0 prints every rank's counters, once.
    stats = [l for l in p.stderr.decode().splitlines() if "pyhost stats:" in l]
    assert sorted(l.split(":")[0] for l in stats) == ["rank 0", "rank 1", "rank 2"], stats


def test_share_paths_is_collective_listing(pyhost, tmp_path):
    shared = tmp_path / "deep" / "shared"
    (shared / "spkg").mkdir(parents=True)
    (shared / "spkg" / "__init__.py").write_text("")
    (shared / "spkg" / "inner.py").write_text("v = 5\n")
    (tmp_path / "job.py").write_text(
        "import sys, pyhost\n"
        f"d = {str(shared)!r}\n"
        "before = pyhost.stats()['dirs_listed']\n"
        "pyhost.share_paths([d])\n"
        "sys.path.insert(0, d)\n"
        "import spkg.inner\n"
        "print('shared', pyhost.rank(), spkg.inner.v, pyhost.stats()['dirs_listed'] - before, flush=True)\n")
    # -B: a rank writing spkg/__pycache__ changes spkg, and the other would
    # rightly list it again.
    p = mpirun(pyhost, 2, ["-B", "job.py"], tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    got = lines(p, "shared")
    assert got[0].startswith("shared 0 5 ") and got[1] == "shared 1 5 0", got


def test_exit_status_and_output_as_without_mpirun(pyhost, tmp_path):
    # One rank: the same output and status as a plain run.
    (tmp_path / "job.py").write_text("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)\n")
    p = mpirun(pyhost, 1, ["job.py"], tmp_path)
    plain = subprocess.run([pyhost, "job.py"], cwd=tmp_path, capture_output=True, env=base_env(), timeout=60)
    assert p.stdout == plain.stdout == b"out\n"
    assert b"err\n" in p.stderr
    assert p.returncode != 0 and plain.returncode == 3


def write_bundle_job(job, lib, modules, at=0):
    """Writes the script job: lib put on sys.path (at index at), json,
    email.mime.text and modules imported, then 'rank R <each module's v>
    <modules taken from the bundle>' printed."""
    job.write_text(
        "import sys, pyhost\n"
        f"sys.path.insert({at}, {str(lib)!r})\n"
        f"import json, email.mime.text, {', '.join(modules)}\n"
        f"print('rank', pyhost.rank(), {', '.join(m + '.v' for m in modules)}, pyhost.stats()['bundled'], flush=True)\n")


def test_bytecode_bundle_on_second_run(pyhost, tmp_path):
    # First run: rank 0 records the modules it loaded from source. Second
    # run: their stats and bytecode reach the other ranks in one broadcast;
    # a source changed in between is loaded from its file, new.
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "stable.py").write_text("v = 'stable'\n")
    (lib / "changing.py").write_text("v = 'old'\n")
    write_bundle_job(tmp_path / "job.py", lib, ["stable", "changing"])
    env = {"PYHOST_CACHEDIR": str(tmp_path / "cache")}
    first = mpirun(pyhost, 2, ["job.py"], tmp_path, env=env)
    assert first.returncode == 0, first.stderr.decode()
    assert [l.split()[:4] for l in lines(first, "rank")] == [["rank", "0", "stable", "old"], ["rank", "1", "stable", "old"]]
    assert all(l.split()[4] == "0" for l in lines(first, "rank"))

    st = (lib / "changing.py").stat()
    (lib / "changing.py").write_text("v = 'new'\n")
    os.utime(lib / "changing.py", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    second = mpirun(pyhost, 2, ["job.py"], tmp_path, env=env)
    assert second.returncode == 0, second.stderr.decode()
    got = [l.split() for l in lines(second, "rank")]
    assert [g[:4] for g in got] == [["rank", "0", "stable", "new"], ["rank", "1", "stable", "new"]], got
    assert all(int(g[4]) > 10 for g in got), got  # json, email... and stable came from the bundle


def online_cpus():
    """Processors online on this node (not this process's affinity)."""
    n = 0
    with open("/sys/devices/system/cpu/online") as f:
        for part in f.read().strip().split(","):
            lo, _, hi = part.partition("-")
            n += int(hi or lo) - int(lo) + 1
    return n


@pytest.mark.parametrize("crowded", [False, True], ids=["ranks<=cpus", "ranks>cpus"])
def test_no_bundle_from_local_disk_unless_told(pyhost, tmp_path, crowded):
    # On a file system not shared between nodes (tmp_path, /usr here), the
    # root bundles nothing by default: each rank reads its own bytecode,
    # and gets what it would without pyhost; also when the node has more
    # ranks than processors (bundling there made a warm sci job 1.2x
    # slower than python3 + mpi4py at np = 4 and 8 on 2 processors).
    cpus = online_cpus()
    np = cpus + 1 if crowded else 2
    if not crowded and cpus < 2:
        pytest.skip("one processor online: two ranks already crowd the node")
    if crowded and np > 8:
        pytest.skip(f"{cpus} processors online: {np} ranks would make a long test")
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "changing.py").write_text("v = 'old'\n")
    write_bundle_job(tmp_path / "job.py", lib, ["changing"])
    env = {"PYHOST_CACHEDIR": str(tmp_path / "cache"), "PYHOST_ROOTREADS": "shared"}
    first = mpirun(pyhost, np, ["job.py"], tmp_path, env=env)
    assert first.returncode == 0, first.stderr.decode()
    st = (lib / "changing.py").stat()
    (lib / "changing.py").write_text("v = 'new'\n")
    os.utime(lib / "changing.py", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    second = mpirun(pyhost, np, ["job.py"], tmp_path, env=env)
    assert second.returncode == 0, second.stderr.decode()
    got = [l.split() for l in lines(second, "rank")]
    assert [g[:3] for g in got] == [["rank", str(r), "new"] for r in range(np)], got
    assert all(g[3] == "0" for g in got), got
    # The same second job told to bundle all takes json, email... from it.
    third = mpirun(pyhost, np, ["job.py"], tmp_path, env=dict(env, PYHOST_ROOTREADS="all"))
    assert third.returncode == 0, third.stderr.decode()
    assert all(int(l.split()[3]) > 10 for l in lines(third, "rank")), third.stdout


GENERATED = [
    "v = 'run1'\n",
    "v = 'run2'  # a longer module than before\n",
    "v = 'run3'\n",             # shorter again
    "v = 'run4'\n",             # the same size as run 3's, a new mtime
    "v = 'run5'\n",
]


def generate_then_import(lib, invalidate):
    return (
        "import importlib, os, sys\n"
        "from mpi4py import MPI\n"
        "c = MPI.COMM_WORLD\n"
        f"sys.path.insert(0, {str(lib)!r})\n"
        "import json, stable\n"
        "if c.rank == 0:\n"
        "    text = open('next.txt').read()\n"
        "    p = os.path.join(sys.path[0], 'gen.py')\n"
        "    old = os.stat(p).st_mtime_ns if os.path.exists(p) else 0\n"
        "    with open(p, 'w') as f:\n"
        "        f.write(text)\n"
        "    # a new whole-second mtime, as a code generator a second later would give\n"
        "    t = max(old, os.stat(p).st_mtime_ns) + 2_000_000_000\n"
        "    os.utime(p, ns=(t, t))\n"
        "c.Barrier()\n"
        + ("importlib.invalidate_caches()\n" if invalidate else "") +
        "import gen\n"
        "print('rank', c.rank, gen.v, flush=True)\n")


@pytest.mark.parametrize("exe", ["pyhost", "python3.11"])
def test_module_written_during_the_job_is_loaded_new_on_every_rank(pyhost, reference, tmp_path, exe):
    # Five jobs in a row: rank 0 writes gen.py, then a Barrier,
    # importlib.invalidate_caches() and an import on every rank. From the
    # second job on, the bytecode bundle holds the previous job's gen: it
    # must not be served after invalidate_caches.
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "stable.py").write_text("v = 1\n")
    (tmp_path / "job.py").write_text(generate_then_import(lib, invalidate=True))
    env = {"PYHOST_CACHEDIR": str(tmp_path / "cache")}
    for i, text in enumerate(GENERATED):
        (tmp_path / "next.txt").write_text(text)
        p = mpirun(pyhost if exe == "pyhost" else reference, 3, ["job.py"], tmp_path, env=env)
        assert p.returncode == 0, p.stderr.decode()
        assert lines(p, "rank") == [f"rank {r} run{i + 1}" for r in range(3)], (i, p.stdout, p.stderr)


def test_written_during_the_job_without_invalidate_caches(pyhost, tmp_path):
    # Without importlib.invalidate_caches(): the second job's bundle holds
    # the first job's gen, whose source rank 0 rewrites during the job. In
    # a program's directory on the node's own file system (tmp_path), each
    # rank checks the source's stat before taking it from the bundle, so
    # every rank loads the new one, as python3 does. (On a shared file
    # system it is served as rank 0 read it: the README's one window.)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "stable.py").write_text("v = 1\n")
    (tmp_path / "job.py").write_text(generate_then_import(lib, invalidate=False))
    env = {"PYHOST_CACHEDIR": str(tmp_path / "cache"), "PYHOST_STATS": "1"}
    for i, text in enumerate(GENERATED[:2]):
        (tmp_path / "next.txt").write_text(text)
        p = mpirun(pyhost, 2, ["job.py"], tmp_path, env=env)
        assert p.returncode == 0, p.stderr.decode()
    got = lines(p, "rank")
    assert got == ["rank 0 run2", "rank 1 run2"], got
    # The bundle did serve the job (stable.py, json's modules).
    assert re.search(rb"rank 1: pyhost stats: .*bundled=[1-9]", p.stderr), p.stderr


NODE_WRAPPER = """#!/bin/sh
# One "node" per rank: its own host name and, at $LOCAL, a directory of
# its own (bind-mounted from $BASE/node<rank>), as /tmp or node-local
# scratch differ between the nodes of a real job.
exec unshare --mount --uts --propagation private sh -c '
    hostname "node$OMPI_COMM_WORLD_RANK" &&
    mount --bind "$BASE/node$OMPI_COMM_WORLD_RANK" "$LOCAL" &&
    exec "$@"' sh "$@"
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="per-rank mount and UTS namespaces need root and unshare")
def test_node_local_directories_are_each_nodes_own(pyhost, tmp_path):
    # Two "nodes" (one rank each) with different files at the same path on
    # a node-local file system: rank 1 must see its own, never rank 0's
    # listing or bytecode, in a first job and in a second (with a bundle).
    local, base = tmp_path / "local", tmp_path / "base"
    local.mkdir()
    for r in (0, 1):
        d = base / f"node{r}"
        d.mkdir(parents=True)
        (d / "nodemod.py").write_text(f"v = {r}\n")
        (d / f"only{r}.py").write_text(f"w = {r}\n")
    wrapper = tmp_path / "node.sh"
    wrapper.write_text(NODE_WRAPPER)
    wrapper.chmod(0o755)
    (tmp_path / "job.py").write_text(
        "import sys, socket\n"
        "from mpi4py import MPI\n"
        "r = MPI.COMM_WORLD.rank\n"
        f"sys.path.insert(0, {str(local)!r})\n"
        "import nodemod\n"
        "own = __import__(f'only{r}')\n"
        "import pyhost\n"
        "print('rank', r, socket.gethostname(), nodemod.v, own.w, flush=True)\n"
        "print('peers', r, pyhost.peers()[1], flush=True)\n")
    argv = [MPIRUN, "--oversubscribe", "-np", "2", str(wrapper), pyhost, "-X", "pyhost.misses=final", "job.py"]
    if os.geteuid() == 0:
        argv.insert(1, "--allow-run-as-root")
    env = base_env()
    env.update(PYHOST_CACHEDIR=str(tmp_path / "cache"), LOCAL=str(local), BASE=str(base))
    for job in ("first", "second"):
        try:
            p = subprocess.run(argv, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=JOB_TIMEOUT, start_new_session=True)
        except subprocess.TimeoutExpired as ex:
            pytest.fail(f"{job} job did not finish in {JOB_TIMEOUT} s:\n{ex.stderr!r}")
        assert p.returncode == 0, (job, p.stderr.decode())
        assert lines(p, "rank") == ["rank 0 node0 0 0", "rank 1 node1 1 1"], (job, p.stdout, p.stderr)
        # ... although the two ranks were peers, sharing what a shared file
        # system holds (here the whole tree is on local disks: nothing).
        assert lines(p, "peers") == ["peers 0 2", "peers 1 2"], (job, p.stdout, p.stderr)


def test_rank_killed_by_a_signal_ends_the_job(pyhost, tmp_path):
    (tmp_path / "job.py").write_text(
        "import os, signal\nfrom mpi4py import MPI\nc = MPI.COMM_WORLD\n"
        "if c.rank == 1:\n    os.kill(os.getpid(), signal.SIGKILL)\n"
        "c.Barrier()\nprint('not reached', flush=True)\n")
    p = mpirun(pyhost, 2, ["job.py"], tmp_path, timeout=60)
    assert p.returncode != 0 and b"not reached" not in p.stdout
    assert p.elapsed < 30, f"the job took {p.elapsed:.1f} s to end"


def test_mpi_library_missing_is_a_clear_error(pyhost, tmp_path):
    p = mpirun(pyhost, 2, ["-c", "print('not reached')"], tmp_path, timeout=60,
               env={"PYHOST_LIBMPI": "/nonexistent/libmpi.so.40"})
    assert p.returncode != 0 and b"not reached" not in p.stdout
    assert b"MPI initialization failed" in p.stderr and b"/nonexistent/libmpi.so.40" in p.stderr, p.stderr


NOMPI = os.environ.get("PYHOST_NOMPI")


@pytest.mark.skipif(not NOMPI, reason="set PYHOST_NOMPI to a pyhost built with -tags nompi (scripts/test.sh does)")
def test_nompi_build_under_mpirun_runs_single_processes(tmp_path):
    p = mpirun(NOMPI, 2, ["-c", "import pyhost; print('rank', pyhost.rank(), pyhost.size(), pyhost.mpi_active())"], tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    assert lines(p, "rank") == ["rank 0 1 False", "rank 0 1 False"]
    assert p.stderr.count(b"built without MPI") == 2, p.stderr


def _stats_of(p):
    """rank -> counters, from the -X pyhost.stats lines of a job."""
    out = {}
    for line in p.stderr.decode().splitlines():
        head, sep, rest = line.partition(": pyhost stats: ")
        if sep and head.startswith("rank "):
            out[int(head.split()[1])] = {k: int(v) for k, v in (kv.split("=") for kv in rest.split())}
    return out


def _age(*paths):
    old = time.time() - 3600
    for p in paths:
        os.utime(p, (old, old))


@pytest.mark.usefixtures("needs_persistent_cache")
def test_a_new_program_in_a_used_environment_starts_warm(pyhost, reference, tmp_path):
    # Program A runs (cold: its root lists every tree, the 150 unused
    # directories of big/ included). Then program B, new to the
    # environment: its root verifies what the environment's runs used,
    # lists the trees' top-level packages themselves and what B names
    # (bb/, newpkg/) in full, not the trees; a module and a package added
    # after A's job are found; the other rank lists nothing; the answers
    # are python3.11's.
    lib = tmp_path / "lib"
    files = {
        "common/__init__.py": "", "common/c1.py": "v = 'c1'\n",
        "aa/__init__.py": "", "aa/sub/__init__.py": "", "aa/sub/a1.py": "v = 'a1'\n",
        "bb/__init__.py": "", "bb/sub/__init__.py": "", "bb/sub/b1.py": "v = 'b1'\n",
    }
    files.update({f"big/d{i}/m{j}/x.py": "" for i in range(30) for j in range(4)})
    for name, text in files.items():
        (lib / name).parent.mkdir(parents=True, exist_ok=True)
        (lib / name).write_text(text)
    (tmp_path / "a.py").write_text("import aa.sub.a1, common.c1, pyhost\n"
                                   "print('rank', pyhost.rank(), aa.sub.a1.v, common.c1.v, flush=True)\n")
    (tmp_path / "b.py").write_text(
        "import sys\n"
        "import bb.sub.b1, common.c1, common.fresh, newpkg\n"
        "from newpkg import inner\n"
        "try:\n    import pyhost\n    r = pyhost.rank()\nexcept ImportError:\n    r = 0  # python3.11\n"
        "print('rank', r, bb.sub.b1.v, common.c1.v, common.fresh.v, inner.v, flush=True)\n")
    _age(*[p for p in lib.rglob("*") if p.is_dir()], lib, tmp_path)
    env = {"PYHOST_CACHEDIR": str(tmp_path / "cache"), "PYTHONPATH": str(lib),
           "PYTHONPYCACHEPREFIX": str(tmp_path / "pyc")}
    a = mpirun(pyhost, 2, ["-X", "pyhost.stats", "a.py"], tmp_path, env=env)
    assert a.returncode == 0, a.stderr.decode()
    assert lines(a, "rank") == ["rank 0 a1 c1", "rank 1 a1 c1"], a.stdout
    cold = _stats_of(a)[0]["dirs_listed"]
    assert cold > 150  # the whole trees

    # Written after A's job: B must see them.
    (lib / "common" / "fresh.py").write_text("v = 'fresh'\n")
    (lib / "newpkg").mkdir()
    (lib / "newpkg" / "__init__.py").write_text("")
    (lib / "newpkg" / "inner.py").write_text("v = 'inner'\n")
    b = mpirun(pyhost, 2, ["-X", "pyhost.stats", "b.py"], tmp_path, env=env)
    assert b.returncode == 0, b.stderr.decode()
    ref = run([reference, "b.py"], env={**base_env(), **env}, cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    want = ref.stdout.decode().split()[2:]
    assert [l.split()[2:] for l in lines(b, "rank")] == [want, want], (b.stdout, ref.stdout)
    st = _stats_of(b)
    # A's runs used aa, aa/sub, common (and few others); the trees' tops
    # are a few dozen; B names bb/ (2 directories) and newpkg/ (1): far
    # from A's cold walk, and nothing below big/d*.
    assert st[0]["dirs_listed"] + st[0]["verifications"] < cold / 4, (cold, st[0])
    assert st[1]["dirs_listed"] == 0, st[1]  # everything B needed came from the root

    # B, now known, changed to import what only A used: its root verifies
    # B's own directories; A's (aa, aa/sub) reach the other rank
    # unverified, which stats them instead of listing them.
    (tmp_path / "b.py").write_text("import aa.sub.a1, bb.sub.b1, pyhost\n"
                                   "print('rank', pyhost.rank(), aa.sub.a1.v, bb.sub.b1.v, flush=True)\n")
    b2 = mpirun(pyhost, 2, ["-X", "pyhost.stats", "b.py"], tmp_path, env=env)
    assert b2.returncode == 0, b2.stderr.decode()
    assert lines(b2, "rank") == ["rank 0 a1 b1", "rank 1 a1 b1"], b2.stdout
    st = _stats_of(b2)
    assert st[1]["dirs_listed"] == 0 and st[1]["verifications"] >= 2, st[1]


@pytest.mark.usefixtures("needs_persistent_cache")
def test_single_process_runs_and_pyhost_warm_warm_the_environment(pyhost, tmp_path):
    # A run outside MPI (a test on a login node) records what it loaded:
    # the next job of a new program starts warm (its root walks no tree).
    # What one other program loaded is not bundled for a new one; what a
    # -X pyhost.warm run loaded is.
    lib = tmp_path / "lib"
    files = {"common/__init__.py": "", "common/c1.py": "v = 'c1'\n",
             "aa/__init__.py": "", "aa/sub/__init__.py": "", "aa/sub/a1.py": "v = 'a1'\n"}
    files.update({f"big/d{i}/sub/x.py": "" for i in range(100)})
    for name, text in files.items():
        (lib / name).parent.mkdir(parents=True, exist_ok=True)
        (lib / name).write_text(text)
    body = "import aa.sub.a1, common.c1, pyhost\nprint('rank', pyhost.rank(), aa.sub.a1.v, common.c1.v, flush=True)\n"
    for name in ("first.py", "second.py", "third.py"):
        (tmp_path / name).write_text(body)
    _age(*[p for p in lib.rglob("*") if p.is_dir()], lib, tmp_path)
    cache = tmp_path / "cache"
    env = {"PYHOST_CACHEDIR": str(cache), "PYTHONPATH": str(lib), "PYTHONPYCACHEPREFIX": str(tmp_path / "pyc")}
    e = {**base_env(), **env}
    alone = run([pyhost, "first.py"], env=e, cwd=tmp_path)
    assert alone.returncode == 0 and alone.stdout == b"rank 0 a1 c1\n", alone.stderr
    assert len(list(cache.glob("env-*.modules"))) == 1, list(cache.iterdir())

    second = mpirun(pyhost, 2, ["-X", "pyhost.stats", "second.py"], tmp_path, env=env)
    assert second.returncode == 0, second.stderr.decode()
    assert lines(second, "rank") == ["rank 0 a1 c1", "rank 1 a1 c1"]
    st = _stats_of(second)
    off = mpirun(pyhost, 2, ["-X", "pyhost.stats", "-X", "pyhost.cache=off", "second.py"], tmp_path, env=env)
    assert off.returncode == 0, off.stderr.decode()
    cold = _stats_of(off)[0]["dirs_listed"]
    assert cold > 200 and st[0]["dirs_listed"] < cold / 4, (cold, st[0])  # warm: no walk of the trees
    assert st[1]["dirs_listed"] == 0 and st[1]["bundled"] == 0, st[1]

    # -B: nothing can be recorded, and it says so.
    r = run([pyhost, "-B", "-X", "pyhost.warm", "-c", "import aa.sub.a1"], env=e, cwd=tmp_path)
    assert r.returncode == 0 and r.stderr.count(b"pyhost.warm records nothing") == 1, r.stderr
    r = run([pyhost, "-X", "pyhost.warm", "-c", "import aa.sub.a1, common.c1"], env=e, cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    third = mpirun(pyhost, 2, ["-X", "pyhost.stats", "third.py"], tmp_path, env=env)
    assert third.returncode == 0, third.stderr.decode()
    assert lines(third, "rank") == ["rank 0 a1 c1", "rank 1 a1 c1"]
    st = _stats_of(third)
    assert st[1]["bundled"] >= 5, st[1]  # aa, aa.sub, aa.sub.a1, common, common.c1
