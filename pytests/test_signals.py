"""Signals under pyhost behave as under python3.11: the same dispositions at
start-up, KeyboardInterrupt on SIGINT (with finally and atexit), death by
the same signal, and inherited SIG_IGN kept (nohup)."""

import os
import resource
import shutil
import signal
import subprocess
import time

import pytest

from conftest import REFERENCE, TIMEOUT, Result, assert_same, base_env, run, wait_in_syscall

# Go's runtime installs handlers for the synchronous fault signals it needs
# itself and for SIGURG (goroutine preemption); pyhost gives them back to
# their start-up dispositions, as every other signal.
GO_OWNED = {signal.SIGBUS, signal.SIGFPE, signal.SIGSEGV, signal.SIGURG}


GETSIGNAL = "import signal, sys\nfor n in sys.argv[1:]:\n    print(n, repr(signal.getsignal(int(n))))\n"

NAMED = ["SIGINT", "SIGTERM", "SIGPIPE", "SIGCHLD", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGQUIT",
         "SIGALRM", "SIGXFSZ", "SIGWINCH", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGABRT"]


def numbers(names):
    return [str(int(getattr(signal, n))) for n in names]


@pytest.mark.parametrize("name", NAMED)
def test_getsignal_at_startup(parity, name):
    parity.check(["-c", GETSIGNAL] + numbers([name]))


def test_getsignal_every_other_signal(parity):
    rest = [s for s in range(1, signal.NSIG)
            if s not in GO_OWNED and s not in (signal.SIGKILL, signal.SIGSTOP)
            and s in signal.valid_signals()]
    parity.check(["-c", GETSIGNAL] + [str(s) for s in rest])


def test_getsignal_go_owned(parity):
    parity.check(["-c", GETSIGNAL] + [str(int(s)) for s in sorted(GO_OWNED)])


def ignoring(*sigs):
    def preexec():
        for s in sigs:
            signal.signal(s, signal.SIG_IGN)
    return preexec


@pytest.mark.parametrize("names", [["SIGINT"], ["SIGHUP"], ["SIGTERM"], ["SIGINT", "SIGQUIT", "SIGUSR1"]],
                         ids=lambda n: "+".join(n))
def test_ignored_at_start_stays_ignored(parity, names):
    """Started with signals ignored (nohup, a shell's background job):
    getsignal reports SIG_IGN, as python3 does."""
    sigs = [getattr(signal, n) for n in names]
    ref = parity.check(["-c", GETSIGNAL] + numbers(NAMED), preexec_fn=ignoring(*sigs))
    for n in numbers(names):
        assert f"\n{n} <Handlers.SIG_IGN: 1>\n".encode() in b"\n" + ref.stdout, ref.stdout


# --- Signals sent to a running child ---------------------------------------

SLEEPER = r"""
import atexit, signal, sys, time
atexit.register(print, "atexit ran", flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "handler":
    def handler(signum, frame):
        print("handler got", signal.Signals(signum).name, flush=True)
        sys.exit(11)
    for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP):
        signal.signal(s, handler)
print("ready", flush=True)
try:
    time.sleep(30)
finally:
    print("finally ran", flush=True)
"""

def interrupt(exe, env, cwd, sig, extra=(), ignore=(), sigpending=None):
    """Start SLEEPER under exe (with the signals ignore ignored, and the
    pending-signal quota sigpending), send sig once it sleeps; returns
    (Result, seconds from the signal to the child's exit)."""
    def preexec():
        ignoring(*ignore)()
        if sigpending is not None:
            resource.setrlimit(resource.RLIMIT_SIGPENDING, (sigpending, sigpending))
    p = subprocess.Popen([exe, "-c", SLEEPER, *extra], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0,
                         preexec_fn=preexec)
    try:
        deadline = time.monotonic() + TIMEOUT
        first = p.stdout.readline()
        assert first == b"ready\n", (first, p.stderr.read() if p.poll() is not None else b"")
        wait_in_syscall(p.pid, ["clock_nanosleep"], deadline)
        t0 = time.monotonic()
        for s in sig if isinstance(sig, tuple) else (sig,):
            os.kill(p.pid, s)
        out, err = p.communicate(timeout=TIMEOUT)
        elapsed = time.monotonic() - t0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
    return Result([exe, "-c", "SLEEPER", *extra], p.returncode, first + out, err), elapsed


def interrupt_both(parity, sig, **kw):
    env = base_env(parity.tmp)
    results = []
    for exe in (parity.pyhost, REFERENCE):
        r, elapsed = interrupt(exe, env, parity.tmp, sig, **kw)
        assert elapsed < 5, f"{exe}: took {elapsed:.1f} s to react to {sig}"
        results.append(r.normalised(exe, REFERENCE))
    assert_same(*results)
    return results[1]


def test_sigint_raises_keyboardinterrupt(parity):
    """SIGINT during time.sleep: KeyboardInterrupt, finally and atexit run,
    then the process dies by SIGINT."""
    ref = interrupt_both(parity, signal.SIGINT)
    assert ref.returncode == -signal.SIGINT
    assert b"finally ran\natexit ran\n" in ref.stdout and b"KeyboardInterrupt" in ref.stderr


@pytest.mark.parametrize("quota", [0, 2, 3])
def test_a_full_pending_signal_quota(parity, quota):
    """The user's pending-signal quota (`ulimit -i`, shared by all the
    user's processes) full or nearly: the kernel then delivers a signal
    queued beyond it without its value. pyhost's teachings of Go's threads
    (a SIGHUP queued with a value) were taken for a real SIGHUP, which
    killed pyhost at start. A signal sent later reaches Python as under
    python3."""
    def limited():
        resource.setrlimit(resource.RLIMIT_SIGPENDING, (quota, quota))
    code = "import threading; t = threading.Thread(target=print, args=('thread',)); t.start(); t.join(); print(1)"
    got = [run([exe, "-c", code], env=base_env(parity.tmp), cwd=parity.tmp, preexec_fn=limited)
           for exe in (parity.pyhost, REFERENCE)]
    assert (got[0].returncode, got[0].stdout, got[0].stderr) == (got[1].returncode, got[1].stdout, got[1].stderr)
    assert got[1].stdout == b"thread\n1\n"
    env = base_env(parity.tmp)
    for sig, extra in ((signal.SIGINT, ()), (signal.SIGTERM, ("handler",))):
        results = []
        for exe in (parity.pyhost, REFERENCE):
            r, elapsed = interrupt(exe, env, parity.tmp, sig, extra=extra, sigpending=quota)
            assert elapsed < 5, f"{exe}: took {elapsed:.1f} s to react to {sig}"
            results.append(r.normalised(exe, REFERENCE))
        assert_same(*results)


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb not installed (scripts/install-deps.sh)")
def test_runs_under_gdb_batch(parity):
    """`gdb -batch -ex run --args pyhost ...` (how a crash's backtrace is
    taken) runs the program through: gdb stops at every SIGHUP, and
    pyhost's teachings of Go's threads are SIGHUPs, one per thread, so the
    batch ended at the first with the program killed."""
    code = "import json; print(json.dumps([1, 2]))"
    for exe in (parity.pyhost, REFERENCE):
        r = run(["gdb", "-q", "-nx", "-batch", "-ex", "run", "--args", exe, "-c", code],
                env=base_env(parity.tmp), cwd=parity.tmp)
        assert r.returncode == 0 and b"[1, 2]\n" in r.stdout, (exe, r.stdout, r.stderr)
        assert b"exited normally" in r.stdout and b"received signal" not in r.stdout, (exe, r.stdout)


DEADLY = [
    pytest.param(signal.SIGTERM, id="SIGTERM"),
    pytest.param(signal.SIGHUP, id="SIGHUP"),
    pytest.param(signal.SIGUSR1, id="SIGUSR1"),
    pytest.param(signal.SIGUSR2, id="SIGUSR2"),
    pytest.param(signal.SIGALRM, id="SIGALRM"),
    pytest.param(signal.SIGQUIT, id="SIGQUIT"),
    pytest.param(signal.SIGABRT, id="SIGABRT"),
    pytest.param(signal.SIGSEGV, id="SIGSEGV"),
]


@pytest.mark.parametrize("sig", DEADLY)
def test_default_disposition_kills(parity, sig):
    """Signals Python leaves at SIG_DFL kill at once: no finally, no atexit,
    returncode -signum."""
    ref = interrupt_both(parity, sig)
    assert ref.returncode == -sig


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP], ids=lambda s: s.name)
def test_python_handler_runs(parity, sig):
    ref = interrupt_both(parity, sig, extra=("handler",))
    assert ref.returncode == 11 and b"handler got" in ref.stdout


