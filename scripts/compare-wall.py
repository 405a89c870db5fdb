"""Wall and CPU time of one -c command under Debian's python3.11 and pyhost,
runs interleaved (so load on a shared machine hits both alike), min and median.

usage: /usr/bin/python3.11 scripts/compare-wall.py "import numpy, scipy.stats, pandas, sympy" [runs]
"""

import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTERPRETERS = {
    "python3.11": "/usr/bin/python3.11",
    "pyhost": os.environ.get("PYHOST") or os.path.join(HERE, "..", "bin", "pyhost"),
}


def main():
    code = sys.argv[1] if len(sys.argv) > 1 else "pass"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    times = {k: [] for k in INTERPRETERS}
    for exe in INTERPRETERS.values():  # warm the page cache
        subprocess.run([exe, "-c", code], check=True)
    for _ in range(runs):
        for name, exe in INTERPRETERS.items():
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([exe, "-c", code], check=True)
            wall = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            times[name].append((wall, cpu))
    for name, ts in times.items():
        w = sorted(t[0] for t in ts)
        c = sorted(t[1] for t in ts)
        print(f"{name:10} wall min {w[0] * 1e3:7.1f} ms  median {w[len(w) // 2] * 1e3:7.1f} ms   "
              f"cpu min {c[0] * 1e3:7.1f} ms  median {c[len(c) // 2] * 1e3:7.1f} ms")
    a = sorted(t[0] for t in times["pyhost"])
    b = sorted(t[0] for t in times["python3.11"])
    print(f"pyhost/python3.11 wall: min {a[0] / b[0]:.2f}x, median {a[len(a) // 2] / b[len(b) // 2]:.2f}x ({runs} runs each)")


if __name__ == "__main__":
    main()
