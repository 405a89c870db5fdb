"""pyhost's demo job: every rank imports the scientific stack, then the ranks
compute something together with mpi4py. Run it as `mpirun pyhost demo/demo.py`
(or with python3.11 in place of pyhost, to compare)."""

import sys
import time

t0 = time.perf_counter()
import numpy
import scipy.stats
import pandas
import sympy
from mpi4py import MPI

elapsed = time.perf_counter() - t0
comm = MPI.COMM_WORLD

# A small computation that needs every rank: each draws samples, the job
# agrees on the mean.
rng = numpy.random.default_rng(comm.rank)
local = rng.normal(size=100_000)
total = comm.allreduce(local.sum())
mean = total / (100_000 * comm.size)
slowest = comm.reduce(elapsed, op=MPI.MAX)
modules = comm.reduce(len(sys.modules), op=MPI.MAX)

try:
    import pyhost
    listed = comm.gather(pyhost.stats().get("dirs_listed", 0))
    interpreter = "pyhost " + pyhost.version()
except ImportError:
    listed = None
    interpreter = "python " + sys.version.split()[0]

if comm.rank == 0:
    print(f"{interpreter}: {comm.size} ranks imported numpy, scipy.stats, pandas, sympy"
          f" ({modules} modules) in {slowest:.3f} s (slowest rank)")
    print(f"mean of {100_000 * comm.size} normal samples across ranks: {mean:+.4f}")
    if listed is not None:
        print("directories listed per rank:", listed)
