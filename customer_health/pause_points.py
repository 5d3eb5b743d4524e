"""Test hook of the crash tests (tests/e2e/test_crash_safety.py), inert unless the variable is set.

CUSTOMER_HEALTH_TEST_PAUSE_AT=<point>[#n] makes the n-th pass through <point> print
"customer-health paused at <point>" on stderr and sleep for ever, so that a test can SIGKILL the
process at exactly that moment. Points: ingest-committed (a landing file's transaction has
committed, the next one has not begun), ingest-validated (inside a file's transaction, its
batch validated: its quarantined rows written, its loaded rows written or being written, none
committed), score-written (inside the scoring transaction: the run's rows written, not
committed).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

PAUSE_VARIABLE = "CUSTOMER_HEALTH_TEST_PAUSE_AT"
_passes: Counter = Counter()


def pause_point(point: str) -> None:
    wanted = os.environ.get(PAUSE_VARIABLE)
    if not wanted:
        return
    _passes[point] += 1
    name, _, nth = wanted.partition("#")
    if name == point and _passes[point] == int(nth or 1):
        print(f"customer-health paused at {wanted} (pid {os.getpid()})", file=sys.stderr,
              flush=True)
        while True:
            time.sleep(60)
