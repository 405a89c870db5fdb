"""A process alone with nothing for pyhost's importer to save runs plain
(issue 14): no MPI launcher, nothing asked of pyhost, and none of the
directories its search path starts from on a file system whose metadata
calls leave the node. It is then python3 (CPython's
own Py_BytesMain, Go's runtime never started) with a builtin pyhost module
that answers as the importer's does for a process alone.

The suite itself runs with PYHOST_IMPORTER=on (scripts/test.sh), so that
its other tests judge the importer; these set the variable themselves.
"""

import os
import resource
import shutil
import zipfile

import pytest

from conftest import run, base_env

# What limits.c takes as local (metadata answered on the node) and as a
# kernel interface: the specification these tests hold it to.
LOCAL = {"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "reiserfs", "zfs", "bcachefs", "nilfs2", "tmpfs",
         "ramfs", "overlay", "squashfs", "erofs", "iso9660", "udf", "vfat", "msdos", "exfat", "ntfs", "ntfs3",
         "hfsplus"}
PSEUDO = {"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "debugfs", "tracefs",
          "securityfs", "pstore", "bpf", "configfs", "fusectl", "hugetlbfs", "binfmt_misc", "nsfs", "efivarfs",
          "selinuxfs", "rpc_pipefs", "nfsd", "fuse.lxcfs"}


