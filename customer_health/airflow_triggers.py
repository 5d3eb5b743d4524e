"""Airflow event triggers that start the chain when new data arrives (used only by dags/).

``LandingFilesTrigger`` watches the landing folder from Airflow's triggerer: it fires an asset
event when delivery files appear or change, once each file has stopped growing. ``watchers``
builds the AssetWatchers of the landing asset from the configuration: the folder watcher, and
the "batch ready" queue (Airflow's MessageQueueTrigger) when ``orchestration.batch_ready_queue``
is set.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, AsyncIterator

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from customer_health.landing_files import snapshot

log = logging.getLogger(__name__)

CLASSPATH = "customer_health.airflow_triggers.LandingFilesTrigger"
# Key in the landing asset's state store: the fingerprint of the files already announced, so a
# restarted triggerer does not announce them again (and does announce what arrived meanwhile).
ANNOUNCED_KEY = "announced_landing_fingerprint"
# An event lists at most this many file names (the count says how many there were).
EVENT_FILES = 20


def ready_files(landing: Path, settle_seconds: float, now: float | None = None) -> dict[str, tuple[int, int]]:
    """The delivery files whose last change is at least ``settle_seconds`` old."""
    now = time.time() if now is None else now
    limit = (now - settle_seconds) * 1e9
    return {rel: st for rel, st in snapshot(landing).items() if st[1] <= limit}


def fingerprint(files: dict[str, tuple[int, int]]) -> str:
    return hashlib.sha256(json.dumps(sorted(files.items())).encode()).hexdigest()


def changed(files: dict[str, tuple[int, int]], baseline: dict[str, tuple[int, int]]) -> list[str]:
    """Files new since ``baseline`` or changed in size or time."""
    return sorted(rel for rel, st in files.items() if baseline.get(rel) != st)


class LandingFilesTrigger(BaseEventTrigger):
    """Fire when delivery files land in (or change under) the landing folder.

    Polls every ``poll_seconds``; a file counts once it has not changed for ``settle_seconds``
    (copy with a ``.part`` suffix and rename for large files). Each event carries the number and
    the first names of the new files. Deleting files fires nothing.
    """

    def __init__(self, landing: str, poll_seconds: float = 5.0, settle_seconds: float = 2.0):
        super().__init__()
        self.landing = landing
        self.poll_seconds = float(poll_seconds)
        self.settle_seconds = float(settle_seconds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {"landing": self.landing, "poll_seconds": self.poll_seconds,
                           "settle_seconds": self.settle_seconds}

    async def _announced(self) -> str | None:
        if self.asset_state_store is None:
            return None
        try:
            value = await self.asset_state_store.aget(ANNOUNCED_KEY)
        except Exception:  # the state store is a convenience; without it files are re-announced
            log.warning("cannot read the landing watcher's state; announcing what is there")
            return None
        return value if isinstance(value, str) else None

    async def _remember(self, files: dict[str, tuple[int, int]]) -> None:
        if self.asset_state_store is None:
            return
        try:
            await self.asset_state_store.aset(ANNOUNCED_KEY, fingerprint(files))
        except Exception:
            log.warning("cannot save the landing watcher's state")

    async def run(self) -> AsyncIterator[TriggerEvent]:
        landing = Path(self.landing)
        announced = await self._announced()
        baseline: dict[str, tuple[int, int]] | None = None
        while True:
            files = await asyncio.to_thread(ready_files, landing, self.settle_seconds)
            if baseline is None and (not files or fingerprint(files) == announced):
                baseline = files  # nothing new since the last announcement
            new = changed(files, baseline or {})
            if new:
                yield TriggerEvent({"landing": self.landing, "count": len(new),
                                    "files": new[:EVENT_FILES]})
            if new or files != baseline:
                baseline = files
                await self._remember(files)
            await asyncio.sleep(self.poll_seconds)


def watchers(settings) -> list:
    """The AssetWatchers that start ingest: the landing folder, and the batch-ready queue if set."""
    from airflow.sdk import AssetWatcher

    orchestration = settings.options.orchestration
    found = [AssetWatcher(name="customer_health_landing_folder", trigger=LandingFilesTrigger(
        landing=str(settings.landing), poll_seconds=orchestration.landing_poll_seconds,
        settle_seconds=orchestration.settle_seconds))]
    queue = orchestration.batch_ready_queue
    if queue is not None:
        from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

        found.append(AssetWatcher(name="customer_health_batch_ready", trigger=MessageQueueTrigger(
            scheme=queue.scheme, channels=list(queue.channels), redis_conn_id=queue.conn_id,
            poll_interval=queue.poll_seconds)))
    return found


def asset_or_cron(asset, cron: str):
    """A DAG schedule: each event of ``asset``, and also every ``cron`` (UTC)."""
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(cron, timezone="UTC"), assets=asset)
