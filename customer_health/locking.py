"""One writer per dataset: an exclusive lock on the home folder, held for a whole step.

DuckDB allows one writer process, and a step opens and closes the warehouse several times
(ingest, dbt, scoring). Without this lock a second process slips in between and the first one
fails half-way. With it, the second process waits its turn, or gives up with a clear message.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from customer_health.warehouse import WarehouseBusy

log = logging.getLogger(__name__)
LOCK_FILE = ".customer-health.lock"
POLL_SECONDS = 0.5
# Homes this thread holds, with the depth of nesting: a step made of other steps (retrain,
# backfill) takes the lock once; a second flock of the same file in-process would wait forever.
_local = threading.local()


@contextmanager
def dataset_lock(home: Path, wait_seconds: float) -> Iterator[None]:
    """Hold the dataset's writer lock; wait up to ``wait_seconds`` for another holder."""
    key = home.resolve()
    _held = _local.__dict__.setdefault("held", {})
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        warned = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"{home}: another customer-health run has held this dataset for over "
                        f"{wait_seconds:.0f} s; wait for it to finish and retry"
                    ) from None
                if not warned:
                    log.warning("%s: another run holds this dataset; waiting for it", home)
                    warned = True
                time.sleep(POLL_SECONDS)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def exclusive(step):
    """Run a pipeline step ``step(settings, ...)`` under its dataset's writer lock."""

    @functools.wraps(step)
    def locked(settings, *args, **kwargs):
        with dataset_lock(settings.home, settings.options.paths.lock_wait_seconds):
            return step(settings, *args, **kwargs)

    return locked