def test_sigint_ignored_is_not_delivered(parity):
    """Started with SIGINT ignored, a SIGINT does nothing; the SIGTERM
    after it (delivered later, being a higher number and sent later) does."""
    ref = interrupt_both(parity, (signal.SIGINT, signal.SIGTERM), ignore=(signal.SIGINT,), extra=("handler",))
    assert ref.returncode == 11 and b"handler got SIGTERM" in ref.stdout


@pytest.mark.parametrize("code", [
    "import os, signal, time\nsignal.signal(signal.SIGALRM, lambda *a: print('alarm'))\n"
    "signal.setitimer(signal.ITIMER_REAL, 0.05)\nsignal.pause()\nprint('after pause')",
    "import os, signal\nsignal.signal(signal.SIGCHLD, lambda *a: print('sigchld'))\n"
    "pid = os.fork()\nif pid == 0: os._exit(3)\nprint(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))",
    "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nprint('not reached')",
    "import os, signal\nsignal.signal(signal.SIGINT, signal.SIG_DFL)\nos.kill(os.getpid(), signal.SIGINT)",
    "import os, signal\nsignal.raise_signal(signal.SIGTERM)",
    "import signal\nprint(signal.pthread_sigmask(signal.SIG_BLOCK, []))",
    "import signal, os\nsignal.signal(signal.SIGUSR1, lambda s, f: print('usr1', s))\n"
    "signal.pthread_kill(__import__('threading').main_thread().ident, signal.SIGUSR1)\nprint('done')",
    "import os\nos.abort()",
], ids=["alarm-pause", "sigchld-fork", "kill-self-sigint", "sigint-dfl", "raise-sigterm", "sigmask",
        "pthread-kill", "abort"])
