"""Cold start: a dataset with too little history for a model is scored with the rule-based scorecard."""

from __future__ import annotations

import json

import duckdb
import pytest

from customer_health.cli import main
from customer_health.demo import generate_demo_data
from tests.e2e.conftest import cli


@pytest.fixture(scope="module")
def young(tmp_path_factory):
    """Five months of history: no as-of date has an observed outcome yet (that takes two horizons)."""
    root = tmp_path_factory.mktemp("young")
    generate_demo_data(root / "landing", root / "truth", customers=400, months=5, seed=3)
    flags = ["--home", str(root / "home"), "--landing", str(root / "landing")]
    assert main(["run", *flags]) == 0
    return {"flags": flags, "warehouse": root / "home" / "warehouse.duckdb", "home": root / "home"}


def query(warehouse, sql):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def test_every_score_comes_from_the_scorecard_with_reasons(young):
    scores = query(young["warehouse"], "select * from scoring.churn_scores")
    assert len(scores) > 100
    assert set(scores["score_source"]) == {"scorecard"} and set(scores["model_version"]) == {"scorecard"}
    assert scores["reasons"].str.len().gt(0).all()
    assert scores["churn_risk"].between(0, 1).all()
    drivers = [json.loads(d) for d in scores["top_drivers"]]
    assert sum(bool(d) for d in drivers) > len(drivers) / 2
    assert all({"feature", "sentence", "dimension"} <= set(d[0]) for d in drivers if d)
    for col in ("engagement_score", "experience_score", "voice_score", "value_score"):
        assert scores[col].between(0, 100).all()
    health = query(young["warehouse"], "select * from main.customer_health")
    assert len(health) == len(scores) and set(health["score_source"]) == {"scorecard"}
    assert not list((young["home"] / "models").glob("v*"))  # no model was trained
    runs = query(young["warehouse"], "select score_source, score_note from scoring.runs")
    assert runs["score_source"].tolist() == ["scorecard"]
    assert "labelled as-of date" in json.loads(runs["score_note"].iloc[0])["reasons"][-1]


def test_run_and_status_say_why_the_scorecard_scores(young, capsys):
    out = cli(capsys, "run", *young["flags"])
    assert "rule-based scorecard" in out
    status = cli(capsys, "status", *young["flags"])
    flat = " ".join(status.split())
    assert "Scores come from the rule-based scorecard because: only 0 labelled rows" in flat
    assert "need at least 3" in flat and "not calibrated" in flat
    at_risk = cli(capsys, "at-risk", *young["flags"], "--format", "json")
    assert all(r["reasons"] for r in json.loads(at_risk))
