# site's scan of the site directories, answered from what the root rank
# found (launch/sitescan.go): run on the other ranks before the main phase
# of start-up, undone after it.
#
# site asks the file system whether pyvenv.cfg and each site directory
# exist (os.path.isfile, os.path.isdir, os.path.exists of every sys.path
# entry), lists each site directory (os.listdir) and reads its .pth files
# (io.open_code). While site runs, those calls made from site's own frames
# (its functions and the import lines of .pth files, which run in site's
# namespace) are answered from the root's answers when the root asked the
# same path; everything else, and every call from any other code, goes to
# the file system as it would without pyhost.

import io
import os
import posixpath
import sys


def install(modes, listings, contents):
    """modes: path -> st_mode, or -1 where stat failed; listings: directory
    -> names in the order os.listdir gave them; contents: .pth file ->
    bytes. Returns the function that undoes it."""
    real = {
        (posixpath, "exists"): posixpath.exists,
        (posixpath, "isdir"): posixpath.isdir,
        (posixpath, "isfile"): posixpath.isfile,
        (os, "listdir"): os.listdir,
        (io, "open_code"): io.open_code,
    }
    getframe = sys._getframe
    active = [True]

    def from_site():
        # The caller of the wrapper that calls this.
        return getframe(2).f_globals.get("__name__") == "site"

    def mode(path):
        # From the wrapper, for its caller: -2 when not answered here.
        if active[0] and type(path) is str and getframe(2).f_globals.get("__name__") == "site":
            return modes.get(path, -2)
        return -2

    def exists(path):
        m = mode(path)
        return real[posixpath, "exists"](path) if m == -2 else m >= 0

    def isdir(s):
        m = mode(s)
        return real[posixpath, "isdir"](s) if m == -2 else m >= 0 and m & 0o170000 == 0o040000

    def isfile(path):
        m = mode(path)
        return real[posixpath, "isfile"](path) if m == -2 else m >= 0 and m & 0o170000 == 0o100000

    def listdir(path=None):
        if active[0] and type(path) is str and from_site():
            names = listings.get(path)
            if names is not None:
                return list(names)
        return real[os, "listdir"]() if path is None else real[os, "listdir"](path)

    def open_code(path):
        if active[0] and type(path) is str and from_site():
            b = contents.get(path)
            if b is not None:
                return io.BytesIO(b)
        return real[io, "open_code"](path)

    mine = {(posixpath, "exists"): exists, (posixpath, "isdir"): isdir, (posixpath, "isfile"): isfile,
            (os, "listdir"): listdir, (io, "open_code"): open_code}
    for (mod, name), f in mine.items():
        f.__name__, f.__qualname__, f.__doc__ = name, name, real[mod, name].__doc__
        setattr(mod, name, f)

    def undo():
        # A wrapper kept by someone (from os import listdir) answers from
        # the file system from now on.
        active[0] = False
        for (mod, name), f in real.items():
            # What site's code (or a .pth line) put there since is kept.
            if getattr(mod, name, None) is mine[mod, name]:
                setattr(mod, name, f)
    return undo
