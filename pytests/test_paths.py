"""The path configuration and site's scan: python3.11's results, computed
with one run of getpath's probes, and under mpirun taken from rank 0 by the
other ranks, which then make no metadata call under Python's trees or
pyhost's own directory (no listing, no ENOENT).

Every child runs under a timeout that fails the test.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REFERENCE, assert_same, base_env, run

MPIRUN = shutil.which("mpirun")
STRACE = shutil.which("strace")
JOB_TIMEOUT = 120

SHOW = r"""
import sys, site
print("path", sys.path)
print("prefix", sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix)
print("exe", sys.executable, sys._base_executable, sys._stdlib_dir, sys.platlibdir)
print("flags", sys.flags)
print("site", site.ENABLE_USER_SITE, site.getsitepackages(), site.USER_SITE)
"""


@pytest.mark.parametrize("args,env", [
    ([], {}),
    (["-I"], {}),
    (["-E"], {"PYTHONPATH": "/tmp"}),
    (["-S"], {}),
    (["-s"], {}),
    ([], {"PYTHONPATH": "/tmp:rel/dir:/nonexistent:"}),
    ([], {"PYTHONHOME": "/usr"}),
    ([], {"PYTHONHOME": "/usr:/usr"}),
    ([], {"PYTHONNOUSERSITE": "1"}),
], ids=["plain", "I", "E-PYTHONPATH", "S", "s", "PYTHONPATH", "PYTHONHOME", "PYTHONHOME-pair", "PYTHONNOUSERSITE"])
def test_paths_as_python3(parity, args, env):
    parity.check(args + ["-c", SHOW], env=env)


def swap_run(link, target_ref, target_host, args, env, cwd):
    """Run the interpreter at the path link: python3.11's, then pyhost's (so
    that nothing needs normalising). Returns (pyhost, python3.11)."""
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target_ref)
    ref = run([str(link)] + args, env=env, cwd=cwd)
    link.unlink()
    link.symlink_to(target_host)
    host = run([str(link)] + args, env=env, cwd=cwd)
    return host, ref


def test_symlinked_pyhost(pyhost, tmp_path):
    # Through a symlink, getpath resolves the link to find the prefix;
    # sys.executable stays the link.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    host, ref = swap_run(bindir / "python3", REFERENCE, pyhost, ["-c", SHOW], base_env(tmp_path), tmp_path)
    # _base_executable and the computed prefix follow the link's target.
    host = host.normalised(pyhost, REFERENCE)
    assert ref.returncode == 0, ref
    assert_same(host, ref)


@pytest.mark.parametrize("system_site", [False, True], ids=["venv", "venv-system-site"])
def test_venv_paths(pyhost, tmp_path, system_site):
    # pyvenv.cfg beside the executable: its home and
    # include-system-site-packages, as the venv's own python sees them.
    venv = tmp_path / "venv"
    env = base_env(tmp_path)
    extra = ["--system-site-packages"] if system_site else []
    r = run([REFERENCE, "-m", "venv", "--without-pip", *extra, str(venv)], env=env, cwd=tmp_path)
    assert r.returncode == 0, r
    assert ("include-system-site-packages = " + ("true" if system_site else "false")) in (venv / "pyvenv.cfg").read_text()
    host, ref = swap_run(venv / "bin" / "python", REFERENCE, pyhost, ["-c", SHOW], env, tmp_path)
    host = host.normalised(pyhost, os.path.realpath(REFERENCE))
    assert ref.returncode == 0 and str(venv).encode() in ref.stdout, ref
    assert_same(host, ref)


# getpath's probes beside the executable (pyvenv.cfg, which site looks for
# too, a ._pth file, a build directory's markers): as many as python3.11
# makes, not twice as many. (The prefix's landmarks, searched up from the
# executable's real directory, depend on where it is.)
LANDMARKS = re.compile(rb'(pyvenv\.cfg|\._pth|pybuilddir\.txt|Modules/Setup\.local)"')


def landmark_probes(trace):
    counts = {}
    for line in trace.read_bytes().splitlines():
        if m := LANDMARKS.search(line):
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


@pytest.mark.skipif(STRACE is None, reason="strace not found (apt-get install strace)")
@pytest.mark.parametrize("args,env", [([], {}), (["-I"], {}), ([], {"PYTHONHOME": "/usr"})],
                         ids=["plain", "I", "PYTHONHOME"])
def test_getpath_probes_once(pyhost, tmp_path, args, env):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    e = base_env(tmp_path)
    e.update(env)
    probes = {}
    for name, target in (("python3.11", REFERENCE), ("pyhost", pyhost)):
        link = bindir / "python3"
        if link.is_symlink():
            link.unlink()
        link.symlink_to(target)
        trace = tmp_path / f"trace.{name}"
        r = run([STRACE, "-f", "-qq", "-o", str(trace), "-e", "trace=openat,newfstatat,stat,lstat,statx,access,readlink",
                 str(link)] + args + ["-c", "pass"], env=e, cwd=tmp_path)
        assert r.returncode == 0, r
        probes[name] = landmark_probes(trace)
    assert probes["python3.11"], "python3.11 probed no landmark: the pattern is wrong"
    assert probes["pyhost"] == probes["python3.11"]


# --- Under mpirun ------------------------------------------------------------

needs_mpirun = pytest.mark.skipif(MPIRUN is None, reason="mpirun not found (apt-get install openmpi-bin)")


def mpirun_argv(np, argv):
    a = [MPIRUN, "--oversubscribe", "-np", str(np)]
    if os.geteuid() == 0:
        a.insert(1, "--allow-run-as-root")
    return a + argv


def run_job(argv, cwd, env):
    try:
        return subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=JOB_TIMEOUT, start_new_session=True)
    except subprocess.TimeoutExpired as ex:
        pytest.fail(f"{argv!r} did not finish in {JOB_TIMEOUT} s:\n{ex.stderr!r}")


# Each rank's own PYTHONPATH (or all the same), then pyhost: exec keeps the
# rank the launcher's child.
PYTHONPATH_WRAPPER = """#!/bin/sh
if [ -n "$PER_RANK" ]; then PYTHONPATH="$PER_RANK$OMPI_COMM_WORLD_RANK"; export PYTHONPATH; fi
exec "$@"
"""

JOB = SHOW.replace('print("', 'print(RANK, "') + "\n"
JOB = "import os\nRANK = os.environ['OMPI_COMM_WORLD_RANK']\n" + JOB


@needs_mpirun
@pytest.mark.parametrize("per_rank", [False, True], ids=["same-PYTHONPATH", "PYTHONPATH-per-rank"])
def test_ranks_paths_as_python3(pyhost, tmp_path, per_rank):
    # Every rank has python3.11's paths for its own environment: the others
    # take rank 0's only where their inputs are the same.
    (tmp_path / "job.py").write_text(JOB)
    wrapper = tmp_path / "pp.sh"
    wrapper.write_text(PYTHONPATH_WRAPPER)
    wrapper.chmod(0o755)
    env = base_env(tmp_path)
    env["PYTHONPATH"] = str(tmp_path / "lib")
    if per_rank:
        env["PER_RANK"] = str(tmp_path / "lib")
    np = 3
    p = run_job(mpirun_argv(np, [str(wrapper), pyhost, "job.py"]), tmp_path, env)
    assert p.returncode == 0, p.stderr.decode()
    got = sorted(l for l in p.stdout.decode().splitlines() if l[:1].isdigit())
    want = []
    for rank in range(np):
        e = dict(env, OMPI_COMM_WORLD_RANK=str(rank))
        e.pop("PER_RANK", None)
        if per_rank:
            e["PYTHONPATH"] = f"{tmp_path / 'lib'}{rank}"
        r = run([REFERENCE, "job.py"], env=e, cwd=tmp_path)
        assert r.returncode == 0, r
        want += r.normalised(REFERENCE, pyhost).stdout.decode().splitlines()
    assert got == sorted(want)
    if per_rank:
        assert f"{tmp_path / 'lib'}2" in p.stdout.decode()


# strace attached to this very process, which then becomes pyhost: the rank
# stays the launcher's child (as pyhost's peers are found) and is traced
# from its first instruction.
STRACE_WRAPPER = """#!/bin/sh
strace -qq -f --seccomp-bpf -o "$TRACES/trace.$OMPI_COMM_WORLD_RANK" \\
    -e trace=stat,lstat,newfstatat,statx,openat,open,access,faccessat,faccessat2,readlink,readlinkat,getdents64 \\
    -p $$ 2>"$TRACES/strace.$OMPI_COMM_WORLD_RANK.err" &
