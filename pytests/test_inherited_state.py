"""What a process inherits is what Python sees, under pyhost as under
python3.11: closed standard fds stay closed (sys.stdin etc. are None), the
signal mask it was started with is Python's and its children's, and a
signal blocked on the thread that runs Python stays pending although Go's
runtime runs threads of its own beside it."""

import os
import signal
import subprocess
import time

import pytest

from conftest import REFERENCE, TIMEOUT, base_env


def run_child(exe, code, *, preexec=None, args=(), pass_fds=(), stdin=subprocess.DEVNULL,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT):
    """Runs code under exe (preexec_fn in the child before exec); returns
    (returncode, stdout, stderr). Kills it and fails after timeout."""
    p = subprocess.Popen([exe, "-c", code, *args], env=base_env(), stdin=stdin, stdout=stdout,
                         stderr=stderr, pass_fds=pass_fds, preexec_fn=preexec, process_group=0)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        pytest.fail(f"{exe} did not finish in {timeout} s", pytrace=False)
    return p.returncode, out, err


def both(pyhost, fn):
    """fn(exe) under pyhost and python3.11; asserts equal results, returns python3.11's."""
    got, want = fn(pyhost), fn(REFERENCE)
    if isinstance(got, tuple):
        got = tuple(g.replace(os.fsencode(pyhost), os.fsencode(REFERENCE)) if isinstance(g, bytes) else g
                    for g in got)
    assert got == want, f"pyhost {got!r}\npython3.11 {want!r}"
    return want


# --- Closed standard streams -----------------------------------------------

STREAMS = r"""
import os, sys
def state(fd):
    try:
        os.fstat(fd)
        return "open"
    except OSError as e:
        return e.strerror
line = " ".join(f"{name}={type(getattr(sys, name)).__name__}" for name in
                ("stdin", "stdout", "stderr", "__stdin__", "__stdout__", "__stderr__"))
line += " fds=" + ",".join(state(fd) for fd in (0, 1, 2))
os.write(int(sys.argv[1]), line.encode() + b"\n")
print("to stdout")
print("to stderr", file=sys.stderr)
"""


@pytest.mark.parametrize("fds", [(0,), (1,), (2,), (0, 1), (0, 1, 2)], ids=lambda f: "closed" + "".join(map(str, f)))
def test_closed_standard_fds(pyhost, fds):
    def fn(exe):
        r, w = os.pipe()
        try:
            def preexec():
                for fd in fds:
                    os.close(fd)
            rc, out, err = run_child(exe, STREAMS, preexec=preexec, pass_fds=(w,), args=(str(w),))
            os.close(w)
            w = -1
            with os.fdopen(r, "rb") as f:
                r = -1
                report = f.read()
        finally:
            for fd in (r, w):
                if fd >= 0:
                    os.close(fd)
        return rc, report, out, err
    rc, report, out, err = both(pyhost, fn)
    for fd, name in zip((0, 1, 2), ("stdin", "stdout", "stderr")):
        assert (f"{name}=NoneType".encode() in report) == (fd in fds), report


# --- Signal masks ---------------------------------------------------------

def blocking(*sigs, pending=()):
    """preexec_fn: block sigs, then send the process each of pending (so it
    starts with them pending)."""
    def preexec():
        signal.pthread_sigmask(signal.SIG_SETMASK, sigs)
        for s in pending:
            os.kill(os.getpid(), s)
    return preexec


MASKS = r"""
import signal, subprocess, sys
nums = lambda ss: sorted(int(s) for s in ss)
print("mask", nums(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
# SIGURG is Go's preemption signal: a process started with it blocked may
# find one pending that Go's runtime sent the thread running Python (the
# README says so); every other signal must be as under python3.11.
print("pending", nums(s for s in signal.sigpending() if s != signal.SIGURG))
print("getsignal", [str(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)])
print("child", subprocess.run([sys.executable, "-c", "import signal; print(sorted(int(s) for s in "
      "signal.pthread_sigmask(signal.SIG_BLOCK, [])))"], capture_output=True, text=True).stdout.strip())
print("grep", subprocess.run(["grep", "^SigBlk", "/proc/self/status"], capture_output=True,
      text=True).stdout.strip())
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
print("grep after", subprocess.run(["grep", "^SigBlk", "/proc/self/status"], capture_output=True,
      text=True).stdout.strip())
"""

INHERITED = [
    (), (signal.SIGTERM,), (signal.SIGINT, signal.SIGTERM),
    (signal.SIGHUP, signal.SIGUSR1, signal.SIGALRM, signal.SIGQUIT, signal.SIGCHLD),
    tuple(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)),
]


