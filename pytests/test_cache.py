"""The persistent index cache: written atomically and privately, used after
one stat per directory, rebuilt when stale or damaged, never trusted when
someone else could have written it."""

import os
import pwd
import re
import shutil
import subprocess
import time

import pytest

from conftest import base_env, run

# The cache keeps nothing of an image file system (an overlay root) between runs.
pytestmark = pytest.mark.usefixtures("needs_persistent_cache")

STATS = re.compile(rb"pyhost stats: (.*)")


def stats(result):
    m = STATS.search(result.stderr)
    assert m, result.stderr
    return {k.decode(): int(v) for k, v in (kv.split(b"=") for kv in m.group(1).split())}


def age(*paths):
    # Directories whose mtime is recent are not cached (they could change
    # within the same mtime tick): make the test tree look settled.
    old = time.time() - 3600
    for p in paths:
        os.utime(p, (old, old))


@pytest.fixture
def tree(tmp_path):
    d = tmp_path / "lib"
    (d / "cpkg").mkdir(parents=True)
    (d / "cpkg" / "__init__.py").write_text("")
    (d / "cpkg" / "inner.py").write_text("v = 1\n")
    (d / "plain.py").write_text("w = 2\n")
    work = tmp_path / "work"
    work.mkdir()
    age(d / "cpkg", d, work)
    return tmp_path


def pyrun(pyhost, tree, *args, env=None, write=False):
    """Run pyhost on the tree with its own cache directory. Unless write,
    with -B: Python then writes no __pycache__ (which would move the tree's
    mtimes) and pyhost writes no cache either."""
    e = base_env(tree / "home")
    e["PYTHONPATH"] = str(tree / "lib")
    if write:
        e["PYTHONPYCACHEPREFIX"] = str(tree / "pyc")  # bytecode outside the tree
    e.update(env or {})
    cmd = [pyhost, "-X", "pyhost.stats", "-X", f"pyhost.cachedir={tree / 'cache'}", *args]
    if not write:
        cmd.insert(1, "-B")
    return run(cmd, env=e, cwd=tree / "work")


SCRIPT = "import cpkg.inner, plain, json; print(cpkg.inner.v, plain.w)"


def warm(pyhost, tree):
    r = pyrun(pyhost, tree, "-c", SCRIPT, write=True)
    assert r.returncode == 0, r.stderr
    return r


def test_second_run_reads_no_directory_it_has_cached(pyhost, tree):
    first = warm(pyhost, tree)
    # The environment's index and its record of the modules loaded (a
    # process alone records them too: it warms later MPI jobs).
    files = sorted((tree / "cache").iterdir())
    assert [f.suffix for f in files] == [".index", ".modules"] and all(f.name.startswith("env-") for f in files), files
    assert oct((tree / "cache").stat().st_mode & 0o777) == "0o700"
    assert all(oct(f.stat().st_mode & 0o777) == "0o600" for f in files)
    second = pyrun(pyhost, tree, "-c", SCRIPT)
    assert second.returncode == 0 and second.stdout == first.stdout == b"1 2\n"
    s1, s2 = stats(first), stats(second)
    assert s2["dirs_merged"] > 0 and s2["verifications"] > 0, s2
    # Only directories too fresh to cache (the interpreter's own are not) are read again.
    assert s2["dirs_listed"] < s1["dirs_listed"] / 2, (s1, s2)


def test_the_environment_not_the_program_is_the_key(pyhost, tree):
    # Another program run by the same interpreter with the same search path
    # starts warm from the first one's cache.
    warm(pyhost, tree)
    r = pyrun(pyhost, tree, "-c", "import plain, email.message; print(plain.w)")
    assert r.returncode == 0 and r.stdout == b"2\n", r.stderr
    assert stats(r)["dirs_merged"] > 0, r.stderr
    # Another search path is another environment.
    r = pyrun(pyhost, tree, "-c", "import plain", env={"PYTHONPATH": str(tree / "lib") + ":" + str(tree / "work")})
    assert r.returncode == 0 and stats(r)["dirs_merged"] == 0, r.stderr


