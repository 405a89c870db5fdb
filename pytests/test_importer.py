"""The finder's semantics, compared with Debian's python3.11.

Each case lays out a small tree in a fresh working directory, runs the same
script under pyhost and under python3.11, and requires the same output: which
modules were found, with which loader, origin, cached file, search locations
and errors. Together with CPython's own test_importlib and test_import (run by
scripts/cpython-tests.sh) this is what "behaves like python3" means for the
importer.
"""

import os
import sys

import pytest

PRELUDE = r'''
import importlib, importlib.util, os, sys
def show(name):
    try:
        m = importlib.import_module(name)
    except BaseException as e:
        print(name, "->", type(e).__name__, str(e), getattr(e, "name", None))
        return None
    s = m.__spec__
    if s is None:
        print(name, "-> no spec", getattr(m, "__file__", None))
        return m
    locs = s.submodule_search_locations
    print(name, "->", type(s.loader).__name__, s.origin, s.cached, s.has_location,
          s.parent, None if locs is None else list(locs), getattr(m, "__file__", None))
    return m
def forget(*names):
    for n in list(sys.modules):
        if n in names or any(n.startswith(x + ".") for x in names):
            del sys.modules[n]
'''


def script(body):
    return PRELUDE + body


EXT_SUFFIX = ".cpython-311-x86_64-linux-gnu.so"

PRECEDENCE = {
    "a/m1.py": "x = 1\n",
    "a/m2.py": "",
    "a/m2/__init__.py": "",  # package beats module
    "a/m3.pyc": b"",  # sourceless: bad magic on load, but found
    "a/m4.py": "",
    "a/m4.pyc": b"",  # source beats bytecode
    "a/ns1/x.py": "",  # namespace portion
    "a/dirpy.py/__init__.py": "",  # a directory named like a module file
    "a/pkg/__init__.py": "from . import sub\nfrom .sub import val\n",
    "a/pkg/sub.py": "val = 42\n",
    "a/pkg/deeper/__init__.py": "",
    "a/pkg/deeper/leaf.py": "from .. import sub\nv = sub.val\n",
    "a/initdir/__init__.py/x": "",  # __init__.py that is a directory: namespace
    "a/bad.name.py": "",
    "b/m1.py": "x = 2\n",  # shadowed by a/m1.py
    "b/ns1/y.py": "",  # second portion
    "b/only_b.py": "",
}


