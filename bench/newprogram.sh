#!/bin/bash
# A program new to a used environment, on slowfs (every metadata request
# of each process delayed 1 ms on its own: -perclient), under mpirun -np 2:
# program A (import sympy) runs first, then program B (import scipy.special)
# twice. Per job: wall time, metadata requests served, and from
# -X pyhost.stats rank 0's listings, verifications and start-up phases,
# rank 1's listings and bundled modules.
#
#   bash bench/newprogram.sh [PYHOST]      (default bin/pyhost; needs FUSE)
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
exe=$(realpath "${1:-$repo/bin/pyhost}")
work=$(mktemp -d)
trap 'kill -INT $sfs 2>/dev/null; wait $sfs 2>/dev/null; rm -rf "$work"' EXIT
(cd "$repo" && go build -o "$work/slowfs" ./bench/slowfs)
mkdir -p "$work/usr" "$work/cache" "$work/run" # run: the jobs' working directory, away from the mount
st=$work/slowfs.json
"$work/slowfs" -latency 1ms -perclient -ro -src /usr -mnt "$work/usr" -stats "$st" >/dev/null 2>&1 & sfs=$!
for _ in $(seq 50); do mountpoint -q "$work/usr" && break; sleep 0.1; done
root=(); [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
meta() { kill -USR1 $sfs; sleep 0.5; python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['metadata'])" "$st"; }
job() {
	local name=$1 code=$2 m0 m1 t0 t1 out
	m0=$(meta); t0=$(date +%s.%N)
	out=$(cd "$work/run" && timeout 300 mpirun "${root[@]}" --oversubscribe -np 2 env -u PYTHONDONTWRITEBYTECODE \
		PYTHONHOME="$work/usr" PYHOST_CACHEDIR="$work/cache" "$exe" -X pyhost.stats -c "$code" 2>&1)
	t1=$(date +%s.%N); m1=$(meta)
	OUT=$out python3 - "$name" "$t0" "$t1" "$m0" "$m1" <<'PY'
import os, re, sys
name, t0, t1, m0, m1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
d = {}
for line in os.environ["OUT"].splitlines():
    m = re.match(r"rank (\d): pyhost (?:stats|phases): (.*)", line)
    if m:
        for kv in m.group(2).split():
            k, v = kv.split("=")
            d[(int(m.group(1)), k)] = v
g = lambda r, k: d.get((r, k), "?")
print(f"{name}: wall {t1 - t0:.2f} s, {m1 - m0} metadata requests | rank 0: listed {g(0, 'dirs_listed')}, "
      f"verified {g(0, 'verifications')}, share_index {g(0, 'share_index')}, share_bundle {g(0, 'share_bundle')} | "
      f"rank 1: listed {g(1, 'dirs_listed')}, bundled {g(1, 'bundled')}")
PY
}
job "A (import sympy)" "import sympy"
job "B, first job" "import scipy.special"
job "B, second job" "import scipy.special"
