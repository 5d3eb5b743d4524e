"""The benchmark harness at a tiny size: every figure, both files, peers agree, exact increment."""

from __future__ import annotations

import json

import pytest
import yaml

from customer_health.bench import run_bench
from customer_health.config import DEFAULT_CONFIG
from customer_health.bench.report import TARGETS
from ml.catalogue import load_catalogue

pytest.importorskip("lifetimes")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    # settings off their defaults: the pandas peer must compute what this configuration builds
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["features"].update(activity_half_life_days=45, peer_group="plan")
    (root / "customer_health.yml").write_text(yaml.safe_dump(config))
    return run_bench(300, None, 1, root / "out", root=root / "state", seed=3,
                     config=str(root / "customer_health.yml"))


def test_json_holds_every_figure(report):
    data = json.loads(open(report.json_path, encoding="utf-8").read())
    figures = data["figures"]
    for key in ("full_run_seconds", "peak_rss_bytes", "peak_rss_gib", "events_ingested",
                "events_per_second", "customers_scored", "features_seconds", "training_seconds",
                "scoring_seconds", "scoring_customers_per_second", "incremental_seconds",
                "incremental_events", "pandas_compute_seconds", "feature_speedup",
                "bgnbd_fit_seconds", "bgnbd_auc", "model_auc", "oracle_auc"):
        assert figures[key] is not None, key
    assert set(data["stages"]) == {"startup", "validation", "ingest", "features", "training",
                                   "scoring", "publish"}
    assert all(v is not None and v >= 0 for v in data["stages"].values())
    assert figures["events_ingested"] == data["workload"]["events"]
    assert figures["peak_rss_bytes"] > 50 * 2**20
    # the peak so far at the end of each stage never falls, and the child's peak covers it
    peaks = list(data["runs"][-1]["full"]["peak_rss_bytes_by_stage"].values())
    assert len(peaks) == 4 and peaks == sorted(peaks)
    assert peaks[-1] <= data["runs"][-1]["full"]["peak_rss_bytes"]
    assert [t["key"] for t in data["targets"]] == [t.key for t in TARGETS]
    # W100's memory target is shown but judged only at W100
    w100 = [t for t in data["targets"] if t["applies"] == "W100"]
    assert [(t["key"], t["target"], t["status"]) for t in w100] == [("peak_rss_gib", "< 12 GiB", "n/a")]
    assert {t["status"] for t in data["targets"]} <= {"pass", "miss", "n/a"}
    assert 0 <= figures["bgnbd_auc"] <= 1
    # the fixed work timed before the runs, which says how fast the machine was that day
    assert 0 < data["machine"]["probe_seconds"] < 60


def test_markdown_has_each_target_beside_its_figure(report):
    text = open(report.markdown_path, encoding="utf-8").read()
    for t in report.targets:
        row = next(line for line in text.splitlines()
                   if line.startswith(f"| {t['label']} | {t['target']} ({t['applies']}) |"))
        assert row.endswith(f"| {t['status']} |")
    for stage in report.stages:
        assert f"| {stage} |" in text
    for name in report.peers["pandas"]["features"]:
        assert name in text
    assert f"speed probe {report.machine['probe_seconds']} s" in text


def test_pandas_peer_agrees_with_the_mart(report):
    peer = report.peers["pandas"]
    agreement = peer["agreement"]
    # every customer x as-of row of the mart, on every as-of date, and no other row
    assert agreement["rows"] == agreement["mart_rows"] == agreement["peer_rows"] == peer["rows"] > 300
    assert agreement["only_in_mart"] == agreement["only_in_peer"] == 0
    assert agreement["as_of_dates"] == peer["as_of_dates"] >= 2
    # a numeric catalogue feature the mart has without a pandas twin fails here
    catalogue = load_catalogue()
    numeric = {name for name in catalogue.names() if not catalogue[name].is_categorical}
    in_mart = numeric & set(agreement["mart_columns"])
    assert len(in_mart) > 50
    assert not in_mart - set(agreement["features"]), sorted(in_mart - set(agreement["features"]))
    assert agreement["without_peer"] == []
    assert agreement["mismatches"] == 0, {k: v for k, v in agreement["features"].items() if v}


def test_incremental_run_loads_exactly_the_new_events(report):
    inc = report.runs[0]["incremental"]
    assert inc["events_ingested"] == sum(inc["new_events"].values()) > 0
    assert inc["files"] == {"loaded": len(inc["new_events"])}
    # no retraining: the live model scores (at this tiny size the scorecard: no model yet)
    full = report.runs[0]["full"]
    assert inc["model_version"] == full["model_version"]
    assert inc["model_reused"] or inc["score_source"] == "scorecard"
    assert inc["events_ingested"] == pytest.approx(0.01 * report.workload["events"], rel=0.05)


def test_pandas_peer_is_left_out_only_when_it_would_not_fit_in_memory():
    from customer_health.bench.bench import GIB, pandas_peer_skip_reason

    assert pandas_peer_skip_reason(12_000_000, 20 * GIB) is None     # W10 on this machine
    assert pandas_peer_skip_reason(12_000_000, None) is None         # unknown: try it
    reason = pandas_peer_skip_reason(100_000_000, 20 * GIB)          # W100
    assert reason.startswith("left out") and "100,000,000 events" in reason and "20 GiB" in reason


def test_report_of_a_run_without_the_pandas_peer_says_why(report):
    from dataclasses import replace

    from customer_health.bench.report import markdown

    reason = "left out: holding 9 events in pandas needs about 1 GiB, 0 GiB are available"
    text = markdown(replace(report, peers={**report.peers, "pandas": {"skipped": reason}},
                            figures={**report.figures, "feature_speedup": None}))
    assert f"The pandas peer was {reason}." in text
    assert "Agreement with the mart" not in text
    assert "| - (left out) | - |" in text and "0 features" not in text


def test_each_size_is_judged_by_its_own_targets():
    from customer_health.bench.report import judge

    figures = {"full_run_seconds": 627.0, "incremental_seconds": 112.0, "peak_rss_gib": 11.0,
               "feature_speedup": None, "scoring_customers_per_second": 41_000.0}
    w100 = {(t["key"], t["applies"]): t["status"] for t in judge(figures, 1_000_000)}
    assert w100[("peak_rss_gib", "W100")] == "pass" and w100[("peak_rss_gib", "W10")] == "n/a"
    assert w100[("full_run_seconds", "W10")] == "n/a"
    assert w100[("feature_speedup", "every size")] == "missing"
    assert w100[("scoring_customers_per_second", "every size")] == "miss"
    w10 = {(t["key"], t["applies"]): t["status"] for t in judge({**figures, "peak_rss_gib": 11.0}, 100_000)}
    assert w10[("peak_rss_gib", "W10")] == "miss" and w10[("peak_rss_gib", "W100")] == "n/a"