def test_stale_directory_is_read_again(pyhost, tree):
    warm(pyhost, tree)
    (tree / "lib" / "cpkg" / "added.py").write_text("a = 3\n")
    r = pyrun(pyhost, tree, "-c", "import cpkg.added; print(cpkg.added.a)")
    assert r.returncode == 0 and r.stdout == b"3\n", r.stderr


def test_entry_replaced_by_a_zip_file_is_a_zip_entry(pyhost, tree):
    # The cache lists lib; replaced by a zip file of the same name, it is
    # zipimport's entry on the next run, as under python3 (not a directory
    # that vanished).
    import zipfile
    warm(pyhost, tree)
    r = pyrun(pyhost, tree, "-c", SCRIPT)
    assert r.returncode == 0 and stats(r)["verifications"] > 0, r.stderr
    shutil.rmtree(tree / "lib")
    with zipfile.ZipFile(tree / "lib", "w") as z:
        z.writestr("plain.py", "w = 'zip'\n")
    r = pyrun(pyhost, tree, "-c", "import plain; print(plain.w, type(plain.__loader__).__name__)")
    assert r.returncode == 0 and r.stdout == b"zip zipimporter\n", r.stderr


@pytest.mark.parametrize("damage", ["truncated", "flipped", "foreign-version", "empty", "garbage"])
def test_damaged_cache_is_ignored_and_rebuilt(pyhost, tree, damage):
    warm(pyhost, tree)
    (f,) = (tree / "cache").glob("env-*.index")
    data = f.read_bytes()
    data = {"truncated": data[: len(data) // 2],
            "flipped": data[:40] + bytes([data[40] ^ 0xFF]) + data[41:],
            "foreign-version": data[:4] + bytes([99]) + data[5:],
            "empty": b"",
            "garbage": os.urandom(4096)}[damage]
    f.write_bytes(data)
    r = pyrun(pyhost, tree, "-c", SCRIPT, write=True)
    assert r.returncode == 0 and r.stdout == b"1 2\n", r.stderr
    assert r.stderr.count(b"pyhost: ") == 1 and b"will be rebuilt" in r.stderr, r.stderr
    assert stats(r)["dirs_merged"] == 0
    again = pyrun(pyhost, tree, "-c", SCRIPT)
    assert b"pyhost: ignoring" not in again.stderr and stats(again)["dirs_merged"] > 0, again.stderr


def test_cache_others_can_write_is_ignored(pyhost, tree):
    warm(pyhost, tree)
    (f,) = (tree / "cache").glob("env-*.index")
    f.chmod(0o666)
    r = pyrun(pyhost, tree, "-c", SCRIPT)
    assert r.returncode == 0 and r.stdout == b"1 2\n"
    assert b"can be written by others" in r.stderr and stats(r)["dirs_merged"] == 0, r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_cache_of_another_user_is_ignored(pyhost, tree):
    warm(pyhost, tree)
    (f,) = (tree / "cache").glob("env-*.index")
    nobody = pwd.getpwnam("nobody")
    os.chown(f, nobody.pw_uid, nobody.pw_gid)
    r = pyrun(pyhost, tree, "-c", SCRIPT)
    assert r.returncode == 0 and r.stdout == b"1 2\n"
    assert b"belongs to another user" in r.stderr and stats(r)["dirs_merged"] == 0, r.stderr


def test_unwritable_cache_dir_costs_one_line(pyhost, tree):
    (tree / "cache").write_text("a file, not a directory")
    r = pyrun(pyhost, tree, "-c", SCRIPT, write=True)
    assert r.returncode == 0 and r.stdout == b"1 2\n"
    # Exactly one line: the cache could not be written, and the run went on.
    assert r.stderr.count(b"pyhost: ") == 1 and b"cache" in r.stderr, r.stderr


@pytest.mark.parametrize("home", ["missing", "relative", "devnull", "file"])
def test_default_cache_without_a_home_is_none_silently(pyhost, tree, home):
    # A service account's HOME of /nonexistent or /dev/null, a relative
    # one, a file: no cache, nothing made, nothing said (python3 says
    # nothing either).
    e = base_env(tree / "home")
    e.pop("XDG_CACHE_HOME", None)
    (tree / "afile").write_text("")
    e["HOME"] = {"missing": str(tree / "nonexistent"), "relative": "relhome", "devnull": "/dev/null",
                 "file": str(tree / "afile")}[home]
    e["PYTHONPATH"] = str(tree / "lib")
    for _ in range(2):
        r = run([pyhost, "-c", SCRIPT], env=e, cwd=tree / "work")
        assert (r.returncode, r.stdout, r.stderr) == (0, b"1 2\n", b""), r.stderr
    assert not (tree / "nonexistent").exists() and not (tree / "work" / "relhome").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as another user")
@pytest.mark.parametrize("mode", [0o755, 0o700])
def test_default_cache_in_another_users_home_is_none_silently(pyhost_for_nobody, tmp_path, mode):
    # su without "-" keeps root's HOME: the default cache there is root's
    # (or not reachable at all): no cache, nothing said, as python3 says
    # nothing of a __pycache__ it cannot use.
    nobody = pwd.getpwnam("nobody")
    home = tmp_path / "roothome"
    (home / ".cache" / "pyhost").mkdir(parents=True)
    for d in [tmp_path, *tmp_path.parents][:-1]:
        os.chmod(d, os.stat(d).st_mode | 0o011)
    os.chmod(home, mode)
    work = tmp_path / "work"
    work.mkdir(mode=0o777)
    os.chmod(work, 0o777)
    e = base_env(home)

    def as_nobody():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
    for _ in range(2):
        r = run([pyhost_for_nobody, "-c", "import json; print(1)"], env=e, cwd=work, preexec_fn=as_nobody)
        assert (r.returncode, r.stdout, r.stderr) == (0, b"1\n", b""), r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
@pytest.mark.parametrize("cachedir", ["roots", "open"])
def test_a_program_that_changes_user_leaves_the_cache_alone(pyhost_for_nobody, reference, tmp_path, cachedir):
    # A daemon or server that drops root during the run: python3 then
    # writes no __pycache__ it cannot, and says nothing. The cache is the
    # starting user's: nothing is said of it, and nothing is written as the
    # new user (a file of nobody's would be refused, with a warning, by
    # every later run of root's).
    top = tmp_path / "t"
    top.mkdir()
    for d in [top, *top.parents][:-1]:
        os.chmod(d, os.stat(d).st_mode | 0o011)
    (top / "work").mkdir()
    (top / "work" / "mod.py").write_text("v = 3\n")
    os.chmod(top / "work", 0o755)
    parent = top / "caches"
    parent.mkdir()
    if cachedir == "open":
        os.chmod(parent, 0o1777)  # anyone may make the cache directory here
    nobody = pwd.getpwnam("nobody")
    drop = f"import os\nos.setgroups([]); os.setgid({nobody.pw_gid}); os.setuid({nobody.pw_uid})\n"
    script = top / "work" / "drop.py"
    script.write_text(drop + "import json, mod\nprint(json.dumps(mod.v), os.geteuid())\n")
    e = base_env(tmp_path / "home")
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    e["XDG_CACHE_HOME"] = str(parent)
    want = run([reference, "-B", str(script)], env=e, cwd=top / "work")
    assert want.returncode == 0 and want.stderr == b"", want.stderr
    if cachedir == "roots":  # root's runs made it before
        r = run([pyhost_for_nobody, "-c", "import json, email.message"], env=e, cwd=top / "work")
        assert r.returncode == 0 and r.stderr == b"", r.stderr
        time.sleep(2.1)  # listings and bytecode settled, so cached
        run([pyhost_for_nobody, "-c", "import json, email.message"], env=e, cwd=top / "work")
    before = {p: p.stat().st_mtime_ns for p in parent.rglob("*")}
    for _ in range(2):
        r = run([pyhost_for_nobody, "-B", str(script)], env=e, cwd=top / "work")
        assert (r.returncode, r.stdout, r.stderr) == (0, want.stdout, b""), r.stderr
        r = run([pyhost_for_nobody, str(script)], env=e, cwd=top / "work")
        assert (r.returncode, r.stdout, r.stderr) == (0, want.stdout, b""), r.stderr
    assert {p: p.stat().st_mtime_ns for p in parent.rglob("*")} == before
    assert all(p.stat().st_uid == 0 for p in parent.rglob("*"))
    # Root's next run finds its cache as it was, and says nothing.
    r = run([pyhost_for_nobody, "-c", "import json"], env=e, cwd=top / "work")
    assert r.returncode == 0 and r.stderr == b"", r.stderr


def test_address_space_lowered_during_the_run_leaves_the_cache(pyhost, tree):
    # A limit lowered by the program (or prlimit) below what the process
    # maps: the cache is left as it was, and the exit is Python's (the
    # write at exit could need more than Go's runtime can map: a Go fatal
    # error after the program's work).
    warm(pyhost, tree)
    files = {p: p.stat().st_mtime_ns for p in (tree / "cache").iterdir()}
    code = ("import resource\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, resource.RLIM_INFINITY))\n"
            "try:\n    import decimal, cpkg.inner\nexcept MemoryError:\n    pass\nprint('end')\n")
    r = pyrun(pyhost, tree, "-c", code, write=True)
    assert (r.returncode, r.stdout) == (0, b"end\n"), r.stderr
    assert b"fatal error" not in r.stderr and b"goroutine" not in r.stderr, r.stderr
    assert {p: p.stat().st_mtime_ns for p in (tree / "cache").iterdir()} == files
    # A limit far above it changes nothing: the cache is written.
    code = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (1 << 42, resource.RLIM_INFINITY))\nimport decimal\n"
    r = pyrun(pyhost, tree, "-c", code, write=True)
    assert r.returncode == 0 and b"pyhost: " not in r.stderr and b"fatal error" not in r.stderr, r.stderr


