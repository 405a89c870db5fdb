"""The bytecode pack (env-<key>.pack): a module's .pyc served with the one
stat of its source. Every case the stock loader distinguishes gives
python3.11's result: each scenario is warmed under pyhost (so the pack
holds copies of its .pyc files), changed, then run by pyhost and, on the
state pyhost left, by python3.11; their output and the bytecode files each
left must be the same, and pyhost must have served from the pack exactly
what was still valid."""

import hashlib
import importlib.util
import marshal
import os
import re
import shutil
import stat
import subprocess
import time

import pytest

from conftest import REFERENCE, base_env, pyhost_path, run

# The cache keeps nothing of an image file system (an overlay root) between runs.
pytestmark = pytest.mark.usefixtures("needs_persistent_cache")

SETTLE = 2.2  # the pack takes copies only from directories this old (share.settle)

M_SRC = '''"""m's doc."""
VALUE = 1


def boom():
    raise ValueError("from m " + str(VALUE))
'''
N_SRC = "VALUE = 'n'\n"
SUB_SRC = "VALUE = 'sub'\n"

PROBE = r'''
import sys, os, traceback, importlib


def _packed():
    try:
        import pyhost
    except ImportError:
        return 0
    return pyhost.stats()["packed"]


PRE
_before = _packed()
import m, n, pkg.sub
_after = _packed()
for mod in (m, n, pkg, pkg.sub):
    print(mod.__name__, getattr(mod, "VALUE", None), repr(mod.__doc__), mod.__file__, mod.__cached__,
          type(mod.__loader__).__name__, mod.__spec__.origin, mod.__spec__.cached,
          mod.__spec__.has_location, mod.__spec__.parent)
try:
    m.boom()
except ValueError:
    traceback.print_exc(file=sys.stdout)
import importlib.util

print(importlib.util.find_spec("m") == m.__spec__, importlib.util.find_spec("pkg.sub").loader == pkg.sub.__loader__)
if "pyhost" in sys.modules:
    with open(os.environ["PROBE_STATS"], "w") as f:
        f.write(str(_after - _before))
'''

ADDR = re.compile(rb" at 0x[0-9a-f]+")


def age(path):
    old = time.time() - 3600
    os.utime(path, (old, old))


