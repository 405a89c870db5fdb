#!/usr/bin/env bash
# Runs CPython's own import test suites (Debian's libpython3.11-testsuite)
# under Debian's python3.11 and under pyhost, and compares the result of
# every test: pyhost must pass where python3.11 passes, and skip or fail
# exactly where it does.
set -euo pipefail
cd "$(dirname "$0")/.."
pyhost="${PYHOST:-$PWD/bin/pyhost}"
suites=(test_importlib test_import)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # name exe
	(cd "$work" && "$2" -m test -v "${suites[@]}" >"$work/$1.log" 2>&1) || true
	# Lines like "test_foo (test.test_x.Case.test_foo) ... ok"
	grep -E ' \.\.\. (ok|FAIL|ERROR|skipped|expected failure|unexpected success)' "$work/$1.log" |
		sed -E 's/ \.\.\. (skipped).*/ ... \1/' | sort >"$work/$1.results"
	tail -n 3 "$work/$1.log" | sed "s/^/  $1: /"
}
run python3.11 /usr/bin/python3.11
run pyhost "$pyhost"
n=$(wc -l <"$work/pyhost.results")
if ! diff -u "$work/python3.11.results" "$work/pyhost.results" >"$work/diff"; then
	echo "cpython-tests: results differ from python3.11:" >&2
	head -n 60 "$work/diff" >&2
	exit 1
fi
if ! grep -q "Tests result: SUCCESS" "$work/pyhost.log"; then
	echo "cpython-tests: pyhost did not report SUCCESS" >&2
	tail -n 30 "$work/pyhost.log" >&2
	exit 1
fi
echo "cpython-tests: $n results, identical to python3.11's"