def test_off_rebuild_and_no_bytecode(pyhost, tree):
    r = pyrun(pyhost, tree, "-X", "pyhost.cache=off", "-c", SCRIPT, write=True)
    assert r.returncode == 0 and not (tree / "cache").exists()
    r = pyrun(pyhost, tree, "-c", SCRIPT)  # -B: Python writes nothing, nor does pyhost
    assert r.returncode == 0 and not (tree / "cache").exists()
    warm(pyhost, tree)
    r = pyrun(pyhost, tree, "-X", "pyhost.cache=rebuild", "-c", SCRIPT)
    assert r.returncode == 0 and stats(r)["dirs_merged"] == 0


def test_same_answers_as_python3_with_a_warm_cache(parity, tree):
    # The parity fixture runs in its own directories; point both at the tree.
    env = {"PYTHONPATH": str(tree / "lib"), "PYHOST_CACHEDIR": str(tree / "cache")}
    body = ("import importlib.util as u\n"
            "for n in ['cpkg', 'cpkg.inner', 'plain', 'nosuch', 'json']:\n"
            "    s = u.find_spec(n)\n"
            "    print(n, s and (s.origin, s.submodule_search_locations))\n")
    for _ in range(2):
        parity.check(["-c", body], env=env)
    # The runs after the first had a cache to use, and used it.
    r = parity.run_one(parity.pyhost, ["-X", "pyhost.stats", "-c", body], env=env)
    assert r.returncode == 0, r.stderr
    assert stats(r)["dirs_merged"] > 0, r.stderr


