"""pyhost as a drop-in python3: the same command line, environment, working
directory and stdin give the same stdout, stderr and exit status as Debian's
python3.11, byte for byte once the executable's path is normalised."""

import io
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field

import pytest

from conftest import REFERENCE, assert_same, base_env, run

# Prints what a script can see of how it was started.
SHOW = r"""
import sys
print("argv", sys.argv)
print("orig_argv", sys.orig_argv)
print("path0", repr(sys.path[0]) if sys.path else None)
print("flags", sys.flags)
print("warnoptions", sys.warnoptions)
print("xoptions", sys._xoptions)
print("prefix", sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
print("path", sys.path)
print("executable", sys.executable, sys._base_executable)
print("dont_write_bytecode", sys.dont_write_bytecode, "pycache_prefix", sys.pycache_prefix)
print("debug", __debug__)
print("stdio", [(f.encoding, f.errors, f.line_buffering, f.write_through, type(f.buffer).__name__)
                for f in (sys.stdin, sys.stdout, sys.stderr)])
print("modules_main", __name__, repr(globals().get("__file__")))
print("int_max_str_digits", sys.get_int_max_str_digits())
print("utf8_mode", sys.flags.utf8_mode, "filesystem", sys.getfilesystemencoding(),
      sys.getfilesystemencodeerrors())
"""

DOCS = r'''
"""module docstring"""
def f():
    "function docstring"
assert False, "asserts are on"
'''
DOCS_SHOW = DOCS.replace('assert False, "asserts are on"', "") + \
    "print(__doc__, f.__doc__, __debug__)\nassert False, 'asserts are on'\n"

WARN = "import warnings\nwarnings.warn('careful', UserWarning)\nprint('after warning')\n"

MAIN_DIR = {"app/__main__.py": "import sys\nprint('main of dir', __name__, sys.argv, sys.path[0])\n",
            "app/helper.py": "X = 1\n"}


