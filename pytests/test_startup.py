"""Start-up work done once instead of at every start (issue 14) gives the
same interpreter as doing it each time."""

import pytest

from conftest import run, base_env

GOFINDER_DOC = ("import sys\n"
                "f = [m for m in sys.meta_path if getattr(m, '__name__', '') == 'GoFinder']\n"
                "print(len(f), f[0].__doc__ is None if f else None, f[0].__module__ if f else None)\n")


@pytest.mark.parametrize("flags, doc_stripped", [([], False), (["-O"], False), (["-OO"], True)])
def test_finder_code_follows_optimize(pyhost, tmp_path, flags, doc_stripped):
    # finder.py runs as compiled at build time only without -O/-OO; under
    # -OO it is compiled from source as CPython compiles any module, so
    # its docstrings go as python3's own would.
    r = run([pyhost, *flags, "-c", GOFINDER_DOC], env=base_env(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r
    assert r.stdout.decode().split() == ["1", str(doc_stripped), "pyhost"], r


def test_finder_frames_are_frozen_importlib(pyhost, tmp_path):
    # The precompiled code keeps the file name CPython's import machinery
    # has, so tracebacks through it are trimmed as python3's are.
    code = ("import sys\n"
            "f = [m for m in sys.meta_path if getattr(m, '__name__', '') == 'GoFinder'][0]\n"
            "print(f.invalidate_caches.__func__.__code__.co_filename)\n")
    r = run([pyhost, "-c", code], env=base_env(tmp_path), cwd=tmp_path)
    assert r.stdout == b"<frozen importlib._bootstrap_external>\n", r


@pytest.mark.parametrize("env", [
    {"GODEBUG": "gctrace=1,inittrace=1,schedtrace=50"},
    {"GODEBUG": "cgocheck=2"},
    {"GOMEMLIMIT": "abc"},
    {"GOGC": "1", "GOTRACEBACK": "crash"},
    {"GOMAXPROCS": "100000"},
], ids=["traces", "cgocheck", "bad-memlimit", "gogc-traceback", "huge-maxprocs"])
def test_go_runtime_variables_are_the_users(parity, env):
    """GODEBUG, GOMAXPROCS and the like are settings for Go programs, not
    python3's: pyhost's runtime does not take them (they printed traces,
    ended the start in a Go stack trace, or hung it), and Python and the
    program's children see them as given, in the environment's order."""
    code = ("import os, subprocess, sys, json\n"
            "print([k for k in os.environ if k.startswith('GO') or k == 'AFTER'])\n"
            "print({k: os.environ[k] for k in os.environ if k.startswith('GO')})\n"
            "print(subprocess.run(['env'], capture_output=True, text=True).stdout.count('GO'))\n")
    parity.check(["-c", code], env={**env, "AFTER": "1"})
