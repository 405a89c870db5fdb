#!/usr/bin/env bash
# Runs a fast subset of CPython's own regression suite (Debian's
# libpython3.11-testsuite) under Debian's python3.11 and under pyhost, with
# the settings of cpython-full.sh, and compares the result of every test
# case: pyhost must pass, skip and fail exactly where python3.11 does.
#
# The subset covers what pyhost changes: the import system (test_importlib,
# test_import), the command line and the state a process inherits (closed
# standard streams, signal masks: test_cmd_line, test_posix), tracers and
# debuggers (test_bdb), and multiprocessing's resource tracker, which is
# started with SIGINT and SIGTERM blocked (test_multiprocessing_spawn's
# TestResourceTracker cases).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$SECONDS
status=0
bash scripts/cpython-full.sh --strict --out "$out/modules" python3.11 pyhost -- \
	test_importlib test_import test_cmd_line test_posix test_bdb || status=1
echo
bash scripts/cpython-full.sh --strict --out "$out/tracker" python3.11 pyhost -- \
	test_multiprocessing_spawn -m '*.TestResourceTracker.*' || status=1
echo
if ((status)); then
	echo "cpython-tests: results differ from python3.11 ($((SECONDS - start)) s)" >&2
	exit 1
fi
echo "cpython-tests: every case as under python3.11 ($((SECONDS - start)) s)"
