"""Tight resource limits: pyhost gives python3.11's outcome, never a Go
stack trace or a hang. A process alone under a limit that Go's runtime
counts against (address space, data, processes) runs as python3 runs,
with CPython alone (internal/cpython/limits.c); one that asks for pyhost
itself (-X pyhost.<name>) or is an MPI rank keeps Go's runtime, and where
that cannot start, gets one clear line naming the limit it needs."""

import os
import resource
import signal

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


@pytest.mark.parametrize("n", [3, 4, 5, 6, 8])
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


# Without pyhost's finder: what a plain run must show.
PLAIN_CODE = ("import sys, json, threading\n"
              "t = threading.Thread(target=lambda: print(json.dumps([1] * 3)))\n"
              "t.start(); t.join()\n"
              "print([f.__name__ for f in sys.meta_path if isinstance(f, type)])\n")

# A run that asks for pyhost itself: Go's runtime is kept.
ASKS = ["-X", "pyhost.importer=on"]


@pytest.mark.parametrize("mb", [40, 400, 1100, 1300, 1500, 4096, 1 << 20])
def test_address_space_limit_runs_as_python3(parity, mb):
    # Under any address-space limit a process alone gets python3's
    # outcome: Go's runtime would take 1.3 GB of whatever the limit is.
    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    ref = parity.check(["-c", PLAIN_CODE], preexec_fn=lower)
    assert ref.stdout == b"[1, 1, 1]\n['BuiltinImporter', 'FrozenImporter', 'PathFinder']\n", ref


def test_heavier_program_under_an_address_space_limit_runs_as_python3(parity):
    # What python3 runs in 300 MB; Go's runtime alone would need 1.3 GB.
    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (300 << 20, 300 << 20))
    code = ("import decimal, email.mime.text, xml.dom.minidom, sqlite3, asyncio, unittest\n"
            "try:\n    b = bytearray(400 << 20)\nexcept MemoryError: print('MemoryError')\n"
            "import http.client; print('ok')")
    ref = parity.check(["-c", code], preexec_fn=lower)
    assert ref.stdout == b"MemoryError\nok\n", ref


@pytest.mark.parametrize("how", [["-X", "pyhost.stats"], ["-BXpyhost.importer=on"], ["-I", "-Xpyhost.cache=off"]])
@pytest.mark.parametrize("mb", [400, 1300])
def test_address_space_below_minimum_asking_for_pyhost_is_one_line(pyhost, reference, tmp_path, mb, how):
    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    ref = run([reference, *how, "-c", "print('ok')"], env=base_env(tmp_path), cwd=tmp_path, preexec_fn=lower)
    assert ref.returncode == 0, ref  # python3 runs there
    r = run([pyhost, *how, "-c", "print('ok')"], env=base_env(tmp_path), cwd=tmp_path, preexec_fn=lower)
    assert r.returncode == 1 and r.stdout == b"", r
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("pyhost: the address-space limit (ulimit -v %d)" % (mb << 10)), lines
    assert "ulimit -v %d" % (MIN_AS >> 10) in lines[0], lines


@pytest.mark.parametrize("args", [["-c", "import sys; print(sys.argv)", "-X", "pyhost.stats"],
                                  ["-", "-X", "pyhost.stats"], ["-m", "json.tool", "-X", "pyhost.stats"]])
def test_pyhost_options_after_the_program_are_the_programs(parity, tmp_path, args):
    # -X pyhost.* among the program's own arguments does not ask for pyhost.
    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (400 << 20, 400 << 20))
    parity.check(args, preexec_fn=lower, stdin=b"print(1)\n" if args[0] == "-" else b"[1]")


@pytest.mark.parametrize("args", [
    ["-Z", "-X", "pyhost.stats", "-c", "pass"],       # a usage error first
    ["-J", "-X", "pyhost.stats", "-c", "pass"],
    ["--foo", "-X", "pyhost.stats", "-c", "pass"],
    ["-h", "-X", "pyhost.stats"],                     # help
    ["-B-help-env", "-X", "pyhost.stats"],
    ["-V", "-X", "pyhost.stats", "-c", "pass"],       # the version, then the end
    ["-B-", "-X", "pyhost.stats"],                    # "-" with no name ends the options
    ["-X"],                                            # an argument expected
    ["--check-hash-based-pycs", "sometimes", "-X", "pyhost.stats", "-c", "pass"],
    ["-W", "-X", "-c", "print('W took -X')"],
])
def test_options_that_do_not_ask_for_pyhost(parity, args):
    # CPython never reaches the -X pyhost.<name> here, or ends before it
    # runs anything: under a limit, python3's outcome.
    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (1000 << 20, 1000 << 20))
    parity.check(args, preexec_fn=lower)


