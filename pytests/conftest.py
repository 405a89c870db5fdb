"""Helpers for the CLI parity suite: run pyhost and Debian's python3.11 the
same way and compare what they did, byte for byte.

The suite is meant to be run by pyhost itself (``bin/pyhost -m pytest
pytests``) but is plain pytest and runs under python3.11 too.

pyhost is found from the PYHOST environment variable, else at
``<repo>/bin/pyhost``. The reference is always Debian's /usr/bin/python3.11,
never the ``python3`` first on PATH (that may be another build; pyhost embeds
Debian's libpython).

Every child gets the same environment, built from this process's one without
PYTHON* and PYHOST_* variables (a developer's PYTHONDONTWRITEBYTECODE must not
leak into a case that tests it); PYHOST_IMPORTER and PYHOST_MISSES are passed
through so the whole suite can be run with pyhost's importer off or on.
"""

import dataclasses
import difflib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

REFERENCE = "/usr/bin/python3.11"
REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 30  # seconds, for any one child

# pyhost options that change how it works but not what it prints.
PASSED_THROUGH = ("PYHOST_IMPORTER", "PYHOST_MISSES")

# Children never read or fill the user's own pyhost cache: the suite gets a
# cache directory of its own (XDG_CACHE_HOME, which python3 ignores), empty
# at the start as on a fresh machine. Tests of the cache set their own.
import tempfile  # noqa: E402
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="pyhost-test-cache-")


def pyhost_path():
    return os.environ.get("PYHOST") or str(REPO / "bin" / "pyhost")


@pytest.fixture(scope="session")
def pyhost():
    """The absolute path of the pyhost binary under test."""
    p = os.path.abspath(pyhost_path())
    if not os.access(p, os.X_OK):
        pytest.fail(
            f"pyhost binary not found or not executable at {p}: build it with "
            "`go build -o bin/pyhost ./cmd/pyhost` in the repo, or set PYHOST",
            pytrace=False,
        )
    return p


@pytest.fixture(scope="session")
def pyhost_for_nobody(pyhost):
    """A copy of pyhost that any user can run: the checkout may sit under a
    directory only root can enter (a clone in a 0700 home or temporary
    directory), which a test running a child as another user cannot reach."""
    import tempfile
    top = tempfile.mkdtemp(prefix="pyhost-exe-")
    os.chmod(top, 0o755)
    copy = os.path.join(top, "pyhost")
    shutil.copy2(pyhost, copy)
    os.chmod(copy, 0o755)
    yield copy
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session")
def reference():
    if not os.access(REFERENCE, os.X_OK):
        pytest.fail(f"reference interpreter {REFERENCE} missing (apt-get install python3.11)",
                    pytrace=False)
    return REFERENCE