def test_signals_from_inside(parity, code):
    parity.check(["-c", code])


@pytest.mark.parametrize("code", ["import ctypes; ctypes.string_at(0)",
                                  "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"],
                         ids=["null-deref", "kill-self-sigsegv"])
@pytest.mark.parametrize("faulthandler", [False, True], ids=["plain", "faulthandler"])
def test_segfault(parity, code, faulthandler):
    """A crash in C code kills the process by SIGSEGV (with faulthandler's
    report if enabled), as under python3."""
    args = (["-X", "faulthandler"] if faulthandler else []) + ["-c", code]
    ref = parity.check(args, mask=rb"(?<=Current thread )0x[0-9a-f]+")
    assert ref.returncode == -signal.SIGSEGV


def signalled_early(pyhost, sig, delay_ms, seconds, preexec_fn=None):
    """Starts pyhost on a script that sleeps for seconds and prints 'ran',
    sends it sig after delay_ms; returns (returncode, stdout, stderr)."""
    p = subprocess.Popen([pyhost, "-c", f"import time; time.sleep({seconds}); print('ran')"], env=base_env(),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=preexec_fn)
    time.sleep(delay_ms / 1000)
    p.send_signal(sig)
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(f"pyhost did not end in {TIMEOUT} s after {sig.name} at {delay_ms} ms")
    return p.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGALRM, signal.SIGQUIT, signal.SIGSEGV])
def test_signal_in_the_first_milliseconds(pyhost, sig):
    # Sent while pyhost is still starting (Go's runtime up, Python not yet
    # handed over), a signal python3 never handles ends the process by
    # that signal whenever it comes, as under python3 (Go's runtime would
    # have dropped a SIGUSR1 and answered a SIGQUIT or SIGSEGV with its
    # goroutine dump and status 2). The delays straddle the handover.
    outcomes = set()
    for delay_ms in (0, 0.5, 1, 2, 3, 4, 6, 10):
        rc, out, err = signalled_early(pyhost, sig, delay_ms, 0.5)
        outcomes.add((delay_ms, rc, out, b"goroutine" in err))
    assert {o[1:] for o in outcomes} == {(-sig, b"", False)}, sorted(outcomes)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP])
def test_ignored_signal_in_the_first_milliseconds(pyhost, sig):
    # Inherited as ignored (trap '' TERM, nohup), a signal sent while
    # pyhost is still starting is ignored, as by python3 (Go's runtime keeps
    # only SIGHUP and SIGINT ignored: its handler ended the process on
    # SIGTERM 1 time in 5).
    def ignore():
        signal.signal(sig, signal.SIG_IGN)
    outcomes = {signalled_early(pyhost, sig, delay_ms, 0.2, ignore) for delay_ms in (0, 0.5, 1, 1.5, 2, 3, 4, 6) * 2}
    assert outcomes == {(0, b"ran\n", b"")}, outcomes
