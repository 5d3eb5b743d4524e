"""How fast the machine is today: a fixed piece of work, timed before the measured runs.

The benchmark's targets are wall times on a shared 2-core machine whose speed drifts from one
day to the next (the same code's W10 full run took 58.8 s one evening and 93.4 s the next
night). A report that says how long this fixed work took on the day puts its figures in
proportion: two reports compare when their probes agree. The work is the kind the pipeline
does: a DuckDB aggregation over generated rows on two threads, then a numpy sort.
"""

from __future__ import annotations

import time
from statistics import median

PROBE_ROWS = 20_000_000
PROBE_GROUPS = 100_003
SORT_VALUES = 5_000_000


def probe_once() -> float:
    """Seconds for one pass of the fixed work."""
    import duckdb
    import numpy as np

    started = time.perf_counter()
    con = duckdb.connect()
    try:
        con.execute("set threads = 2")
        con.execute(f"select k % {PROBE_GROUPS} as g, count(*), sum(k * 1.5) "
                    f"from range({PROBE_ROWS}) as t(k) group by g").fetchall()
    finally:
        con.close()
    np.sort(np.random.default_rng(0).random(SORT_VALUES))
    return time.perf_counter() - started


def speed_probe(repeat: int = 3) -> float:
    """Median seconds of ``repeat`` passes (lower: a faster machine)."""
    return median(probe_once() for _ in range(repeat))
