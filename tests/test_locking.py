"""One writer per dataset: a second run waits for the first, or gives up with a clear message
naming the first; a process running steps reads its warehouse behind another run's writer."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from customer_health.locking import dataset_lock, exclusive, lock_holder
from customer_health.warehouse import WarehouseBusy, connect


def test_a_second_writer_gives_up_with_a_clear_message(tmp_path):
    errors = []

    def second():
        try:
            with dataset_lock(tmp_path, wait_seconds=0.3):
                pass
        except WarehouseBusy as exc:
            errors.append(str(exc))

    with dataset_lock(tmp_path, wait_seconds=0):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert len(errors) == 1 and "another customer-health run" in errors[0]


def test_a_step_made_of_steps_takes_the_lock_once_and_still_excludes_others(tmp_path):
    inside = []

    def other():
        with pytest.raises(WarehouseBusy):
            with dataset_lock(tmp_path, wait_seconds=0.2):
                pass
        inside.append("refused")

    with dataset_lock(tmp_path, wait_seconds=0):
        with dataset_lock(tmp_path, wait_seconds=0):  # retrain = features + score, one lock
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
        thread = threading.Thread(target=other)  # the outer step still holds it
        thread.start()
        thread.join()
    assert inside == ["refused", "refused"]
    with dataset_lock(tmp_path, wait_seconds=0):  # released at the end
        pass


def test_a_second_writer_waits_for_its_turn(tmp_path):
    held = threading.Event()
    order = []

    def first():
        with dataset_lock(tmp_path, wait_seconds=0):
            held.set()
            time.sleep(0.6)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(5)
    with dataset_lock(tmp_path, wait_seconds=10):
        order.append("second ran")
    thread.join()
    assert order == ["first done", "second ran"]


def test_a_refusal_names_the_holder_and_a_released_lock_names_nobody(tmp_path):
    errors = []

    def second():
        try:
            with dataset_lock(tmp_path, wait_seconds=0):
                pass
        except WarehouseBusy as exc:
            errors.append(str(exc))

    with dataset_lock(tmp_path, wait_seconds=0, purpose="score"):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert len(errors) == 1
    assert f"another customer-health run holds this dataset (pid {os.getpid()} on " in errors[0]
    assert ", score: " in errors[0] and "UTC" in errors[0]
    assert lock_holder(tmp_path) == ""


# Another run in the middle of a step: holds the dataset lock of each home and writes its
# warehouse, for a second and a half.
OTHER_RUN = """
import sys, time
from pathlib import Path
import duckdb
from customer_health.locking import dataset_lock
from contextlib import ExitStack
with ExitStack() as stack:
    for home in sys.argv[1:]:
        stack.enter_context(dataset_lock(Path(home), wait_seconds=0))
        stack.callback(duckdb.connect(str(Path(home) / "warehouse.duckdb")).close)
    print("writing", flush=True)
    time.sleep(1.5)
"""


def _settings(home):
    return SimpleNamespace(home=home, warehouse=home / "warehouse.duckdb",
                           options=SimpleNamespace(paths=SimpleNamespace(lock_wait_seconds=30)))


def test_a_process_running_steps_reads_behind_another_runs_writer_others_fail_fast(tmp_path):
    ran, other = _settings(tmp_path / "ran"), _settings(tmp_path / "other")
    for settings in (ran, other):
        with connect(settings.warehouse):
            pass
    exclusive(lambda settings: None)(ran)  # this process has run a step of `ran`
    writer = subprocess.Popen([sys.executable, "-c", OTHER_RUN, str(ran.home), str(other.home)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        with pytest.raises(WarehouseBusy, match="in use by another process .*PID"):
            with connect(other.warehouse, read_only=True):  # status, doctor: fail fast
                pass
        started = time.monotonic()
        with connect(ran.warehouse, read_only=True) as con:  # a run's own read: waits its turn
            assert con.execute("select count(*) from raw.ingest_ledger").fetchone() == (0,)
        assert time.monotonic() - started > 0.3
    finally:
        writer.wait(timeout=30)
    assert writer.returncode == 0


@pytest.mark.parametrize("step", ["ingest_step", "features_step", "score_step", "retrain_step",
                                  "rescore_step", "docs_step", "publish_step"])
def test_every_pipeline_step_refuses_while_another_run_holds_the_dataset(tmp_path, step):
    """Each step an Airflow task or the CLI calls takes the lock before it touches anything."""
    from customer_health import pipeline

    settings = SimpleNamespace(home=tmp_path, warehouse=tmp_path / "warehouse.duckdb",
                               options=SimpleNamespace(paths=SimpleNamespace(lock_wait_seconds=0)))
    held, release, refused = threading.Event(), threading.Event(), []

    def holder():
        with dataset_lock(tmp_path, wait_seconds=0):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    try:
        args = ("2025-01-31",) if step == "rescore_step" else ()
        with pytest.raises(WarehouseBusy):
            getattr(pipeline, step)(settings, *args)
        refused.append(step)
    finally:
        release.set()
        thread.join()
    assert refused == [step]
    assert not (tmp_path / "warehouse.duckdb").exists()