def remote_mounts():
    """The mounts of this machine that make pyhost keep its importer."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mp, typ = fields[4], fields[fields.index("-", 6) + 1]
            if any(mp == d or mp.startswith(d + "/") for d in ("/proc", "/sys", "/dev", "/run")):
                continue
            if typ not in LOCAL and typ not in PSEUDO:
                out.append((mp, typ))
    return out


def remote_devices():
    """The devices of the file systems remote_mounts counts, wherever mounted."""
    devs = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            typ = fields[fields.index("-", 6) + 1]
            if typ not in LOCAL and typ not in PSEUDO:
                major, minor = fields[2].split(":")
                devs.add(os.makedev(int(major), int(minor)))
    return devs


def remote_search_path(pyhost, tmp_path):
    """Where these tests' runs start their search path (the working
    directory, the executable's, the interpreter's trees) on file systems
    with remote metadata."""
    where = [tmp_path, os.path.dirname(os.path.realpath(pyhost)), "/usr/lib/python3.11", "/usr/lib/python3",
             "/usr/local/lib/python3.11"]
    devs = remote_devices()
    return [p for p in where if os.path.exists(p) and os.stat(p).st_dev in devs]


@pytest.fixture
def local_machine(pyhost, tmp_path):
    remote = remote_search_path(pyhost, tmp_path)
    if remote:
        pytest.skip(f"{remote[:3]} on file systems with remote metadata: pyhost keeps its importer for "
                    "these runs, which the other tests cover")


def env_with(tmp_path, **kw):
    e = base_env(tmp_path)
    e.pop("PYHOST_IMPORTER", None)
    e.update(kw)
    return e


# Prints whether the run was plain, and what a plain run shows: one
# thread, CPython's own finders.
PROBE = ("import sys, pyhost\n"
         "with open('/proc/self/status') as f: threads = f.read().split('Threads:')[1].split()[0]\n"
         "print(pyhost.stats()['plain'], threads, [getattr(f, '__name__', '?') for f in sys.meta_path][-3:])\n")
PLAIN = "True 1 ['BuiltinImporter', 'FrozenImporter', 'PathFinder']\n"


def test_alone_on_local_file_systems_runs_plain(pyhost, reference, tmp_path, local_machine):
    r = run([pyhost, "-c", PROBE], env=env_with(tmp_path), cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, PLAIN.encode(), b""), r
    # Nothing of pyhost's written: no cache under the home.
    assert not (tmp_path / ".cache" / "pyhost").exists()
    # And what python3 prints for the same program, byte for byte.
    code = ("import sys, json, threading\n"
            "t = threading.Thread(target=lambda: print(json.dumps({'a': [1, 2]})))\n"
            "t.start(); t.join()\n"
            "print(sys.flags, sys.path[1:], sys.orig_argv[1:], sorted(sys.modules))\n")
    host = run([pyhost, "-c", code], env=env_with(tmp_path), cwd=tmp_path)
    ref = run([reference, "-c", code], env=env_with(tmp_path), cwd=tmp_path)
    assert (host.returncode, host.stdout, host.stderr) == (ref.returncode, ref.stdout, ref.stderr)


@pytest.mark.parametrize("args, env, plain", [
    ([], {"PYHOST_IMPORTER": "auto"}, True),
    ([], {"PYHOST_IMPORTER": ""}, True),  # empty: unset, as pyhost reads it
    (["-X", "pyhost.importer=auto"], {"PYHOST_IMPORTER": "on"}, True),  # the command line wins
    (["-X", "pyhost.importer=on", "-X", "pyhost.importer=AUTO"], {}, True),  # the last one, as for CPython
    (["-I"], {"PYHOST_STATS": "1"}, True),  # -E and -I ignore PYHOST_* as PYTHON*,
    (["-E"], {"PYHOST_MPI": "on", "PYHOST_IMPORTER": "sometimes"}, True),
    (["-E"], {"PYHOST_IMPORTER": "on"}, False),  # but for a tree of processes' choice
    (["-I"], {"PYHOST_IMPORTER": "Yes"}, False),
    (["-X", "dev"], {}, True),  # python3's own -X options ask nothing of pyhost
    ([], {"PYHOST_IMPORTER": "on"}, False),
    ([], {"PYHOST_IMPORTER": "off"}, False),  # for comparison: Go's runtime, CPython's importer
    ([], {"PYHOST_STATS": "1"}, False),
    ([], {"PYHOST_STATS": "0"}, False),  # any setting asks, as -X pyhost.<name> does
    ([], {"PYHOST_CACHEDIR": "/nonexistent/pyhost-cache"}, False),
    (["-X", "pyhost.importer=on"], {}, False),
    (["-X", "pyhost.importer"], {}, False),
    (["-X", "pyhost.importer=auto", "-X", "pyhost.importer=off"], {}, False),
    (["-X", "pyhost.cache=off"], {}, False),
    (["-X", "pyhost.importer=auto"], {"PYHOST_STATS": "1"}, False),
    (["-E", "-X", "pyhost.importer=on"], {}, False),
], ids=lambda v: repr(v) if isinstance(v, (list, dict)) else None)
def test_what_asks_for_the_importer(pyhost, tmp_path, local_machine, args, env, plain):
    r = run([pyhost, *args, "-c", PROBE], env=env_with(tmp_path, **env), cwd=tmp_path)
    assert r.returncode == 0, r
    words = r.stdout.decode().split()
    assert words[0] == str(plain), r
    if plain:
        assert r.stdout == PLAIN.encode() and r.stderr == b"", r
    else:
        assert int(words[1]) > 1, r  # Go's runtime's threads


@pytest.mark.parametrize("name, value, message", [
    ("IMPORTER", "sometimes", "-X pyhost.importer=sometimes: want auto, on or off"),
    ("MISSES", "bogus", "-X pyhost.misses=bogus: want final or revalidate"),
    ("CONCURRENCY", "0", "-X pyhost.concurrency=0: want a number from 1 to 256"),
])
def test_a_setting_pyhost_refuses_is_refused_on_every_machine(pyhost, tmp_path, local_machine, name, value,
                                                              message):
    # Where the importer starts (a node with a network file system) a bad
    # setting is an error: so it is where a process would run plain.
    r = run([pyhost, "-c", "print('ran')"], env=env_with(tmp_path, **{"PYHOST_" + name: value}), cwd=tmp_path)
    assert (r.returncode, r.stdout) == (2, b""), r
    assert r.stderr == f"pyhost: {message}\n".encode(), r


def test_an_mpi_setting_is_the_same_on_every_machine(pyhost, tmp_path, local_machine):
    # PYHOST_MPI=on initialises MPI in a process alone, as -X pyhost.mpi=on
    # does, wherever it runs.
    code = "import pyhost; print(pyhost.mpi_active(), pyhost.size())"
    env = env_with(tmp_path, PYHOST_MPI="on")
    r = run([pyhost, "-c", code], env=env, cwd=tmp_path, timeout=60)
    x = run([pyhost, "-X", "pyhost.mpi=on", "-c", code], env=env_with(tmp_path), cwd=tmp_path, timeout=60)
    assert r.returncode == 0 and (r.stdout, r.stderr) == (x.stdout, x.stderr), (r, x)


@pytest.mark.parametrize("where", ["PYTHONPATH", "working directory", "script", "script after --",
                                   "script symlinked", "directory run as a script", "zip's directory on PYTHONPATH",
                                   "user site", "user base under -E", "executable", "executable on PATH",
                                   "elsewhere", "PYTHONPATH under -E",
                                   "user site under -s"])
def test_the_importer_starts_where_imports_may_reach_a_fuse_mount(pyhost, fuse_tree, tmp_path, where):
    # A FUSE file system (here bench/slowfs): metadata calls that leave the
    # kernel, which pyhost's index saves. The importer starts where the
    # search path starts on it; a run whose search path does not reach it
    # (mounted elsewhere, or a PYTHONPATH that -E ignores) stays plain.
    src, mnt = fuse_tree
    others = [m for m in remote_mounts() if m[0] != str(mnt)]
    if others:
        pytest.skip(f"this machine mounts other file systems with remote metadata ({others[:3]})")
    (src / "onfuse.py").write_text("X = 'from fuse'\n")
    (src / "main.py").write_text(PROBE)
    env, cwd, args = env_with(tmp_path), tmp_path, ["-c", PROBE]
    exe = pyhost
    if where == "PYTHONPATH":
        env["PYTHONPATH"] = str(mnt)
        args = ["-c", PROBE + "import onfuse; print(onfuse.X)\n"]
    elif where == "working directory":
        cwd = mnt
    elif where == "script":
        args = [str(mnt / "main.py")]
    elif where == "script after --":
        args = ["--", str(mnt / "main.py")]
    elif where == "script symlinked":
        # CPython puts the directory the link resolves to on sys.path.
        (tmp_path / "link.py").symlink_to(mnt / "main.py")
        args = [str(tmp_path / "link.py")]
    elif where == "directory run as a script":
        (src / "app").mkdir()
        (src / "app" / "__main__.py").write_text(PROBE)
        args = [str(mnt / "app")]
    elif where == "zip's directory on PYTHONPATH":
        with zipfile.ZipFile(src / "lib.zip", "w") as z:
            z.writestr("pkgdir/zmod.py", "X = 'from the zip'\n")
        env["PYTHONPATH"] = str(mnt / "lib.zip" / "pkgdir")
        args = ["-c", PROBE + "import zmod; print(zmod.X)\n"]
    elif where in ("user site", "user site under -s", "user base under -E"):
        (src / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
        env["PYTHONUSERBASE"] = str(mnt)  # site.py reads it under -E too
        if where == "user site under -s":
            args = ["-s"] + args
        elif where == "user base under -E":
            args = ["-E"] + args
    elif where == "executable":
        shutil.copy(pyhost, src / "pyhost")
        exe = str(mnt / "pyhost")
    elif where == "executable on PATH":
        # Started by name, found on PATH: as the shell found it.
        shutil.copy(pyhost, src / "pyhost")
        env["PATH"] = str(mnt) + os.pathsep + env.get("PATH", "/usr/bin:/bin")
        exe = "pyhost"
    elif where == "PYTHONPATH under -E":
        env["PYTHONPATH"] = str(mnt)
        args = ["-E"] + args
    r = run([exe] + args, env=env, cwd=cwd)
    assert r.returncode == 0, r
    if where in ("elsewhere", "PYTHONPATH under -E", "user site under -s"):
        assert r.stdout.decode() == PLAIN, r
    else:
        words = r.stdout.decode().split()
        assert words[0] == "False" and int(words[1]) > 1, r
    if where == "PYTHONPATH":
        assert r.stdout.decode().endswith("from fuse\n"), r
    if where == "zip's directory on PYTHONPATH":
        assert r.stdout.decode().endswith("from the zip\n"), r


# Every function of the module, and its answers to bad arguments.
MODULE = """
import sys, pyhost
print(sorted(n for n in dir(pyhost) if not n.startswith('_')), pyhost.__doc__)
for n in sorted(n for n in dir(pyhost) if not n.startswith('_')):
    print(n, getattr(pyhost, n).__doc__)
