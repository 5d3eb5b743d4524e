"""The landing-folder watcher fires once per delivery, never for half-written or hidden files,
and a restarted triggerer announces only what arrived while it was away."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _airflow(airflow_home):
    """Airflow is imported only once the test AIRFLOW_HOME is set up (tests/dags/conftest.py)."""
    global LandingFilesTrigger, ready_files
    from customer_health.airflow_triggers import LandingFilesTrigger, ready_files


class MemoryStateStore:
    """Stands in for the asset state store the triggerer injects (same async get/set calls)."""

    def __init__(self):
        self.values: dict[str, object] = {}

    async def aget(self, key, default=None):
        return self.values.get(key, default)

    async def aset(self, key, value):
        self.values[key] = value


def _deliver(landing: Path, rel: str, text: str = "customer_id\nc1\n", age: float = 10) -> Path:
    path = landing / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


async def _events(trigger, act, polls: int = 4) -> list[dict]:
    """Run the trigger for a few polls, calling ``act(poll)`` before each, and collect events."""
    got: list[dict] = []

    async def consume():
        async for event in trigger.run():
            got.append(event.payload)

    task = asyncio.create_task(consume())
    for n in range(polls):
        act(n)
        await asyncio.sleep(trigger.poll_seconds * 1.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return got


def _trigger(landing: Path, store=None):
    trigger = LandingFilesTrigger(landing=str(landing), poll_seconds=0.05, settle_seconds=1)
    trigger.asset_state_store = store
    return trigger


def test_a_new_file_fires_one_event_naming_it(tmp_path):
    _deliver(tmp_path, "transactions/old.csv")
    store = MemoryStateStore()
    first = asyncio.run(_events(_trigger(tmp_path, store), lambda n: None))
    assert [e["files"] for e in first] == [["transactions/old.csv"]]  # nothing announced before

    def deliver(n):
        if n == 1:
            _deliver(tmp_path, "interactions/2026-11-27.csv")

    events = asyncio.run(_events(_trigger(tmp_path, store), deliver))
    assert events == [{"landing": str(tmp_path), "count": 1,
                       "files": ["interactions/2026-11-27.csv"]}]


def test_files_still_being_written_hidden_or_partial_fire_nothing(tmp_path):
    store = MemoryStateStore()
    asyncio.run(_events(_trigger(tmp_path, store), lambda n: None))

    def deliver(n):
        if n == 0:
            _deliver(tmp_path, "transactions/fresh.csv", age=0)  # changed just now
            _deliver(tmp_path, "transactions/big.csv.part")
            _deliver(tmp_path, "transactions/.hidden.csv")
            _deliver(tmp_path, "notes/readme.csv")  # not an entity folder

    assert asyncio.run(_events(_trigger(tmp_path, store), deliver)) == []
    assert list(ready_files(tmp_path, settle_seconds=0)) == ["transactions/fresh.csv"]


def test_a_restarted_watcher_announces_only_what_arrived_while_it_was_away(tmp_path):
    _deliver(tmp_path, "customers/c.csv")
    store = MemoryStateStore()
    asyncio.run(_events(_trigger(tmp_path, store), lambda n: None))
    # restart with nothing new: silent
    assert asyncio.run(_events(_trigger(tmp_path, store), lambda n: None)) == []
    # a file lands while no triggerer runs, and one is replaced by a corrected copy
    _deliver(tmp_path, "transactions/t.csv")
    _deliver(tmp_path, "customers/c.csv", text="customer_id\nc1\nc2\n")
    events = asyncio.run(_events(_trigger(tmp_path, store), lambda n: None))
    assert [sorted(e["files"]) for e in events] == [["customers/c.csv", "transactions/t.csv"]]


def test_deleting_files_fires_nothing(tmp_path):
    path = _deliver(tmp_path, "transactions/t.csv")
    store = MemoryStateStore()
    asyncio.run(_events(_trigger(tmp_path, store), lambda n: None))
    assert asyncio.run(_events(_trigger(tmp_path, store),
                               lambda n: path.unlink() if n == 1 else None)) == []


def test_the_trigger_round_trips_through_its_serialized_form(tmp_path):
    trigger = _trigger(tmp_path)
    classpath, kwargs = trigger.serialize()
    assert classpath == "customer_health.airflow_triggers.LandingFilesTrigger"
    again = LandingFilesTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