@pytest.mark.parametrize("args", [
    ["-B-check-hash-based-pycs", "never", "-X", "pyhost.stats", "-c", "pass"],
    ["--check-hash-based-pycs", "always", "-Xpyhost.stats", "-c", "pass"],
    ["-bBX", "pyhost.stats", "-c", "pass"],
    ["-Wd", "-X", "dev", "-X", "pyhost.stats", "script.py"],
])
def test_options_that_ask_for_pyhost(pyhost, tmp_path, args):
    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (1000 << 20, 1000 << 20))
    (tmp_path / "script.py").write_text("pass\n")
    r = run([pyhost, *args], env=base_env(tmp_path), cwd=tmp_path, preexec_fn=lower)
    lines = r.stderr.decode().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("pyhost: the address-space limit"), r


@pytest.mark.parametrize("var", ["OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMIX_RANK"])
def test_address_space_below_minimum_under_a_launcher_is_one_line(pyhost, tmp_path, var):
    # A rank (or a process a rank starts) keeps Go's runtime: it shares
    # its start-up with the others. The check runs before any MPI call.
    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (400 << 20, 400 << 20))
    env = {**base_env(tmp_path), var: "1"}
    r = run([pyhost, "-c", "print('ok')"], env=env, cwd=tmp_path, preexec_fn=lower)
    no_go_trace(r)
    lines = r.stderr.decode().splitlines()
    assert r.returncode == 1 and r.stdout == b"" and len(lines) == 1, r
    assert lines[0].startswith("pyhost: the address-space limit (ulimit -v %d)" % (400 << 10)), lines


@pytest.mark.parametrize("mb", [1400, 1500, 2048])
def test_address_space_above_minimum_asking_for_pyhost_runs(parity, mb):
    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    # Threads that allocate share one malloc arena under the limit; what
    # the program sees is python3's.
    parity.check([*ASKS, "-c", "import json, threading\n"
                  "t = threading.Thread(target=lambda: print(json.dumps([1] * 3)))\n"
                  "t.start(); t.join(); print('ok')"], preexec_fn=lower)


@pytest.mark.parametrize("mb", [10, 40, 80, 256])
def test_data_limit_runs_as_python3(parity, mb):
    def lower():
        resource.setrlimit(resource.RLIMIT_DATA, (mb << 20, mb << 20))
    ref = parity.check(["-c", PLAIN_CODE], preexec_fn=lower)
    if mb < 16:  # python3 cannot start a thread there (its stack is 8 MB): the same
        assert b"can't start new thread" in ref.stderr, ref
        return
    assert ref.stdout == b"[1, 1, 1]\n['BuiltinImporter', 'FrozenImporter', 'PathFinder']\n", ref


@pytest.mark.parametrize("mb", [10, 40, 80])
def test_data_limit_below_minimum_asking_for_pyhost_is_one_line(pyhost, reference, tmp_path, mb):
    # ulimit -d: Go's runtime crashed with a stack trace (below 40 MB), or
    # blamed ulimit -u for the threads it could not start (to 80 MB).
    def lower():
        resource.setrlimit(resource.RLIMIT_DATA, (mb << 20, mb << 20))
    ref = run([reference, *ASKS, "-c", "print('ok')"], env=base_env(tmp_path), cwd=tmp_path, preexec_fn=lower)
    assert ref.returncode == 0, ref  # python3 runs there
    r = run([pyhost, *ASKS, "-c", "print('ok')"], env=base_env(tmp_path), cwd=tmp_path, preexec_fn=lower)
    no_go_trace(r)
    lines = r.stderr.decode().splitlines()
    assert r.returncode == 1 and r.stdout == b"" and len(lines) == 1, r
    assert lines[0].startswith("pyhost: the data limit (ulimit -d %d)" % (mb << 10)), lines
    assert "ulimit -d %d" % (MIN_DATA >> 10) in lines[0], lines