def base_env(home=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PYHOST_")) or k in PASSED_THROUGH}
    env.pop("PYTEST_CURRENT_TEST", None)  # differs between the two runs
    if home is not None:
        env["HOME"] = str(home)
        env.pop("XDG_CACHE_HOME", None)  # the cache goes under that home
    return env


@dataclasses.dataclass
class Result:
    """What one child did. returncode < 0 means killed by that signal."""
    argv: list
    returncode: int
    stdout: bytes
    stderr: bytes

    def normalised(self, exe, ref_exe):
        """The result with every mention of exe (the interpreter's path or
        name as it was invoked) replaced by ref_exe, and nothing else touched."""
        if exe == ref_exe:
            return self
        pat = re.compile(re.escape(os.fsencode(exe)) + rb"(?![\w.+-])")
        rep = os.fsencode(ref_exe)
        sub = lambda b: pat.sub(lambda m: rep, b)
        return Result(self.argv, self.returncode, sub(self.stdout), sub(self.stderr))


def _text(b):
    return b.decode("utf-8", "backslashreplace").splitlines(keepends=True)


def describe_diff(host, ref):
    """A readable account of how host differs from ref (both normalised)."""
    out = [f"pyhost argv: {host.argv!r}\n"]
    if host.returncode != ref.returncode:
        out.append(f"exit status: pyhost {host.returncode}, python3.11 {ref.returncode}\n")
    for name in ("stdout", "stderr"):
        a, b = getattr(ref, name), getattr(host, name)
        if a != b:
            out.append(f"--- {name} differs (python3.11 -> pyhost):\n")
            diff = difflib.unified_diff(_text(a), _text(b), "python3.11", "pyhost", n=2)
            d = "".join(diff)
            if not d:  # differ only in line endings or a missing final newline
                d = f"python3.11: {a!r}\npyhost:     {b!r}\n"
            out.append(d if len(d) < 4000 else d[:4000] + "[...]\n")
    return "".join(out)


def run(argv, *, env=None, cwd=None, stdin=None, timeout=TIMEOUT, executable=None,
        stdout=subprocess.PIPE, preexec_fn=None):
    """Run argv to completion (or kill its process group after timeout and
    fail) and return a Result. stdin is bytes, or None for /dev/null."""
    p = subprocess.Popen(
        argv, executable=executable, env=env, cwd=cwd,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=stdout, stderr=subprocess.PIPE, process_group=0,
        preexec_fn=preexec_fn,
    )
    try:
        out, err = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"{argv!r} did not finish in {timeout} s; stderr so far:\n"
                    + err.decode("utf-8", "backslashreplace")[-3000:], pytrace=False)
    return Result(list(argv), p.returncode, out or b"", err)


class Parity:
    """Runs the same command under pyhost and python3.11.

    Each run gets a fresh working directory at the same path, laid out anew
    from ``files`` (so one interpreter's __pycache__ never reaches the other),
    and a fresh HOME (the REPL and site write there).
    """

    def __init__(self, pyhost, reference, tmp_path):
        self.pyhost = pyhost
        self.reference = reference
        self.tmp = tmp_path
        self.cwd = tmp_path / "cwd"
        self.home = tmp_path / "home"

    def lay_out(self, files):
        """Create a fresh cwd (and HOME) with files: {relative path: str|bytes|None};
        None makes a directory. Returns the cwd."""
        for d in (self.cwd, self.home):
            if d.exists():
                for p in d.rglob("*"):
                    if p.is_dir() and not p.is_symlink():
                        p.chmod(0o755)
                shutil.rmtree(d)
            d.mkdir()
        for rel, content in (files or {}).items():
            p = self.cwd / rel
            if content is None:
                p.mkdir(parents=True, exist_ok=True)
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                content = content.encode()
            p.write_bytes(content)
        return self.cwd

    def run_one(self, exe, args, *, files=None, env=None, stdin=None, setup=None,
                argv0=None, **kw):
        cwd = self.lay_out(files)
        if setup is not None:
            setup(cwd)
        e = base_env(self.home)
        e.update(env or {})
        argv = [argv0 or exe] + list(args)
        return run(argv, env=e, cwd=cwd, stdin=stdin, executable=exe, **kw)

    def both(self, args, *, check=None, mask=None, **kw):
        """Run args under both; returns (pyhost, python3.11) results, normalised.
        check(cwd) is called right after each run (e.g. to look at files it
        wrote) and its return value stored as result.checked. mask is a
        regex (bytes) for output that differs between two runs of python3.11
        itself (a thread id): matches become b"<masked>" in both."""
        results = []
        for exe in (self.pyhost, self.reference):
            r = self.run_one(exe, args, **kw)
            r = r.normalised(exe, self.reference)
            if mask:
                r.stdout, r.stderr = (re.sub(mask, b"<masked>", b) for b in (r.stdout, r.stderr))
            r.checked = check(self.cwd) if check else None
            results.append(r)
        return tuple(results)

    def check(self, args, **kw):
        """Assert that pyhost and python3.11 agree on args; returns python3.11's result."""
        host, ref = self.both(args, **kw)
        assert_same(host, ref)
        return ref