def crafted_pyc(src_path, code_src, flags=0, source_hash=b"\0" * 8):
    """A .pyc of code_src that claims to be of src_path as it is now: a
    timestamp one (flags 0) with its mtime and size, or a hash-based one."""
    st = os.stat(src_path)
    head = importlib.util.MAGIC_NUMBER + flags.to_bytes(4, "little")
    if flags == 0:
        head += (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    else:
        head += source_hash
    return head + marshal.dumps(compile(code_src, src_path, "exec"))


def replace_atomically(path, data):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def pyc_of(tree, name, opt=""):
    d = tree / "lib" / "__pycache__"
    tag = f".opt-{opt}" if opt else ""
    return d / f"{name}.cpython-311{tag}.pyc"


class Scenario:
    def __init__(self, name, *, prepare=None, change=None, args=(), env=None, pre="", served=None):
        self.name, self.prepare, self.change = name, prepare, change
        self.args, self.env, self.pre = list(args), dict(env or {}), pre
        self.served = served  # modules pyhost must have served from the pack (None: don't check)


def write_source(path, text, mtime=None):
    path.write_text(text)
    if mtime is not None:
        os.utime(path, ns=(mtime, mtime))


def bigger(t):
    write_source(t / "lib" / "m.py", M_SRC.replace("VALUE = 1", "VALUE = 2\nEXTRA = 'more'"))


def smaller(t):
    write_source(t / "lib" / "m.py", M_SRC.replace('"""m\'s doc."""\n', ""))


def same_size_new_mtime(t):
    p = t / "lib" / "m.py"
    ns = p.stat().st_mtime_ns
    write_source(p, M_SRC.replace("VALUE = 1", "VALUE = 3"), mtime=ns + 10**10)


def same_size_same_mtime(t):
    # python3 cannot see this change either: both run the old bytecode.
    p = t / "lib" / "m.py"
    ns = p.stat().st_mtime_ns
    write_source(p, M_SRC.replace("VALUE = 1", "VALUE = 4"), mtime=ns)


def pyc_removed(t):
    pyc_of(t, "m").unlink()


def pyc_rewritten(t):
    # Another process (a code generator, a python3 run) wrote a new .pyc
    # that matches the source's stat, by rename as CPython writes.
    replace_atomically(pyc_of(t, "m"), crafted_pyc(t / "lib" / "m.py", M_SRC.replace("VALUE = 1", "VALUE = 99")))


def compileall_forced(t):
    r = run([REFERENCE, "-m", "compileall", "-q", "-f", str(t / "lib")], env=base_env(t / "home"))
    assert r.returncode == 0, r.stderr


def unchecked_hash_rewritten(t):
    replace_atomically(pyc_of(t, "m"), crafted_pyc(t / "lib" / "m.py", M_SRC.replace("VALUE = 1", "VALUE = 77"), flags=1))


def checked_hash_rewritten(t):
    r = run([REFERENCE, "-m", "py_compile", str(t / "lib" / "m.py")],
            env={**base_env(t / "home"), "SOURCE_DATE_EPOCH": "1"})  # checked-hash
    assert r.returncode == 0, r.stderr


def compile_checked_hash(t):
    checked_hash_rewritten(t)


def compile_unchecked_hash(t):
    r = run([REFERENCE, "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], "
             "invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)", str(t / "lib" / "m.py")],
            env=base_env(t / "home"))
    assert r.returncode == 0, r.stderr


def sourceless(t):
    shutil.copy(pyc_of(t, "n"), t / "lib" / "n.pyc")
    (t / "lib" / "n.py").unlink()


def sourceless_rewritten(t):
    replace_atomically(t / "lib" / "n.pyc", crafted_pyc(t / "lib" / "m.py", "VALUE = 'new n'"))


# The modules whose .pyc pyhost reads from the pack. A copy is served
# whenever the loader asks for the .pyc (it has stat'ed the source) and the
# copy's directory is unchanged: a changed source still gets it, and the
# loader finds it stale, as it would find the file.
ALL = ["m", "n", "pkg", "pkg.sub"]
NOT_M = ["n", "pkg", "pkg.sub"]

SCENARIOS = [
    Scenario("unchanged", served=ALL),
    Scenario("audit events", pre=(
        "sys.addaudithook(lambda e, a: e == 'open' and str(a[0]).startswith(os.environ['LIB'])"
        " and print('audit', *a))"), served=ALL),
    Scenario("source bigger", change=bigger, served=ALL),
    Scenario("source smaller", change=smaller, served=ALL),
    Scenario("source same size new mtime", change=same_size_new_mtime, served=ALL),
    Scenario("source same size same mtime", change=same_size_same_mtime, served=ALL),
    Scenario("pyc removed", change=pyc_removed, served=["pkg", "pkg.sub"]),
    Scenario("pyc rewritten by another process", change=pyc_rewritten, served=["pkg", "pkg.sub"]),
    Scenario("compileall -f", change=compileall_forced, served=[]),
    Scenario("rewritten as unchecked-hash pyc", change=unchecked_hash_rewritten, served=["pkg", "pkg.sub"]),
    Scenario("rewritten as checked-hash pyc", change=checked_hash_rewritten, served=["pkg", "pkg.sub"]),
    Scenario("checked-hash pyc from the start", prepare=compile_checked_hash, served=NOT_M),
    Scenario("unchecked-hash pyc from the start", prepare=compile_unchecked_hash, served=NOT_M),
    # m is compiled again and its .pyc written before n is imported: n's
    # directory has changed by then, and n is read from its file.
    Scenario("unchecked-hash, --check-hash-based-pycs always", prepare=compile_unchecked_hash,
             change=bigger, args=["--check-hash-based-pycs", "always"], served=["pkg", "pkg.sub"]),
    Scenario("checked-hash, --check-hash-based-pycs never", prepare=compile_checked_hash,
             change=bigger, args=["--check-hash-based-pycs", "never"], served=NOT_M),
    # A sourceless .pyc (read through io.open_code too) is read from its
    # file: nothing would check a copy against a source.
    Scenario("sourceless module", prepare=sourceless, served=["m", "pkg", "pkg.sub"]),
    Scenario("sourceless module rewritten", prepare=sourceless, change=sourceless_rewritten,
             served=["m", "pkg", "pkg.sub"]),
    Scenario("-B, source changed", change=bigger, args=["-B"], served=ALL),
    Scenario("PYTHONDONTWRITEBYTECODE, source changed", change=bigger,
             env={"PYTHONDONTWRITEBYTECODE": "1"}, served=ALL),
    Scenario("sys.dont_write_bytecode at run time", change=bigger,
             pre="sys.dont_write_bytecode = True", served=ALL),
    Scenario("PYTHONPYCACHEPREFIX", env={"PYTHONPYCACHEPREFIX": "PREFIX"}, served=[]),
    Scenario("-O", args=["-O"], served=[]),
    Scenario("-OO", args=["-OO"], served=[]),
    Scenario("cache off", args=["-X", "pyhost.cache=off"], served=[]),
    Scenario("cache rebuild", args=["-X", "pyhost.cache=rebuild"], served=[]),
    # Within one run: a .pyc rewritten by another process after pyhost
    # checked its directory, then importlib.invalidate_caches(), then the
    # import: python3's result (the directory is checked again).
    Scenario("rewritten during the run, then invalidate_caches", pre=(
        "import nn\n"
        "exec(os.environ['REWRITE_M'])\n"
        "importlib.invalidate_caches()"), served=["pkg", "pkg.sub"]),
]


def tree_for(base, i):
    t = base / f"s{i}"
    lib = t / "lib"
    (lib / "pkg").mkdir(parents=True)
    (t / "home").mkdir()
    (t / "cache").mkdir(mode=0o700)
    (lib / "m.py").write_text(M_SRC)
    (lib / "n.py").write_text(N_SRC)
    (lib / "nn.py").write_text("VALUE = 'nn'\n")
    (lib / "pkg" / "__init__.py").write_text("")
    (lib / "pkg" / "sub.py").write_text(SUB_SRC)
    return t


def env_for(t, sc):
    e = base_env(t / "home")
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    e["PYTHONPATH"] = str(t / "lib")
    e["PYHOST_CACHEDIR"] = str(t / "cache")
    e["PROBE_STATS"] = str(t / "stats")
    e["LIB"] = str(t / "lib")
    e["REWRITE_M"] = (
        "import importlib.util, marshal, os\n"
        f"src = {str(t / 'lib' / 'm.py')!r}\n"
        f"dst = {str(pyc_of(t, 'm'))!r}\n"
        "st = os.stat(src)\n"
        "data = (importlib.util.MAGIC_NUMBER + bytes(4) + (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, 'little')"
        " + (st.st_size & 0xFFFFFFFF).to_bytes(4, 'little')"
        " + marshal.dumps(compile(open(src).read().replace('VALUE = 1', 'VALUE = 55'), src, 'exec')))\n"
        "open(dst + '.tmp', 'wb').write(data)\n"
        "os.replace(dst + '.tmp', dst)\n")
    for k, v in sc.env.items():
        e[k] = str(t / v) if v == "PREFIX" else v
    return e


def probe(sc):
    return PROBE.replace("PRE", sc.pre)


def snapshot(t):
    """Every bytecode file under the tree: path -> digest."""
    out = {}
    for root, dirs, files in os.walk(t / "lib"):
        for f in files:
            if f.endswith(".pyc"):
                p = os.path.join(root, f)
                out[os.path.relpath(p, t)] = hashlib.sha256(open(p, "rb").read()).hexdigest()[:16]
    prefix = t / "PREFIX"
    if prefix.exists():
        out["prefix"] = sorted(os.path.relpath(os.path.join(r, f), prefix)
                               for r, _, fs in os.walk(prefix) for f in fs)
    return out


def compiled_tree(tmp_path, name, imports):
    """A scenario tree whose imports python3.11 has compiled, settled (its
    __pycache__ old enough to be packed): (tree, env, pyhost)."""
    t = tree_for(tmp_path, 0)
    e = env_for(t, Scenario(name))
    assert run([REFERENCE, "-c", imports], env=e, cwd=t).returncode == 0
    time.sleep(SETTLE)
    return t, e, os.path.abspath(pyhost_path())


@pytest.fixture(scope="module")
def warmed(tmp_path_factory):
    """Every scenario's tree, compiled by python3.11 and prepared, settled,
    then warmed by pyhost (its pack holds the copies), once for all."""
    base = tmp_path_factory.mktemp("pack")
    pyhost = os.path.abspath(pyhost_path())
    trees = []
    for i, sc in enumerate(SCENARIOS):
        t = tree_for(base, i)
        e = env_for(t, Scenario("warm"))
        r = run([REFERENCE, "-c", "import m, n, nn, pkg.sub"], env=e, cwd=t)
        assert r.returncode == 0, r.stderr
        if sc.prepare:
            sc.prepare(t)
        trees.append(t)
    time.sleep(SETTLE)
    for t in trees:
        e = env_for(t, Scenario("warm"))
        r = run([pyhost, "-c", "import m, n, nn, pkg.sub"], env=e, cwd=t)
        assert r.returncode == 0, r.stderr
        assert any(p.name.endswith(".pack") for p in (t / "cache").iterdir()), list((t / "cache").iterdir())
    return dict(zip((sc.name for sc in SCENARIOS), trees))


def served_modules(t):
    try:
        return int((t / "stats").read_text())
    finally:
        (t / "stats").unlink(missing_ok=True)


@pytest.mark.parametrize("sc", SCENARIOS, ids=[sc.name for sc in SCENARIOS])
def test_same_as_python3(warmed, sc):
    t = warmed[sc.name]
    pyhost = os.path.abspath(pyhost_path())
    if sc.change:
        sc.change(t)
    results = []
    for exe in (pyhost, REFERENCE):
        e = env_for(t, sc)
        r = run([exe, *sc.args, "-c", probe(sc)], env=e, cwd=t)
        results.append((r.returncode, ADDR.sub(b"", r.stdout), r.stderr, snapshot(t)))
        if exe == pyhost:
            packed = served_modules(t)
    (hrc, hout, herr, hstate), (rrc, rout, rerr, rstate) = results
    assert (hrc, hout, herr) == (rrc, rout, rerr), (
        f"pyhost:\n{hout.decode()}{herr.decode()}\npython3.11:\n{rout.decode()}{rerr.decode()}")
    assert rrc == 0, rerr
    assert hstate == rstate, f"bytecode files after pyhost {hstate}\nafter python3.11 {rstate}"
    if sc.served is not None:
        assert packed == len(sc.served), f"pyhost served {packed} modules from the pack, want {sc.served}"


def test_window_pyc_rewritten_during_the_run_without_invalidate_caches(warmed, tmp_path):
    """The one window (share.Pack): a .pyc rewritten by another process
    after pyhost checked its directory in this run, and imported without
    importlib.invalidate_caches(), is served as the pack holds it; python3
    reads the new file. Both see a changed *source* (the loader's own check)."""
    t, e, pyhost = compiled_tree(tmp_path, "window", "import m, n")
    assert run([pyhost, "-c", "import m, n"], env=e, cwd=t).returncode == 0
    code = "import os, n\nexec(os.environ['REWRITE_M'])\nimport m\nprint(m.VALUE)"
    host = run([pyhost, "-c", code], env=e, cwd=t)
    ref = run([REFERENCE, "-c", code], env=e, cwd=t)
    assert (host.returncode, ref.returncode) == (0, 0), host.stderr + ref.stderr
    assert ref.stdout == b"55\n"
    assert host.stdout == b"1\n", "the window closed? then update share.Pack's doc and the README"


def sourceless_pyc(path, value):
    code = compile(f"VALUE = {value!r}\n", str(path)[:-1], "exec")
    return importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code)


