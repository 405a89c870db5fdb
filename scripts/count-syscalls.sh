#!/usr/bin/env bash
# Counts the path-resolving file-system syscalls of one command, as the
# README's figures do: the stat family on a path, openat, access,
# readlink, getdents64 (fd-based fstat is not counted), and how many of them
# failed with ENOENT, in total and under Python's trees.
# usage: scripts/count-syscalls.sh EXE [ARGS...]
set -euo pipefail
out=$(mktemp)
trap 'rm -f "$out"' EXIT
strace -f -qq -o "$out" \
	-e trace=stat,lstat,newfstatat,statx,openat,open,access,faccessat,faccessat2,readlink,readlinkat,getdents64 \
	"$@" >/dev/null 2>&1 || true
paths=$(grep -v -e 'AT_EMPTY_PATH' -e '^[0-9]* fstat(' -e '^[0-9]* +++' -e '^[0-9]* ---' "$out" || true)
py=$(grep -E '/usr/(local/)?lib/python3' <<<"$paths" || true)
count() { [ -z "$1" ] && echo 0 || grep -c "$2" <<<"$1" || true; }
printf '%s: path syscalls %s (ENOENT %s); under Python trees %s (ENOENT %s); getdents64 %s\n' \
	"$(basename "$1")" "$(count "$paths" .)" "$(count "$paths" ENOENT)" \
	"$(count "$py" .)" "$(count "$py" ENOENT)" "$(count "$paths" getdents64)"