def zipped(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


MAIN_ZIP = {"app.zip": zipped({"__main__.py": "import sys, helper\n"
                                              "print('main of zip', __name__, sys.argv, sys.path[0], helper.X)\n",
                               "helper.py": "X = 2\n"})}

MOD_EXITS = {"mexit.py": "import sys\nprint('before')\nsys.exit(5)\n",
             "mexit_msg.py": "import sys\nsys.exit('module says no')\n",
             "pkg/__init__.py": "",
             "pkg/__main__.py": "import sys\nprint('pkg main', __name__, sys.argv)\n",
             "nomain/__init__.py": ""}


@dataclass
class Case:
    id: str
    args: list
    env: dict = field(default_factory=dict)
    stdin: bytes = None
    files: dict = field(default_factory=dict)
    mask: bytes = None  # regex for what differs between two runs of python3.11 itself
    status: int = None  # expected exit status, checked on python3.11 too: keeps the case honest
    marks: tuple = ()

    def param(self):
        return pytest.param(self, id=self.id, marks=self.marks)


SCRIPT = {"script.py": SHOW}

# A callable whose repr has no address, for messages that print the callable.
NAMED = "class Named:\n def __call__(self, *a): 1/0\n def __repr__(self): return 'Named()'\n"

# A fatal error dumps the thread's id, which changes from run to run.
THREAD_ID = rb"(?<=Current thread )0x[0-9a-f]+"

CASES = [
    # How the program is given.
    Case("script", ["script.py", "a", "b c"], files=SCRIPT, status=0),
    Case("script-abs-path", ["{cwd}/script.py", "x"], files=SCRIPT, status=0),
    Case("script-in-subdir", ["sub/script.py"], files={"sub/script.py": SHOW}, status=0),
    Case("c", ["-c", SHOW, "arg1", "-arg2"], status=0),
    Case("c-args-after", ["-c", "import sys; print(sys.argv)", "-c", "--", "-m"], status=0),
    Case("m-json-tool-stdin", ["-m", "json.tool"], stdin=b'{"b": [1, 2], "a": "\xc3\xa9"}', status=0),
    Case("m-json-tool-sort", ["-m", "json.tool", "--sort-keys", "--indent", "1"],
         stdin=b'{"b": 1, "a": {"y": 2, "x": 1}}', status=0),
    Case("m-json-tool-bad-json", ["-m", "json.tool"], stdin=b'{"a": ', status=1),
    Case("m-timeit-exception", ["-m", "timeit", "-n1", "-r1", "1/0"], status=1),
    Case("m-timeit-help", ["-m", "timeit", "-h"], status=0),
    Case("m-local-module", ["-m", "mod", "x"],
         files={"mod.py": SHOW}, status=0),
    Case("m-package-main", ["-m", "pkg", "y"], files=MOD_EXITS, status=0),
    Case("m-package-without-main", ["-m", "nomain"], files=MOD_EXITS, status=1),
    Case("m-stdlib-package-without-main", ["-m", "email"], status=1),
    Case("m-missing", ["-m", "no_such_module_xyz"], status=1),
    Case("m-no-argument", ["-m"], status=2),
    Case("c-no-argument", ["-c"], status=2),
    Case("dash-stdin", ["-", "a1", "a2"], stdin=SHOW.encode(), status=0),
    Case("implicit-stdin", [], stdin=SHOW.encode(), status=0),
    Case("implicit-stdin-error", [], stdin=b"print('ok')\n1/0\n", status=1),
    Case("stdin-devnull", [], status=0),
    Case("dir-main", ["app", "d1"], files=MAIN_DIR, status=0),
    Case("zip-main", ["app.zip", "z1"], files=MAIN_ZIP, status=0),
    Case("m-from-zip-on-path", ["-m", "helper"], env={"PYTHONPATH": "app.zip"},
         files=MAIN_ZIP, status=0),
    Case("dev-null-script", ["/dev/null"], status=0),

    # Interactive mode without a terminal.
    Case("i-piped", ["-i"], stdin=b"x = 6 * 7\nprint(x)\nx\n", status=0),
    Case("i-c-piped", ["-i", "-c", "y = 5"], stdin=b"y + 1\nraise SystemExit(4)\n", status=4),
    Case("i-script-piped", ["-i", "script.py"], files=SCRIPT, stdin=b"print(sys.argv)\n", status=0),
    Case("i-after-exception", ["-i", "-c", "1/0"], stdin=b"print('still here')\n", status=0),
    Case("i-q-piped", ["-q", "-i"], stdin=b"1+1\n", status=0),
    Case("i-startup", ["-i"], env={"PYTHONSTARTUP": "startup.py"},
         files={"startup.py": "print('startup ran'); z = 3\n"}, stdin=b"z\n", status=0),

    # Options.
    Case("I", ["-I", "script.py"], files=SCRIPT, env={"PYTHONPATH": "/nonexistent-pp"}, status=0),
    Case("E", ["-E", "script.py"], files=SCRIPT,
         env={"PYTHONPATH": "/nonexistent-pp", "PYTHONOPTIMIZE": "1"}, status=0),
    Case("s", ["-s", "script.py"], files=SCRIPT, status=0),
    Case("S", ["-S", "script.py"], files=SCRIPT, status=0),
    Case("S-no-site-module", ["-S", "-c", "import sys; print('site' in sys.modules)"], status=0),
    Case("u", ["-u", "-c", "import sys; print(sys.stdout.write_through, type(sys.stdout.buffer))"],
         status=0),
    Case("u-interleaving", ["-u", "-c", "import sys\nfor i in range(3):\n print(i); print(-i, file=sys.stderr)"],
         status=0),
    Case("O", ["-O", "docs.py"], files={"docs.py": DOCS_SHOW}, status=0),
    Case("OO", ["-OO", "docs.py"], files={"docs.py": DOCS_SHOW}, status=0),
    Case("no-O-assert-fails", ["docs.py"], files={"docs.py": DOCS_SHOW}, status=1),
    Case("B", ["-B", "script.py"], files=SCRIPT, status=0),
    Case("b", ["-b", "-c", "print(str(b'x'))"], status=0),
    Case("bb", ["-bb", "-c", "print(str(b'x'))"], status=1),
    Case("d-v-free-q", ["-q", "-c", "import sys; print(sys.flags.quiet)"], status=0),
    Case("R", ["-R", "-c", "import sys; print(sys.flags.hash_randomization)"], status=0),
    Case("P", ["-P", "script.py"], files=SCRIPT, status=0),
    Case("combined-flags", ["-BsEu", "-c", "import sys; print(sys.flags)"], status=0),
    Case("W-error", ["-W", "error", "-c", WARN], status=1),
    Case("W-ignore", ["-W", "ignore", "-c", WARN], status=0),
    Case("W-default", ["-Wdefault", "-c", WARN], status=0),
    Case("W-several", ["-W", "error::DeprecationWarning", "-W", "ignore::UserWarning", "-c",
                       WARN + "import sys; print(sys.warnoptions)"], status=0),
    Case("W-invalid-action", ["-W", "bogus", "-c", "print('ran')"], status=0),
    Case("W-invalid-category", ["-W", "error::NoSuchWarning", "-c", "print('ran')"], status=0),
    Case("W-invalid-lineno", ["-W", "error::UserWarning:mod:abc", "-c", "print('ran')"], status=0),
    Case("W-too-many-fields", ["-W", "a:b:c:d:e:f", "-c", "print('ran')"], status=0),
    Case("W-no-argument", ["-W"], status=2),
    Case("X-dev", ["-X", "dev", "-c", "import sys, warnings; print(sys.flags.dev_mode, warnings.filters[:3])"],
         status=0),
    Case("X-dev-warning", ["-X", "dev", "-c", WARN + "open('script.py')\n"], files=SCRIPT, status=0),
    Case("X-utf8", ["-X", "utf8", "script.py"], files=SCRIPT, status=0),
    Case("X-utf8-0", ["-X", "utf8=0", "script.py"], files=SCRIPT, env={"LC_ALL": "C"}, status=0),
    Case("X-utf8-invalid", ["-X", "utf8=2", "-c", "pass"], status=1),
    Case("X-int-max-str-digits", ["-X", "int_max_str_digits=640", "-c", "print(len(str(10**700)))"],
         status=1),
    Case("X-int-max-str-digits-invalid", ["-X", "int_max_str_digits=abc", "-c", "pass"], status=1),
    Case("X-int-max-str-digits-small", ["-X", "int_max_str_digits=5", "-c", "pass"], status=1),
    Case("X-frozen-modules-invalid", ["-X", "frozen_modules=maybe", "-c", "pass"], status=1),
    Case("X-frozen-modules-off", ["-X", "frozen_modules=off", "-c", "import sys; print(sys._xoptions)"],
         status=0),
    Case("X-unknown-kept", ["-X", "whatever=1", "-X", "flag", "-c", "import sys; print(sys._xoptions)"],
         status=0),
    Case("X-faulthandler", ["-X", "faulthandler", "-c", "import faulthandler; print(faulthandler.is_enabled())"],
         status=0),
    Case("X-warn-default-encoding", ["-X", "warn_default_encoding", "-c", "open('script.py').close()"],
         files=SCRIPT, status=0),
    Case("X-pycache-prefix", ["-X", "pycache_prefix=pyc", "-c", "import sys, mod; print(sys.pycache_prefix)"],
         files={"mod.py": ""}, status=0),
    Case("X-no-argument", ["-X"], status=2),
    Case("X-pyhost-importer-off", ["-X", "pyhost.importer=off", "script.py"], files=SCRIPT, status=0),
    Case("X-pyhost-importer-on", ["-X", "pyhost.importer=on", "script.py"], files=SCRIPT, status=0),
    Case("X-pyhost-misses-final", ["-X", "pyhost.misses=final", "-c", "import json; print(json.dumps([1]))"],
         status=0),
    Case("V", ["-V"], status=0),
    Case("version", ["--version"], status=0),
    Case("VV", ["-VV"], status=0),
    Case("V-ignores-rest", ["-V", "-c", "print('not run')"], status=0),
    Case("h", ["-h"], status=0),
    Case("help", ["--help"], status=0),
    Case("help-env", ["--help-env"], status=0),
    Case("help-xoptions", ["--help-xoptions"], status=0),
    Case("help-all", ["--help-all"], status=0),
    Case("unknown-short-option", ["-Z"], status=2),
    Case("unknown-long-option", ["--bogus"], status=2),
    Case("check-hash-based-pycs", ["--check-hash-based-pycs", "always", "-c", "print(1)"], status=0),
    Case("check-hash-based-pycs-invalid", ["--check-hash-based-pycs", "sometimes", "-c", "print(1)"],
         status=2),

    # PYTHON* variables.
    Case("PYTHONPATH", ["script.py"], files={**SCRIPT, "lib/m.py": ""},
         env={"PYTHONPATH": "lib:/nonexistent-pp"}, status=0),
    Case("PYTHONPATH-import", ["-c", "import m; print(m.__file__)"], files={"lib/m.py": ""},
         env={"PYTHONPATH": "lib"}, status=0),
    Case("PYTHONSAFEPATH", ["script.py"], files=SCRIPT, env={"PYTHONSAFEPATH": "1"}, status=0),
    Case("PYTHONSAFEPATH-m", ["-m", "mod"], files={"mod.py": SHOW}, env={"PYTHONSAFEPATH": "1"}, status=1),
    Case("PYTHONOPTIMIZE-1", ["docs.py"], files={"docs.py": DOCS_SHOW}, env={"PYTHONOPTIMIZE": "1"},
         status=0),
    Case("PYTHONOPTIMIZE-2", ["docs.py"], files={"docs.py": DOCS_SHOW}, env={"PYTHONOPTIMIZE": "2"},
         status=0),
    Case("PYTHONWARNINGS-error", ["-c", WARN], env={"PYTHONWARNINGS": "error"}, status=1),
    Case("PYTHONWARNINGS-list", ["-c", "import sys; print(sys.warnoptions)"],
         env={"PYTHONWARNINGS": "ignore::DeprecationWarning,default"}, status=0),
    Case("PYTHONWARNINGS-invalid", ["-c", "print('ran')"], env={"PYTHONWARNINGS": "bogus"}, status=0),
    Case("PYTHONHASHSEED-0", ["-c", "import sys; print(hash('a'), hash(b'xyz'), sys.flags.hash_randomization)"],
         env={"PYTHONHASHSEED": "0"}, status=0),
    Case("PYTHONHASHSEED-123", ["-c", "print(hash('a'), {'a', 'b', 'c', 'd', 'e'})"],
         env={"PYTHONHASHSEED": "123"}, status=0),
    Case("PYTHONHASHSEED-invalid", ["-c", "pass"], env={"PYTHONHASHSEED": "abc"}, status=1),
    Case("PYTHONIOENCODING-latin1", ["-c", "print('\u00e9\u00e8')"], env={"PYTHONIOENCODING": "latin-1"},
         status=0),
    Case("PYTHONIOENCODING-ascii-strict", ["-c", "print('\u00e9')"], env={"PYTHONIOENCODING": "ascii"},
         status=1),
    Case("PYTHONIOENCODING-errors", ["-c", "print('\u00e9\u20ac')"],
         env={"PYTHONIOENCODING": "ascii:backslashreplace"}, status=0),
    Case("PYTHONIOENCODING-unknown", ["-c", "print(1)"], env={"PYTHONIOENCODING": "no-such-codec"},
         mask=THREAD_ID, status=1),
    Case("PYTHONUNBUFFERED", ["-c", "import sys; print(sys.stdout.write_through, type(sys.stdout.buffer))"],
         env={"PYTHONUNBUFFERED": "1"}, status=0),
    Case("PYTHONNOUSERSITE", ["-c", "import sys, site; print(site.ENABLE_USER_SITE, sys.flags.no_user_site)"],
         env={"PYTHONNOUSERSITE": "1"}, status=0),
    Case("user-site-default", ["-c", "import site; print(site.ENABLE_USER_SITE)"], status=0),
    Case("PYTHONDEVMODE", ["-c", "import sys; print(sys.flags.dev_mode)"], env={"PYTHONDEVMODE": "1"},
         status=0),
    Case("PYTHONUTF8", ["script.py"], files=SCRIPT, env={"PYTHONUTF8": "1", "LC_ALL": "C"}, status=0),
    Case("PYTHONUTF8-invalid", ["-c", "pass"], env={"PYTHONUTF8": "x"}, status=1),
    Case("PYTHONINTMAXSTRDIGITS-invalid", ["-c", "pass"], env={"PYTHONINTMAXSTRDIGITS": "abc"}, status=1),
    Case("PYTHONVERBOSE-empty-ignored", ["-c", "import sys; print(sys.flags.verbose)"],
         env={"PYTHONVERBOSE": ""}, status=0),
    Case("PYTHONINSPECT", ["-c", "v = 9"], env={"PYTHONINSPECT": "1"}, stdin=b"v\n", status=0),
    Case("PYTHONPYCACHEPREFIX", ["-c", "import sys; print(sys.pycache_prefix)"],
         env={"PYTHONPYCACHEPREFIX": "pyc"}, status=0),
    Case("LC_ALL-C", ["script.py"], files=SCRIPT, env={"LC_ALL": "C"}, status=0),

    # Exit status and output.
    Case("exit-0", ["-c", "print('fine')"], status=0),
    Case("SystemExit-3", ["-c", "print('x'); raise SystemExit(3)"], status=3),
    Case("SystemExit-msg", ["-c", "raise SystemExit('msg to stderr')"], status=1),
    Case("SystemExit-None", ["-c", "raise SystemExit(None)"], status=0),
    Case("SystemExit-big", ["-c", "raise SystemExit(256 + 4)"], status=4),
    Case("SystemExit-object", ["-c", "raise SystemExit([1, 2])"], status=1),
    Case("sys-exit-c", ["-c", "import sys; print('a'); sys.exit(6)"], status=6),
    Case("sys-exit-m", ["-m", "mexit"], files=MOD_EXITS, status=5),
    Case("sys-exit-msg-m", ["-m", "mexit_msg"], files=MOD_EXITS, status=1),
    Case("sys-exit-script", ["mexit.py"], files=MOD_EXITS, status=5),
    Case("uncaught-exception", ["-c", "def f():\n    raise ValueError('boom')\nf()"], status=1),
    Case("uncaught-in-script", ["bad.py"], files={"bad.py": "import os\n\ndef g(x):\n    return 1 / x\n\ng(0)\n"},
         status=1),
    Case("chained-exception", ["-c", "try:\n 1/0\nexcept Exception as e:\n raise KeyError('k') from e"],
         status=1),
    Case("syntax-error-c", ["-c", "def f(:"], status=1),
    Case("syntax-error-script", ["bad.py"], files={"bad.py": "x = (\n"}, status=1),
    Case("os-_exit-7", ["-c", "import os, sys; print('lost?'); sys.stdout.flush(); os._exit(7)"], status=7),
    Case("os-_exit-unflushed", ["-c", "import os; print('buffered'); os._exit(0)"], status=0),
    Case("atexit-order", ["-c", "import atexit, sys\natexit.register(print, 'one')\n"
                                "atexit.register(print, 'two')\nsys.exit(2)"], status=2),
    Case("atexit-exception", ["-c", NAMED + "import atexit\natexit.register(Named())\nprint('main')"], status=0),
    Case("exception-in-excepthook", ["-c", "import sys\nsys.excepthook = lambda *a: print('hook', a[0])\n1/0"],
         status=1),
    Case("stdout-closed", ["-c", "import sys; sys.stdout.close(); print('x')"], status=1),
    Case("flush-error-at-exit", ["-c", "import sys, os; print('x'); os.close(1)"], status=120),
    Case("keyboardinterrupt-raised", ["-c", "raise KeyboardInterrupt"], status=-2),
    Case("unraisable-in-del", ["-c", NAMED + "class A:\n __del__ = Named()\na = A(); del a; print('ok')"],
         status=0),
    Case("big-output", ["-c", "import sys\nfor i in range(200000): print(i)\nprint('e', file=sys.stderr)"],
         status=0),
    Case("binary-output", ["-c", "import sys; sys.stdout.buffer.write(bytes(range(256)))"], status=0),
    Case("stdin-binary-roundtrip", ["-c", "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read()[::-1])"],
         stdin=bytes(range(256)) * 10, status=0),
    Case("stdin-surrogateescape", ["-c", "import sys; print(ascii(sys.stdin.read()))"], stdin=b"a\xffb\n",
         status=0),

    # Bad input.
    Case("missing-script", ["no_such_script.py"], status=2),
    Case("missing-script-abs", ["/nonexistent/dir/x.py", "a"], status=2),
    Case("dir-without-main", ["somedir"], files={"somedir/x.py": ""}, status=1),
    Case("zip-without-main", ["nomain.zip"], files={"nomain.zip": zipped({"x.py": ""})}, status=1),
    Case("not-a-zip-dir-like", ["garbage.zip"], files={"garbage.zip": b"\x00\x01garbage"}, status=0),
    Case("non-utf8-script-missing", [b"no_\xff_such.py"], status=2),
    Case("non-utf8-script", [b"s\xe9.py", b"\xff"], files={b"s\xe9.py".decode("utf-8", "surrogateescape"): SHOW},
         status=0),
    Case("non-utf8-argument", ["-c", "import sys; print(ascii(sys.argv), ascii(sys.orig_argv))", b"\xff\xfe",
                               "ok"], status=0),
    Case("non-utf8-c-code", [b"-c", b"print('\xff')"], status=1),
    Case("non-utf8-argument-utf8-mode", ["-X", "utf8", "-c", "import sys; print(ascii(sys.argv))", b"a\xffb"],
         status=0),
    Case("non-utf8-argument-C-locale", ["-c", "import sys; print(ascii(sys.argv))", b"a\xffb"],
         env={"LC_ALL": "C"}, status=0),
    Case("non-utf8-env", ["-c", "import os; print(ascii(os.environ['WEIRD']), ascii(os.environb[b'WEIRD']))"],
         env={"WEIRD": b"v\xff".decode("utf-8", "surrogateescape")}, status=0),
    Case("latin1-source-no-coding", ["l.py"], files={"l.py": b"print('\xe9')\n"}, status=1),
    Case("latin1-source-with-coding", ["l.py"], files={"l.py": b"# -*- coding: latin-1 -*-\nprint('\xe9')\n"},
         status=0),
    Case("null-byte-in-source", ["n.py"], files={"n.py": b"print(1)\x00\n"}, status=0),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_cli(parity, case):
    cwd = str(parity.cwd)
    args = [a.replace("{cwd}", cwd) if isinstance(a, str) else a for a in case.args]
    ref = parity.check(args, env=case.env, stdin=case.stdin, files=case.files, mask=case.mask)
    if case.status is not None:
        assert ref.returncode == case.status, (
            f"the case itself is wrong: python3.11 exited {ref.returncode}, "
            f"expected {case.status}; stderr: {ref.stderr[-2000:]!r}")


# --- What differs by design, and what must still hold -------------------


def test_executable_is_pyhost(pyhost, tmp_path):
    r = run([pyhost, "-c", "import sys; print(sys.executable)"], env=base_env(tmp_path), cwd=tmp_path)
    assert (r.returncode, r.stderr) == (0, b"")
    assert r.stdout.decode().strip() == pyhost


def test_executable_found_on_path(pyhost, tmp_path):
    """Started by name through PATH, as a user types `pyhost`, sys.executable
    is still the absolute path, as python3.11 finds its own."""
    env = base_env(tmp_path)
    env["PATH"] = os.path.dirname(pyhost) + os.pathsep + env.get("PATH", "")
    name = os.path.basename(pyhost)
    r = run([name, "-c", "import sys; print(sys.executable)"], env=env, cwd=tmp_path)
    assert (r.returncode, r.stderr) == (0, b"")
    assert r.stdout.decode().strip() == pyhost


@pytest.mark.parametrize("kind", ["symlink", "copy"])
def test_executable_renamed(parity, kind, tmp_path):
    """Installed as `python3` in some bin directory (symlinked or copied):
    sys.executable and sys.prefix are what python3.11 gives for the same."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    results = []
    for exe, sub in ((parity.pyhost, "h"), (REFERENCE, "r")):
        d = bindir / sub
        d.mkdir()
        link = d / "python3"
        if kind == "symlink":
            link.symlink_to(exe)
        else:
            shutil.copy2(exe, link)
        r = run([str(link), "-c", SHOW, "x"], env=base_env(tmp_path), cwd=tmp_path)
        results.append(r.normalised(str(link), str(bindir / "python3")))
    assert_same(*results)


def test_subprocess_of_sys_executable(parity):
    code = ("import subprocess, sys\n"
            "out = subprocess.run([sys.executable, '-c', 'import sys; print(sys.argv, sys.flags.optimize)', 'k'],"
            " capture_output=True, text=True, check=True)\n"
            "print(out.stdout, end='')\n"
            "print(subprocess.run([sys.executable, '-c', 'import sys; print(sys.executable)'],"
            " capture_output=True, text=True).stdout == sys.executable + '\\n')\n"
            "print(subprocess.call([sys.executable, '-c', 'raise SystemExit(9)']))\n")
    ref = parity.check(["-O", "-c", code])
    assert ref.returncode == 0 and ref.stdout.endswith(b"True\n9\n"), ref


MP = r"""
import multiprocessing as mp, sys

def square(x):
    return x * x

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        print(sys.argv[1], pool.map(square, range(20)))
    q = ctx.Queue()
    p = ctx.Process(target=q.put, args=((__name__, "from child"),))
    p.start()
    print(q.get(timeout=20))
    p.join(20)
    print("exitcode", p.exitcode)
    p = ctx.Process(target=sys.exit, args=(3,))
    p.start(); p.join(20)
    print("exitcode", p.exitcode)
"""


@pytest.mark.parametrize("method", ["spawn", "fork", "forkserver"])
def test_multiprocessing(parity, method):
    ref = parity.check(["mp.py", method], files={"mp.py": MP})
    assert ref.returncode == 0 and b"361]" in ref.stdout and b"exitcode 3" in ref.stdout, ref


# --- Output to a pipe, a file, a closed pipe -----------------------------


@pytest.mark.parametrize("args", [["--version"], ["-VV"], ["-h"], ["--help-all"], ["-c", "print('x' * 9000)"]],
                         ids=["version", "VV", "h", "help-all", "c-print"])
def test_stdout_to_file(parity, tmp_path, args):
    """Output printed during start-up with C stdio is flushed before exit
    also when stdout is a regular file (fully buffered, not a terminal)."""
    results = []
    for exe in (parity.pyhost, REFERENCE):
        path = tmp_path / "out.txt"
        with open(path, "wb") as f:
            r = run([exe] + args, env=base_env(tmp_path), cwd=tmp_path, stdout=f)
        r.stdout = path.read_bytes()
        results.append(r.normalised(exe, REFERENCE))
    assert results[1].stdout, "python3.11 printed nothing: the case is wrong"
    assert_same(*results)


@pytest.mark.parametrize("code", [
    "for i in range(100000): print(i)",
    "import sys\nfor i in range(100000): sys.stdout.write(str(i) + '\\n')\nsys.stdout.flush()",
    "import sys\nfor i in range(100000): sys.stdout.buffer.write(b'%d\\n' % i)",
    "import signal, sys\nsignal.signal(signal.SIGPIPE, signal.SIG_DFL)\nfor i in range(100000): print(i)",
], ids=["print", "write-flush", "buffer-write", "sigpipe-dfl"])
def test_broken_pipe(parity, code):
    """`... | head -1`: same first line, same stderr, same exit status."""
    shell = '"$0" -c "$1" | head -1; exit ${PIPESTATUS[0]}'
    results = []
    for exe in (parity.pyhost, REFERENCE):
        r = run(["bash", "-c", shell, exe, code], env=base_env(parity.tmp), cwd=parity.tmp)
        results.append(r.normalised(exe, REFERENCE))
    assert results[1].stdout == b"0\n"
    assert_same(*results)


# --- A virtual environment ------------------------------------------------

VENV_SHOW = SHOW + r"""
import site, sysconfig
print("site", site.getsitepackages(), site.ENABLE_USER_SITE)
print("purelib", sysconfig.get_paths()["purelib"])
import venvmod
print("venvmod", venvmod.__file__, venvmod.PTH)
"""


@pytest.mark.parametrize("kind", ["copy", "symlink"])
def test_venv(parity, tmp_path, kind):
    """pyhost installed as a venv's bin/python sees that venv (sys.prefix,
    its site-packages and .pth files) as the venv's own python does.

    A copied pyhost is compared with a venv made with --copies, a symlinked
    one with a venv of symlinks: CPython derives sys._base_executable
    differently for the two (resolving the link, or from pyvenv.cfg's home)."""
    venv = tmp_path / "venv"
    env = base_env(tmp_path)
    copies = ["--copies"] if kind == "copy" else []
    r = run([REFERENCE, "-m", "venv", "--without-pip", *copies, str(venv)], env=env, cwd=tmp_path)
    assert r.returncode == 0, r
    site_dir = venv / "lib" / "python3.11" / "site-packages"
    (site_dir / "venvmod.py").write_text("import sys\nPTH = getattr(sys, 'pth_ran', False)\n")
    (site_dir / "marker.pth").write_text("import sys; sys.pth_ran = True\n")
    python = venv / "bin" / "python"
    assert python.is_symlink() == (kind == "symlink"), "unexpected venv layout"
    args = ["-c", VENV_SHOW, "v1"]
    # The venv's own python first, then pyhost in its place: same path, so no
    # normalising at all.
    ref = run([str(python)] + args, env=env, cwd=tmp_path)
    python.unlink()
    if kind == "symlink":
        python.symlink_to(parity.pyhost)
    else:
        shutil.copy2(parity.pyhost, python)
    host = run([str(python)] + args, env=env, cwd=tmp_path)
    # Through a symlink, sys._base_executable is the link's target.
    host = host.normalised(parity.pyhost, os.path.realpath(REFERENCE))
    assert ref.returncode == 0 and str(site_dir).encode() in ref.stdout, ref
    assert_same(host, ref)
    # And the venv's python3.11 link agrees about the prefix.
    other = run([str(venv / "bin" / "python3.11"), "-c", "import sys; print(sys.prefix, sys.path)"],
                env=env, cwd=tmp_path)
    mine = run([str(python), "-c", "import sys; print(sys.prefix, sys.path)"], env=env, cwd=tmp_path)
    assert_same(mine, other)


# --- Files the run leaves behind -------------------------------------------


def listing(cwd):
    return sorted(str(p.relative_to(cwd)) for p in cwd.rglob("*"))


@pytest.mark.parametrize("args,env", [
    ([], {}),
    (["-B"], {}),
    ([], {"PYTHONDONTWRITEBYTECODE": "1"}),
    ([], {"PYTHONDONTWRITEBYTECODE": ""}),  # empty means unset
    (["-X", "pycache_prefix=pyc"], {}),
    ([], {"PYTHONPYCACHEPREFIX": "pyc2"}),
    (["-O"], {}),
    (["-OO"], {}),
], ids=["default", "B", "PYTHONDONTWRITEBYTECODE", "PYTHONDONTWRITEBYTECODE-empty", "X-pycache-prefix",
        "PYTHONPYCACHEPREFIX", "O", "OO"])
def test_bytecode_written(parity, args, env):
    """The same .pyc files (or none) are written, at the same places."""
    files = {"main.py": "import mod, pkg.sub\nprint(mod.__cached__, pkg.sub.__cached__)\n",
             "mod.py": "", "pkg/__init__.py": "", "pkg/sub.py": ""}
    parity.check(args + ["main.py"], env=env, files=files, check=listing)


def test_unreadable_script(parity):
    """A script without read permission (still readable as root, where the
    case checks that both read it)."""
    parity.check(["secret.py"], files={"secret.py": "print('read it')\n"},
                 setup=lambda cwd: (cwd / "secret.py").chmod(0))


def test_script_is_a_fifo_with_data(parity):
    """A non-regular file as the script: a FIFO, fed by a writer thread."""
    import threading

    def setup(cwd):
        fifo = cwd / "fifo.py"
        os.mkfifo(fifo)

        def feed():
            with open(fifo, "wb") as f:
                f.write(b"import sys\nprint('from fifo', sys.argv)\n")
        threading.Thread(target=feed, daemon=True).start()

    ref = parity.check(["fifo.py", "a"], setup=setup)
    assert ref.returncode == 0 and b"from fifo" in ref.stdout, ref


def test_verbose_start_destroys_what_python3_destroys(parity):
    # -v says "# destroy <module>" when a module object is freed: at
    # start-up python3 frees none (pyhost's exit hook once made and freed
    # an atexit instance of its own). At shutdown pyhost keeps the modules
    # its finder's code refers to (README), so only start-up is compared.
    def start(r):
        text = r.stderr.decode(errors="replace").split("# clear builtins._")[0]
        return [l for l in text.splitlines() if l.startswith("# destroy")]
    host, ref = parity.both(["-v", "-c", "pass"])
    assert host.returncode == ref.returncode == 0
    assert start(host) == start(ref), (start(host), start(ref))