@pytest.mark.parametrize("how", ["in_place_between_runs", "replaced_during_the_run"])
def test_sourceless_module_changed_is_read_new(tmp_path, how):
    """A sourceless module (lib/slm.pyc, no source) is read from its file,
    as python3 reads it: nothing would check a copy of it against a source,
    so a .pyc copied over in place between runs (cp), or replaced during
    the run after its directory was checked, was served stale once packed."""
    t = tree_for(tmp_path, 0)
    e = env_for(t, Scenario("sourceless"))
    slm, first = t / "lib" / "slm.pyc", t / "lib" / "first.pyc"
    slm.write_bytes(sourceless_pyc(slm, "v1"))
    first.write_bytes(sourceless_pyc(first, "first"))
    assert run([REFERENCE, "-c", "import n"], env=e, cwd=t).returncode == 0
    time.sleep(SETTLE)
    pyhost = os.path.abspath(pyhost_path())
    for _ in range(2):
        r = run([pyhost, "-c", "import n, first, slm; print(slm.VALUE)"], env=e, cwd=t)
        assert (r.returncode, r.stdout) == (0, b"v1\n"), r.stderr
    if how == "in_place_between_runs":
        with open(slm, "r+b") as f:  # as cp writes: same inode, same size
            f.write(sourceless_pyc(slm, "v2"))
        code = "import n, slm; print(slm.VALUE)"
    else:
        # first's copy had its directory (lib) checked before the rename.
        code = ("import os, n, first\n"
                f"open({str(slm)!r} + '.tmp', 'wb').write({sourceless_pyc(slm, 'v2')!r})\n"
                f"os.replace({str(slm)!r} + '.tmp', {str(slm)!r})\n"
                "import slm; print(slm.VALUE)")
    host = run([pyhost, "-c", code], env=e, cwd=t)
    ref = run([REFERENCE, "-c", code], env=e, cwd=t)
    assert (ref.returncode, ref.stdout) == (0, b"v2\n"), ref.stderr
    assert (host.returncode, host.stdout, host.stderr) == (ref.returncode, ref.stdout, ref.stderr)