CASES = {
    "precedence": (PRECEDENCE, r'''
sys.path[:0] = [os.path.abspath("a"), os.path.abspath("b")]
for n in ["m1", "m2", "m3", "m4", "ns1", "ns1.x", "ns1.y", "dirpy", "pkg", "pkg.sub",
          "pkg.deeper.leaf", "initdir", "bad.name", "only_b", "nosuch", "pkg.nosuch",
          "m1.nosuch"]:
    show(n)
import m1; print("m1.x", m1.x)
'''),
    "odd-names": (PRECEDENCE, r'''
sys.path.insert(0, os.path.abspath("a"))
for n in ["", "a b", "foo-bar", "m1/..", "../a/m1", "m1\x00", "\u00e9t\u00e9", "M1",
          "pkg..sub", ".", "pkg.", "1abc"]:
    try:
        show(n)
    except BaseException as e:
        print(repr(n), type(e).__name__)
'''),
    "sys-path-mutations": (PRECEDENCE, r'''
a, b = os.path.abspath("a"), os.path.abspath("b")
show("only_b")
sys.path.append(b); show("only_b"); forget("only_b")
sys.path.remove(b); show("only_b")
sys.path.insert(0, b); show("m1"); forget("m1")
sys.path[0:1] = [a]; show("m1"); forget("m1")
sys.path = [b] + sys.path; show("m1"); forget("m1")
sys.path = [x for x in sys.path if x != b]; show("m1"); forget("m1")
del sys.path[0]; show("m1")
'''),
    "path-entries": (dict(PRECEDENCE, **{"afile.txt": "", "z/keep.py": ""}), r'''
import pathlib
os.symlink("nowhere", "broken")
os.mkdir("gone"); 
for e in ["afile.txt", "broken", "gone", b"b", pathlib.Path("b"), 42, None, "", "b/", "./b", "b/../b"]:
    sys.path.insert(0, os.path.abspath(e) if isinstance(e, str) and e else e)
os.rmdir("gone")
show("only_b"); show("m1"); show("keep")
print(sorted(k for k in sys.path_importer_cache if isinstance(k, str) and k.startswith(os.getcwd())))
print([type(sys.path_importer_cache.get(os.path.abspath(x))).__mro__[-2].__name__ for x in ["afile.txt", "broken", "b"]])
'''),
    "empty-entry-and-chdir": (PRECEDENCE, r'''
sys.path.insert(0, "")
os.chdir("a"); show("m1"); forget("m1")
os.chdir("../b"); show("m1"); show("only_b")
'''),
    "namespace-across-entries": (PRECEDENCE, r'''
sys.path[:0] = [os.path.abspath("a"), os.path.abspath("b")]
import ns1
print(type(ns1.__path__).__name__, list(ns1.__path__), ns1.__spec__.origin, ns1.__file__ if hasattr(ns1, "__file__") else "no __file__")
os.makedirs("c/ns1"); open("c/ns1/z.py", "w").close()
sys.path.append(os.path.abspath("c"))
show("ns1.z")
print(list(ns1.__path__))
'''),
    "package-path-changed": (PRECEDENCE, r'''
sys.path.insert(0, os.path.abspath("a"))
import pkg
pkg.__path__.append(os.path.abspath("b"))
show("pkg.only_b"); show("pkg.m1")
pkg.__path__[:] = [os.path.abspath("b")]
show("pkg.ns1")
'''),
    "written-at-run-time": ({"d/old.py": ""}, r'''
import time
sys.path.insert(0, os.path.abspath("d"))
show("old"); show("new1")
with open("d/new1.py", "w") as f: f.write("v = 1\n")
st = os.stat("d"); os.utime("d", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
show("new1")
os.makedirs("d/newpkg"); open("d/newpkg/__init__.py", "w").close()
importlib.invalidate_caches()
show("newpkg")
with open("d/new2.py", "w") as f: f.write("")
importlib.invalidate_caches()
show("new2")
'''),
    # A name GoFinder missed is looked up again as FileFinder would
    # (the directory checked) by whatever asks next: PathFinder behind a
    # finder the program put before it, PathFinder or an entry finder
    # called directly, a namespace package's path recomputed. Each once
    # answered "not found" from the miss, for as long as nothing else
    # missed.
    "written-after-a-miss": ({"w/keep.py": "", "na/nsp/p.py": "", "nb/other.py": ""}, r'''
import importlib.machinery as M
def bump(d):
    st = os.stat(d); os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
sys.path[:0] = [os.path.abspath("w"), os.path.abspath("na"), os.path.abspath("nb")]
for stmt in ["import x2", "import x1"]:
    try:
        exec(stmt)
    except ImportError as e:
        print(stmt, "->", e)
class Before:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return None
sys.meta_path.insert(len(sys.meta_path) - 1, Before)
with open("w/x1.py", "w") as f: f.write("v = 1\n")
bump("w")
import x1; print("x1", x1.v)
sys.meta_path.remove(Before)
show("x2")
with open("w/x2.py", "w") as f: f.write("")
bump("w")
print("PathFinder", M.PathFinder.find_spec("x2", [os.path.abspath("w")]) is not None)
print("entry finder", sys.path_importer_cache[os.path.abspath("w")].find_spec("x2") is not None)
import nsp
print([os.path.basename(os.path.dirname(p)) for p in nsp.__path__])
os.makedirs("nb/nsp"); open("nb/nsp/q.py", "w").close()
bump("nb")
sys.path.append(os.path.abspath("later"))
print([os.path.basename(os.path.dirname(p)) for p in nsp.__path__])
show("nsp.q")
'''),
    "failed-imports": (PRECEDENCE, r'''
sys.path.insert(0, os.path.abspath("a"))
for stmt in ["import nosuch", "import pkg.nosuch", "from pkg import nosuch", "import m1.x",
             "from . import x", "import nosuch.sub", "__import__('')"]:
    try:
        exec(stmt)
    except BaseException as e:
        print(stmt, "->", type(e).__name__, e, getattr(e, "name", None))
'''),
    "resources-metadata-pkgutil-inspect": ({
        "r/rpkg/__init__.py": "'''doc'''\ndef f():\n    return 1\n",
        "r/rpkg/data.txt": "hello\n",
        "r/rpkg/sub1.py": "",
        "r/rpkg/subpkg/__init__.py": "",
        "r/rdist-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: rdist\nVersion: 1.0\n",
        "r/rdist-1.0.dist-info/top_level.txt": "rpkg\n",
    }, r'''
sys.path.insert(0, os.path.abspath("r"))
import rpkg, importlib.resources, importlib.metadata, pkgutil, inspect, runpy
print(importlib.resources.files("rpkg").joinpath("data.txt").read_text())
print(importlib.metadata.version("rdist"))
print(sorted((m.name, m.ispkg) for m in pkgutil.iter_modules(rpkg.__path__)))
print(sorted(m.name for m in pkgutil.iter_modules([os.path.abspath("r")])))
print(inspect.getsource(rpkg.f))
print(pkgutil.get_data("rpkg", "data.txt"))
print(sorted(runpy.run_module("rpkg.sub1")))
print(importlib.util.find_spec("rpkg.sub1").origin)
'''),
    "traceback-from-imported-module": ({"t/boom.py": "def f():\n    raise ValueError('boom')\n"}, r'''
sys.path.insert(0, os.path.abspath("t"))
import boom, traceback
try:
    boom.f()
except ValueError:
    traceback.print_exc(file=sys.stdout)
'''),
    "meta-path-finder-inserted-before": (PRECEDENCE, r'''
class Spy:
    seen = []
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        cls.seen.append(name)
        return None
sys.meta_path.insert(0, Spy)
sys.path.insert(0, os.path.abspath("a"))
show("m1"); show("pkg.sub")
print(Spy.seen)
class Between:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == "m4":
            import importlib.machinery
            return importlib.machinery.ModuleSpec("m4", None, origin="between")
        return None
i = [type(f).__name__ if not isinstance(f, type) else f.__name__ for f in sys.meta_path].index("PathFinder")
sys.meta_path.insert(i, Between)
try:
    show("m4")
except Exception as e:
    print(type(e).__name__)
'''),
    "path-hooks-changed": (PRECEDENCE, r'''
class Hook:
    def __init__(self, path):
        if not path.endswith("/b"):
            raise ImportError
        self.path = path
    def find_spec(self, name, target=None):
        import importlib.machinery
        if name == "hooked":
            return importlib.machinery.ModuleSpec("hooked", None, origin="hook")
        return None
sys.path_hooks.insert(0, Hook)
sys.path_importer_cache.clear()
sys.path.insert(0, os.path.abspath("b"))
try:
    show("hooked")
except Exception as e:
    print(type(e).__name__, e)
show("only_b")
'''),
    "zip-entry": ({}, r'''
import zipfile
with zipfile.ZipFile("z.zip", "w") as z:
    z.writestr("zm.py", "v = 7\n")
    z.writestr("zp/__init__.py", "")
sys.path.insert(0, os.path.abspath("z.zip"))
show("zm"); show("zp")
'''),
    "non-utf8-file-name": ({}, r'''
d = os.fsencode(os.path.abspath("u"))
os.mkdir(d)
open(os.path.join(d, b"caf\xe9.py"), "wb").close()
open(os.path.join(d, b"ok.py"), "wb").close()
sys.path.insert(0, os.fsdecode(d))
show(os.fsdecode(b"caf\xe9")); show("ok")
print(sorted(os.listdir(os.fsdecode(d))))
'''),
    "threads": ({f"th/m{i}.py": f"import time\nv = {i}\n" for i in range(40)}, r'''
import threading
sys.path.insert(0, os.path.abspath("th"))
out = {}
def work(k):
    for i in range(k, 40, 8):
        out[i] = importlib.import_module(f"m{i}").v
ts = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(sorted(out.items()) == [(i, i) for i in range(40)])
'''),
    "pth-and-sitedir": ({
        "s/extra.pth": "import sys; sys.flags_seen = True\n" + "../s2\n",
        "s2/from_pth.py": "",
    }, r'''
import site
site.addsitedir(os.path.abspath("s"))
print(getattr(sys, "flags_seen", False))
show("from_pth")
'''),
}

