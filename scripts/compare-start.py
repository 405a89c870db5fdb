"""Start-up cost of pyhost against Debian's python3.11, measured in one run:
wall and CPU time of each command in alternating pairs (the order flips
every pair, so load on a shared machine hits both alike), the median of
the pairs' ratios, and the footprint of `-c pass` (peak RSS, threads,
VmSize at exit).

usage: /usr/bin/python3.11 scripts/compare-start.py [pairs] [code ...]
default codes: "pass", "import json"; PYHOST=path/to/pyhost overrides bin/pyhost.

Both run in a user's usual environment: PYTHONDONTWRITEBYTECODE unset (it
turns pyhost's cache off), no PYHOST_* variable (any one asks for pyhost's
importer, as -X pyhost.<name> does), and pyhost's cache in a directory of
the script's own (XDG_CACHE_HOME), warmed by the first run; COMPARE_CACHE=off
runs pyhost's importer without it.

pyhost runs as it runs by default: plain (CPython alone, Go's runtime never
started) where its search path starts on local file systems, with its
importer elsewhere (README, Using it). IMPORTER=1 also times pyhost with
-X pyhost.importer=on, which keeps the importer everywhere.

FLOOR=1 also times three floors, built for the run (go, gcc): bench/floor's
C main over the static libpython pyhost links (what the library costs by
itself); its Go main over the same (what any Go program embedding it
costs: Go's runtime, its threads, the bigger binary); and its C main with
Go linked as a library (-buildmode=c-archive), whose runtime starts on a
thread of its own beside CPython's core phase and is waited for between
the phases (what starting Go beside Python instead of before it would
save), each in the same alternating pairs with python3.11.
"""

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3.11"
PYHOST = os.environ.get("PYHOST") or os.path.normpath(os.path.join(HERE, "..", "bin", "pyhost"))


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("PYHOST_")}
WORK = tempfile.mkdtemp(prefix="compare-start-")
ENV["XDG_CACHE_HOME"] = WORK  # pyhost's cache: WORK/pyhost
CACHE = os.environ.get("COMPARE_CACHE", "on")


def run(exe, code):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    argv = (exe if isinstance(exe, list) else [exe]) + ["-c", code]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=ENV)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def compare(code, pairs, others):
    """Times python3.11 against each of others ((name, exe) pairs), in
    rounds whose order flips every round."""
    for exe in [PYTHON] + [e for _, e in others] * 2:  # warm the page cache and pyhost's cache
        run(exe, code)
    py, got = [], [[] for _ in others]
    for i in range(pairs):
        order = [-1] + list(range(len(others)))
        for k in (reversed(order) if i % 2 else order):
            if k < 0:
                py.append(run(PYTHON, code))
            else:
                got[k].append(run(others[k][1], code))
    med = lambda xs, k: statistics.median(x[k] for x in xs) * 1e3
    for (name, _), ph in zip(others, got):
        wr = statistics.median(b[0] / a[0] for a, b in zip(py, ph))
        cr = statistics.median(b[1] / max(a[1], 1e-4) for a, b in zip(py, ph))
        print(f"-c {code!r:40} python3.11 wall {med(py, 0):7.1f} ms cpu {med(py, 1):7.1f} ms | "
              f"{name} wall {med(ph, 0):7.1f} ms cpu {med(ph, 1):7.1f} ms | "
              f"ratio of pairs: wall {wr:.2f}x cpu {cr:.2f}x ({pairs} pairs)")


def floors(into):
    """Builds bench/floor's three programs into the directory into."""
    repo = os.path.normpath(os.path.join(HERE, ".."))
    c, go, lib = (os.path.join(into, n) for n in ("c-floor", "go-floor", "golib-floor"))
    libs = ["-Wl,--export-dynamic", "-l:libpython3.11.a", "-lexpat", "-lz", "-lm", "-ldl", "-lpthread"]
    gcc = ["gcc", "-O2", "-no-pie", "-I/usr/include/python3.11"]
    subprocess.run(gcc + [os.path.join(repo, "bench/floor/cmain.c"), "-o", c] + libs, check=True)
    subprocess.run(["go", "build", "-o", go, "./bench/floor/gomain"], cwd=repo, check=True)
    archive = os.path.join(into, "golib.a")
    subprocess.run(["go", "build", "-buildmode=c-archive", "-o", archive, "./bench/floor/golib"], cwd=repo, check=True)
    subprocess.run(gcc + [os.path.join(repo, "bench/floor/libmain.c"), archive, "-o", lib] + libs, check=True)
    return [("c-floor", c), ("go-floor", go), ("golib-floor", lib)]


FOOTPRINT = ("import os, threading, resource\n"
             "st = open('/proc/self/status').read().split('\\n')\n"
             "f = {l.split(':')[0]: l.split(':')[1].strip() for l in st if ':' in l}\n"
             "print(f['VmHWM'], f['VmSize'], f['Threads'])")


# What -c pass does, and then its own VmHWM: no import beyond start-up's.
# (wait4's ru_maxrss cannot tell it: a child forked from this script starts
# its count with the script's own RSS, about 9 MB, above python3's.)
PASS_HWM = "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"


def footprint(exe):
    # The child's own /proc/self/status at its end: VmHWM is peak RSS.
    out = subprocess.run([exe, "-c", FOOTPRINT], check=True, capture_output=True, text=True, env=ENV).stdout.split()
    hwm, size, threads = int(out[0]), int(out[2]), int(out[4])
    peaks = [int(subprocess.run([exe, "-c", PASS_HWM], check=True, capture_output=True, text=True,
                                env=ENV).stdout) for _ in range(5)]
    return statistics.median(peaks), hwm, size, threads


def main():
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    codes = sys.argv[2:] or ["pass", "import json"]
    others = [("pyhost", PYHOST)]
    if os.environ.get("IMPORTER"):
        others.append(("pyhost -X pyhost.importer=on", [PYHOST, "-X", "pyhost.importer=on", "-X", "pyhost.cache=" + CACHE]))
    if os.environ.get("FLOOR"):
        others += floors(WORK)
    for code in codes:
        compare(code, pairs, others)
    print(f"pyhost's cache (with its importer): {CACHE} ({os.path.join(WORK, 'pyhost')})")
    for name, exe in (("python3.11", PYTHON), ("pyhost", PYHOST)):
        rss, hwm, size, threads = footprint(exe)
        print(f"{name:10} -c pass max RSS {rss / 1024:6.1f} MB | a script's VmHWM {hwm / 1024:6.1f} MB, "
              f"VmSize {size / 1024:8.1f} MB, threads {threads}")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
