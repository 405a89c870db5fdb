#!/usr/bin/env bash
# Runs every test, installing what is missing first: go vet, go test (the
# race detector on the packages with concurrency), pyhost's pytest suite run
# by pyhost itself, and CPython's own import test suites under pyhost,
# compared with Debian's python3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYHOST="$PWD/bin/pyhost"
# Every pyhost the tests start keeps Go's runtime and its importer, which
# they judge: by default a process alone on local disk runs plain, as
# python3 (test_plain.py tests that choice and sets the variable itself).
export PYHOST_IMPORTER=on

step() { printf '\n== %s\n' "$*"; }

step "dependencies"
bash scripts/install-deps.sh

step "build"
bash scripts/build.sh
go build -tags nompi -o bin/pyhost-nompi ./cmd/pyhost
export PYHOST_NOMPI="$PWD/bin/pyhost-nompi"

step "go vet"
go vet ./...
go vet -tags nompi ./mpiglue ./launch ./cmd/...

step "go test"
go test -count=1 ./...
# The packages with a stub for builds without MPI, built that way.
go test -count=1 -tags nompi ./mpiglue ./launch
go test -count=1 -race ./pathscan ./importer ./host

step "pytest under pyhost"
# Run from a scratch directory so the repository is not on sys.path.
(cd "$(mktemp -d)" && "$PYHOST" -m pytest -p no:cacheprovider -q "$OLDPWD/pytests")

step "CPython's import test suites under pyhost"
bash scripts/cpython-tests.sh