# Changes to directories already searched in this run, each made after an
# import has searched the directory (python3 notices them through the
# directory's mtime, pyhost through the same stat: these are the
# program's directories, not an installed environment's). The first
# imports search the working directory and "lib" for json's and m1's names.
CHANGED = {"lib/m1.py": "v = 'lib'\n", "lib/keep.py": "", "later/m1.py": "v = 'later'\n",
           "later/only_later.py": "", "v1/a.py": "v = 1\n", "v2/a.py": "v = 2\n", "v2/b.py": ""}
CHANGED_PRELUDE = r'''
import json, shutil
sys.path[:0] = [os.path.abspath("lib"), os.path.abspath("later")]
show("keep"); show("nosuch_zz")
'''
CASES.update({
    "changed-deleted-falls-through": (CHANGED, CHANGED_PRELUDE + r'''
os.remove("lib/m1.py")
print(importlib.util.find_spec("m1").origin)
show("m1")
'''),
    "changed-deleted-nowhere-else": (CHANGED, CHANGED_PRELUDE + r'''
show("keep"); forget("keep"); os.remove("lib/keep.py")
print(importlib.util.find_spec("keep")); show("keep")
'''),
    "changed-shadow-written-ahead": (CHANGED, CHANGED_PRELUDE + r'''
with open("lib/only_later.py", "w") as f: f.write("")
show("only_later")
with open("csv.py", "w") as f: f.write("")
sys.path.insert(0, os.getcwd()); show("csv")
'''),
    "changed-module-becomes-package": (CHANGED, CHANGED_PRELUDE + r'''
os.mkdir("lib/m1"); open("lib/m1/__init__.py", "w").close()
show("m1"); forget("m1")
shutil.rmtree("lib/m1"); os.remove("lib/m1.py"); show("m1")
'''),
    "changed-package-init-and-subdirectory": ({**CHANGED, "lib/pk/__init__.py": "", "lib/pk/s.py": ""}, CHANGED_PRELUDE + r'''
show("pk.s"); forget("pk")
os.remove("lib/pk/__init__.py"); show("pk"); forget("pk")
os.rename("lib/pk", "lib/pk_old"); os.mkdir("lib/pk"); open("lib/pk/t.py", "w").close()
show("pk.s"); show("pk.t")
'''),
    "changed-renamed-directory-on-path": (CHANGED, CHANGED_PRELUDE + r'''
sys.path.insert(0, os.path.abspath("cur")); os.symlink("v1", "cur"); show("a"); forget("a")
os.symlink("v2", "cur.new"); os.replace("cur.new", "cur"); show("a"); show("b")
os.rename("later", "gone"); show("only_later")
'''),
    "changed-link-target-removed": ({**CHANGED, "store/plug.py": "v = 'store'\n"}, CHANGED_PRELUDE + r'''
os.symlink(os.path.abspath("store/plug.py"), "lib/plug.py")
st = os.stat("lib"); show("plug"); forget("plug")
os.remove("store/plug.py"); os.utime("lib", ns=(st.st_atime_ns, st.st_mtime_ns))
show("plug"); forget("plug")
os.symlink(os.path.abspath("store/none.py"), "lib/late.py"); st = os.stat("lib"); show("late")
with open("store/none.py", "w") as f: f.write("v = 'late'\n")
os.utime("lib", ns=(st.st_atime_ns, st.st_mtime_ns)); show("late")
'''),
    "changed-same-mtime-directory-swapped": ({"A/x.py": "", "A/y.py": "", "A/pk/__init__.py": "", "A/pk/a.py": "",
                                              "B/x.py": "", "B/z.py": "", "B/pk/b.py": ""}, r'''
for d in ("A", "B", "A/pk", "B/pk"):
    os.utime(d, (1e9, 1e9))
os.symlink("A", "cur"); sys.path.insert(0, os.path.abspath("cur"))
for n in ("x", "y", "pk", "pk.a"):
    show(n)
forget("x", "y", "pk")
os.symlink("B", "cur.new"); os.replace("cur.new", "cur")
for n in ("x", "y", "z", "pk", "pk.a", "pk.b"):
    show(n)
'''),
    "changed-seen-across-fork": (CHANGED, CHANGED_PRELUDE + r'''
pid = os.fork()
if pid == 0:
    os.remove("lib/m1.py"); show("m1"); sys.stdout.flush(); os._exit(0)
os.waitpid(pid, 0)
show("m1"); forget("m1")
pid = os.fork()
if pid == 0:
    with open("lib/only_later.py", "w") as f: f.write("")
    os._exit(0)
os.waitpid(pid, 0)
show("only_later")
'''),
})


