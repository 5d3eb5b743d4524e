"""One writer per dataset: an exclusive lock on the home folder, held for a whole step.

DuckDB allows one writer process, and a step opens and closes the warehouse several times
(ingest, dbt, scoring). Without this lock a second process slips in between and the first one
fails half-way. With it, the second process waits its turn, or gives up with a clear message
naming the holder (the lock file says which process holds it, since when, running what).

A process that has run a step of a dataset also reads its warehouse under the lock from then on
(``queue_behind_runs``, used by ``warehouse.connect``): the reads a run makes between its steps
(counts, drift, the at-risk list it prints) would otherwise collide with another run's writer
(DuckDB refuses to open a file another process writes) and fail that run or the other one.
Other readers (status, at-risk, doctor, BI tools) keep failing fast with a clear message.

The lock is a flock: the kernel releases it when its holder exits, however it exits (SIGKILL
included), so a crashed run never leaves a lock behind. The holder's line in the lock file may
outlive it; it is only read while the flock is held by someone.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import shlex
import socket
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from customer_health.warehouse import WarehouseBusy

log = logging.getLogger(__name__)
LOCK_FILE = ".customer-health.lock"
POLL_SECONDS = 0.5
# Homes this thread holds, with the depth of nesting: a step made of other steps (retrain,
# backfill) takes the lock once; a second flock of the same file in-process would wait forever.
_local = threading.local()
# warehouse -> (home, wait): the datasets this process has run a step of (see the docstring)
_runs: dict[Path, tuple[Path, float]] = {}


def _holder_line(purpose: str) -> str:
    """Who holds the lock: process, host, since when, running what (paths only, no data)."""
    command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
    since = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    doing = f", {purpose}" if purpose else ""
    return f"pid {os.getpid()} on {socket.gethostname()} since {since}{doing}: {command[:300]}"


def lock_holder(home: Path) -> str:
    """The holder's line of the lock file ("" when there is none)."""
    try:
        return (home / LOCK_FILE).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


@contextmanager
def dataset_lock(home: Path, wait_seconds: float, purpose: str = "") -> Iterator[None]:
    """Hold the dataset's writer lock; wait up to ``wait_seconds`` for another holder.

    ``purpose`` (e.g. the step) goes into the lock file for whoever has to wait.
    """
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
                holder = lock_holder(home) or "a process that has not said who it is yet"
                if time.monotonic() >= deadline:
                    waited = f"waited {wait_seconds:.0f} s; " if wait_seconds else ""
                    raise WarehouseBusy(
                        f"{home}: another customer-health run holds this dataset ({holder}); "
                        f"{waited}retry when it has finished (paths.lock_wait_seconds sets how "
                        "long a run waits)"
                    ) from None
                if not warned:
                    log.warning("%s: another customer-health run holds this dataset (%s); "
                                "waiting for it", home, holder)
                    warned = True
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (_holder_line(purpose) + "\n").encode("utf-8"), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            os.ftruncate(fd, 0)  # still held: nobody reads a half-cleared line
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def exclusive(step):
    """Run a pipeline step ``step(settings, ...)`` under its dataset's writer lock."""

    @functools.wraps(step)
    def locked(settings, *args, **kwargs):
        wait = settings.options.paths.lock_wait_seconds
        with dataset_lock(settings.home, wait,
                          purpose=step.__name__.removesuffix("_step").replace("_", " ")):
            _runs[settings.warehouse.resolve()] = (settings.home, wait)
            return step(settings, *args, **kwargs)

    return locked


@contextmanager
def queue_behind_runs(warehouse: Path) -> Iterator[None]:
    """Hold the dataset lock while reading ``warehouse`` if this process runs its steps."""
    run = _runs.get(warehouse.resolve())
    if run is None:
        yield
        return
    home, wait = run
    with dataset_lock(home, wait, purpose="reading the warehouse between steps"):
        yield