tries=0
until grep -q 'TracerPid:[[:space:]]*[1-9]' /proc/$$/status; do
    tries=$((tries + 1)); [ $tries -gt 2000 ] && { echo "strace did not attach" >&2; exit 97; }
    sleep 0.01
done
exec "$@"
"""


def python_trees(pyhost, home):
    """The directories a non-root rank must not probe: Python's trees, the
    site directories and pyhost's own directory."""
    out = subprocess.run([REFERENCE, "-c", "import site, sys; print('\\n'.join(site.getsitepackages() + [site.getusersitepackages()] + sys.path[1:]))"],
                         capture_output=True, text=True, timeout=30, env=dict(base_env(), HOME=str(home)))
    dirs = {d for d in out.stdout.splitlines() if d}
    dirs |= {"/usr/lib/python3", "/usr/local/lib/python3", os.path.dirname(pyhost)}
    return dirs


def under(path, trees):
    # /usr/lib/python3* as the issue counts it: python3.11, python311.zip, ...
    return any(path == t or path.startswith(t.rstrip("/") + "/") or
               (t.endswith("/python3") and path.startswith(t)) for t in trees)


PATH_ARG = re.compile(r'^\d+\s+(\w+)\((?:AT_FDCWD, )?"([^"]*)"(.*)$')


