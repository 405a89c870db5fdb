"""The smallest address-space limit (ulimit -v, in MB) under which a command
runs to completion with status 0, found by bisection, for python3.11,
pyhost, and pyhost asked to keep Go's runtime (-X pyhost.importer=on).

    /usr/bin/python3.11 scripts/ulimit-min.py [CODE ...]

Defaults: `pass` and the heavy import. Each probe has a 120 s timeout (a
probe that times out counts as a failure).
"""

import os
import resource
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYHOST = os.environ.get("PYHOST", os.path.join(ROOT, "bin", "pyhost"))
HEAVY = "import numpy, scipy.stats, pandas, sympy"


def runs(argv, mb):
    def lower():
        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    try:
        p = subprocess.run(argv, preexec_fn=lower, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
    except subprocess.TimeoutExpired:
        return False
    return p.returncode == 0


def minimum(argv, lo=8, hi=8192):
    if not runs(argv, hi):
        return None
    while hi - lo > 2:
        mid = (lo + hi) // 2
        if runs(argv, mid):
            hi = mid
        else:
            lo = mid
    return hi


def main():
    codes = sys.argv[1:] or ["pass", HEAVY]
    kinds = [("python3.11", ["/usr/bin/python3.11"]), ("pyhost", [PYHOST]),
             ("pyhost -X pyhost.importer=on", [PYHOST, "-X", "pyhost.importer=on"])]
    print(f"| code | {' | '.join(k for k, _ in kinds)} |")
    print(f"|---|{'---|' * len(kinds)}")
    for code in codes:
        cells = []
        for _, exe in kinds:
            m = minimum(exe + ["-c", code])
            cells.append("fails at 8192 MB" if m is None else f"{m} MB")
        print(f"| `{code}` | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
