"""Process state python3 leaves as it found it, and so must pyhost (Go's
runtime changes some of it at start-up)."""

import os
import resource

import pytest

from conftest import base_env, run


@pytest.mark.parametrize("limits", [(256, 4096), (1024, 1024)], ids=lambda l: f"{l[0]}:{l[1]}")
def test_open_files_limit_as_started(parity, limits):
    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
    script = ("import resource, subprocess, sys\n"
              "print(resource.getrlimit(resource.RLIMIT_NOFILE))\n"
              "print(subprocess.run(['sh', '-c', 'ulimit -Sn; ulimit -Hn'], capture_output=True, text=True).stdout)\n")
    parity.check(["-c", script], preexec_fn=lower)


# A child of fork() (without exec) keeps one thread; Go's runtime there
# still counts on its others. A child that ended normally after loading
# more modules than its parent hung in pyhost's exit work (the cache's
# save waited for threads that are gone), and so did a daemon's double
# fork.
FORK_CHILD = r'''
import os, sys
pid = os.fork()
if pid == 0:
    import http.server, email.mime.text, xml.dom.minidom
    if sys.argv[1] == "exit":
        sys.exit(3)
    if sys.argv[1] == "raise":
        raise ValueError("from the child")
    print("child done", flush=True)
else:
    print("child status", os.waitpid(pid, 0)[1] >> 8)
'''


@pytest.mark.parametrize("how", ["end", "exit", "raise"])
def test_forked_child_ends_as_under_python3(parity, how):
    parity.check(["-c", FORK_CHILD, how])


DAEMON = r'''
import os, sys, time
if os.fork() > 0:
    os._exit(0)
os.setsid()
if os.fork() > 0:
    os._exit(0)
import http.server, email.mime.text
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
'''


def test_daemon_double_fork_ends(pyhost, tmp_path):
    import time
    from conftest import base_env, run
    marker = tmp_path / "daemon.pid"
    env = base_env(tmp_path)
    r = run([pyhost, "-c", DAEMON, str(marker)], env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, "the daemon never wrote its pid"
        time.sleep(0.05)
    pid = int(marker.read_text())
    while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z":
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            pytest.fail("the daemon (a grandchild of fork) did not end after its last statement")
        time.sleep(0.05)
    assert not list(tmp_path.glob(".cache/pyhost/.pyhost-*.tmp")), "a temporary cache file left behind"


FORK_FROM_THREADS = r'''
import os, sys, threading
def worker(k):
    for i in range(25):
        pid = os.fork()
        if pid == 0:
            import json, email.mime.text
            json.dumps([str(j) for j in range(3000)])
            try:
                __import__("nosuch_%d_%d" % (k, i))
            except ImportError:
                pass
            os._exit(7)
        assert os.waitpid(pid, 0)[1] >> 8 == 7
ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("forked 100")
'''


def test_forks_from_threads_never_hang(parity):
    """Children forked from Python threads, importing: Go's runtime in
    the child cannot schedule, so no Go code runs there (the importer
    leaves the child; a handler that still called Go hung 1 run in 3)."""
    parity.check(["-c", FORK_FROM_THREADS])


# Go's runtime in a child of fork() can serve only the thread that forked:
# any other thread's call waited, holding the GIL, for a processor no
# thread there would give back, and the child hung (found by probing, a
# forked worker's thread pool calling pyhost.rank()). Such a call raises
# RuntimeError instead; the forking thread's calls work.
FORK_THREADS = r'''
import os, pyhost
from concurrent.futures import ThreadPoolExecutor
pid = os.fork()
if pid == 0:
    def call(i):
        try:
            return pyhost.rank()
        except RuntimeError as e:
            return str(e)
    with ThreadPoolExecutor(4) as ex:
        print(sorted(set(ex.map(call, range(16)))), flush=True)
    print(pyhost.rank(), pyhost.size(), flush=True)
    os._exit(0)
print(os.waitpid(pid, 0)[1], pyhost.rank())
'''


@pytest.mark.parametrize("run_", range(3))
def test_threads_of_a_forked_child_calling_go_get_an_error_not_a_hang(pyhost, tmp_path, run_):
    env = base_env(tmp_path)
    env["PYHOST_IMPORTER"] = "on"  # Go's runtime, whatever the machine mounts
    r = run([pyhost, "-c", FORK_THREADS], env=env, cwd=tmp_path)
    msg = ("pyhost: in a process forked from pyhost, its Go functions can be called only from the thread "
           "that forked (Go's runtime has no other there)")
    assert (r.returncode, r.stderr) == (0, b""), r
    assert r.stdout.decode() == f"[{msg!r}]\n0 1\n0 0\n", r