@pytest.mark.parametrize("sigs", INHERITED, ids=["none", "TERM", "INT+TERM", "five", "all"])
def test_inherited_mask(pyhost, sigs):
    """The mask is Python's, and its children's (started by subprocess)."""
    ref = both(pyhost, lambda exe: run_child(exe, MASKS, preexec=blocking(*sigs)))
    assert ref[0] == 0 and f"mask {sorted(int(s) for s in sigs)}".encode() in ref[1], ref


PENDING = r"""
import signal, sys
print(sorted(int(s) for s in signal.sigpending()), flush=True)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {int(a) for a in sys.argv[1:]})
print("not reached", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
                                 # Their default is to do nothing: the kernel discards one
                                 # pending when the default is set again (at the handover).
                                 signal.SIGWINCH, signal.SIGCONT, signal.SIGURG, signal.SIGCHLD,
                                 # Faults Go's runtime unblocks on its threads whatever the
                                 # process inherited: taken at once, they killed pyhost; a
                                 # process alone now runs as python3 runs (limits.c).
                                 signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,
                                 signal.SIGTRAP],
                         ids=lambda s: s.name)
def test_pending_at_start(pyhost, sig):
    """Started with sig blocked and already pending: Python sees it pending,
    and it is delivered when Python unblocks it."""
    ref = both(pyhost, lambda exe: run_child(exe, PENDING, args=(str(int(sig)),),
                                             preexec=blocking(sig, pending=(sig,))))
    assert ref[1].startswith(f"[{int(sig)}]\n".encode()), ref


WAIT_PENDING = r"""
import signal, sys, time
want = {int(a) for a in sys.argv[1:]}
print("ready", flush=True)
deadline = time.monotonic() + 20
while not want <= {int(s) for s in signal.sigpending()} and time.monotonic() < deadline:
    time.sleep(0.01)
print("pending", sorted(int(s) for s in signal.sigpending()), flush=True)
"""


def send_when_ready(exe, code, sigs, *, preexec=None, unblock=False):
    """Starts code, waits for its "ready" line, sends it sigs; returns
    (returncode, stdout)."""
    p = subprocess.Popen([exe, "-c", code, *(str(int(s)) for s in sigs)], env=base_env(),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=preexec, process_group=0)
    try:
        first = p.stdout.readline()
        for s in sigs:
            os.kill(p.pid, s)
        out, err = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
    return p.returncode, first + out


@pytest.mark.parametrize("sigs", [(signal.SIGTERM,), (signal.SIGINT, signal.SIGTERM),
                                  (signal.SIGHUP, signal.SIGUSR1, signal.SIGQUIT, signal.SIGALRM),
                                  (signal.SIGCHLD, signal.SIGWINCH, signal.SIGCONT)],
                         ids=["TERM", "INT+TERM", "HUP+USR1+QUIT+ALRM", "CHLD+WINCH+CONT"])
def test_blocked_at_start_stays_pending(pyhost, sigs):
    """A process started with signals blocked that is sent them lives on
    with them pending (none of Go's threads takes them)."""
    ref = both(pyhost, lambda exe: send_when_ready(exe, WAIT_PENDING, sigs, preexec=blocking(*sigs)))
    assert ref[0] == 0 and f"pending {sorted(int(s) for s in sigs)}".encode() in ref[1], ref


BLOCK_THEN_UNBLOCK = r"""
import signal, sys, time
want = {int(a) for a in sys.argv[1:]}
signal.pthread_sigmask(signal.SIG_BLOCK, want)
print("ready", flush=True)
deadline = time.monotonic() + 20
while not want <= {int(s) for s in signal.sigpending()} and time.monotonic() < deadline:
    time.sleep(0.01)
print("pending", sorted(int(s) for s in signal.sigpending()), flush=True)
signal.pthread_sigmask(signal.SIG_UNBLOCK, want)
print("not reached", flush=True)
"""


@pytest.mark.parametrize("sigs", [(signal.SIGTERM,), (signal.SIGUSR1, signal.SIGHUP, signal.SIGTERM),
                                  (signal.SIGINT,)], ids=["TERM", "USR1+HUP+TERM", "INT"])
def test_blocked_at_run_time(pyhost, sigs):
    """Signals Python blocks stay pending until it unblocks them, then act."""
    ref = both(pyhost, lambda exe: send_when_ready(exe, BLOCK_THEN_UNBLOCK, sigs))
    assert f"pending {sorted(int(s) for s in sigs)}".encode() in ref[1], ref


# The signals whose default is to do nothing or to stop the process, and
# the faults when another process sends them: blocked, they stay pending
# (a thread of Go's took them: SIGCHLD was dropped, SIGTSTP stopped the
# process, a handler ran although blocked); unblocked, the handler runs.
QUIET = (signal.SIGCHLD, signal.SIGWINCH, signal.SIGCONT, signal.SIGURG)
STOPPING = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)
FAULTS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGTRAP)
# Sent last: once it is pending, every signal before it was sent (the
# kernel may drop some: they are not waited for).
LAST = (signal.SIGUSR2,)

