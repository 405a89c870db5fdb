"""Extension modules and their libraries served from node-local copies under
mpirun (internal/native): C extension modules built here with gcc, whose
libraries are found through a $ORIGIN RPATH, an absolute RUNPATH and
LD_LIBRARY_PATH. A first job records them; a second loads them from copies
in the node directory, with __file__ and __spec__ naming the originals.

Every job runs under a timeout.
"""

import os
import shutil
import subprocess
import sysconfig
import textwrap

import pytest

from conftest import base_env, fuse_tree  # noqa: F401 (a fixture)
from test_mpi import MPIRUN, JOB_TIMEOUT, write_bundle_job
from test_mpi import mpirun as _mpirun


def mpirun(pyhost, np, args, cwd, **kw):
    """test_mpi's mpirun; the ranks' lines are read from the files out-<rank>.txt
    the job writes (mpirun's forwarding may split lines of two ranks)."""
    for f in cwd.glob("out-*.txt"):
        f.unlink()
    p = _mpirun(pyhost, np, args, cwd, **kw)
    p.out = "".join(f.read_text() for f in sorted(cwd.glob("out-*.txt")))
    return p


def lines(p, prefix):
    return sorted(l for l in p.out.splitlines() if l.startswith(prefix))

GCC = shutil.which("gcc")
PY_INCLUDE = sysconfig.get_paths()["include"]
SUFFIX = ".cpython-311-x86_64-linux-gnu.so"

pytestmark = [
    # The cache keeps nothing of an image file system (an overlay root) between runs.
    pytest.mark.usefixtures("needs_persistent_cache"),
    pytest.mark.skipif(MPIRUN is None, reason="mpirun not found (apt-get install openmpi-bin)"),
    pytest.mark.skipif(GCC is None, reason="gcc not found"),
    pytest.mark.skipif(not os.path.exists(os.path.join("/usr/include/python3.11", "Python.h")),
                       reason="Python.h not found (apt-get install libpython3.11-dev)"),
]

