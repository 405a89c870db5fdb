# Run by TestExecFile through (*Py).ExecFile.
import os

SCRIPT_NAME = os.path.basename(__file__)
RESULT = sum(range(10))


def fail():
    raise LookupError("from script")