print(pyhost.rank(), pyhost.size(), pyhost.peers(), pyhost.mpi_active(), pyhost.version())
print(pyhost.rank(7, x=1), pyhost.share_paths(['/nowhere']), pyhost.share_paths(()))
for bad in ((), (1,), ([1],), ('/a',)):
    try:
        pyhost.share_paths(*bad)
    except Exception as e:
        print(type(e).__name__, e)
import pickle
for n in ('rank', 'size', 'stats', 'share_paths'):
    f = getattr(pyhost, n)
    print(repr(f), f.__self__ is pyhost, f.__module__, f.__qualname__, pickle.loads(pickle.dumps(f)) is f,
          f == pyhost.rank, hash(f) == hash(getattr(pyhost, n)))
# Many calls, each way a call can go (the specialising interpreter takes
# over after a few): every one reaches its own function.
calls = [(pyhost.rank(), pyhost.size(), pyhost.peers(), pyhost.share_paths(['/x']), pyhost.rank(*(), **{}))
         for _ in range(100)]
print(len(set(map(repr, calls))), calls[-1])
s = pyhost.stats()
print(sorted(s), 'pyhost' in sys.builtin_module_names)
print(s['importer'], s['plain'])
"""


@pytest.mark.parametrize("how", ["auto", "limit"])
def test_the_plain_module_answers_as_the_importers(pyhost, tmp_path, how):
    # The module of a run with Go's runtime (and the importer on, which
    # share_paths needs) is the reference: the plain run's must print the
    # same, but for stats' 'importer' and 'plain'.
    if how == "auto" and remote_search_path(pyhost, tmp_path):
        pytest.skip("the search path starts on file systems with remote metadata: no plain run without a limit")
    ref = run([pyhost, "-c", MODULE], env=env_with(tmp_path, PYHOST_IMPORTER="on"), cwd=tmp_path)
    assert ref.returncode == 0 and ref.stdout.endswith(b"\nTrue False\n"), ref

    def lower():
        if how == "limit":
            resource.setrlimit(resource.RLIMIT_AS, (1 << 40, 1 << 40))
    r = run([pyhost, "-c", MODULE], env=env_with(tmp_path), cwd=tmp_path, preexec_fn=lower)
    assert r.returncode == 0 and r.stdout.endswith(b"\nFalse True\n"), r
    assert r.stdout[:-len("False True\n")] == ref.stdout[:-len("True False\n")], (r.stdout.decode(), ref.stdout.decode())


def test_the_module_made_again_keeps_its_functions_bound(pyhost, tmp_path):
    # Imported anew 300 times, and in 40 subinterpreters: each time its
    # functions are the module's (they used to take new entries of a pool
    # of 256 and, past it, become methods of an int), as in a plain run.
    code = ("import sys, pickle, _testcapi, pyhost\n"
            "for _ in range(300):\n"
            "    del sys.modules['pyhost']; import pyhost\n"
            "print(repr(pyhost.rank), pyhost.rank.__self__ is pyhost, pickle.loads(pickle.dumps(pyhost.stats)) is pyhost.stats)\n"
            "print(set(_testcapi.run_in_subinterp('import pyhost\\nassert pyhost.rank.__self__ is pyhost, pyhost.rank')"
            " for _ in range(40)))\n")
    want = b"<built-in function rank> True True\n{0}\n"
    for env in ({"PYHOST_IMPORTER": "on"}, {}):
        r = run([pyhost, "-c", code], env=env_with(tmp_path, **env), cwd=tmp_path)
        assert (r.returncode, r.stdout, r.stderr) == (0, want, b""), (env, r)