EXT_C = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
extern int %(fn)s(void);
static PyObject *value(PyObject *self, PyObject *args) { return PyLong_FromLong(%(fn)s() + %(add)d); }
static PyMethodDef methods[] = {{"value", value, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, -1, methods};
PyMODINIT_FUNC PyInit_%(name)s(void) { return PyModule_Create(&def); }
"""


def gcc(*args):
    subprocess.run([GCC, *map(str, args)], check=True, timeout=120)


def lib(path, fn, value, needs=None, ldflags=()):
    """A shared library with SONAME its base name, defining fn() -> value
    (plus what it needs, if any)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    src = path.with_suffix(".c")
    body = f"int {fn}(void) {{ return {value}; }}\n"
    if needs:
        body = f"extern int {needs}(void);\nint {fn}(void) {{ return {value} + {needs}(); }}\n"
    src.write_text(body)
    gcc("-shared", "-fPIC", "-o", path, src, f"-Wl,-soname,{path.name}", *ldflags)


def ext(path, name, fn, add, ldflags):
    src = path.parent / f"{name}.c"
    src.write_text(EXT_C % {"fn": fn, "add": add, "name": name})
    gcc("-shared", "-fPIC", f"-I{PY_INCLUDE}", "-o", path, src, *ldflags)


@pytest.fixture
def tree(tmp_path):
    """app/ holds the job and three extension modules:
    ext_origin (needs liborigin.so through DT_RPATH $ORIGIN/libs, which needs
    libdeep.so through its own $ORIGIN RUNPATH), ext_runpath (librun.so through
    an absolute RUNPATH), ext_ldpath (libld.so through LD_LIBRARY_PATH), and
    ext_missing (needs libmissing.so, found nowhere)."""
    app = tmp_path / "app"
    libs, rlib, ldlib = app / "libs", tmp_path / "rlib", tmp_path / "ldlib"
    lib(libs / "deep" / "libdeep.so", "deep", 1000)
    lib(libs / "liborigin.so", "origin", 1, needs="deep",
        ldflags=[f"-L{libs / 'deep'}", "-ldeep", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/deep"])
    lib(rlib / "librun.so", "run", 2)
    lib(ldlib / "libld.so", "ld", 3)
    lib(tmp_path / "gone" / "libmissing.so", "missing", 4)
    ext(app / f"ext_origin{SUFFIX}", "ext_origin", "origin", 10,
        [f"-L{libs}", "-lorigin", "-Wl,--disable-new-dtags,-rpath,$ORIGIN/libs"])
    ext(app / f"ext_runpath{SUFFIX}", "ext_runpath", "run", 20,
        [f"-L{rlib}", "-lrun", f"-Wl,--enable-new-dtags,-rpath,{rlib}"])
    ext(app / f"ext_ldpath{SUFFIX}", "ext_ldpath", "ld", 30, [f"-L{ldlib}", "-lld"])
    ext(app / f"ext_missing{SUFFIX}", "ext_missing", "missing", 40, [f"-L{tmp_path / 'gone'}", "-lmissing"])
    shutil.rmtree(tmp_path / "gone")
    job = textwrap.dedent("""
        import os, sys, pyhost
        sys.path.insert(0, APP)
        out = []
        print = lambda *a, flush=None: out.append(' '.join(map(str, a)))
        import ext_origin, ext_runpath, ext_ldpath
        try:
            import ext_missing
        except ImportError as e:
            want = os.path.join(os.path.dirname(ext_origin.__file__), 'ext_missing' + SUFFIX)
            print('missing', pyhost.rank(), type(e).__name__, e.path == want, e, flush=True)
        st = pyhost.stats()
        mods = [ext_origin, ext_runpath, ext_ldpath]
        print('rank', pyhost.rank(), *[m.value() for m in mods],
              all(m.__file__ == m.__spec__.origin == m.__spec__.loader.path for m in mods),
              st['ext_nodelocal'], st['libs_nodelocal'], flush=True)
        for m in mods:
            print('file', pyhost.rank(), m.__name__, m.__file__, flush=True)
        for line in open('/proc/self/maps').read().splitlines():
            if line.split()[-1].startswith(ROOT):
                print('map', pyhost.rank(), line.split()[-1], flush=True)
        with open(f'out-{pyhost.rank()}.txt', 'w') as f:
            f.write(''.join(l + '\\n' for l in out))
        """).replace("SUFFIX", repr(SUFFIX)).replace("ROOT", repr(str(tmp_path))).replace("APP", repr(str(app)))
    (app / "job.py").write_text(job)
    run = tmp_path / "run"
    run.mkdir()
    (run / "job.py").write_text(job)
    env = {"PYHOST_CACHEDIR": str(tmp_path / "cache"), "PYHOST_NODEDIR": str(tmp_path / "node"),
           # The trees are on local disk, which gets no copies by default.
           "PYHOST_NODECOPIES": "all",
           "LD_LIBRARY_PATH": str(ldlib)}
    return tmp_path, run, env


def maps_of(p, rank):
    return [l.split()[2] for l in lines(p, f"map {rank} ")]


def test_extensions_load_from_node_local_copies(pyhost, reference, tree):
    # The job runs from run/, the extension modules are found in app/
    # through sys.path: a first job records them, the second serves them.
    tmp_path, run, env = tree
    app = tmp_path / "app"
    first = mpirun(pyhost, 2, ["job.py"], run, env=env)
    assert first.returncode == 0, first.stderr.decode()
    want = ["rank 0 1011 22 33 True 0 0", "rank 1 1011 22 33 True 0 0"]
    assert lines(first, "rank") == want, (first.stdout, first.stderr)
    second = mpirun(pyhost, 2, ["job.py"], run, env=env)
    assert second.returncode == 0, second.stderr.decode()
    # Three extension modules and three libraries (liborigin, libdeep, librun,
    # libld: four) from copies on every rank.
    assert lines(second, "rank") == ["rank 0 1011 22 33 True 3 4", "rank 1 1011 22 33 True 3 4"], (second.stdout, second.stderr)
    assert second.stderr == b"", second.stderr
    # __file__ names the originals, as in the first job and under python3.
    assert lines(second, "file") == lines(first, "file")
    node = str(tmp_path / "node")
    for rank in (0, 1):
        mapped = maps_of(second, rank)
        for name in ("ext_origin", "ext_runpath", "ext_ldpath", "liborigin.so", "libdeep.so", "librun.so", "libld.so"):
            full = name + (SUFFIX if name.startswith("ext") else "")
            assert any(m.startswith(node) and m.endswith("-" + full) for m in mapped), (rank, name, mapped)
            assert not any(m.startswith(str(tmp_path)) and not m.startswith(node) and name in m for m in mapped), (rank, name, mapped)
    # The unresolvable module fails as under python3.11.
    ref = subprocess.run([reference, "-c", "import sys; sys.path.insert(0, '.')\ntry:\n import ext_missing\nexcept ImportError as e: print(e)"],
                         cwd=app, env={**base_env(), **env}, capture_output=True, timeout=60)
    for p in (first, second):
        got = lines(p, "missing")
        assert len(got) == 2 and all(ref.stdout.decode().strip() in g and "ImportError True" in g for g in got), (got, ref.stdout, p.stdout)


def test_script_directory_extensions_are_served_in_a_first_job(pyhost, tree):
    # Pynamic's layout: the extension modules sit in the script's directory,
    # which the root lists at start-up: a first job in a new environment
    # serves them already.
    tmp_path, run, env = tree
    app = tmp_path / "app"
    p = mpirun(pyhost, 2, ["job.py"], app, env=env)
    assert p.returncode == 0, p.stderr.decode()
    assert lines(p, "rank") == ["rank 0 1011 22 33 True 3 4", "rank 1 1011 22 33 True 3 4"], (p.out, p.stderr)
    assert p.stderr == b"", p.stderr


def test_local_disk_gets_no_copies_by_default(pyhost, tree):
    # The tree is on local disk (not a shared file system): by default a
    # copy would save nothing, so the modules load from their originals,
    # with the same results.
    tmp_path, run, env = tree
    env = {k: v for k, v in env.items() if k != "PYHOST_NODECOPIES"}
    for job in ("first", "second"):
        p = mpirun(pyhost, 2, ["job.py"], run, env=env)
        assert p.returncode == 0, (job, p.stderr.decode())
        assert lines(p, "rank") == ["rank 0 1011 22 33 True 0 0", "rank 1 1011 22 33 True 0 0"], (job, p.stdout, p.stderr)
    assert not (tmp_path / "node").exists() or not any((tmp_path / "node").rglob("*" + SUFFIX))


STRACE = shutil.which("strace")


@pytest.mark.skipif(STRACE is None, reason="strace not found")
def test_non_root_rank_never_opens_the_originals(pyhost, tree):
    # The whole job under strace -ff (a file per thread); rank 1's threads
    # are those it lists at its end.
    tmp_path, app, env = tree
    (app / "tids.py").write_text(
        "import os, runpy, pyhost\n"
        "runpy.run_path('job.py', run_name='__main__')\n"
        "open(f'tids-{pyhost.rank()}.txt', 'w').write(' '.join(os.listdir('/proc/self/task')))\n")
    assert mpirun(pyhost, 2, ["tids.py"], app, env=env).returncode == 0
    traces = tmp_path / "traces"
    traces.mkdir()
    argv = [STRACE, "-ff", "--seccomp-bpf", "-qq", "-e", "trace=%file,%desc", "-o", str(traces / "t"),
            MPIRUN, "--oversubscribe", "-np", "2"]
    if os.geteuid() == 0:
        argv.append("--allow-run-as-root")
    for f in app.glob("out-*.txt"):
        f.unlink()
    p = subprocess.run(argv + [pyhost, "tids.py"], cwd=app, env={**base_env(), **env}, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=JOB_TIMEOUT, start_new_session=True)
    assert p.returncode == 0, p.stderr.decode()
    p.out = (app / "out-1.txt").read_text()
    got = lines(p, "rank 1")[0].split()
    assert got[:6] == ["rank", "1", "1011", "22", "33", "True"] and int(got[6]) >= 3 and got[7] == "4", (p.out, p.stderr)
    tids = (app / "tids-1.txt").read_text().split()
    trace = "".join((traces / f"t.{t}").read_text() for t in tids if (traces / f"t.{t}").exists())
    assert "execve" in trace or "openat" in trace, "rank 1's trace is empty"
    app = tmp_path / "app"
    originals = [str(app / f"ext_origin{SUFFIX}"), str(app / f"ext_runpath{SUFFIX}"), str(app / f"ext_ldpath{SUFFIX}"),
                 str(app / "libs" / "liborigin.so"), str(app / "libs" / "deep" / "libdeep.so"),
                 str(tmp_path / "rlib" / "librun.so"), str(tmp_path / "ldlib" / "libld.so")]
    # Opened or executed: a stat of a module found in the app's
    # directory is FileFinder's own (the directory is a program's on the
    # node's own disk here, checked at each use as python3 checks it).
    opened = [l for l in trace.splitlines() if l.split("(", 1)[0] in ("open", "openat", "openat2", "execve")]
    touched = [o for o in originals if any(f'"{o}"' in l for l in opened)]
    assert touched == [], [l for l in opened if any(o in l for o in touched)][:4]
    assert str(tmp_path / "node") in trace


def test_replaced_between_jobs_gives_new_code(pyhost, tree):
    tmp_path, app, env = tree
    for _ in range(2):
        assert mpirun(pyhost, 2, ["job.py"], app, env=env).returncode == 0
    # A new librun (value 5, not 2), written in place: same path, new identity.
    lib(tmp_path / "rlib" / "librun.so", "run", 5)
    p = mpirun(pyhost, 2, ["job.py"], app, env=env)
    assert p.returncode == 0, p.stderr.decode()
    assert lines(p, "rank") == ["rank 0 1011 25 33 True 3 4", "rank 1 1011 25 33 True 3 4"], (p.stdout, p.stderr)


def test_invalidate_caches_loads_originals(pyhost, tree):
    # The script's directory holds the extension modules: they are planned
    # from the first job on, but invalidate_caches() stops serving copies.
    tmp_path, run, env = tree
    app = tmp_path / "app"
    (app / "inv.py").write_text("import importlib, pyhost\nimportlib.invalidate_caches()\nimport ext_runpath\n"
                                "open(f'out-{pyhost.rank()}.txt', 'w').write(f\"rank {pyhost.rank()} {ext_runpath.value()} {pyhost.stats()['ext_nodelocal']}\\n\")\n")
    for _ in range(2):
        p = mpirun(pyhost, 2, ["inv.py"], app, env=env)
        assert p.returncode == 0, p.stderr.decode()
        assert lines(p, "rank") == ["rank 0 22 0", "rank 1 22 0"], (p.stdout, p.stderr)


def bad_node_dir(kind, node):
    """Make node (the node directory's base) unusable in one way."""
    if kind == "symlink":
        target = node.parent / "elsewhere"
        target.mkdir(mode=0o700)
        node.symlink_to(target)
    elif kind == "other-owned":
        node.mkdir(mode=0o700)
        os.chown(node, 65534, 65534)
    elif kind == "group-writable":
        node.mkdir()
        os.chmod(node, 0o770)
    elif kind == "read-only":
        node.mkdir(mode=0o500)
    elif kind == "file":
        node.write_text("")
    elif kind == "full":
        node.mkdir(mode=0o700)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs", str(node)], check=True, timeout=30)


@pytest.mark.parametrize("kind", ["symlink", "other-owned", "group-writable", "read-only", "file", "full"])
def test_unusable_node_dir_falls_back_to_originals(pyhost, tree, kind):
    tmp_path, app, env = tree
    if kind in ("other-owned", "full") and os.geteuid() != 0:
        pytest.skip("needs root (chown, mount)")
    if kind == "read-only" and os.geteuid() == 0:
        pytest.skip("root writes into a read-only directory")
    node = tmp_path / "node"
    bad_node_dir(kind, node)
    try:
        for job in ("first", "second"):
            p = mpirun(pyhost, 2, ["job.py"], app, env=env)
            assert p.returncode == 0, (job, p.stderr.decode())
            assert lines(p, "rank") == ["rank 0 1011 22 33 True 0 0", "rank 1 1011 22 33 True 0 0"], (job, p.stdout, p.stderr)
            warnings = [l for l in p.stderr.decode().splitlines() if l.startswith("pyhost:")]
            assert len(warnings) <= 1, warnings
            if job == "second":
                assert len(warnings) == 1 and "original paths" in warnings[0], p.stderr
    finally:
        if kind == "full":
            subprocess.run(["umount", str(node)], timeout=30)


def test_nodedir_off(pyhost, tree):
    tmp_path, app, env = tree
    env = {**env, "PYHOST_NODEDIR": "off"}
    for _ in range(2):
        p = mpirun(pyhost, 2, ["job.py"], app, env=env)
        assert p.returncode == 0, p.stderr.decode()
        assert lines(p, "rank") == ["rank 0 1011 22 33 True 0 0", "rank 1 1011 22 33 True 0 0"]
    assert not (tmp_path / "node").exists()


def test_reimport_after_invalidate_uses_the_same_copy(pyhost, reference, tree):
    # A module loaded from its copy, removed from sys.modules and imported
    # again after invalidate_caches() is CPython's cached extension module,
    # as under python3.11: no second mapping of the original.
    tmp_path, run, env = tree
    app = tmp_path / "app"
    (app / "again.py").write_text(textwrap.dedent("""
        import importlib, os, sys
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import ext_runpath
        first = ext_runpath
        del sys.modules['ext_runpath']
        importlib.invalidate_caches()
        import ext_runpath
        importlib.reload(ext_runpath)
        maps = open('/proc/self/maps').read()
        rank = os.environ.get('OMPI_COMM_WORLD_RANK', '0')
        originals = sum(l.split()[-1] == ext_runpath.__file__ for l in maps.splitlines() if l.split()[-1].startswith('/'))
        open(f'out-{rank}.txt', 'w').write(f"rank {rank} {ext_runpath.value()} {ext_runpath.__file__ == first.__file__} {originals > 0}\\n")
        """))
    ref = subprocess.run([reference, "again.py"], cwd=app, env={**base_env(), **env}, capture_output=True, timeout=60)
    assert ref.returncode == 0, ref.stderr
    assert (app / "out-0.txt").read_text() == "rank 0 22 True True\n"
    p = mpirun(pyhost, 2, ["again.py"], app, env=env)
    assert p.returncode == 0, p.stderr.decode()
    # Served from the copy: the original never mapped.
    assert lines(p, "rank") == ["rank 0 22 True False", "rank 1 22 True False"], (p.out, p.stderr)



NODE_WRAPPER = """#!/bin/sh
# One "node" per rank: its own host name and, at $LOCAL, a node-local
# directory of its own (bind-mounted from $BASE/node<rank>).
exec unshare --mount --uts --propagation private sh -c '
    hostname "node$OMPI_COMM_WORLD_RANK" &&
    mount --bind "$BASE/node$OMPI_COMM_WORLD_RANK" "$LOCAL" &&
    exec "$@"' sh "$@"
"""


def test_several_nodes_each_node_writes_its_own_copies(pyhost, fuse_tree, tmp_path):
    # Two "nodes" (one rank each), the extension modules and their libraries
    # on a shared (FUSE) file system, the node directory at one path that
    # each node has its own of: rank 1 writes its node's copies and loads
    # from them.
    src, mnt = fuse_tree
    app = src / "app"
    lib(app / "libs" / "liba.so", "a", 7)
    ext(app / f"ext_a{SUFFIX}", "ext_a", "a", 100, [f"-L{app / 'libs'}", "-la", "-Wl,--disable-new-dtags,-rpath,$ORIGIN/libs"])
    (app / "job.py").write_text(textwrap.dedent("""
        import os, socket, pyhost
        import ext_a
        st = pyhost.stats()
        mapped = sorted({l.split()[-1] for l in open('/proc/self/maps') if l.split()[-1].endswith(('ext_a' + SUFFIX, 'liba.so'))})
        open(OUT + f'-{pyhost.rank()}.txt', 'w').write(
            f"rank {pyhost.rank()} {socket.gethostname()} {ext_a.value()} {ext_a.__file__} {st['ext_nodelocal']} {st['libs_nodelocal']} {' '.join(mapped)}\\n")
        """).replace("SUFFIX", repr(SUFFIX)).replace("OUT", repr("/tmp/" + tmp_path.name)))
    local, base = tmp_path / "local", tmp_path / "base"
    local.mkdir()
    for r in (0, 1):
        (base / f"node{r}").mkdir(parents=True)
    wrapper = tmp_path / "node.sh"
    wrapper.write_text(NODE_WRAPPER)
    wrapper.chmod(0o755)
    argv = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2", str(wrapper), pyhost, "job.py"]
    env = base_env()
    env.update(PYHOST_CACHEDIR=str(tmp_path / "cache"), PYHOST_NODEDIR=str(local / "shm"), PYHOST_NODECOPIES="all", LOCAL=str(local), BASE=str(base))
    outs = [f"/tmp/{tmp_path.name}-{r}.txt" for r in (0, 1)]
    try:
        for job in ("first", "second"):
            p = subprocess.run(argv, cwd=mnt / "app", env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=JOB_TIMEOUT, start_new_session=True)
            assert p.returncode == 0, (job, p.stderr.decode())
            got = [open(o).read().split() for o in outs]
            for r, g in enumerate(got):
                assert g[:7] == ["rank", str(r), f"node{r}", "107", str(mnt / "app" / f"ext_a{SUFFIX}"), "1", "1"], (job, got, p.stderr)
                # Each node's rank mapped its own node's copies (the same path
                # on both: the node directory), never the originals.
                assert len(g) == 9 and all(m.startswith(str(local / "shm")) for m in g[7:]), (job, got)
            # Both nodes hold a copy of each: written by rank 0 and rank 1.
            for r in (0, 1):
                copies = list((base / f"node{r}" / "shm").glob("*/*"))
                assert sorted(c.name.split("-", 1)[1] for c in copies) == sorted([f"ext_a{SUFFIX}", "liba.so"]), (job, r, copies)
            assert p.stderr == b"", p.stderr
    finally:
        for o in outs:
            if os.path.exists(o):
                os.unlink(o)


def test_root_reads_for_all_only_what_is_on_a_shared_file_system(pyhost, fuse_tree, tmp_path):
    # By default (-X pyhost.rootreads=shared) the second job's bytecode
    # bundle holds the modules on a shared file system (FUSE here), not
    # those on local disk (json and email's in /usr, one in tmp_path), which
    # each rank reads itself; told rootreads=all, the root reads them all.
    src, mnt = fuse_tree
    app = src / "app"
    app.mkdir()
    (app / "on_shared.py").write_text("v = 'shared'\n")
    local_lib = tmp_path / "local_lib"
    local_lib.mkdir()
    (local_lib / "on_local.py").write_text("v = 'local'\n")
    write_bundle_job(app / "job.py", local_lib, ["on_shared", "on_local"], at=1)
    argv = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2", pyhost, "job.py"]
    env = base_env()
    env.update(PYHOST_CACHEDIR=str(tmp_path / "cache"))
    got = {}
    for job in ("first", "shared", "all"):
        e = dict(env, PYHOST_ROOTREADS="all" if job == "all" else "shared")
        p = subprocess.run(argv, cwd=mnt / "app", env=e, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=JOB_TIMEOUT, start_new_session=True)
        assert p.returncode == 0, (job, p.stderr.decode())
        got[job] = sorted(l.split() for l in p.stdout.decode().splitlines() if l.startswith("rank"))
        assert [g[:4] for g in got[job]] == [["rank", r, "shared", "local"] for r in ("0", "1")], (job, got)
    assert [g[4] for g in got["first"]] == ["0", "0"], got
    assert [g[4] for g in got["shared"]] == ["1", "1"], got  # on_shared alone
    assert all(int(g[4]) > 10 for g in got["all"]), got


def test_library_loaded_already_is_not_loaded_twice(pyhost, tree):
    # librun.so mapped before the import (ctypes, by its original path): the
    # loader would reuse it for ext_runpath's DT_NEEDED, so ext_runpath is
    # left to the stock loader and no copy of librun.so is mapped beside it.
    tmp_path, run, env = tree
    app = tmp_path / "app"
    rlib = tmp_path / "rlib" / "librun.so"
    (app / "pre.py").write_text(textwrap.dedent(f"""
        import ctypes, os, pyhost
        ctypes.CDLL({str(rlib)!r})
        import ext_runpath, ext_ldpath
        maps = {{l.split()[-1] for l in open('/proc/self/maps') if l.split()[-1].endswith('librun.so')}}
        st = pyhost.stats()
        open(f'out-{{pyhost.rank()}}.txt', 'w').write(
            f"rank {{pyhost.rank()}} {{ext_runpath.value()}} {{ext_ldpath.value()}} {{len(maps)}} {{st['ext_nodelocal']}}\\n")
        """))
    p = mpirun(pyhost, 2, ["pre.py"], app, env=env)
    assert p.returncode == 0, p.stderr.decode()
    # ext_ldpath from its copy; ext_runpath from its original, one librun.
    assert lines(p, "rank") == ["rank 0 22 33 1 1", "rank 1 22 33 1 1"], (p.out, p.stderr)