def test_a_process_alone_records_its_modules_unseen(pyhost, reference, tree):
    # The record of what a run loaded is taken at exit, after the
    # program's own atexit hooks, without importing anything: atexit is
    # not in sys.modules and -X importtime shows what python3.11 shows.
    body = ("import atexit, sys\n"
            "print('atexit' in sys.modules)\n"
            "atexit.register(lambda: __import__('cpkg.inner'))\n")
    r = pyrun(pyhost, tree, "-c", "import sys; print('atexit' in sys.modules)", write=True)
    assert r.returncode == 0 and r.stdout == b"False\n", r.stderr
    r = pyrun(pyhost, tree, "-c", body, write=True)
    assert r.returncode == 0 and r.stdout == b"True\n", r.stderr
    (record,) = (tree / "cache").glob("env-*.modules")
    assert str(tree / "lib" / "cpkg" / "inner.py").encode() in record.read_bytes()  # imported by the hook
    e = base_env(tree / "home")
    e["PYTHONPATH"] = str(tree / "lib")
    e["PYTHONPYCACHEPREFIX"] = str(tree / "pyc")
    got = run([pyhost, "-X", f"pyhost.cachedir={tree / 'cache'}", "-X", "importtime", "-c", "import plain"], env=e, cwd=tree / "work")
    want = run([reference, "-X", "importtime", "-c", "import plain"], env=e, cwd=tree / "work")
    names = lambda p: [l.rsplit("|", 1)[-1].strip() for l in p.stderr.decode().splitlines() if l.startswith("import time:")]
    assert got.returncode == 0 and names(got) == names(want), (got.stderr, want.stderr)


