#!/usr/bin/env bash
# The main job: install what is missing, build pyhost, and run the demo under
# mpirun with pyhost, then with Debian's python3.11 for comparison.
# NP sets the number of ranks (default 4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
np="${NP:-4}"
mpiflags=(--oversubscribe)
[ "$(id -u)" -ne 0 ] || mpiflags+=(--allow-run-as-root)
echo "== mpirun -np $np bin/pyhost demo/demo.py"
mpirun "${mpiflags[@]}" -np "$np" bin/pyhost demo/demo.py
echo "== mpirun -np $np python3.11 demo/demo.py"
mpirun "${mpiflags[@]}" -np "$np" /usr/bin/python3.11 demo/demo.py
