"""Tight resource limits: pyhost gives python3.11's outcome, or, where Go's
runtime cannot start at all, one clear line naming the limit it needs
(checked before the runtime starts, in internal/cpython/limits.c), never a
Go stack trace or a hang."""

import os
import resource

import pytest

from conftest import run, base_env

GO_TRACE_MARKS = (b"goroutine ", b"runtime/cgo", b"fatal error", b"SIGABRT", b"runtime: ")

# pyhost's documented minimum address space (limits.c: PYHOST_MIN_AS_MB).
MIN_AS = 1344 << 20
# ... and data limit (PYHOST_MIN_DATA_MB).
MIN_DATA = 128 << 20


def no_go_trace(r):
    for mark in GO_TRACE_MARKS:
        assert mark not in r.stderr, r.stderr.decode(errors="replace")


@pytest.mark.parametrize("n", [5, 6, 8])
def test_few_open_files(parity, n):
    # Go's poller (an epoll and an eventfd descriptor) is never started,
    # so the descriptors python3 needs are there for pyhost too.
    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    parity.check(["-c", "import json, os; print(sorted(os.listdir('/proc/self/fd')))"], preexec_fn=lower)


@pytest.mark.parametrize("exists", [True, False])
def test_import_with_every_descriptor_in_use_raises_os_error(parity, tmp_path, exists):
    # A directory added to sys.path is read at the first import that needs
    # it: with every descriptor in use python3's os.listdir fails and the
    # import raises OSError(EMFILE); pyhost said "No module named ...", so
    # an `except ImportError:` fallback ran where python3 surfaces the error.
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "there.py").write_text("X = 'there'\n")
    code = (f"import sys\nsys.path.insert(0, {str(extra)!r})\nfs = []\n"
            "try:\n    while True: fs.append(open('/dev/null'))\nexcept OSError: pass\n"
            f"try:\n    import {'there' if exists else 'nowhere'}\nexcept BaseException as e: r = repr(e)\n"
            "else: r = 'imported'\n"
            "for f in fs: f.close()\nprint(r)\n"
            f"import {'there' if exists else 'json'}; print('then imported')\n")

    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (12, 12))
    ref = parity.check(["-c", code], preexec_fn=lower)
    assert b"OSError(24" in ref.stdout and b"then imported" in ref.stdout, ref.stdout


@pytest.mark.parametrize("mb", [400, 1100, 1200, 1300])
def test_address_space_below_minimum_is_one_line(pyhost, reference, tmp_path, mb):
    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    ref = run([reference, "-c", "print('ok')"], env=base_env(tmp_path), cwd=tmp_path, preexec_fn=lower)
    assert ref.returncode == 0, ref  # python3 runs there
    r = run([pyhost, "-c", "print('ok')"], env=base_env(tmp_path), cwd=tmp_path, preexec_fn=lower)
    assert r.returncode == 1 and r.stdout == b"", r
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("pyhost: the address-space limit (ulimit -v %d)" % (mb << 10)), lines
    assert "ulimit -v %d" % (MIN_AS >> 10) in lines[0], lines


@pytest.mark.parametrize("mb", [1400, 1500, 2048])
def test_address_space_above_minimum_runs(parity, mb):
    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    # Threads that allocate share one malloc arena under the limit; what
    # the program sees is python3's.
    parity.check(["-c", "import json, threading\n"
                  "t = threading.Thread(target=lambda: print(json.dumps([1] * 3)))\n"
                  "t.start(); t.join(); print('ok')"], preexec_fn=lower)


@pytest.mark.parametrize("mb", [10, 40, 80])
def test_data_limit_below_minimum_is_one_line(pyhost, reference, tmp_path, mb):
    # ulimit -d: Go's runtime crashed with a stack trace (below 40 MB), or
    # blamed ulimit -u for the threads it could not start (to 80 MB).
    def lower():
        resource.setrlimit(resource.RLIMIT_DATA, (mb << 20, mb << 20))
    ref = run([reference, "-c", "print('ok')"], env=base_env(tmp_path), cwd=tmp_path, preexec_fn=lower)
    assert ref.returncode == 0, ref  # python3 runs there
    r = run([pyhost, "-c", "print('ok')"], env=base_env(tmp_path), cwd=tmp_path, preexec_fn=lower)
    no_go_trace(r)
    lines = r.stderr.decode().splitlines()
    assert r.returncode == 1 and r.stdout == b"" and len(lines) == 1, r
    assert lines[0].startswith("pyhost: the data limit (ulimit -d %d)" % (mb << 10)), lines
    assert "ulimit -d %d" % (MIN_DATA >> 10) in lines[0], lines


@pytest.mark.parametrize("mb", [128, 256])
def test_data_limit_above_minimum_runs(parity, mb):
    def lower():
        resource.setrlimit(resource.RLIMIT_DATA, (mb << 20, mb << 20))
    for _ in range(3):
        parity.check(["-c", "import json, threading\n"
                      "t = threading.Thread(target=lambda: print(json.dumps([1] * 3)))\n"
                      "t.start(); t.join(); print('ok')"], preexec_fn=lower)