# An entry's finder is made only when a search reaches it, as PathFinder
# makes it: what happens to an entry before that (made later, reached
# after a chdir, given to a path hook added meanwhile) counts. And the
# machinery as a program changes it: its loader suffixes (Hy adds its own
# to SOURCE_SUFFIXES), PathFinder's and FileFinder's find_spec wrapped.
UNREACHED = {"d1/f.py": "", "first/f.py": "", "b/lib/mod.py": "v = 'b/lib'\n", "lib/mod.py": "v = 'lib'\n",
             "e1/m.py": "", "e2/n.py": "", "hy/m.hy": "v = 'hy'\n", "hy/m2.py": "v = 2\n"}
CASES.update({
    "unreached-entry-made-later": (UNREACHED, r'''
sys.path[:0] = [os.path.abspath("d1"), os.path.abspath("later")]
show("f")
os.makedirs("later"); open("later/x.py", "w").close()
show("x")
print(sorted(k for k in sys.path_importer_cache if isinstance(k, str) and k.startswith(os.getcwd())))
'''),
    "unreached-relative-entry-after-chdir": (UNREACHED, r'''
sys.path[:0] = [os.path.abspath("first"), "lib"]
show("f"); os.chdir("b"); show("mod")
'''),
    "unreached-entry-meets-a-later-hook": (UNREACHED, r'''
sys.path[:0] = [os.path.abspath("e1"), os.path.abspath("e2")]
show("m")
print(os.path.abspath("e2") in sys.path_importer_cache)
seen = []
def hook(p):
    seen.append(os.path.basename(p))
    raise ImportError
sys.path_hooks.insert(0, hook)
show("n"); print(seen[:3])
'''),
    "loader-suffixes-changed": (UNREACHED, r'''
import importlib.machinery as M
sys.path.insert(0, os.path.abspath("hy")); show("m2")
M.SOURCE_SUFFIXES.insert(0, ".hy"); sys.path_importer_cache.clear()
show("m"); show("m2"); forget("m2"); show("m2")
M.SOURCE_SUFFIXES.remove(".hy"); sys.path_importer_cache.clear(); forget("m"); show("m")
'''),
    "hook-shrinks-or-rebinds-sys-path": (UNREACHED, r'''
A, B, T, C = (os.path.abspath(x) for x in ("e1", "e2", "trig", "d1"))
sys.path[:0] = [A, B]
show("nosuch_warm")
def hook(p):
    if p == T:
        sys.path.clear()
    if p == C:
        sys.path = [x for x in sys.path if x != C]
        sys.path_importer_cache = dict(sys.path_importer_cache)
    raise ImportError
sys.path_hooks.insert(0, hook)
sys.path.insert(1, T); show("nosuch")
sys.path[:0] = [A, C, B]; show("n"); show("f")
'''),
    "thread-rebinds-sys-path": ({f"t{i}/x.py": "" for i in range(20)}, r'''
import threading
dirs = [os.path.abspath(f"t{i}") for i in range(20)]
sys.path[:0] = dirs
sys.setswitchinterval(1e-6)
stop = False
def rebinder():
    while not stop:
        sys.path = list(sys.path)
t = threading.Thread(target=rebinder); t.start()
for it in range(400):
    for d in dirs:
        sys.path_importer_cache.pop(d, None)
    try:
        __import__("nosuch%d" % it)
    except ImportError:
        pass
stop = True; t.join(); print("ok")
'''),
    "fill-cache-wrapped": (UNREACHED, r'''
import importlib.machinery as M
orig = M.FileFinder._fill_cache
def fill(self):
    orig(self)
    self._path_cache.discard("n.py")
M.FileFinder._fill_cache = fill
sys.path[:0] = [os.path.abspath("e1"), os.path.abspath("e2")]
show("m"); show("n")
M.FileFinder._fill_cache = orig
'''),
    "find-spec-wrapped": (UNREACHED, r'''
import importlib.machinery as M
calls = []
orig_pf = M.PathFinder.find_spec.__func__
def pf(cls, name, path=None, target=None):
    calls.append(("PathFinder", name))
    return orig_pf(cls, name, path, target)
M.PathFinder.find_spec = classmethod(pf)
sys.path[:0] = [os.path.abspath("e1"), os.path.abspath("e2")]
show("m"); show("nosuch")
orig_ff = M.FileFinder.find_spec
def ff(self, name, target=None):
    calls.append(("FileFinder", name, os.path.basename(self.path)))
    return orig_ff(self, name, target)
M.FileFinder.find_spec = ff
show("n")
M.PathFinder.find_spec = classmethod(orig_pf); M.FileFinder.find_spec = orig_ff
forget("n"); show("n")
print([c for c in calls if c[1] in ("m", "n", "nosuch")])
'''),
})


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_python3(parity, name):
    files, body = CASES[name]
    parity.check(["-c", script(body)], files=files)