def test_pyc_linked_from_a_store_and_replaced_there_is_read_new(tmp_path):
    """A __pycache__ of symbolic links into a store (Spack views, stow,
    symlink farms): a release replaces the store's files by renames, which
    the view's directories never show. A .pyc reached through a link is
    read from its file at every run, as python3 reads it: a copy of it was
    served for the new release's source whenever that source kept the old
    one's size and mtime (a build that clamps mtimes)."""
    store, view = tmp_path / "store", tmp_path / "view"
    (store / "__pycache__").mkdir(parents=True)
    (view / "__pycache__").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    e = base_env(tmp_path / "home")
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    e["PYTHONPATH"] = str(view)
    e["PYHOST_CACHEDIR"] = str(tmp_path / "cache")

    def release(text):
        new = store / "lm.py.new"
        new.write_text(text)
        os.utime(new, (1600000000, 1600000000))
        os.replace(new, store / "lm.py")
        subprocess.run([REFERENCE, "-m", "py_compile", str(store / "lm.py")], check=True, timeout=60)
    release("print('release A')\n")
    (view / "lm.py").symlink_to(store / "lm.py")
    pyc = "__pycache__/" + os.path.basename(importlib.util.cache_from_source("lm.py"))
    (view / pyc).symlink_to(store / pyc)
    time.sleep(SETTLE)
    pyhost = os.path.abspath(pyhost_path())
    for _ in range(3):
        r = run([pyhost, "-c", "import lm"], env=e, cwd=tmp_path)
        assert (r.returncode, r.stdout) == (0, b"release A\n"), r.stderr
    release("print('release B')\n")  # same size, same mtime
    time.sleep(SETTLE)
    ref = run([REFERENCE, "-c", "import lm"], env=e, cwd=tmp_path)
    assert (ref.returncode, ref.stdout) == (0, b"release B\n"), ref.stderr
    for _ in range(2):
        host = run([pyhost, "-c", "import lm"], env=e, cwd=tmp_path)
        assert (host.returncode, host.stdout, host.stderr) == (0, b"release B\n", b"")


