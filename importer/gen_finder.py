"""Writes finder.code: finder.py compiled once, at build time, so that no
run of pyhost parses and compiles it at start-up (python3 compiles
nothing of its own import machinery either: it is frozen).

    header   4 bytes: the bytecode magic number of the Python that compiled it
             8 bytes: FNV-1a 64 of finder.py's bytes, little endian
    body     marshal.dumps of the code object, compiled with optimize=0

Install uses it only when the running interpreter has the same magic
number, finder.py has the same hash (an edited finder.py is compiled from
source until this is run again) and no -O/-OO is in effect; otherwise it
compiles finder.py as before. Run by `go generate ./importer` with Debian's
python3.11; TestFinderCodeFresh fails when it is stale. With an argument,
writes there instead (the test compares).
"""

import importlib.util
import marshal
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FILENAME = "<frozen importlib._bootstrap_external>"  # findspec.go's machineryFile


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    with open(os.path.join(HERE, "finder.py"), "rb") as f:
        src = f.read()
    code = compile(src, FILENAME, "exec", dont_inherit=True, optimize=0)
    out = importlib.util.MAGIC_NUMBER + struct.pack("<Q", fnv1a64(src)) + marshal.dumps(code)
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "finder.code")
    with open(path + ".tmp", "wb") as f:
        f.write(out)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    sys.exit(main())
