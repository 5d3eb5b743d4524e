"""New data is scored at once by the live model; a retrain is a decision of its own (the retrain
DAG, `customer-health train`) that the promotion guard judges; a backfill rescores past dates
point in time into the history without touching what customer_health shows or the live model."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from customer_health.config import load_settings
from customer_health.warehouse import connect
from ml.registry import list_versions, live_version, read_card
from tests.e2e.conftest import cli


def _latest_month(folder: Path) -> list[Path]:
    """The newest month's delivery of each event feed (file names end in the month)."""
    newest = []
    for entity in ("interactions", "transactions"):
        files = sorted((folder / entity).iterdir(), key=lambda p: p.name.split("_")[-1])
        newest.append(files[-1])
    return newest


@pytest.fixture(scope="module")
def dataset(demo, tmp_path_factory):
    """The demo dataset, run once without its newest month; the month waits in `held_back`."""
    root = tmp_path_factory.mktemp("retrain")
    landing = root / "landing"
    shutil.copytree(demo["landing"], landing)
    held = root / "held_back"
    held.mkdir()
    for path in _latest_month(landing):
        (held / path.parent.name).mkdir()
        shutil.move(path, held / path.parent.name / path.name)
    flags = ["--config", str(demo["config"]), "--home", str(root / "home"), "--landing", str(landing)]
    return {"root": root, "landing": landing, "held": held, "flags": flags,
            "settings": load_settings(demo["config"], home=root / "home", landing=landing)}


def _runs(settings) -> list[tuple]:
    with connect(settings.warehouse, read_only=True) as con:
        return con.execute("select run_id, cast(as_of as varchar), model_version from scoring.runs "
                           "order by scored_at").fetchall()


def _shown(settings) -> tuple[str, int]:
    with connect(settings.warehouse, read_only=True) as con:
        return con.execute("select cast(max(as_of) as varchar), count(*) "
                           "from main.customer_health").fetchone()


def _dataset_id(settings) -> str:
    with connect(settings.warehouse, read_only=True) as con:
        return con.execute("select value from raw.pipeline_meta where key = 'dataset_id'").fetchone()[0]


def test_new_data_is_scored_by_the_live_model_and_train_makes_the_next(capsys, dataset):
    settings = dataset["settings"]
    cli(capsys, "run", *dataset["flags"])
    ds = _dataset_id(settings)
    first_live, versions = live_version(settings.models_dir, ds), list_versions(settings.models_dir)
    (first_run,) = _runs(settings)

    for entity in dataset["held"].iterdir():  # the newest month arrives
        for path in entity.iterdir():
            shutil.copy(path, dataset["landing"] / entity.name / path.name)
    out = cli(capsys, "run", *dataset["flags"])
    assert f"model {first_live} reused" in out
    runs = _runs(settings)
    assert len(runs) == 2 and runs[1][1] > first_run[1]  # a later as-of date, scored at once
    assert runs[1][2] == first_live and list_versions(settings.models_dir) == versions
    assert _shown(settings)[0] == runs[1][1]

    out = cli(capsys, "train", *dataset["flags"])
    trained = [v for v in list_versions(settings.models_dir) if v not in versions]
    assert len(trained) == 1, out  # a new model, backtested and judged by the promotion guard
    live = live_version(settings.models_dir, ds)
    assert live in (first_live, trained[0])
    assert _runs(settings)[-1][2] == live  # the scores come from whichever model is live
    assert "Publish" in out


def test_a_backfill_rescores_past_dates_point_in_time_into_the_history(capsys, dataset):
    settings = dataset["settings"]
    ds = _dataset_id(settings)
    live = live_version(settings.models_dir, ds)
    shown = _shown(settings)
    latest = shown[0]
    start = (date.fromisoformat(latest) - timedelta(days=90)).isoformat()

    out = cli(capsys, "backfill", *dataset["flags"], "--from", start, "--to", latest,
              "--every-days", "45")
    assert "customer_health still shows the latest date" in out
    with connect(settings.warehouse, read_only=True) as con:
        history = dict(con.execute("select cast(as_of as varchar), count(distinct run_id) "
                                   "from main.customer_health_history group by 1").fetchall())
        mart_date = con.execute("select cast(max(as_of) as varchar) from main.fct_customer_features "
                                "where is_scoring_date").fetchone()[0]
        backfill_alerts = con.execute(
            "select count(*) from main.health_alerts where cast(as_of as varchar) < ?",
            [latest]).fetchone()[0]
    backfilled = [d for d in history if start <= d < latest]
    assert len(backfilled) >= 2, history
    assert _shown(settings) == shown  # customer_health keeps the latest date
    assert live_version(settings.models_dir, ds) == live  # a point-in-time model never goes live
    assert mart_date == latest  # the feature mart is left at the latest date
    assert backfill_alerts == 0
    # every backfilled date was scored by a model trained only on outcomes known on that date
    # (a label needs two horizons), or by the scorecard when there was too little history then
    label_delay = timedelta(days=2 * settings.options.churn.horizon_days)
    for _, as_of, version in _runs(settings):
        if as_of in backfilled and version != "scorecard":
            trained_until = read_card(settings.models_dir, version)["training"]["train_as_of_max"]
            assert date.fromisoformat(trained_until) <= date.fromisoformat(as_of) - label_delay

    # the same backfill again changes nothing
    before = _runs(settings)
    cli(capsys, "backfill", *dataset["flags"], "--from", start, "--to", latest, "--every-days", "45")
    assert sorted(_runs(settings)) == sorted(before)


def test_a_backfill_range_that_makes_no_sense_is_refused_clearly(capsys, dataset):
    out = cli(capsys, "backfill", *dataset["flags"], "--from", "2025-05-01", "--to", "2025-04-01",
              code=2)
    assert "the start is after the end" in out