def test_large_directory(parity, tmp_path_factory):
    # 100,000 files in one sys.path directory: found as python3 finds them.
    # Made once, outside the per-run working directories.
    d = tmp_path_factory.mktemp("big")
    for i in range(100_000):
        os.close(os.open(d / f"mod{i}.py", os.O_CREAT | os.O_WRONLY, 0o644))
    body = f"""
sys.path.insert(0, {str(d)!r})
show("mod0"); show("mod99999"); show("mod100000")
"""
    parity.check(["-B", "-c", script(body)], timeout=120)


def test_pythonpath_and_options(parity):
    files = {"pp/fromenv.py": "", "pp/pk/__init__.py": ""}
    body = r'''show("fromenv"); show("pk")'''
    for args in (["-c", script(body)], ["-E", "-c", script(body)], ["-I", "-c", script(body)]):
        parity.check(args, files=files, setup=None, env={"PYTHONPATH": "pp"})


def test_file_system_encoding_not_utf8(parity):
    # The C locale with UTF-8 mode off: the file system encoding is ASCII,
    # and a file name's str is not its bytes' UTF-8 (b"caf\xc3\xa9" is
    # 'caf\udcc3\udca9'). Modules under such a directory, a module so
    # named (importable under that name alone), a name no file can have.
    files = {"caf\u00e9/lib/m.py": "X = 'm'\n", "caf\u00e9/lib/pkg/__init__.py": "",
             "caf\u00e9/lib/pkg/sub.py": "", "lib2/na\u00efve.py": "X = 'n'\n"}
    body = r'''
print(sys.getfilesystemencoding())
d = [n for n in os.listdir(".") if n.startswith("caf")][0]
sys.path[:0] = [os.path.abspath(os.path.join(d, "lib")), os.path.abspath("lib2")]
show("m"); show("pkg.sub"); show("nosuch")
n = [f[:-3] for f in os.listdir("lib2") if f.endswith(".py")][0]
print(ascii(n)); show(n); show("na\xefve"); show("na\xefve.sub")
print(ascii(sys.modules["m"].__file__), ascii(sys.modules["m"].__cached__))
print(importlib.util.find_spec("na\xefve"), sys.path_importer_cache[sys.path[0]].find_spec("na\xefve"))
'''
    for _ in range(2):  # the second run from the cache the first one wrote
        parity.check(["-c", script(body)], files=files,
                     env={"LC_ALL": "C", "PYTHONUTF8": "0", "PYHOST_CACHEDIR": str(parity.tmp / "cache")})