def test_arenas_the_user_allows_count_against_the_address_space(pyhost, reference, tmp_path):
    # MALLOC_ARENA_MAX set by the user (HPC sites set it) stands, and each
    # arena beyond the first takes 64 MB of address space: just above the
    # plain minimum pyhost failed now and then (a Go crash, or ulimit -u
    # blamed); it now says what it needs with those arenas.
    mb = (MIN_AS >> 20) + 50

    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    env = {**base_env(tmp_path), "MALLOC_ARENA_MAX": "8"}
    assert run([reference, "-c", "print('ok')"], env=env, cwd=tmp_path, preexec_fn=lower).returncode == 0
    for _ in range(5):
        r = run([pyhost, "-c", "print('ok')"], env=env, cwd=tmp_path, preexec_fn=lower)
        no_go_trace(r)
        lines = r.stderr.decode().splitlines()
        assert r.returncode == 1 and len(lines) == 1 and "MALLOC_ARENA_MAX" in lines[0], r
        assert "ulimit -v %d" % ((MIN_AS >> 10) + 5 * (64 << 10)) in lines[0], lines


def _nobody():
    try:
        import pwd
        return pwd.getpwnam("nobody").pw_uid
    except (KeyError, ImportError):
        return None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as another user with a fresh process count")
@pytest.mark.skipif(_nobody() is None, reason="no user nobody to run as")
@pytest.mark.parametrize("n", [1, 4, 8])
def test_process_limit(pyhost_for_nobody, reference, tmp_path, n):
    pyhost = pyhost_for_nobody
    uid = _nobody()
    os.chmod(tmp_path, 0o777)

    def drop():
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    code = "print('ok')"
    env = base_env(tmp_path)
    env["PYHOST_CACHE"] = "off"  # nobody cannot reach a cache under root's tmp_path
    ref = run([reference, "-c", code], env=env, cwd=tmp_path, preexec_fn=drop)
    r = run([pyhost, "-c", code], env=env, cwd=tmp_path, preexec_fn=drop)
    assert ref.returncode == 0 and ref.stdout == b"ok\n", ref
    no_go_trace(r)
    if r.returncode == 0:
        assert (r.stdout, r.stderr) == (ref.stdout, ref.stderr), r
    else:
        lines = r.stderr.decode().splitlines()
        assert r.returncode == 1 and len(lines) == 1, r
        assert lines[0].startswith(f"pyhost: the process limit (ulimit -u {n}) leaves room for"), lines
        assert n < 8, "8 leaves room for pyhost's threads when nobody runs nothing else"


def pids_cgroup(tmp_name):
    """A new cgroup with the pids controller, or None with why not."""
    import uuid
    for root in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
        if not os.path.exists(os.path.join(root, "cgroup.procs")):
            continue
        if root == "/sys/fs/cgroup":
            try:
                with open(os.path.join(root, "cgroup.subtree_control")) as f:
                    if "pids" not in f.read().split():
                        continue
            except OSError:
                continue
        d = os.path.join(root, f"{tmp_name}-{uuid.uuid4().hex[:8]}")
        try:
            os.mkdir(d)
        except OSError:
            continue
        if os.path.exists(os.path.join(d, "pids.max")):
            return d
        os.rmdir(d)
    return None


@pytest.mark.parametrize("room", [2, 4])
def test_cgroup_pids_limit_is_one_line(pyhost, reference, room):
    # A cgroup's pids.max (docker --pids-limit, systemd's TasksMax) that
    # leaves fewer threads than Go's runtime starts: python3 runs, pyhost
    # ends with one line and status 1, not Go's abort with its goroutines.
    cg = pids_cgroup("pyhost-test")
    if cg is None:
        pytest.skip("no writable cgroup with the pids controller here (needs root and cgroup v1 pids or v2 with pids delegated)")
    try:
        with open(os.path.join(cg, "pids.max"), "w") as f:
            f.write(str(room))
        def enter():
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        ref = run([reference, "-c", "print(1)"], env=base_env(), preexec_fn=enter)
        assert (ref.returncode, ref.stdout) == (0, b"1\n"), ref.stderr
        r = run([pyhost, "-c", "print(1)"], env=base_env(), preexec_fn=enter)
        assert r.returncode == 1 and r.stdout == b"", r.stderr
        lines = r.stderr.decode().splitlines()
        assert len(lines) == 1 and "pids.max" in lines[0] and lines[0].startswith("pyhost: "), r.stderr
    finally:
        os.rmdir(cg)


def test_file_size_limit_with_default_sigxfsz_keeps_the_status(pyhost, reference, tmp_path):
    # A program that sets SIGXFSZ back to its default (python3 ignores it
    # from start-up) under a `ulimit -f` smaller than pyhost's cache files:
    # python3 ends normally; pyhost's cache writes at exit killed it with
    # SIGXFSZ. Now they fail (one line at most) and the status is python3's.
    code = ("import signal; signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n"
            "import json, decimal, email.mime.text, xml.dom.minidom; print('done')")

    def lower():
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 10, 8 << 10))
    (tmp_path / "home").mkdir()
    env = base_env(tmp_path / "home")
    ref = run([reference, "-c", code], env=env, cwd=tmp_path, preexec_fn=lower)
    host = run([pyhost, "-c", code], env=env, cwd=tmp_path, preexec_fn=lower)
    assert ref.returncode == 0 and ref.stdout == b"done\n", ref.stderr
    assert host.returncode == 0 and host.stdout == b"done\n", (host.returncode, host.stderr)
    lines = host.stderr.splitlines()
    assert len(lines) <= 1 and all(b"not written" in l and b"too large" in l for l in lines), host.stderr
    assert lines or list((tmp_path / "home" / ".cache" / "pyhost").glob("env-*")), "the cache was not tried"
