#!/usr/bin/env bash
# The main job, in under 5 minutes: install what is missing, build pyhost,
# then run demo/demo.py under mpirun (NP ranks, default 4) with its Python
# trees on a simulated parallel file system (slowfs: FUSE, 0.2 ms per
# metadata request through one queue), with Debian's python3.11, the best
# peers HPC users pick instead (a squashfs container image; a copy staged
# into /dev/shm) and pyhost (a first and a second job). Prints the times and
# ratios and writes one plot (bench/out/demo/demo.png). Without FUSE it
# says so and compares on local disk instead.
#
# A plain local run, without the comparison:
#   mpirun --allow-run-as-root --oversubscribe -np 4 bin/pyhost demo/demo.py
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
unset PYTHONDONTWRITEBYTECODE # pyhost's cache, like python3's bytecode, needs writes
exec go run ./bench/run -plan demo -np "${NP:-4}" -out bench/out/demo