BLOCKED_ONLY = r"""
import signal, sys, time
want = {int(a) for a in sys.argv[1:]}
signal.pthread_sigmask(signal.SIG_BLOCK, want)
print("ready", flush=True)
deadline = time.monotonic() + 20
while int(sys.argv[-1]) not in {int(s) for s in signal.sigpending()} and time.monotonic() < deadline:
    time.sleep(0.01)
print("pending", sorted(int(s) for s in signal.sigpending()), flush=True)
"""


@pytest.mark.parametrize("sigs", [QUIET, STOPPING], ids=["CHLD+WINCH+CONT+URG", "TSTP+TTIN+TTOU"])
def test_blocked_with_default_disposition(pyhost, sigs):
    """Blocked, with their default dispositions: pending, the process
    neither stopped nor rid of them."""
    ref = both(pyhost, lambda exe: send_when_ready(exe, BLOCKED_ONLY, sigs + LAST))
    assert ref[0] == 0 and (b"pending [12, 17," in ref[1] or sigs == STOPPING and b"pending [" in ref[1]), ref


HANDLED_WHEN_UNBLOCKED = r"""
import signal, sys, time
want = {int(a) for a in sys.argv[1:]}
got = []
for s in want:
    signal.signal(s, lambda n, f: got.append(n))
signal.pthread_sigmask(signal.SIG_BLOCK, want)
print("ready", flush=True)
deadline = time.monotonic() + 20
while int(sys.argv[-1]) not in {int(s) for s in signal.sigpending()} and time.monotonic() < deadline:
    time.sleep(0.01)
print("pending", sorted(int(s) for s in signal.sigpending()), "handled", sorted(got), flush=True)
signal.pthread_sigmask(signal.SIG_UNBLOCK, want)
time.sleep(0.1)
print("handled", sorted(got), flush=True)
"""


@pytest.mark.parametrize("sigs", [QUIET + STOPPING, FAULTS], ids=["quiet+stopping", "faults"])
def test_blocked_with_handler(pyhost, sigs):
    """Blocked, with Python's handlers: none runs until unblocked, then
    each that was pending does. (A stop signal sent after SIGCONT
    discards it, in python3.11's pending set too.)"""
    ref = both(pyhost, lambda exe: send_when_ready(exe, HANDLED_WHEN_UNBLOCKED, sigs + LAST))
    want = sorted(int(s) for s in sigs + LAST if not (s == signal.SIGCONT and set(sigs) & set(STOPPING)))
    assert f"pending {want} handled []\nhandled {want}".encode() in ref[1], ref


CHLD_ACROSS_EXEC = r"""
import os, signal, subprocess, sys
if sys.argv[1:] == ["child"]:
    print("child pending", sorted(int(s) for s in signal.sigpending()), flush=True)
    sys.exit()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
subprocess.run(["true"])
print("pending", sorted(int(s) for s in signal.sigpending()), flush=True)
os.execv(sys.executable, [sys.executable, "-c", sys.argv[0] if False else CODE, "child"])
"""


def test_sigchld_of_a_child_stays_pending_across_exec(pyhost):
    """A child's exit while SIGCHLD is blocked leaves it pending, through
    an exec of the interpreter too (Go's runtime unblocks SIGCHLD on each
    thread it starts, before pyhost's own start-up can teach it)."""
    code = "CODE = " + repr(CHLD_ACROSS_EXEC) + "\n" + CHLD_ACROSS_EXEC
    ref = both(pyhost, lambda exe: run_child(exe, code))
    assert ref[1] == b"pending [17]\nchild pending [17]\n", ref


BLOCK_AND_WATCH = r"""
import signal, sys, time
want = {int(a) for a in sys.argv[1:]}
signal.pthread_sigmask(signal.SIG_BLOCK, want)
print("ready", flush=True)
deadline = time.monotonic() + 20
while not want <= set(signal.sigpending()) and time.monotonic() < deadline:
    pass
# Once pending, a blocked signal stays pending: sampled without a pause
# for a while, never missing once.
missing = 0
end = time.monotonic() + 0.3
while time.monotonic() < end:
    if not want <= set(signal.sigpending()):
        missing += 1
print("pending", sorted(int(s) for s in signal.sigpending()), "missing", missing, flush=True)
"""


