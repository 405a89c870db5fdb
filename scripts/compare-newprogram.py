"""Start-up cost of a program new to a used environment, against Debian's
python3.11 in the same run: each script, each distinct `-c` and each
working directory is a program of its own to pyhost's cache (a many-task
workflow starts thousands), and a run records what it loaded at exit.

usage: /usr/bin/python3.11 scripts/compare-newprogram.py [rounds] [code]
default code: "pass"; PYHOST=path/to/pyhost overrides bin/pyhost.

pyhost's cache lives in a directory of the script's own, first warmed by
WARM (the heavy import by default: the environment's record then holds
about 1,400 modules, as a user's does). Each round runs, in an order that
flips every round: python3.11 with the code; pyhost with the same code
every round (the program the cache knows); pyhost with the code and a
comment no run had before (a new program each time). Printed: medians of
wall and CPU time, and of each pyhost run's ratio to the round's python3.11
run.
"""

import os
import random
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
WARM = os.environ.get("WARM", "import numpy, scipy.stats, pandas, sympy")

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("PYHOST_")}
ENV["PYHOST_CACHEDIR"] = tempfile.mkdtemp(prefix="compare-newprogram-")


def run(exe, code):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # No timeout= here: Popen.wait(timeout) polls with sleeps that double
    # up to 50 ms, which would add up to 30 ms to a 30 ms run's wall time.
    subprocess.run([exe, "-c", code], check=True, stdout=subprocess.DEVNULL, env=ENV)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    code = sys.argv[2] if len(sys.argv) > 2 else "pass"
    for _ in range(2):
        run(PYHOST, WARM)
    for exe in (PYTHON, PYHOST, PYHOST):
        run(exe, code)
    kinds = ["python3.11", "pyhost, same program", "pyhost, new program"]
    got = {k: [] for k in kinds}
    for i in range(rounds):
        order = kinds if i % 2 else kinds[::-1]
        for k in order:
            if k == "python3.11":
                got[k].append(run(PYTHON, code))
            elif k == "pyhost, same program":
                got[k].append(run(PYHOST, code))
            else:
                got[k].append(run(PYHOST, f"{code} # {random.getrandbits(64):x}"))
    py = got["python3.11"]
    med = lambda xs, k: statistics.median(x[k] for x in xs) * 1e3
    size = sum(os.path.getsize(os.path.join(ENV["PYHOST_CACHEDIR"], f))
               for f in os.listdir(ENV["PYHOST_CACHEDIR"]) if f.endswith(".modules"))
    print(f"-c {code!r}, {rounds} rounds, the environment warmed by {WARM!r} (modules record {size} bytes)")
    for k in kinds:
        line = f"{k:22} wall {med(got[k], 0):7.1f} ms cpu {med(got[k], 1):7.1f} ms"
        if k != "python3.11":
            wr = statistics.median(b[0] / a[0] for a, b in zip(py, got[k]))
            cr = statistics.median(b[1] / max(a[1], 1e-4) for a, b in zip(py, got[k]))
            line += f" | ratio of rounds: wall {wr:.2f}x cpu {cr:.2f}x"
        print(line)


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(ENV["PYHOST_CACHEDIR"], ignore_errors=True)
