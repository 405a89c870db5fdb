"""Process state python3 leaves as it found it, and so must pyhost (Go's
runtime changes some of it at start-up)."""

import resource

import pytest


@pytest.mark.parametrize("limits", [(256, 4096), (1024, 1024)], ids=lambda l: f"{l[0]}:{l[1]}")
def test_open_files_limit_as_started(parity, limits):
    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
    script = ("import resource, subprocess, sys\n"
              "print(resource.getrlimit(resource.RLIMIT_NOFILE))\n"
              "print(subprocess.run(['sh', '-c', 'ulimit -Sn; ulimit -Hn'], capture_output=True, text=True).stdout)\n")
    parity.check(["-c", script], preexec_fn=lower)
