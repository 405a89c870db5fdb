"""pyhost's two ways of running a process alone, against python3.11, in one
run: plain (CPython alone, as under a finite address-space limit: see the
README's Resource limits) and with Go's runtime (-X pyhost.importer=on
keeps it under that limit). Every run, python3.11's included, is under
the same 1 TB `ulimit -v`, which nothing here comes near.

    /usr/bin/python3.11 scripts/compare-plain.py [ROUNDS] [CODE ...]

Defaults: 40 rounds of `pass` and `import json`. Prints the medians of
the wall times and of the per-round ratios to python3.11.
"""

import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYHOST = os.environ.get("PYHOST", os.path.join(ROOT, "bin", "pyhost"))


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    codes = sys.argv[2:] or ["pass", "import json"]
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    resource.setrlimit(resource.RLIMIT_AS, (1 << 40, 1 << 40))
    kinds = [("python3.11", ["/usr/bin/python3.11"]), ("pyhost plain", [PYHOST]),
             ("pyhost with Go", [PYHOST, "-X", "pyhost.importer=on"])]
    for code in codes:
        t = {k: [] for k, _ in kinds}
        for _ in range(3):  # warm the page cache and pyhost's cache
            for _, argv in kinds:
                subprocess.run(argv + ["-c", code], timeout=60)
        for _ in range(rounds):
            for k, argv in kinds:
                # No timeout here: Popen.wait with one polls, with sleeps
                # that grow to 50 ms, and the times come out in its steps.
                t0 = time.perf_counter()
                subprocess.run(argv + ["-c", code])
                t[k].append(time.perf_counter() - t0)
        base = t["python3.11"]
        for k, _ in kinds:
            ratio = statistics.median(a / b for a, b in zip(t[k], base))
            print(f"-c {code!r:16} {k:16} wall {statistics.median(t[k]) * 1000:6.1f} ms  {ratio:.2f}x", flush=True)


if __name__ == "__main__":
    main()