def run_damaged(t, damage):
    pyhost = os.path.abspath(pyhost_path())
    e = env_for(t, Scenario("damaged"))
    (pack,) = [p for p in (t / "cache").iterdir() if p.name.endswith(".pack")]
    damage(pack)
    host = run([pyhost, "-c", probe(Scenario("x"))], env=e, cwd=t, timeout=20)
    ref = run([REFERENCE, "-c", probe(Scenario("x"))], env=e, cwd=t, timeout=20)
    return host, ref, served_modules(t)


def flip_data(p):
    b = bytearray(p.read_bytes())
    b[20] ^= 0xFF
    p.write_bytes(bytes(b))


def truncate(p):
    b = p.read_bytes()
    p.write_bytes(b[: len(b) // 2])


def fifo(p):
    p.unlink()
    os.mkfifo(p, 0o600)


def symlink(p):
    real = p.with_name("real")
    p.rename(real)
    p.symlink_to(real)


def group_writable(p):
    p.chmod(0o620)


def other_owned(p):
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    os.chown(p, 65534, 65534)


@pytest.mark.parametrize("damage", [flip_data, truncate, fifo, symlink, group_writable, other_owned],
                         ids=lambda f: f.__name__)
def test_bad_pack_costs_one_line_and_gives_python3s_result(tmp_path, damage):
    t, e, pyhost = compiled_tree(tmp_path, "bad", "import m, n, pkg.sub")
    assert run([pyhost, "-c", "import m, n, pkg.sub"], env=e, cwd=t).returncode == 0
    host, ref, packed = run_damaged(t, damage)
    assert (host.returncode, ADDR.sub(b"", host.stdout)) == (ref.returncode, ADDR.sub(b"", ref.stdout))
    lines = host.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(b"pyhost: "), host.stderr
    assert ref.stderr == b""
    if damage is not flip_data:
        assert packed == 0
    # The next run rewrites a pack it may (not over a FIFO or another
    # user's file: those are replaced by rename, never written through).
    again = run([pyhost, "-c", "import m, n, pkg.sub"], env=e, cwd=t, timeout=20)
    assert again.returncode == 0 and again.stderr.count(b"pyhost: ") <= 1, again.stderr


def mounted(args, target):
    """Mounts (root only); a skip when this machine cannot."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting needs root and mount(8)")
    m = subprocess.run(["mount", *args, str(target)], capture_output=True, timeout=10)
    if m.returncode != 0:
        pytest.skip(f"cannot mount: {m.stderr.decode().strip()}")


def unmount(target):
    subprocess.run(["umount", str(target)], capture_output=True, timeout=10)


def test_cache_directory_that_cannot_be_written(tmp_path):
    """A file where the cache directory should be: python3's result and at
    most one line."""
    t = tree_for(tmp_path, 0)
    e = env_for(t, Scenario("ro"))
    pyhost = os.path.abspath(pyhost_path())
    assert run([REFERENCE, "-c", "import m, n, pkg.sub"], env=e, cwd=t).returncode == 0
    shutil.rmtree(t / "cache")
    (t / "cache").write_text("not a directory")
    host = run([pyhost, "-c", probe(Scenario("x"))], env=e, cwd=t)
    ref = run([REFERENCE, "-c", probe(Scenario("x"))], env=e, cwd=t)
    assert (host.returncode, ADDR.sub(b"", host.stdout)) == (ref.returncode, ADDR.sub(b"", ref.stdout))
    assert host.stderr.count(b"pyhost: ") <= 1, host.stderr


def test_read_only_cache_directory(tmp_path):
    """A warm cache on a read-only mount: served from, never written, no
    line at all (nothing needed writing), python3's result."""
    t, e, pyhost = compiled_tree(tmp_path, "ro", "import m, n, pkg.sub")
    assert run([pyhost, "-c", "import m, n, pkg.sub"], env=e, cwd=t).returncode == 0
    mounted(["--bind", str(t / "cache")], t / "cache")
    try:
        r = subprocess.run(["mount", "-o", "remount,ro,bind", str(t / "cache")], capture_output=True, timeout=10)
        if r.returncode != 0:
            pytest.skip(f"cannot remount read-only: {r.stderr.decode().strip()}")
        bigger(t)  # something to compile: the loader writes __pycache__, not the cache
        host = run([pyhost, "-c", probe(Scenario("x"))], env=e, cwd=t)
        packed = served_modules(t)
        ref = run([REFERENCE, "-c", probe(Scenario("x"))], env=e, cwd=t)
        assert (host.returncode, ADDR.sub(b"", host.stdout)) == (ref.returncode, ADDR.sub(b"", ref.stdout))
        assert host.stderr.count(b"pyhost: ") <= 1, host.stderr
        assert packed == 4, host.stderr
    finally:
        unmount(t / "cache")


def test_full_cache_directory(tmp_path):
    """A cache directory on a full file system (a 64 KB tmpfs): the pack
    does not fit; python3's result and at most one line."""
    t, e, pyhost = compiled_tree(tmp_path, "full", "import m, n, pkg.sub")
    mounted(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"], t / "cache")
    try:
        host = run([pyhost, "-c", probe(Scenario("x"))], env=e, cwd=t)
        ref = run([REFERENCE, "-c", probe(Scenario("x"))], env=e, cwd=t)
        assert (host.returncode, ADDR.sub(b"", host.stdout)) == (ref.returncode, ADDR.sub(b"", ref.stdout))
        assert host.stderr.count(b"pyhost: ") <= 1, host.stderr
        # The pack (python3's own library's copies included) did not fit,
        # and nothing half-written was left.
        names = [p.name for p in (t / "cache").iterdir()]
        assert not any(n.endswith(".pack") or n.endswith(".tmp") for n in names), names
    finally:
        unmount(t / "cache")


def test_importtime_lists_what_python3_lists(warmed):
    """With a warm pack (read at the first .pyc), -X importtime names the
    modules python3 names, in its order: pyhost imports nothing of its own."""
    t = warmed["unchanged"]
    pyhost = os.path.abspath(pyhost_path())
    names = []
    for exe in (pyhost, REFERENCE):
        r = run([exe, "-X", "importtime", "-c", "import m, json"], env=env_for(t, Scenario("it")), cwd=t)
        assert r.returncode == 0, r.stderr
        names.append([line.rsplit(b"|", 1)[-1].strip() for line in r.stderr.splitlines()[1:]])
    assert names[0] == names[1]


@pytest.mark.parametrize("where", ["/nonexistent/m.py", "DIR"])
def test_an_error_opening_code_has_python3s_traceback(parity, tmp_path, where):
    # The loaders open sources and bytecode through _bootstrap_external's
    # _io.open_code, which pyhost replaces with the pack's (a builtin):
    # an error from the file (missing, a directory, unreadable) has the
    # traceback python3 prints, with no frame of pyhost's in it.
    path = where
    if where == "DIR":
        (tmp_path / "d.py").mkdir()
        path = str(tmp_path / "d.py")
    code = ("import importlib.util as u\n"
            f"s = u.spec_from_file_location('m', {path!r})\n"
            "s.loader.exec_module(u.module_from_spec(s))\n")
    ref = parity.check(["-c", code], env={"PYTHONDONTWRITEBYTECODE": ""})
    assert ref.returncode == 1 and b"in get_data\n" in ref.stderr, ref.stderr
    assert ref.stderr.rstrip().splitlines()[-2].strip().startswith(b"File \"<frozen importlib._bootstrap_external>\""), ref.stderr
    # ... and the run went through the pack's open_code.
    host = run([pyhost_path(), "-c", "import importlib._bootstrap_external as b, io\n"
                "print(b._io is io, type(b._io.open_code).__name__)"],
               env=base_env(tmp_path), cwd=tmp_path)
    assert host.stdout == b"False builtin_function_or_method\n", host


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as a user the source is unreadable to")
def test_an_unreadable_source_has_python3s_traceback(pyhost_for_nobody, reference, tmp_path):
    import pwd
    from conftest import Parity
    try:
        uid = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        pytest.skip("no user nobody to run as")
    for d in [tmp_path, *tmp_path.parents][:-1]:  # nobody must reach the working directory
        os.chmod(d, os.stat(d).st_mode | 0o011)
    os.chmod(tmp_path, 0o777)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    os.chmod(cache, 0o777)

    def as_nobody():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    def setup(cwd):
        (cwd / "unreadable.py").write_text("X = 1\n")
        os.chmod(cwd / "unreadable.py", 0)
        os.chmod(cwd, 0o777)
    env = {"PYTHONDONTWRITEBYTECODE": "", "XDG_CACHE_HOME": str(cache)}
    parity = Parity(pyhost_for_nobody, reference, tmp_path)
    ref = parity.check(["-c", "import unreadable"], setup=setup, preexec_fn=as_nobody, env=env)
    assert b"PermissionError" in ref.stderr and b"in get_data\n" in ref.stderr, ref.stderr
    host = run([pyhost_for_nobody, "-c", "import importlib._bootstrap_external as b, io\n"
                "print(b._io is io, type(b._io.open_code).__name__)"],
               env={**base_env(tmp_path), **env}, cwd=tmp_path, preexec_fn=as_nobody)
    assert host.stdout == b"False builtin_function_or_method\n", host


def test_dont_write_bytecode_is_not_evaluated_when_reading(parity):
    # python3 evaluates sys.dont_write_bytecode only when it writes
    # bytecode; the pack's open_code read its truth (running the program's
    # __bool__) at every .pyc it opened.
    code = ("import sys\n"
            "class Loud:\n"
            "    def __bool__(self):\n"
            "        print('evaluated'); return True\n"
            "sys.dont_write_bytecode = Loud()\n"
            "import json.decoder, email.mime.text, xml.dom.minidom\n"
            "print('ok')\n")
    ref = parity.check(["-c", code], env={"PYTHONDONTWRITEBYTECODE": ""})
    assert ref.stdout == b"ok\n", ref
