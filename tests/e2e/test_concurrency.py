"""Concurrency: runs on one dataset take turns (or refuse, naming the run that holds it), and a
reader holding the serving copy open neither blocks a run nor sees a half-published one.

The real CLI runs as subprocesses on the dataset and the clean run of test_crash_safety.py
(built once per session, whichever module comes first).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time

import duckdb
import pytest

from customer_health.config import load_settings
from customer_health.serving import open_serving_copy
from tests.e2e.test_crash_safety import (
    CleanRun, Run, assert_each_row_loaded_once_or_quarantined,
    assert_scores_complete_and_consistent, config_with, latest_run, score_tables, shared_dataset,
)

# A BI tool in another process: opens the serving copy once and reads it every 50 ms until told
# to stop, printing any change it sees (a consistent snapshot never changes).
READER = r"""
import sys, time
from pathlib import Path
from customer_health.config import load_settings
from customer_health.serving import open_serving_copy

config, home, landing, stop = sys.argv[1:]
con = open_serving_copy(load_settings(config, home=home, landing=landing))
LOOK = '''select (select count(*) from customer_health),
    (select min(run_id) || ' ' || max(run_id) from customer_health),
    (select sum(churn_risk) from customer_health),
    (select string_agg(health_band || '=' || n, ',' order by health_band)
     from (select health_band, count(*) as n from customer_health group by 1)),
    (select count(*) from customer_health_history), (select count(*) from scoring_runs)'''
first = con.execute(LOOK).fetchone()
print("ready", first, flush=True)
reads = 0
while not Path(stop).exists():
    now = con.execute(LOOK).fetchone()
    reads += 1
    if now != first:
        print("changed", now, flush=True)
    time.sleep(0.05)
print("done", reads, con.execute(LOOK).fetchone() == first, flush=True)
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return shared_dataset(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def reference(tmp_path_factory, dataset):
    clean = CleanRun(tmp_path_factory.getbasetemp(), dataset)
    try:
        return clean.wait()
    finally:
        if clean.run is not None:
            clean.run.kill()


def _waited_for(run: Run, other: Run) -> bool:
    """Did ``run`` say it waited for ``other``, naming it?"""
    said = re.findall(r"another customer-health run holds this dataset \(pid (\d+) ",
                      run.err.read_text())
    assert set(said) <= {str(other.pid)}, said
    return bool(said)


def test_two_runs_started_at_once_take_turns_while_a_reader_keeps_its_snapshot(
        tmp_path, dataset, reference):
    """Two runs of a new configuration (stricter bands: a new scoring run) start at once on a
    published dataset, a BI tool reading the serving copy all along."""
    home = tmp_path / "home"
    shutil.copytree(reference, home)
    strict = config_with(dataset, tmp_path, bands={"healthy": 90, "watch": 75, "at_risk": 55})
    settings = load_settings(strict, home=home, landing=dataset.landing)
    stop = tmp_path / "stop-reading"
    with (tmp_path / "reader.out").open("w") as out:
        reader = subprocess.Popen([sys.executable, "-c", READER, str(strict), str(home),
                                   str(dataset.landing), str(stop)],
                                  stdout=out, stderr=subprocess.STDOUT, text=True)
    runs = []
    try:
        deadline = time.monotonic() + 60
        while "ready" not in (tmp_path / "reader.out").read_text():
            assert reader.poll() is None and time.monotonic() < deadline, (
                (tmp_path / "reader.out").read_text())
            time.sleep(0.05)
        before = (tmp_path / "reader.out").read_text()

        runs = [Run.start(home, dataset, name=name, config=strict) for name in ("a", "b")]
        codes = [run.wait() for run in runs]
    finally:
        for run in runs:
            run.kill()
        stop.touch()
        reader.wait(timeout=30)
    read = (tmp_path / "reader.out").read_text()
    assert codes == [0, 0], [run.output() for run in runs]
    assert "changed" not in read and read.startswith(before), read
    reads, same = read.strip().splitlines()[-1].split()[1:]
    assert int(reads) > 20 and same == "True", read

    first, second = runs
    assert _waited_for(first, second) or _waited_for(second, first), [r.output() for r in runs]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert_each_row_loaded_once_or_quarantined(con, dataset)
        assert_scores_complete_and_consistent(con, runs=2)
        run_id = latest_run(con)
        tables = score_tables(con)
    with duckdb.connect(str(reference / "warehouse.duckdb"), read_only=True) as ref:
        old = score_tables(ref)
    # the one new run: same model and features as the clean run, so the same risks
    new = tables["scores"].query("run_id == @run_id").reset_index(drop=True)
    assert new["churn_risk"].tolist() == old["scores"]["churn_risk"].tolist()
    assert run_id not in set(old["runs"]["run_id"])
    # a new reader sees the new run, with its stricter bands
    with open_serving_copy(settings) as con:
        assert con.execute("select distinct run_id from customer_health").fetchall() == [
            (run_id,)]
        bands = dict(con.execute(
            "select health_band, count(*) from customer_health group by 1").fetchall())
    assert bands != dict(old["health"]["health_band"].value_counts())


def test_a_run_told_not_to_wait_refuses_and_names_the_run_holding_the_dataset(tmp_path, dataset):
    home = tmp_path / "home"
    impatient = config_with(dataset, tmp_path, paths={"lock_wait_seconds": 0})
    holder = Run.start(home, dataset, name="holder", pause="ingest-committed#1")
    try:
        holder.wait_for_pause()  # holds the dataset, in the middle of its ingest
        second = Run.start(home, dataset, name="second", config=impatient)
        assert second.wait(timeout=120) == 2, second.output()
    finally:
        holder.kill()
    error = second.err.read_text()
    assert re.search(rf"error: {re.escape(str(home))}: another customer-health run holds this "
                     rf"dataset \(pid {holder.pid} on \S+ since [0-9-]+ [0-9:]+ UTC, run: "
                     rf"customer-health run --config ", error), error
    assert "Ingest:" not in second.output()  # it touched nothing
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.ingest_ledger").fetchone()[0] == 1