@pytest.mark.parametrize("mb", [128, 256])
def test_data_limit_above_minimum_asking_for_pyhost_runs(parity, mb):
    def lower():
        resource.setrlimit(resource.RLIMIT_DATA, (mb << 20, mb << 20))
    for _ in range(3):
        parity.check([*ASKS, "-c", "import json, threading\n"
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
    assert run([reference, *ASKS, "-c", "print('ok')"], env=env, cwd=tmp_path, preexec_fn=lower).returncode == 0
    for _ in range(5):
        r = run([pyhost, *ASKS, "-c", "print('ok')"], env=env, cwd=tmp_path, preexec_fn=lower)
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
@pytest.mark.parametrize("asks", [False, True])
@pytest.mark.parametrize("n", [1, 4, 8])
def test_process_limit(pyhost_for_nobody, reference, tmp_path, n, asks):
    pyhost = pyhost_for_nobody
    uid = _nobody()
    os.chmod(tmp_path, 0o777)

    def drop():
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    # Three threads of the program's, in a plain run: a limit that leaves
    # Go's runtime its threads (8) failed them.
    code = "print('ok')" if asks else (
        "import threading\nts = [threading.Thread(target=lambda: None) for _ in range(3)]\n"
        "for t in ts: t.start()\nfor t in ts: t.join()\nprint('ok')")
    env = base_env(tmp_path)
    env["PYHOST_CACHE"] = "off"  # nobody cannot reach a cache under root's tmp_path
    args = [*ASKS, "-c", code] if asks else ["-c", code]
    ref = run([reference, *args], env=env, cwd=tmp_path, preexec_fn=drop)
    r = run([pyhost, *args], env=env, cwd=tmp_path, preexec_fn=drop)
    # At 1 python3's threads cannot start either.
    assert (ref.returncode == 0 and ref.stdout == b"ok\n") == (asks or n > 1), ref
    no_go_trace(r)
    if not asks:
        # A process alone runs as python3 runs (with CPython alone where
        # the limit leaves too few threads for Go's runtime).
        assert (r.returncode, r.stdout, r.stderr) == (ref.returncode, ref.stdout, ref.stderr), r
    elif r.returncode == 0 and n == 8:
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


@pytest.mark.parametrize("asks", [False, True])
@pytest.mark.parametrize("room", [2, 4])
def test_cgroup_pids_limit(pyhost, reference, tmp_path, room, asks):
    # A cgroup's pids.max (docker --pids-limit, systemd's TasksMax) that
    # leaves fewer threads than Go's runtime starts: python3 runs. A
    # process alone runs as python3 (the program again, with CPython
    # alone, once Go's runtime finds it cannot start its threads); one
    # that asks for pyhost ends with one line and status 1, not Go's abort
    # with its goroutines.
    cg = pids_cgroup("pyhost-test")
    if cg is None:
        pytest.skip("no writable cgroup with the pids controller here (needs root and cgroup v1 pids or v2 with pids delegated)")
    try:
        with open(os.path.join(cg, "pids.max"), "w") as f:
            f.write(str(room))
        def enter():
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        code = ("import os, signal, sys\n"
                "print(1, 'PYHOST_PLAIN_EXEC' in os.environ, signal.getsignal(signal.SIGINT),\n"
                "      signal.getsignal(signal.SIGTERM), sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])),\n"
                "      sorted(signal.sigpending()), sorted(os.listdir('/proc/self/fd')), sys.stdin,\n"
                "      open('/proc/self/comm').read().strip() == os.path.basename(sys.executable)[:15])\n")
        args = [*ASKS, "-c", code] if asks else ["-c", code]
        # TERM ignored, USR1 and WINCH blocked, WINCH and USR1 pending at
        # start: the program sees what it started with, as under python3
        # (a pending WINCH, whose default is to do nothing, is discarded
        # when its disposition goes back to the default: it is sent again
        # before the exec), and its own name.
        def start():
            enter()
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1, signal.SIGWINCH])
            os.kill(os.getpid(), signal.SIGWINCH)
            os.kill(os.getpid(), signal.SIGUSR1)
        env = base_env(tmp_path)
        ref = run([reference, *args], env=env, cwd=tmp_path, preexec_fn=start)
        assert ref.returncode == 0 and ref.stdout.startswith(b"1 False"), ref.stderr
        assert b"[<Signals.SIGUSR1: 10>, <Signals.SIGWINCH: 28>]" in ref.stdout and ref.stdout.endswith(b" True\n"), ref.stdout
        r = run([pyhost, *args], env=env, cwd=tmp_path, preexec_fn=start)
        if not asks:
            assert (r.returncode, r.stdout, r.stderr) == (ref.returncode, ref.stdout, ref.stderr), r
            return
        assert r.returncode == 1 and r.stdout == b"", r.stderr
        lines = r.stderr.decode().splitlines()
        assert len(lines) == 1 and "pids.max" in lines[0] and lines[0].startswith("pyhost: "), r.stderr
    finally:
        os.rmdir(cg)


@pytest.mark.parametrize("cachedir", ["default", "chosen"])
def test_file_size_limit_with_default_sigxfsz_keeps_the_status(pyhost, reference, tmp_path, cachedir):
    # A program that sets SIGXFSZ back to its default (python3 ignores it
    # from start-up) under a `ulimit -f` smaller than pyhost's cache files:
    # python3 ends normally; pyhost's cache writes at exit killed it with
    # SIGXFSZ. Now they fail and the status is python3's: silently in the
    # default directory (python3 says nothing of a .pyc it cannot write),
    # with one line in a directory the user chose (which shows the cache
    # was tried).
    code = ("import signal; signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n"
            "import json, decimal, email.mime.text, xml.dom.minidom; print('done')")

    def lower():
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 10, 8 << 10))
    (tmp_path / "home").mkdir()
    env = base_env(tmp_path / "home")
    if cachedir == "chosen":
        env["PYHOST_CACHEDIR"] = str(tmp_path / "cache")
    ref = run([reference, "-c", code], env=env, cwd=tmp_path, preexec_fn=lower)
    host = run([pyhost, "-c", code], env=env, cwd=tmp_path, preexec_fn=lower)
    assert ref.returncode == 0 and ref.stdout == b"done\n", ref.stderr
    assert host.returncode == 0 and host.stdout == b"done\n", (host.returncode, host.stderr)
    lines = host.stderr.splitlines()
    if cachedir == "default":
        assert lines == [], host.stderr
    else:
        assert len(lines) == 1 and b"not written" in lines[0] and b"too large" in lines[0], host.stderr