def test_link_targets_that_come_and_go_between_runs(pyhost, reference, tree):
    # A site-packages (an environment's directory: trusted while its mtime
    # stays) links to a checkout (flit --symlink, Spack views, stow): the
    # targets go and come back while its mtime stays. Every run, warm cache
    # or not, answers as python3 does: the cache carried what a link was
    # when it was listed, for good (a package gone for ever, a deleted
    # module's FileNotFoundError, which `except ImportError` misses).
    src, site = tree / "src", tree / "site-packages"
    (src / "lpkg").mkdir(parents=True)
    site.mkdir()
    (src / "lpkg" / "__init__.py").write_text("X = 'lpkg'\n")
    (site / "lpkg").symlink_to(src / "lpkg")
    (site / "ltool.py").symlink_to(src / "ltool.py")
    age(site)
    code = ("for n in ('lpkg', 'ltool'):\n"
            "    try: print(n, __import__(n).X)\n"
            "    except Exception as e: print(n, type(e).__name__)\n")

    def same(when):
        host = pyrun(pyhost, tree, "-c", code, write=True, env={"PYTHONPATH": str(site)})
        ref = run([reference, "-B", "-c", code], env={**base_env(tree / "home"), "PYTHONPATH": str(site)},
                  cwd=tree / "work")
        assert host.returncode == ref.returncode == 0, host.stderr
        assert host.stdout == ref.stdout, (when, host.stdout, ref.stdout)
        return stats(host)

    same("cold")
    assert same("warm")["dirs_merged"] > 0
    for i in range(3):
        if (src / "lpkg").exists():
            (src / "lpkg").rename(src / "lpkg.away")
            (src / "ltool.py").write_text("X = 'ltool'\n")
        else:
            (src / "lpkg.away").rename(src / "lpkg")
            (src / "ltool.py").unlink()
        same(f"after change {i + 1}")
        assert same(f"after change {i + 1}, again")["dirs_merged"] > 0


def _mount_image(image, point):
    """Mounts a squashfs image read-only at point (squashfuse, else a loop
    mount); the command that unmounts it, or None when neither can."""
    attempts = []
    if shutil.which("squashfuse") and os.path.exists("/dev/fuse"):
        attempts.append((["squashfuse", str(image), str(point)], ["fusermount3", "-u", str(point)]
                         if shutil.which("fusermount3") else ["fusermount", "-u", str(point)]))
    if os.geteuid() == 0:
        attempts.append((["mount", "-t", "squashfs", "-o", "loop,ro", str(image), str(point)],
                         ["umount", str(point)]))
    for mount, umount in attempts:
        if subprocess.run(mount, capture_output=True, timeout=60).returncode == 0:
            return umount
    return None


def _stage(reference, tree):
    """Stages releases A and B of a site directory (tool.py says its
    version, onlya.py or onlyb.py is in one of them), their bytecode
    compiled and their files' times clamped; the releases' names."""
    for rel, version, only in (("A", "1.2.3", "onlya"), ("B", "1.2.4", "onlyb")):
        sp = tree / rel / "sp"
        sp.mkdir(parents=True)
        (sp / "tool.py").write_text(f"V = '{version}'\n")
        (sp / f"{only}.py").write_text("X = 1\n")
        for p in sp.iterdir():
            os.utime(p, (1600000000, 1600000000))
        subprocess.run([reference, "-m", "compileall", "-q", str(sp)], check=True, timeout=60)
    return ("A", "B")