def assert_same(host, ref):
    same = (host.returncode, host.stdout, host.stderr) == (ref.returncode, ref.stdout, ref.stderr)
    assert same, describe_diff(host, ref)
    assert getattr(host, "checked", None) == getattr(ref, "checked", None), (
        f"after the run: pyhost {host.checked!r}, python3.11 {ref.checked!r}")


@pytest.fixture
def parity(pyhost, reference, tmp_path):
    return Parity(pyhost, reference, tmp_path)


# System call numbers, to see from /proc where a child is blocked.
SYSCALLS = {
    "x86_64": {"clock_nanosleep": 230, "select": 23, "pselect6": 270, "poll": 7, "ppoll": 271},
    "aarch64": {"clock_nanosleep": 115, "pselect6": 72, "ppoll": 73},
}


def wait_in_syscall(pid, names, deadline):
    """Wait until pid's main thread is blocked in one of the system calls
    names, so that what is sent next (a signal, a ^C) always finds it at the
    same point: no timing race, no sleep. Skips where /proc cannot tell."""
    import platform
    import time
    table = SYSCALLS.get(platform.machine())
    if table is None:
        pytest.skip(f"no system call numbers known for {platform.machine()}")
    want = {str(table[n]) for n in names if n in table}
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/syscall") as f:
                fields = f.read().split()
        except OSError as e:
            pytest.skip(f"cannot read /proc/{pid}/syscall to see where the child waits: {e}")
        if fields and fields[0] in want:
            return
        time.sleep(0.002)
    pytest.fail(f"process {pid} never blocked in {names}", pytrace=False)


# File systems whose times and inodes come from an image (pyhost's
# internal/share/mounts.go, imageFSNames, as `stat -f` names them): pyhost's
# cache keeps nothing of theirs between runs, so the tests of what it keeps
# cannot run where the interpreter's trees or the test's directory lie on one
# (a container whose root is an overlay).
IMAGE_FS_TYPES = {"overlayfs", "squashfs", "erofs", "isofs", "cramfs", "romfs", "udf"}


def fs_type(path):
    r = subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, timeout=TIMEOUT)
    return r.stdout.strip() if r.returncode == 0 else ""


@pytest.fixture(scope="session")
def needs_persistent_cache():
    # Session-scoped, so that it runs before a module's fixtures that warm
    # a cache; the tests' directories are made under the temporary directory.
    for p in ("/usr/lib/python3.11", "/usr/lib/python3/dist-packages", tempfile.gettempdir()):
        t = fs_type(p)
        if t in IMAGE_FS_TYPES:
            pytest.skip(f"{p} is on {t}, an image file system: pyhost's cache keeps nothing of it between runs")
        if os.major(os.stat(p).st_dev) in (7, 43):
            pytest.skip(f"{p} is on a loop or nbd device, an image: pyhost's cache keeps nothing of it between runs")


GO = shutil.which("go")


@pytest.fixture
def fuse_tree(tmp_path):
    """The tree of the `tree` fixture seen through bench/slowfs (FUSE, no
    latency): a file system pyhost takes as shared by all nodes."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or not os.path.exists("/dev/fuse"):
        pytest.skip("per-rank namespaces and a FUSE mount need root, unshare and /dev/fuse")
    if GO is None:
        pytest.skip("go not found (to build bench/slowfs)")
    exe = tmp_path / "slowfs"
    subprocess.run([GO, "build", "-o", str(exe), "./bench/slowfs"], cwd=str(REPO), check=True, timeout=300)
    src, mnt = tmp_path / "src", tmp_path / "mnt"
    src.mkdir()
    mnt.mkdir()
    fs = subprocess.Popen([str(exe), "-latency", "0", "-src", str(src), "-mnt", str(mnt)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            if os.path.ismount(mnt):
                break
            time.sleep(0.05)
        else:
            pytest.skip(f"slowfs did not mount: {fs.stderr.read1() if fs.poll() is not None else ''}")
        yield src, mnt
    finally:
        fs.terminate()
        fs.wait(timeout=30)
