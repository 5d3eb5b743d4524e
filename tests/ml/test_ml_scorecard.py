"""The rule-based scorecard and the recency baseline: points, missing values, drivers, baselines on the card."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml import explain, scorecard as sc
from ml.card import render_markdown
from ml.catalogue import load_catalogue

CARD = sc.Scorecard(measures=(
    sc.Measure("days_since_last_inbound", 40, good=10, bad=60),   # lower is better
    sc.Measure("active_days_30d", 30, good=20, bad=0),            # higher is better
    sc.Measure("avg_csat_90d", 30, good=4.5, bad=2.5),
))


def rows(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], **columns})


def test_points_fall_linearly_from_good_to_bad_and_clip():
    m = sc.Measure("days_since_last_inbound", 40, good=10, bad=60)
    assert m.points(np.array([0, 10, 35, 60, 500])).tolist() == [40, 40, 20, 0, 0]
    up = sc.Measure("active_days_30d", 30, good=20, bad=0)
    assert up.points(np.array([-3, 0, 5, 20, 30])).tolist() == [0, 0, 7.5, 30, 30]


def test_health_and_risk_add_up_from_the_points_lost():
    frame = rows(days_since_last_inbound=[10, 35, 60], active_days_30d=[20, 10, 0], avg_csat_90d=[4.5, 3.5, 2.5])
    r = sc.evaluate(CARD, frame)
    assert r.health.tolist() == [100, 50, 0]
    assert np.allclose(r.risk, 1 - r.health / 100)
    assert np.allclose(r.lost.sum(axis=1), 100 - r.health)


def test_weights_are_normalised_to_100():
    half = sc.Scorecard(measures=tuple(sc.Measure(m.feature, m.weight / 2, m.good, m.bad) for m in CARD.measures))
    frame = rows(days_since_last_inbound=[35.0], active_days_30d=[5.0], avg_csat_90d=[3.0])
    assert np.allclose(sc.evaluate(half, frame).health, sc.evaluate(CARD, frame).health)


def test_missing_scores_half_the_weight_or_is_excluded():
    frame = rows(days_since_last_inbound=[10.0], active_days_30d=[20.0], avg_csat_90d=[np.nan])
    assert sc.evaluate(CARD, frame).health.tolist() == [85.0]   # 40 + 30 + 30 / 2
    excluded = sc.Scorecard(CARD.measures, missing="exclude")
    assert sc.evaluate(excluded, frame).health.tolist() == [100.0]  # 70 of 70 observed points
    nothing = rows(days_since_last_inbound=[np.nan], active_days_30d=[np.nan], avg_csat_90d=[np.nan])
    assert sc.evaluate(excluded, nothing).health.tolist() == [50.0]
    # a feature the frame does not have at all counts as missing for everyone
    assert sc.evaluate(CARD, frame.drop(columns="avg_csat_90d")).health.tolist() == [85.0]


def test_drivers_name_the_measures_losing_the_most_points():
    catalogue = load_catalogue()
    frame = rows(days_since_last_inbound=[55.0, 12.0, 20.0, 20.0],
                 active_days_30d=[19.0, 2.0, 18.0, 18.0],
                 avg_csat_90d=[np.nan, 4.5, 4.0, 4.0])
    r = sc.evaluate(CARD, frame)
    drivers = sc.drivers(r, catalogue, typical={"days_since_last_inbound": 20, "active_days_30d": 18,
                                                "avg_csat_90d": 4.0})
    first = drivers[0]
    # 36 points lost on silence, 15 on the missing CSAT; active days (1.5 lost) is better than typical
    assert [d["feature"] for d in first] == ["days_since_last_inbound", "avg_csat_90d"]
    assert first[0]["points_lost"] == 36.0 and first[0]["contribution"] == 0.36
    assert first[0]["sentence"] == catalogue["days_since_last_inbound"].sentence(55.0, 20.0)
    assert first[1]["value"] is None and first[1]["sentence"] == catalogue["avg_csat_90d"].missing
    assert {"feature", "label", "dimension", "direction", "contribution", "value", "typical", "sentence"} <= set(first[0])
    assert [d["feature"] for d in drivers[1]] == ["active_days_30d"]
    assert drivers[2] == [] and drivers[3] == []  # typical on every measure: nothing to explain


def test_score_fills_the_columns_of_a_model_score():
    catalogue = load_catalogue()
    frame = rows(days_since_last_inbound=[55.0, 5.0], active_days_30d=[1.0, 25.0], avg_csat_90d=[2.0, 5.0])
    frame["as_of"] = pd.Timestamp("2025-06-30")
    out = sc.score(frame, CARD, catalogue=catalogue)
    assert list(out.columns[:10]) == ["customer_id", "as_of", "churn_risk", *explain.dimension_columns(),
                                      "top_drivers", "reasons", "model_version"]
    assert (out["model_version"] == sc.SCORECARD_VERSION).all()
    assert out["churn_risk"].tolist() == pytest.approx([0.945, 0.0])  # 4 + 1.5 + 0 points
    assert out.loc[0, "engagement_score"] < out.loc[1, "engagement_score"]
    assert out.loc[0, "voice_score"] == 0 and out.loc[1, "voice_score"] == 100
    assert out.loc[0, "experience_score"] == 50 and out.loc[0, "value_score"] == 50  # no measure: unmeasured
    assert out.loc[0, "reasons"].startswith(catalogue["days_since_last_inbound"].sentence(55.0, 30.0))
    assert out.loc[1, "reasons"] == explain.NO_DRIVER_REASON
    assert (sc.DIRECTION_UP, sc.NO_DRIVER_REASON) == (explain.DIRECTION_UP, explain.NO_DRIVER_REASON)


def test_recency_risk_orders_by_the_latest_sign_of_life():
    frame = rows(days_since_last_purchase=[2.0, 40.0, np.nan, 100.0, np.nan],
                 days_since_last_inbound=[50.0, 30.0, 10.0, 200.0, np.nan])
    risk = sc.recency_risk(frame)
    # latest sign of life: 2, 30, 10, 100 days, never
    assert list(np.argsort(risk)) == [0, 2, 1, 3, 4]
    assert risk[4] == pytest.approx(1.0) and 0 < risk[0] < 0.05
    assert sc.recency_risk(frame.drop(columns="days_since_last_inbound"))[2] == pytest.approx(1.0)


def test_definitions_are_validated_and_round_trip():
    assert sc.Scorecard.from_config(CARD.to_dict()) == CARD
    assert sc.Scorecard.from_config(None) == sc.Scorecard()
    assert sc.Scorecard.from_config([{"feature": "logins_30d", "weight": 5, "good": 10, "bad": 0}]).total_weight == 5
    with pytest.raises(ValueError, match="good and bad"):
        sc.Measure("logins_30d", 10, good=3, bad=3)
    with pytest.raises(ValueError, match="weight"):
        sc.Measure("logins_30d", 0, good=3, bad=0)
    with pytest.raises(ValueError, match="repeat"):
        sc.Scorecard((sc.Measure("logins_30d", 1, 1, 0), sc.Measure("logins_30d", 2, 1, 0)))
    with pytest.raises(ValueError, match="missing"):
        sc.Scorecard(missing="zero")
    problems = sc.Scorecard((sc.Measure("logins_3od", 1, 1, 0), sc.Measure("segment", 1, 1, 0))).check_features(
        load_catalogue())
    assert "'logins_3od' is not a feature" in problems[0] and "'segment' is a category" in problems[1]
    assert sc.Scorecard().check_features(load_catalogue()) == []


def test_calibration_needs_both_outcomes():
    rng = np.random.default_rng(0)
    risk = rng.random(2000)
    y = (rng.random(2000) < 0.05 + 0.4 * risk).astype(float)
    cal = sc.calibrate(risk, y)
    p = sc.apply_calibration(cal, np.array([0.1, 0.5, 0.9]))
    assert np.all(np.diff(p) > 0) and abs(sc.apply_calibration(cal, risk).mean() - y.mean()) < 0.02
    assert sc.calibrate(risk[:50], np.r_[np.ones(3), np.zeros(47)]) is None


def test_the_model_card_compares_the_model_with_the_baselines(model):
    m = model.metrics
    assert set(m["baselines"]) == {"scorecard", "recency"}
    for name in ("scorecard", "recency"):
        base = m["baselines"][name]
        assert base["rows"] == m["rows"] and base["positives"] == m["positives"]
        assert m["beats"][name] == pytest.approx(m["roc_auc"] - base["roc_auc"])
    # the synthetic churn signal (recency of payment, CSAT, complaints) is spread over features
    # the scorecard weighs among noise; the model learns the weights
    assert m["beats"]["scorecard"] > 0.05 and m["beats"]["recency"] > 0.05
    assert m["baselines"]["scorecard"]["roc_auc"] > 0.55  # the scorecard does carry signal
    assert m["baselines"]["scorecard"]["definition"] == sc.Scorecard().to_dict()
    text = render_markdown(model.card())
    assert "## Baselines" in text and "beats the rule-based scorecard by +" in text
    assert "| ROC AUC |" in text and "| Lift in the top 10% |" in text


def test_an_explicit_scorecard_is_fingerprinted_and_used(frame, model):
    from ml.train import data_fingerprint, train

    custom = {"missing": "exclude", "measures": [{"feature": "days_since_last_purchase", "weight": 1,
                                                  "good": 0, "bad": 120}]}
    assert data_fingerprint(frame, scorecard=custom) != model.data_fingerprint
    assert data_fingerprint(frame, scorecard=None) == model.data_fingerprint
    m = train(frame, dataset_id="acme", scorecard=custom, params={"num_boost_round": 50})
    assert m.data_fingerprint == data_fingerprint(frame, {"num_boost_round": 50}, scorecard=custom)
    assert m.metrics["baselines"]["scorecard"]["definition"]["missing"] == "exclude"
    # the scorecard on the strongest signal alone is a tough baseline, ranked like recency of payment
    assert m.metrics["baselines"]["scorecard"]["roc_auc"] > 0.65