@pytest.mark.parametrize("sigs", [(signal.SIGINT,), (signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT)],
                         ids=["INT", "HUP+TERM+QUIT"])
def test_blocked_signal_never_leaves_pending(pyhost, sigs):
    """A signal the main thread blocks is pending from the moment it is
    sent until unblocked, at every instant: it does not go round the Go
    runtime's threads (which unblock SIGINT, SIGHUP, SIGTERM, SIGQUIT on
    themselves), leaving a window in which nobody has it pending."""
    for _ in range(3):
        ref = both(pyhost, lambda exe: send_when_ready(exe, BLOCK_AND_WATCH, sigs))
        assert f"pending {sorted(int(s) for s in sigs)} missing 0".encode() in ref[1], ref


ISSUE_EXAMPLE = r"""
import signal, subprocess, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
child = ("import signal, time\nprint('ready', flush=True)\ndeadline = time.monotonic() + 20\n"
         "while signal.SIGTERM not in signal.sigpending() and time.monotonic() < deadline:\n"
         "    time.sleep(0.01)\n")
p = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE)
p.stdout.readline()
p.terminate()
print(p.wait())
"""


def test_child_inherits_blocked_sigterm(pyhost):
    """The issue's example: a child started while SIGTERM is blocked is not
    ended by terminate()."""
    ref = both(pyhost, lambda exe: run_child(exe, ISSUE_EXAMPLE))
    assert ref[:2] == (0, b"0\n"), ref


TRACKER = r"""
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
print("alive", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_signal_during_startup_while_blocked(pyhost, sig):
    """As multiprocessing's resource tracker is treated: started with SIGINT
    and SIGTERM blocked and sent one at once, at any point of its start-up
    (Go's runtime, CPython's), it lives to ignore them. The delays are
    spread over the start-up; python3.11 passes at every one."""
    def fn(exe):
        outcomes = []
        for delay_ms in range(0, 40, 2):
            p = subprocess.Popen([exe, "-c", TRACKER], env=base_env(), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0,
                                 preexec_fn=blocking(signal.SIGINT, signal.SIGTERM))
            try:
                time.sleep(delay_ms / 1000)
                p.send_signal(sig)
                out, err = p.communicate(timeout=TIMEOUT)
            finally:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.communicate()
            outcomes.append((delay_ms, p.returncode, out))
        return [o for o in outcomes if o[1:] != (0, b"alive\n")]
    assert both(pyhost, fn) == []


# --- Descriptors ---------------------------------------------------------

FDS = r"""
import os, subprocess, sys
def fds():
    return sorted(int(f) for f in os.listdir("/proc/self/fd"))
import json, email.message  # imports through the finder (and its cache)
print("mine", fds())
print("child", subprocess.run([sys.executable, "-c", "import os; print(sorted(int(f) for f in "
      "os.listdir('/proc/self/fd')))"], capture_output=True, text=True).stdout.strip())
print("next", os.open(os.devnull, os.O_RDONLY))
"""


def test_no_descriptors_of_pyhosts_own(pyhost, tmp_path):
    """The descriptors Python sees are its own: none of Go's poller (its
    first os.Open opens two, for the rest of the run), with the index cache
    written (first run) and read (second)."""
    def fn(exe):
        env = base_env()
        env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
        runs = []
        for _ in range(2):
            p = subprocess.run([exe, "-c", FDS], env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=TIMEOUT)
            runs.append((p.returncode, p.stdout, p.stderr))
        return runs
    ref = both(pyhost, fn)
    assert ref[0][0] == 0, ref


# --- Timer slack -----------------------------------------------------------

SLACK = r"""
import ctypes, os, subprocess, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
PR_GET_TIMERSLACK = 30
got = []
t = threading.Thread(target=lambda: got.append(libc.prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)))
t.start()
t.join()
child = subprocess.run([sys.executable, "-c", "import ctypes; print(ctypes.CDLL(None).prctl(30, 0, 0, 0, 0))"],
                       capture_output=True, text=True).stdout.strip()
print(libc.prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), got[0], child)
"""


@pytest.mark.parametrize("slack", [None, 200_000], ids=["default", "200us"])
def test_timer_slack_is_pythons_own(pyhost, slack):
    """Go's threads run with a wide timer slack (see shim.c); the main
    thread, Python's threads and the children get what python3 gets."""
    def preexec():
        if slack is not None:
            import ctypes
            ctypes.CDLL(None).prctl(29, slack, 0, 0, 0)  # PR_SET_TIMERSLACK
    ref = both(pyhost, lambda exe: run_child(exe, SLACK, preexec=preexec))
    assert ref[0] == 0, ref
    want = str(slack or 50_000)
    assert ref[1].split() == [want.encode()] * 3, ref