@pytest.mark.parametrize("opt", ["pyhost.importer=off", "pyhost.misses=final"])
def test_pyhost_modes_still_python(parity, opt):
    # pyhost's own modes change how, never what: same answers as python3.
    files, body = CASES["precedence"]
    parity.check(["-X", opt, "-c", script(body)], files=files)


def test_stats_counters(parity):
    # -X pyhost.stats prints the counters at exit; a final miss in indexed
    # directories is counted, and the stock importer is off-limits for it.
    files = {"sd/present.py": ""}
    body = "import sys; sys.path.insert(0, 'sd')\nimport present\ntry:\n    import absent_mod\nexcept ImportError:\n    pass\n"
    r = parity.run_one(parity.pyhost, ["-X", "pyhost.stats", "-c", body], files=files)
    assert r.returncode == 0, r.stderr
    line = [l for l in r.stderr.decode().splitlines() if l.startswith("pyhost stats:")]
    assert len(line) == 1, r.stderr
    fields = dict(kv.split("=") for kv in line[0].split(": ", 1)[1].split())
    assert int(fields["hits"]) >= 1 and int(fields["final_misses"]) >= 1, line
    assert int(fields["hand_offs"]) == 0, line
    r = parity.run_one(parity.pyhost, ["-X", "pyhost.stats", "-X", "pyhost.importer=off", "-c", body], files=files)
    assert b"pyhost stats: importer off" in r.stderr