def _ext4_images(reference, tree):
    """Two releases as ext4 images (mkfs.ext4 -d from a staged tree, as a
    release tool makes them), their inode times clamped afterwards (debugfs):
    every directory has the same inode, mtime and ctime in both."""
    for tool in ("mkfs.ext4", "debugfs"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (e2fsprogs)")
    if os.geteuid() != 0:
        pytest.skip("a loop mount needs root")
    images = {}
    for rel in _stage(reference, tree):
        images[rel] = tree / f"{rel}.ext4"
        subprocess.run(["mkfs.ext4", "-q", "-d", str(tree / rel), str(images[rel]), "4M"],
                       check=True, capture_output=True, timeout=120)
        paths = ["/"] + ["/" + str(p.relative_to(tree / rel)) for p in (tree / rel).rglob("*")]
        cmds = "".join(f"sif {p} {field} 20200913122640\n" for p in paths for field in ("mtime", "ctime"))
        subprocess.run(["debugfs", "-w", "-f", "-", str(images[rel])], input=cmds.encode(),
                       check=True, capture_output=True, timeout=120)

    def mount(image, point):
        r = subprocess.run(["mount", "-t", "ext4", "-o", "loop,ro", str(image), str(point)],
                           capture_output=True, timeout=60)
        return ["umount", str(point)] if r.returncode == 0 else None
    return images, mount


def _squashfs_images(reference, tree):
    if not shutil.which("mksquashfs"):
        pytest.skip("mksquashfs not installed (squashfs-tools: scripts/install-deps.sh)")
    images = {}
    for rel in _stage(reference, tree):
        images[rel] = tree / f"{rel}.sqfs"
        subprocess.run(["mksquashfs", str(tree / rel), str(images[rel]), "-all-time", "1600000000",
                        "-noappend", "-quiet"], check=True, capture_output=True, timeout=120)
    return images, _mount_image


@pytest.mark.parametrize("kind", ["squashfs", "ext4"])
def test_reproducible_images_swapped_at_one_path(pyhost, reference, tree, kind):
    # Two releases of an environment built reproducibly (times clamped,
    # trees of one shape), shipped as images and mounted in turn at one
    # path, as a container image or a module's image is: every directory
    # and file has the same device, inode, mtime and ctime in both, so
    # nothing pyhost can read tells them apart. Each run must see the image
    # mounted now (its modules, its bytecode) as python3 does; the cache
    # kept image A's listing and .pyc copy for image B. An image file
    # system (squashfs) is told by its type; any other (ext4) by the loop
    # device it is mounted from.
    images, mount = (_squashfs_images if kind == "squashfs" else _ext4_images)(reference, tree)
    point = tree / "mnt"
    point.mkdir()
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import tool; print(tool.V)\n"
            "for m in ('onlya', 'onlyb'):\n"
            "    try: __import__(m); print(m, 'ok')\n"
            "    except Exception as e: print(m, type(e).__name__)\n") % str(point / "sp")
    for rel in ("A", "A", "B", "B", "A"):
        umount = mount(images[rel], point)
        if umount is None:
            pytest.skip(f"cannot mount a {kind} image here (no squashfuse with /dev/fuse, no loop mount)")
        try:
            # Bytecode is written (no -B) and read where python3 reads it:
            # the image's own __pycache__ (a PYTHONPYCACHEPREFIX would hold
            # image A's .pyc for image B's source, under python3 as well).
            host = run([pyhost, "-X", f"pyhost.cachedir={tree / 'cache'}", "-c", code],
                       env=base_env(tree / "home"), cwd=tree / "work")
            ref = run([reference, "-c", code], env=base_env(tree / "home"), cwd=tree / "work")
        finally:
            subprocess.run(umount, capture_output=True, timeout=60)
        assert host.returncode == ref.returncode == 0, host.stderr
        assert host.stdout == ref.stdout, (rel, host.stdout, ref.stdout)
        assert (b"1.2.4" if rel == "B" else b"1.2.3") in host.stdout
