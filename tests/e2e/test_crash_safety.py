"""Crash safety: a `customer-health run` killed with SIGKILL at any moment loses nothing and
leaves nothing half-written; the next run completes and ends where a clean run ends.

One home is killed four times in turn, each run getting further than the one before: between two
landing files, inside one file's transaction, during the dbt build, and inside the scoring
transaction. After each kill a copy of the warehouse is checked (the original is left for the next
run to recover by itself); the run after the last kill completes and is compared with a clean run
of the same data. The real CLI runs as a subprocess in its own process group. Moments are exact:
the pipeline's test hook (CUSTOMER_HEALTH_TEST_PAUSE_AT, see customer_health.pipeline) pauses the
run at a named point, and the dbt kill waits for dbt to write a model's run file.

The dataset and the clean run are built once per session and shared with test_concurrency.py.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from customer_health.landing_files import ENTITIES, entity_files
from customer_health.locking import LOCK_FILE
from customer_health.pause_points import PAUSE_VARIABLE
from tests.conftest import small_config

CLI = Path(sys.executable).with_name("customer-health")
EVENT_KEYS = {"transactions": "transaction_id", "interactions": "interaction_id"}
# A file delivered again with changes: 3 rows already loaded, 3 new, 1 unreadable timestamp,
# 1 id repeated inside the file. Sorted after interactions_2025-08.csv, whose rows it repeats.
RESENT = "interactions/interactions_2025-08b_resent.csv"
RUN_TIMEOUT = 240
KILLED_BETWEEN_FILES_AFTER = 6  # files committed before the first kill


# ------------------------------------------------------------------ the dataset and a clean run

@dataclass(frozen=True)
class Dataset:
    root: Path
    landing: Path
    config: Path

    def files(self) -> list[str]:
        """The landing files in the order ingest reads them."""
        return [p.relative_to(self.landing).as_posix()
                for entity in ENTITIES for p in entity_files(self.landing / entity)]


def _write_resent_file(landing: Path) -> None:
    source = pd.read_csv(landing / "interactions/interactions_2025-08.csv", dtype=str)
    rows = source.iloc[:8].copy()
    rows.iloc[3:7, 0] = ["I900000001", "I900000002", "I900000003", "I900000004"]
    rows.iloc[6, rows.columns.get_loc("occurred_at")] = "not a date"
    rows.iloc[7] = rows.iloc[3]
    rows.iloc[7, rows.columns.get_loc("channel")] = "phone"
    rows.to_csv(landing / RESENT, index=False)


def shared_dataset(base: Path) -> Dataset:
    """300 customers over 9 months and one resent file with bad rows (built once per session)."""
    root = base / "crash-dataset"
    if not (root / "ready").exists():
        from customer_health.demo import generate_demo_data

        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        generate_demo_data(root / "landing", root / "truth", customers=300, months=9, seed=5)
        _write_resent_file(root / "landing")
        small_config(root)
        (root / "ready").touch()
    return Dataset(root, root / "landing", root / "customer_health.yml")


class CleanRun:
    """One uninterrupted run on the dataset, in its own home, built once per session. It is
    started early and runs beside the crash scenarios (the machine has two cores)."""

    def __init__(self, base: Path, dataset: Dataset):
        self.home = base / "crash-clean-run" / "home"
        self.ready = self.home.parent / "ready"
        self.run = None
        if not self.ready.exists() and not self.home.exists():
            self.home.mkdir(parents=True)
            self.run = Run.start(self.home, dataset, name="clean")

    def wait(self) -> Path:
        """The home of the finished run."""
        if self.run is not None:
            assert self.run.wait() == 0, self.run.output()
            self.ready.touch()
        assert self.ready.exists(), f"{self.home}: the clean run did not finish"
        return self.home


def config_with(dataset: Dataset, folder: Path, **changes) -> Path:
    """A copy of the dataset's config with top-level sections updated (``bands={...}``)."""
    config = yaml.safe_load(dataset.config.read_text())
    for section, values in changes.items():
        config[section].update(values)
    path = folder / "customer_health.yml"
    path.write_text(yaml.safe_dump(config))
    return path


# ------------------------------------------------------------------ a run as a subprocess

