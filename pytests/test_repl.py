"""The interactive interpreter on a pseudo-terminal: same banner, prompts,
echo and results as python3.11.

Each step waits for what the interpreter prints before the next input is
sent (a prompt, or a result and the prompt after it), so the transcript does
not depend on timing. Readline is in use for both, with TERM=dumb so that no
terminal-specific escape sequences appear.
"""

import fcntl
import os
import select
import signal
import subprocess
import termios
import time

import pytest

from conftest import REFERENCE, TIMEOUT, base_env, wait_in_syscall

PROMPT = b">>> "


class Terminal:
    def __init__(self, argv, env, cwd):
        self.master, slave = os.openpty()
        # A session of its own with the terminal as controlling terminal, so
        # that ^C is the terminal's SIGINT, as in a real shell.
        self.p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                                  start_new_session=True, close_fds=True,
                                  preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.out = b""
        self.deadline = time.monotonic() + TIMEOUT

    def read_until(self, want):
        """Read until the transcript ends with want (bytes); fail at the deadline."""
        while not self.out.endswith(want):
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"{self.p.args[0]}: waited {TIMEOUT} s for {want!r}; got so far:\n{self.out!r}", pytrace=False)
            r, _, _ = select.select([self.master], [], [], left)
            if not r:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the other side is closed
                chunk = b""
            if not chunk:
                self.kill()
                pytest.fail(f"terminal closed while waiting for {want!r}; got:\n{self.out!r}", pytrace=False)
            self.out += chunk

    def send(self, data):
        os.write(self.master, data)

    def finish(self):
        """Read to end of file and wait for the process; returns its status."""
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"interpreter did not exit; transcript:\n{self.out!r}", pytrace=False)
            r, _, _ = select.select([self.master], [], [], left)
            if not r:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            self.out += chunk
        os.close(self.master)
        try:
            return self.p.wait(timeout=max(1, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("interpreter did not exit after closing its terminal", pytrace=False)

    def kill(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()


def transcript(exe, args, steps, tmp_path):
    """Run exe with args on a fresh terminal; steps is a list of (wait_for,
    send[, blocked in syscall...]): wait for output, then (for ^C, which
    must find the interpreter waiting) until it is blocked there, then send. Returns (exit status, transcript with exe normalised)."""
    home = tmp_path / ("home-" + os.path.basename(exe))
    home.mkdir()
    env = base_env(home)
    env["TERM"] = "dumb"
    t = Terminal([exe] + args, env, tmp_path)
    try:
        for want, data, *blocked in steps:
            t.read_until(want)
            if blocked:
                wait_in_syscall(t.p.pid, blocked, t.deadline)
            if data is not None:
                t.send(data)
        status = t.finish()
    finally:
        t.kill()
    out = t.out.replace(os.fsencode(exe), os.fsencode(REFERENCE))
    return status, out


def compare(pyhost, tmp_path, args, steps):
    host = transcript(pyhost, args, steps, tmp_path)
    ref = transcript(REFERENCE, args, steps, tmp_path)
    assert host == ref, (
        f"pyhost (status {host[0]}):\n{host[1].decode(errors='replace')}\n"
        f"python3.11 (status {ref[0]}):\n{ref[1].decode(errors='replace')}")
    return ref


# Where readline waits for a key (CPython's readline_until_enter_or_signal);
# a SIGINT just before it gets there is only seen at the next key.
AT_PROMPT = ("select", "pselect6", "poll", "ppoll")

CASES = {
    "one-plus-one": ([], [(PROMPT, b"1+1\n"), (b"2\r\n" + PROMPT, b"exit()\n")]),
    "quiet": (["-q"], [(PROMPT, b"1+1\n"), (b"2\r\n" + PROMPT, b"exit()\n")]),
    "ctrl-d": (["-q"], [(PROMPT, b"'x' * 3\n"), (b"'xxx'\r\n" + PROMPT, b"\x04")]),
    "ctrl-c-at-prompt": (["-q"], [(PROMPT, b"\x03", *AT_PROMPT), (b"KeyboardInterrupt\r\n" + PROMPT, b"exit(3)\n")]),
    "ctrl-c-while-running": (["-q"], [
        (PROMPT, b"import time; print('sleeping', flush=True); time.sleep(30)\n"),
        (b"sleeping\r\n", b"\x03", "clock_nanosleep"),
        (b"KeyboardInterrupt\r\n" + PROMPT, b"print('alive')\n"),
        (b"alive\r\n" + PROMPT, b"exit()\n")]),
    "multiline": (["-q"], [(PROMPT, b"def f():\n"), (b"... ", b"    return 6 * 7\n"),
                           (b"... ", b"\n"), (PROMPT, b"f()\n"), (b"42\r\n" + PROMPT, b"exit()\n")]),
    "exception": (["-q"], [(PROMPT, b"1/0\n"), (b"ZeroDivisionError: division by zero\r\n" + PROMPT,
                                                b"raise SystemExit(5)\n")]),
    "inspect-after-c": (["-i", "-c", "x = 7"], [(PROMPT, b"x * 6\n"), (b"42\r\n" + PROMPT, b"exit()\n")]),
    "sys-flags-interactive": (["-q"], [(PROMPT, b"import sys; sys.flags.interactive, sys.stdin.isatty(), sys.ps1\n"),
                                       (b"\r\n" + PROMPT, b"exit()\n")]),
}


@pytest.mark.parametrize("name", CASES)
def test_repl(pyhost, tmp_path, name):
    args, steps = CASES[name]
    status, out = compare(pyhost, tmp_path, args, steps)
    if name == "one-plus-one":
        assert b"Type \"help\"" in out and b"\r\n2\r\n" in out, out
    if name == "ctrl-c-at-prompt":
        assert status == 3


def test_repl_banner_is_python3s(pyhost, tmp_path):
    """The banner names the same Python (libpython's version and build)."""
    _, out = compare(pyhost, tmp_path, [], [(PROMPT, b"exit()\n")])
    first = out.split(b"\r\n")[0]
    r = subprocess.run([REFERENCE, "-c", "import sys; print(sys.version)"], capture_output=True, timeout=TIMEOUT)
    assert first.startswith(b"Python " + r.stdout.strip().split(b"\n")[0]), first