def test_finder_in_place(parity):
    r = parity.run_one(parity.pyhost, ["-c", "import sys; print([getattr(f, '__name__', type(f).__name__) for f in sys.meta_path])"])
    names = r.stdout.decode().strip()
    assert "'GoFinder', 'PathFinder'" in names, names
    r = parity.run_one(parity.pyhost, ["-X", "pyhost.importer=off", "-c", "import sys; print([getattr(f, '__name__', type(f).__name__) for f in sys.meta_path])"])
    assert "GoFinder" not in r.stdout.decode(), r.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run both interpreters as 'nobody'")
def test_unreadable_directories_as_another_user(pyhost_for_nobody, reference, tmp_path_factory):
    # Permissions only bind a user who is not root: both interpreters run as
    # nobody over a tree with unreadable (EACCES) and unsearchable entries.
    import pwd
    import shutil
    import tempfile
    from conftest import assert_same, base_env, run

    nobody = pwd.getpwnam("nobody")
    top = tempfile.mkdtemp(prefix="pyhost-perm-")
    try:
        os.chmod(top, 0o755)
        layout = {"ok/fine.py": "", "noread/hidden.py": "", "noexec/m.py": "", "noexec/pkg/__init__.py": "",
                  "locked/x.py": "", "okpkg/__init__.py": "", "okpkg/sub.py": "", "okpkg/shut/inner.py": ""}
        for rel, text in layout.items():
            p = os.path.join(top, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        for d, mode in [("noread", 0o311), ("noexec", 0o644), ("locked", 0o000), ("okpkg/shut", 0o000)]:
            os.chmod(os.path.join(top, d), mode)
        for d in ("ok", "okpkg"):
            os.chmod(os.path.join(top, d), 0o755)
        body = "".join(f"sys.path.insert(0, {os.path.join(top, d)!r})\n" for d in ("ok", "noread", "noexec", "locked")) + \
            f"sys.path.insert(0, {top!r})\n" + \
            "for n in ['fine', 'hidden', 'm', 'pkg', 'x', 'okpkg', 'okpkg.sub', 'okpkg.shut', 'okpkg.shut.inner', 'nosuch']:\n    show(n)\n"
        def as_nobody():
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        results = []
        for exe in (pyhost_for_nobody, reference):
            r = run([exe, "-B", "-c", script(body)], env=base_env(top), cwd=top, preexec_fn=as_nobody)
            results.append(r.normalised(exe, reference))
        assert results[1].returncode == 0, results[1].stderr
        assert b"hidden -> ModuleNotFoundError" in results[1].stdout and b"fine -> SourceFileLoader" in results[1].stdout, results[1].stdout
        assert_same(*results)
    finally:
        for dirpath, dirnames, _ in os.walk(top):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o755)
        for d in ("noread", "noexec", "locked", "okpkg/shut"):
            p = os.path.join(top, d)
            if os.path.exists(p):
                os.chmod(p, 0o755)
        shutil.rmtree(top, ignore_errors=True)


def test_vv_traces_what_python3_tries(parity):
    # -vv is for debugging an import: every file FileFinder tries is traced,
    # and pyhost's finder steps aside for CPython's own there.
    files = {"t/mod.py": "", "t/pkg/__init__.py": ""}
    body = "import sys; sys.path.insert(0, 't'); import mod, pkg, json"
    host, ref = parity.both(["-vv", "-c", body], files=files)
    tried = lambda r: [l for l in r.stderr.decode().splitlines() if l.startswith("# trying ")]
    assert host.returncode == ref.returncode == 0, host.stderr
    assert tried(ref) and tried(host) == tried(ref)