def probes(trace, trees):
    """(listings, ENOENTs) of the trace under trees: directories opened to be
    read, and calls that found nothing."""
    listings, missing = [], []
    for line in trace.read_text(errors="replace").splitlines():
        m = PATH_ARG.match(line)
        if not m or not under(m.group(2), trees):
            continue
        call, rest = m.group(1), m.group(3)
        if "ENOENT" in rest:
            missing.append(line)
        elif call == "openat" and "O_DIRECTORY" in rest:
            listings.append(line)
    return listings, missing


@needs_mpirun
@pytest.mark.skipif(STRACE is None, reason="strace not found (apt-get install strace)")
def test_non_root_ranks_probe_nothing_under_pythons_trees(pyhost, tmp_path):
    (tmp_path / "helper_mod.py").write_text("x = 1\n")
    (tmp_path / "job.py").write_text(
        "import json, email.mime.text, xml.dom.minidom, helper_mod, sys\n"
        "print('ok', len(sys.path), flush=True)\n")
    traces = tmp_path / "traces"
    home = tmp_path / "home"
    home.mkdir()
    wrapper = tmp_path / "strace.sh"
    wrapper.write_text(STRACE_WRAPPER)
    wrapper.chmod(0o755)
    trees = python_trees(pyhost, home)
    env = base_env(home)
    env["TRACES"] = str(traces)
    # Python's trees are on local disk here, where by default each rank
    # lists what it imports from itself (-X pyhost.rootreads): the root
    # reads them for all, as it does on a shared file system.
    env["PYHOST_ROOTREADS"] = "all"
    found = {}
    # The stock importer is the control: the same detector must see its
    # ranks list and miss there.
    for mode in ("on", "off"):
        traces.mkdir(exist_ok=True)
        for f in traces.iterdir():
            f.unlink()
        # -B: a rank writing __pycache__ would change the directories.
        p = run_job(mpirun_argv(3, [str(wrapper), pyhost, "-B", "-X", f"pyhost.importer={mode}", "job.py"]),
                    tmp_path, env)
        assert p.returncode == 0, p.stderr.decode()
        assert p.stdout.decode().count("ok ") == 3, p.stdout
        for rank in (1, 2):
            trace = traces / f"trace.{rank}"
            assert trace.exists() and trace.stat().st_size > 0, f"no trace of rank {rank}"
            found[mode, rank] = probes(trace, trees)
    for rank in (1, 2):
        listings, missing = found["on", rank]
        assert not listings, f"rank {rank} listed:\n" + "\n".join(listings)
        assert not missing, f"rank {rank} missed:\n" + "\n".join(missing)
        off_listings, off_missing = found["off", rank]
        assert off_listings and off_missing, "the detector sees nothing even with the stock importer"


@needs_mpirun
def test_ranks_at_an_undecodable_path(pyhost, tmp_path):
    # The plan travels between ranks before the codecs exist: a path that
    # is not UTF-8 must come back as the same str (surrogate escapes).
    d = Path(os.fsdecode(bytes(tmp_path) + b"/d\xff"))
    d.mkdir()
    exe = d / "python3"
    show = "import sys; print(ascii(sys.executable), ascii(sys._base_executable), sys.prefix, sys.path[1:])"
    shutil.copy2(REFERENCE, exe)
    env = base_env(tmp_path)
    ref = run([str(exe), "-c", show], env=env, cwd=tmp_path)
    assert ref.returncode == 0, ref
    exe.unlink()
    shutil.copy2(pyhost, exe)
    p = run_job(mpirun_argv(2, [str(exe), "-c", show]), tmp_path, env)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert p.stdout.splitlines() == ref.stdout.splitlines() * 2
