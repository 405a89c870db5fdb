#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine with Go lacks for pyhost: CPython's
# headers and library, Open MPI, mpi4py, pytest, the scientific stack the
# demo and benchmarks import, CPython's own test suite, strace and FUSE,
# MPICH and a single-node Slurm (scripts/slurm.sh) for the launcher tests,
# and the benchmarks' container peer (squashfs-tools, squashfuse).
# Idempotent and quiet: installs only what is missing.
set -euo pipefail

packages=(
	pkg-config gcc
	python3.11 python3-dev libpython3.11-dev libpython3.11-testsuite
	libopenmpi-dev openmpi-bin python3-mpi4py
	mpich libmpich-dev
	slurmctld slurmd slurm-client munge
	python3-pytest python3-hypothesis
	python3-numpy python3-scipy python3-pandas python3-sympy
	strace gdb fuse3 squashfs-tools squashfuse e2fsprogs
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	# Installing munge and slurm would start their services: a policy-rc.d
	# that refuses keeps apt from doing so (scripts/slurm.sh starts its own
	# daemons), and goes again afterwards if it was not there before.
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
		$sudo chmod 755 "$policy"
		trap '$sudo rm -f "$policy"' EXIT
	fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
