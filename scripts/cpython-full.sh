#!/usr/bin/env bash
# Runs CPython's whole regression suite (Debian's libpython3.11-testsuite)
# under Debian's python3.11 and under pyhost with identical settings, and
# compares every test case from the two --junit-xml files. Not run in CI:
# each half takes 15 minutes or more on two cores. Run it with nice.
#
#   scripts/cpython-full.sh [--out DIR] [--misses] [--strict] [HALF...] [-- REGRTEST-ARGS...]
#
# HALF is python3.11, pyhost or pyhost-final (pyhost with
# PYHOST_MISSES=final); a pyhost half runs with PYHOST_IMPORTER=on (by
# default a process alone on local disk would run plain, as python3, and
# test nothing of pyhost's); the default is python3.11 and pyhost, plus
# pyhost-final with --misses. A half's XML and log stay in DIR (default
# $TMPDIR/pyhost-suite), so python3.11's half, which does not depend on
# pyhost, can be run once and each pyhost half compared with it later:
#
#   nice -n 10 scripts/cpython-full.sh --out DIR python3.11
#   nice -n 10 scripts/cpython-full.sh --out DIR pyhost pyhost-final
#
# Both interpreters get the same environment (the caller's, without the
# PYTHON* and PYHOST_* variables, which change what the tests expect), the
# same emptied scratch directory as working directory and TMPDIR, stdin on
# /dev/null, every signal at its default disposition and none blocked.
# REGRTEST-ARGS after -- replace the test selection (e.g. -- test_posix
# test_cmd_line) for a quick check.
# Exits 1 if a case passes under python3.11 and not under a pyhost half
# (with --strict: if any case's or test module's outcome differs).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=/usr/bin/python3.11
pyhost="${PYHOST:-$repo/bin/pyhost}"
out="${TMPDIR:-/tmp}/pyhost-suite"
misses=0
strict=()
halves=()
selection=()
while (($#)); do
	case $1 in
	--out) out=$2; shift 2 ;;
	--misses) misses=1; shift ;;
	--strict) strict=(--strict); shift ;;
	--) shift; selection=("$@"); break ;;
	python3.11 | pyhost | pyhost-final) halves+=("$1"); shift ;;
	*) echo "cpython-full: unknown argument $1" >&2; exit 2 ;;
	esac
done
if ((${#halves[@]} == 0)); then
	halves=(python3.11 pyhost)
	((misses)) && halves+=(pyhost-final)
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

# regrtest's own settings, as a user would run the suite; *VSOCK* cases
# hang in these VMs under both interpreters.
regrtest=(-m test -j2 --timeout 900 -w --ignore '*VSOCK*')

# Resets every signal to its default disposition, unblocks all, and execs
# the command: a shell started in the background ignores SIGINT and
# SIGQUIT, nohup ignores SIGHUP, and ignored dispositions survive exec.
defaults='import os, signal, sys
for s in signal.valid_signals():
    if s not in (signal.SIGKILL, signal.SIGSTOP):
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
signal.pthread_sigmask(signal.SIG_SETMASK, ())
os.execv(sys.argv[1], sys.argv[1:])'

run_half() { # half
	local half=$1 exe=$python
	local -a env=()
	case $half in
	pyhost) exe=$pyhost; env=(PYHOST_IMPORTER=on) ;;
	pyhost-final) exe=$pyhost; env=(PYHOST_IMPORTER=on PYHOST_MISSES=final) ;;
	esac
	local scratch=$out/scratch
	rm -rf "$scratch"
	mkdir -p "$scratch/tmp"
	rm -f "$out/$half.xml"
	echo "cpython-full: $half: $exe, log in $out/$half.log ($(date -u +%H:%M:%S) UTC)"
	local start=$SECONDS rc=0
	(
		cd "$scratch"
		for v in $(compgen -e); do
			[[ $v == PYHOST_* || $v == PYTHON* ]] && unset "$v"
		done
		export TMPDIR=$scratch/tmp
		# Tests that start many short-lived interpreters would otherwise
		# fill the user's pyhost cache directory.
		export XDG_CACHE_HOME=$scratch/tmp/cache
		env "${env[@]}" "$python" -c "$defaults" "$exe" "${regrtest[@]}" \
			--junit-xml "$out/$half.xml" "${selection[@]}" </dev/null >"$out/$half.log" 2>&1
	) || rc=$?
	rm -rf "$scratch"
	echo "cpython-full: $half: exit status $rc after $((SECONDS - start)) s;" \
		"$(grep -E '^Tests result:' "$out/$half.log" | tail -n 1)"
}

for half in "${halves[@]}"; do
	run_half "$half"
done

status=0
for half in pyhost pyhost-final; do
	[[ -f $out/$half.xml ]] || continue
	if [[ ! -f $out/python3.11.xml ]]; then
		echo "cpython-full: no $out/python3.11.xml to compare $half with" >&2
		exit 2
	fi
	echo
	"$python" "$repo/scripts/suite-compare.py" "${strict[@]}" "$out/python3.11" "$out/$half" || status=1
done
exit $status