class Run:
    """`customer-health run` in its own process group, its output in two files."""

    def __init__(self, proc: subprocess.Popen, out: Path, err: Path):
        self.proc, self.out, self.err = proc, out, err

    @classmethod
    def start(cls, home: Path, dataset: Dataset, *, name: str, pause: str | None = None,
              config: Path | None = None) -> "Run":
        out, err = home.parent / f"{name}.out", home.parent / f"{name}.err"
        env = {k: v for k, v in os.environ.items() if k != PAUSE_VARIABLE}
        env["GX_ANALYTICS_ENABLED"] = "false"
        if pause:
            env[PAUSE_VARIABLE] = pause
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen(
                [str(CLI), "run", "--config", str(config or dataset.config), "--home", str(home),
                 "--landing", str(dataset.landing), "-v"],
                stdout=stdout, stderr=stderr, env=env, start_new_session=True)
        return cls(proc, out, err)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"run still going after {timeout} s:\n{self.output()}") from None

    def wait_until(self, sign, what: str, timeout: float = RUN_TIMEOUT) -> None:
        """Poll (every 20 ms) until ``sign()`` is true; fail if the run ends first."""
        deadline = time.monotonic() + timeout
        while not sign():
            if self.proc.poll() is not None:
                raise AssertionError(f"the run ended (exit {self.proc.returncode}) before "
                                     f"{what}:\n{self.output()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"no sign of {what} after {timeout} s:\n{self.output()}")
            time.sleep(0.02)

    def wait_for_pause(self) -> None:
        self.wait_until(lambda: "customer-health paused at" in self.err.read_text(),
                        "the pause marker")

    def kill(self) -> None:
        """SIGKILL the whole process group and reap the run."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


# ------------------------------------------------------------------ reading a warehouse

def snapshot(home: Path, folder: Path) -> Path:
    """Copy the warehouse (and its WAL) as a killed run left it; the copy recovers when opened."""
    folder.mkdir(parents=True)
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        if (home / name).exists():
            shutil.copy2(home / name, folder / name)
    return folder / "warehouse.duckdb"


def lock_is_free(home: Path) -> bool:
    fd = os.open(home / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases it again


def ledger_files(con) -> list[str]:
    return [p for (p,) in con.execute(
        "select path from raw.ingest_ledger order by ingested_at, path").fetchall()]


def half_written_files(con) -> list[str]:
    """Ledger files whose loaded or quarantined rows do not match the ledger, and rows of files
    the ledger does not hold: what a transaction cut in the middle would leave."""
    problems = [
        f"{path}: ledger says {rows_in} in, {loaded} loaded, {quarantined} quarantined; the "
        f"warehouse holds {got_loaded} loaded, {got_quarantined} quarantined"
        for path, rows_in, loaded, quarantined, got_loaded, got_quarantined in con.execute("""
            with raw_rows as (
                select _file_id as file_id from raw.customers
                union all select _file_id from raw.transactions
                union all select _file_id from raw.interactions),
            loaded as (select file_id, count(*) as n from raw_rows group by 1),
            quarantined as (select file_id, count(*) as n from raw.quarantine group by 1)
            select l.path, l.rows_in, l.rows_loaded, l.rows_quarantined,
                   coalesce(ld.n, 0), coalesce(q.n, 0)
            from raw.ingest_ledger l left join loaded ld using (file_id)
                 left join quarantined q using (file_id)""").fetchall()
        if (loaded, quarantined) != (got_loaded, got_quarantined)
        or rows_in != loaded + quarantined
    ]
    orphans = con.execute("""
        select count(*) from (
            select _file_id as file_id from raw.customers
            union all select _file_id from raw.transactions
            union all select _file_id from raw.interactions
            union all select file_id from raw.quarantine
            union all select file_id from raw.validation_results)
        where file_id not in (select file_id from raw.ingest_ledger)""").fetchone()[0]
    if orphans:
        problems.append(f"{orphans} row(s) of files the ledger does not hold")
    return problems


def _read_landing(path: Path) -> pd.DataFrame:
    name = path.name
    if name.endswith(".parquet"):
        return pd.read_parquet(path).astype(str)
    if name.endswith(".jsonl"):
        return pd.read_json(path, lines=True, dtype=False).astype(str)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def assert_each_row_loaded_once_or_quarantined(con, dataset: Dataset) -> None:
    """Every landing file is in the ledger once, its rows reconcile, and every event id is in
    the warehouse exactly once or quarantined with a reason."""
    files = dataset.files()
    assert sorted(ledger_files(con)) == sorted(files)
    assert half_written_files(con) == []
    rows_in = dict(con.execute("select path, rows_in from raw.ingest_ledger").fetchall())
    frames = {rel: _read_landing(dataset.landing / rel) for rel in files}
    assert {rel: len(f) for rel, f in frames.items()} == rows_in
    unexplained = con.execute(
        "select count(*) from raw.quarantine where coalesce(reason, '') = '' or rule is null"
    ).fetchone()[0]
    assert unexplained == 0
    for entity, key in EVENT_KEYS.items():
        landed = set().union(*(set(f[key]) for rel, f in frames.items()
                               if rel.startswith(entity + "/")))
        loaded = con.execute(f"select {key}, count(*) from raw.{entity} group by 1").fetchall()
        assert [i for i, n in loaded if n > 1] == [], f"{entity} loaded more than once"
        quarantined = {i for (i,) in con.execute(
            f"select json_extract_string(record, '$.{key}') from raw.quarantine "
            "where entity = ?", [entity]).fetchall()}
        assert {i for i, _ in loaded} <= landed
        assert landed - {i for i, _ in loaded} <= quarantined, f"{entity} ids lost"


def score_tables(con) -> dict[str, pd.DataFrame]:
    """The scoring run, its scores and the published marts, without wall-clock columns."""
    return {
        "runs": con.execute("select * exclude (scored_at) from scoring.runs order by run_id").df(),
        "scores": con.execute("select * exclude (scored_at) from scoring.churn_scores "
                              "order by run_id, customer_id").df(),
        "health": con.execute("select * exclude (scored_at) from main.customer_health "
                              "order by customer_id").df(),
        "history": con.execute("select * exclude (scored_at) from main.customer_health_history "
                               "order by run_id, customer_id").df(),
        "alerts": con.execute("select * exclude (created_at) from main.health_alerts "
                              "order by alert_id").df(),
    }


def latest_run(con) -> str:
    return con.execute("select run_id from scoring.runs order by scored_at desc limit 1"
                       ).fetchone()[0]


def assert_scores_complete_and_consistent(con, runs: int = 1) -> None:
    """``runs`` scoring runs, none duplicated in the history; the latest holds one score per
    eligible customer of the scoring date, and the features and the published mart agree."""
    tables = score_tables(con)
    assert len(tables["runs"]) == runs
    latest = latest_run(con)
    scores = tables["scores"].query("run_id == @latest").reset_index(drop=True)
    health = tables["health"]
    eligible = con.execute(
        "select customer_id, revenue_12m from main.fct_customer_features "
        "where is_scoring_date and is_eligible order by customer_id").df()
    assert len(eligible) > 100
    assert scores["customer_id"].tolist() == eligible["customer_id"].tolist()
    assert tables["runs"].set_index("run_id")["customers_scored"].to_dict() == (
        tables["scores"].groupby("run_id").size().to_dict())
    assert scores["revenue_12m"].tolist() == pytest.approx(eligible["revenue_12m"].tolist())
    assert scores["churn_risk"].between(0, 1).all()
    assert health["customer_id"].tolist() == scores["customer_id"].tolist()
    assert set(health["run_id"]) == {latest}
    assert health["churn_risk"].tolist() == pytest.approx(scores["churn_risk"].tolist())
    history, all_scores = tables["history"], tables["scores"]
    assert history[["run_id", "customer_id"]].equals(all_scores[["run_id", "customer_id"]])
    assert not tables["alerts"].duplicated(["customer_id", "rule", "detected_in_run_id"]).any()


def assert_same_scores(con, reference: Path) -> None:
    """The same data and the same model give the same run, scores and published tables."""
    with duckdb.connect(str(reference), read_only=True) as ref:
        expected = score_tables(ref)
    got = score_tables(con)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=False, rtol=1e-9,
                                      obj=name)


# ------------------------------------------------------------------ four kills, then a clean end

@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Dataset:
    return shared_dataset(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def clean(tmp_path_factory, dataset) -> CleanRun:
    clean = CleanRun(tmp_path_factory.getbasetemp(), dataset)
    yield clean
    if clean.run is not None:
        clean.run.kill()  # only still running when a test failed early


@pytest.fixture(scope="module")
def reference(clean) -> Path:
    return clean.wait() / "warehouse.duckdb"


@dataclass
class Kill:
    warehouse: Path      # a copy of the warehouse as the kill left it
    output: str          # what the killed run printed
    lock_free: bool      # could the lock be taken right after the kill


@pytest.fixture(scope="module")
def crashes(tmp_path_factory, dataset, clean) -> dict:
    """One home, killed at four moments in turn, then run to the end (the clean run of the
    same data goes on beside it)."""
    root = tmp_path_factory.mktemp("crashes")
    home = root / "home"
    files = dataset.files()
    resent_at = files.index(RESENT)
    # the run after the first kill validates files from KILLED_BETWEEN_FILES_AFTER on
    in_resent = resent_at - KILLED_BETWEEN_FILES_AFTER + 1
    kills, runs = {}, []

    def kill(name: str, run: Run) -> None:
        run.kill()
        kills[name] = Kill(snapshot(home, root / f"after-{name}"), run.output(),
                           lock_is_free(home))

    try:
        run = Run.start(home, dataset, name="between-files",
                        pause=f"ingest-committed#{KILLED_BETWEEN_FILES_AFTER}")
        runs.append(run)
        run.wait_for_pause()
        kill("between-files", run)

        run = Run.start(home, dataset, name="in-file", pause=f"ingest-validated#{in_resent}")
        runs.append(run)
        run.wait_for_pause()
        kill("in-file", run)

        run = Run.start(home, dataset, name="dbt")
        runs.append(run)
        run_files = home / "dbt" / "target" / "run"
        # an incremental event model, mid-way through the build
        run.wait_until(lambda: any(run_files.rglob("int_interactions_enriched.sql")),
                       "dbt building int_interactions_enriched")
        kill("dbt", run)

        run = Run.start(home, dataset, name="score", pause="score-written")
        runs.append(run)
        run.wait_for_pause()
        kill("score", run)

        final = Run.start(home, dataset, name="final")
        runs.append(final)
        code = final.wait()
    finally:
        for run in runs:
            run.kill()
    return {"home": home, "kills": kills, "final": final, "code": code, "files": files,
            "resent_at": resent_at, "runs": runs}


def _open(path: Path):
    return duckdb.connect(str(path))


def test_a_kill_between_two_files_keeps_the_committed_files_whole(crashes):
    kill = crashes["kills"]["between-files"]
    with _open(kill.warehouse) as con:
        assert ledger_files(con) == crashes["files"][:KILLED_BETWEEN_FILES_AFTER]
        assert half_written_files(con) == []


def test_a_kill_inside_a_files_transaction_leaves_no_trace_of_that_file(crashes):
    kill = crashes["kills"]["in-file"]
    with _open(kill.warehouse) as con:
        # every file before the resent one committed; of the resent one, nothing: not its
        # quarantined rows (written before the kill), not its ledger row
        assert ledger_files(con) == crashes["files"][:crashes["resent_at"]]
        assert half_written_files(con) == []
        assert con.execute("select count(*) from raw.quarantine where path = ?",
                           [RESENT]).fetchone()[0] == 0
        assert con.execute("select count(*) from raw.interactions "
                           "where interaction_id like 'I9000000%'").fetchone()[0] == 0


def test_a_kill_during_the_dbt_build_keeps_every_loaded_row(crashes, dataset):
    kill = crashes["kills"]["dbt"]
    assert "Ingest:" in kill.output and "Features:" not in kill.output
    with _open(kill.warehouse) as con:
        assert_each_row_loaded_once_or_quarantined(con, dataset)
        assert con.execute("select count(*) from scoring.runs").fetchone()[0] == 0


def test_a_kill_inside_the_scoring_transaction_leaves_no_half_run(crashes):
    kill = crashes["kills"]["score"]
    assert "Features:" in kill.output and "Score:" not in kill.output
    with _open(kill.warehouse) as con:
        assert con.execute("select count(*) from scoring.runs").fetchone()[0] == 0
        assert con.execute("select count(*) from scoring.churn_scores").fetchone()[0] == 0


def test_no_killed_run_leaves_a_lock_behind(crashes):
    assert {name: k.lock_free for name, k in crashes["kills"].items()} == {
        name: True for name in crashes["kills"]}
    # and no run after a kill had to wait for one
    for run in crashes["runs"][1:]:
        assert "holds this dataset" not in run.output()


def test_the_run_after_the_crashes_completes_with_each_event_once(crashes, dataset):
    assert crashes["code"] == 0, crashes["final"].output()
    with duckdb.connect(str(crashes["home"] / "warehouse.duckdb"), read_only=True) as con:
        assert_each_row_loaded_once_or_quarantined(con, dataset)
        resent = con.execute("select status, rows_in, rows_loaded, rows_quarantined "
                             "from raw.ingest_ledger where path = ?", [RESENT]).fetchall()
        assert resent == [("partial", 8, 3, 5)]


def test_the_scores_after_the_crashes_equal_a_clean_runs(crashes, reference):
    with duckdb.connect(str(crashes["home"] / "warehouse.duckdb"), read_only=True) as con:
        assert_scores_complete_and_consistent(con)
        assert_same_scores(con, reference)
