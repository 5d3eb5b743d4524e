"""Backtest, calibration metrics and the registry's promotion guard."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from ml import backtest, registry
from ml.errors import DatasetMismatch, ModelNotFound
from ml.metrics import calibration_bins, capture_at, classification_metrics, expected_calibration_error, lift_at
from ml_synthetic import make_frame

FAST = {"num_boost_round": 60, "early_stopping_rounds": 10}
LEAK = "tenure_days"  # a noise feature of the synthetic frame, turned into the answer below


# ---------------------------------------------------------------- metrics on known inputs

def test_expected_calibration_error_on_known_inputs():
    y = np.array([0, 0, 1, 1], dtype=float)
    assert expected_calibration_error(y, np.array([0.1, 0.1, 0.9, 0.9]), bins=2) == pytest.approx(0.1)
    assert expected_calibration_error(y, np.array([0.5, 0.5, 0.5, 0.5]), bins=1) == pytest.approx(0.0)
    # equal-frequency bins of 10 rows, each with 3 churners at a predicted 0.3: perfectly calibrated
    y100 = np.tile([1, 1, 1, 0, 0, 0, 0, 0, 0, 0], 10).astype(float)
    assert expected_calibration_error(y100, np.full(100, 0.3)) == pytest.approx(0.0)
    # predicting 0.6 for a 0.3 churn rate is 0.3 off everywhere
    assert expected_calibration_error(y100, np.full(100, 0.6)) == pytest.approx(0.3)
    assert [b["rows"] for b in calibration_bins(np.zeros(23), np.linspace(0, 1, 23))] == [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]
    assert expected_calibration_error(np.array([]), np.array([])) is None


def test_capture_is_the_share_of_churners_in_the_top():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], dtype=float)
    p = np.array([0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2])
    assert capture_at(y, p, 0.1) == pytest.approx(0.5)
    assert capture_at(y, p, 0.2) == pytest.approx(1.0)
    assert capture_at(y, p, 0.1) == pytest.approx(lift_at(y, p, 0.1) * 0.1)
    assert capture_at(np.zeros(5), np.full(5, 0.2)) is None
    m = classification_metrics(y, p)
    assert m["capture_top10"] == pytest.approx(0.5) and m["ece"] is not None


# ---------------------------------------------------------------- backtest: no look-ahead

def _leaky_frame() -> pd.DataFrame:
    """Monthly Jan..Oct 2025 (Jan..Sep labelled). From Jul on, LEAK is the outcome itself; before,
    it is noise. A backtest fold on Sep 1 that learned from Jul or Aug (whose outcomes are not known
    on Sep 1 with a three-month label delay) would rank Sep nearly perfectly."""
    frame = make_frame(n_customers=1500, n_dates=10, seed=3)
    late = frame["as_of"] >= pd.Timestamp("2025-07-01")
    noise = np.random.default_rng(5).normal(0, 0.1, int(late.sum()))
    frame.loc[late, LEAK] = frame.loc[late, "churned"].fillna(0).to_numpy() * 10 + noise
    return frame


def test_backtest_folds_never_learn_outcomes_unknown_at_the_fold_date(monkeypatch):
    import ml.train

    frame = _leaky_frame()
    seen: list[pd.Timestamp] = []
    real_train = ml.train.train

    def spy(history, **kw):
        seen.append(pd.Timestamp(history["as_of"].max()))
        return real_train(history, **kw)

    monkeypatch.setattr(ml.train, "train", spy)
    honest = backtest.run(frame, dataset_id="acme", folds=1, label_delay_days=92, params=FAST)
    fold = honest.folds[0]
    assert fold["as_of"] == "2025-09-01"
    assert seen == [pd.Timestamp("2025-06-01")]  # Jun 1 + 92 days = Sep 1: nothing later is handed over
    assert fold["calibration_as_of"] == "2025-06-01" and fold["train_as_of_max"] == "2025-05-01"
    assert 0.65 < fold["roc_auc"] < 0.95  # the genuine signal, not the leak

    # the same backtest without the label delay sees Jul and Aug outcomes and looks far too good:
    # proof the frame above would expose a leak
    leaky = backtest.run(frame, dataset_id="acme", folds=1, label_delay_days=0, params=FAST)
    assert leaky.folds[0]["roc_auc"] > 0.98 > fold["roc_auc"]


def test_backtest_reports_every_fold_and_skips_thin_ones():
    frame = make_frame(n_customers=1500, n_dates=8, seed=4)  # Jan..Jul labelled
    bt = backtest.run(frame, dataset_id="acme", folds=4, label_delay_days=62, params=FAST)
    assert [f["as_of"] for f in bt.folds] == ["2025-04-01", "2025-05-01", "2025-06-01", "2025-07-01"]
    skipped = [f for f in bt.folds if f.get("skipped")]
    # Apr 1 and May 1 less 62 days leave one or two as-of dates: too few to train and calibrate
    assert [f["as_of"] for f in skipped] == ["2025-04-01", "2025-05-01"]
    assert all("labelled as-of date" in f["skipped"] for f in skipped)
    card = bt.to_dict()
    assert card["folds_evaluated"] == 2 and card["settings"]["label_delay_days"] == 62
    for f in bt.evaluated:
        for key in ("roc_auc", "pr_auc", "brier", "ece", "lift_top10", "lift_top20", "capture_top10", "capture_top20"):
            assert f[key] is not None, key
    assert card["mean"]["roc_auc"] == pytest.approx(np.mean([f["roc_auc"] for f in bt.evaluated]))
    assert set(card["baseline_mean"]) == {"scorecard", "recency"}
    last = bt.last_fold
    assert set(pd.to_datetime(last["as_of"])) == {pd.Timestamp("2025-07-01")}
    assert {"churn_risk", "churned", "risk_scorecard", "risk_recency"} <= set(last.columns)
    assert len(last) == bt.folds[-1]["rows"]


# ---------------------------------------------------------------- promotion guard

def _card(version, backtest_auc=None, valid_auc=0.8):
    card = {"version": version, "metrics": {"roc_auc": valid_auc}}
    if backtest_auc is not None:
        card["backtest"] = {"mean": {"roc_auc": backtest_auc}}
    return card


def test_judge_refuses_a_worse_backtest_and_accepts_a_comparable_one():
    live = _card("v0001", 0.820)
    assert not registry.judge(_card("v0002", 0.805), live, 0.01).promote
    assert registry.judge(_card("v0002", 0.811), live, 0.01).promote  # within the tolerance
    assert registry.judge(_card("v0002", 0.850), live, 0.01).promote
    verdict = registry.judge(_card("v0002", 0.700, valid_auc=0.99), live, 0.01)
    assert not verdict.promote and verdict.metric == "backtest mean ROC AUC" and "0.700" in verdict.reason
    # without a backtest on both sides, the validation ROC AUC decides
    fallback = registry.judge(_card("v0002", None, valid_auc=0.70), live, 0.01)
    assert not fallback.promote and fallback.metric == "validation ROC AUC"
    assert registry.judge({"version": "v0002", "metrics": {}}, live).promote


def _shuffled_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """Same shape, no signal: the outcomes shuffled within each as-of date."""
    out = frame.copy()
    rng = np.random.default_rng(9)
    for _, idx in out.groupby("as_of").groups.items():
        out.loc[idx, "churned"] = rng.permutation(out.loc[idx, "churned"].to_numpy())
    return out


def test_a_worse_model_is_saved_but_not_promoted(tmp_path, frame):
    first = registry.ensure_model(tmp_path, frame, dataset_id="acme", params=FAST)
    assert first.promoted and first.trained == "v0001" and registry.live_version(tmp_path, "acme") == "v0001"

    worse = registry.ensure_model(tmp_path, _shuffled_labels(frame), dataset_id="acme", params=FAST)
    assert worse.trained == "v0002" and not worse.promoted
    assert worse.model.version == "v0001"  # the live model keeps scoring
    assert "v0002 was trained but not promoted" in worse.note and "v0001" in worse.note
    assert registry.list_versions(tmp_path) == ["v0001", "v0002"]
    assert registry.live_version(tmp_path, "acme") == "v0001"
    assert registry.live_history(tmp_path, "acme")[-1]["action"] == "refused"
    assert "newest model v0002 is not live" in registry.guard_note(tmp_path, "acme")

    # the same worse data again: reused (no retraining), still not live
    again = registry.ensure_model(tmp_path, _shuffled_labels(frame), dataset_id="acme", params=FAST)
    assert again.reused and again.trained is None and again.model.version == "v0001"
    assert registry.list_versions(tmp_path) == ["v0001", "v0002"]

    # a comparable model (other parameters, same signal) goes live
    other = registry.ensure_model(tmp_path, frame, dataset_id="acme", params={**FAST, "num_leaves": 7},
                                  promotion_tolerance=0.05)
    assert other.promoted and other.model.version == "v0003" == registry.live_version(tmp_path, "acme")
    assert registry.guard_note(tmp_path, "acme") == ""
    model, reused = registry.ensure_model(tmp_path, frame, dataset_id="acme", params={**FAST, "num_leaves": 7})
    assert reused and model.version == "v0003"  # unpacks like before the guard


def test_backtested_model_card_and_reuse(tmp_path):
    frame = make_frame(n_customers=1500, n_dates=8, seed=4)
    choice = registry.ensure_model(tmp_path, frame, dataset_id="acme", params=FAST, backtest_folds=2,
                                   label_delay_days=62)
    card = registry.read_card(tmp_path, choice.trained)
    assert [f["as_of"] for f in card["backtest"]["folds"]] == ["2025-06-01", "2025-07-01"]
    assert card["backtest"]["mean"]["roc_auc"] > 0.7
    assert (tmp_path / choice.trained / registry.LAST_FOLD_FILE).is_file()
    md = (tmp_path / choice.trained / "card.md").read_text()
    assert "## Backtest" in md and "| 2025-07-01 |" in md and "mean of 2" in md
    again = registry.ensure_model(tmp_path, frame, dataset_id="acme", params=FAST, backtest_folds=2,
                                  label_delay_days=62)
    assert again.reused and again.model.backtest == card["backtest"]
    # other backtest settings: the stored card does not hold that backtest, so it retrains
    third = registry.ensure_model(tmp_path, frame, dataset_id="acme", params=FAST, backtest_folds=3,
                                  label_delay_days=62)
    assert not third.reused and len(third.model.backtest["folds"]) == 3


def test_promote_and_rollback_keep_a_stack(tmp_path, model):
    for _ in range(3):
        registry.save(copy.copy(model), tmp_path)
    other = copy.copy(model)
    other.dataset_id = "globex"
    registry.save(other, tmp_path)  # v0004
    assert registry.promote(tmp_path, "v0001", dataset_id="acme") == ""
    assert registry.promote(tmp_path, "v0003", dataset_id="acme") == "v0001"
    assert registry.promote(tmp_path, "v0002", dataset_id="acme") == "v0003"
    with pytest.raises(DatasetMismatch, match="globex"):
        registry.promote(tmp_path, "v0004", dataset_id="acme")
    assert registry.rollback(tmp_path, dataset_id="acme") == ("v0002", "v0003")
    assert registry.rollback(tmp_path, dataset_id="acme") == ("v0003", "v0001")
    with pytest.raises(ModelNotFound, match="no earlier live model"):
        registry.rollback(tmp_path, dataset_id="acme")
    assert registry.live_version(tmp_path, "acme") == "v0001"
    rows = {r["version"]: r for r in registry.describe(tmp_path)}
    assert rows["v0001"]["live"] and not rows["v0002"]["live"] and rows["v0004"]["dataset_id"] == "globex"
