"""Training on a known synthetic signal: accuracy, calibration, determinism, quietness."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml import dataset, predict, train
from ml.calibration import Calibrator, cross_fitted, fit_calibrator
from ml.metrics import classification_metrics, lift_at
from ml_synthetic import SIGNAL_FEATURE, make_frame


def test_model_learns_the_signal_and_is_calibrated(model):
    m = model.metrics
    assert m["roc_auc"] > 0.75
    assert m["brier"] < m["brier_base_rate"]
    assert m["lift_top10"] > 2.0
    assert 0 < m["base_rate"] < 1 and m["rows"] == model.training["valid_rows"]
    assert list(model.feature_importance)[0] == SIGNAL_FEATURE
    assert model.training["valid_as_of"] == "2025-04-01"
    assert model.training["train_as_of_max"] == "2025-03-01"
    assert "latest training as_of 2025-03-01" in model.training["early_stopping_on"]
    assert 1 <= model.training["best_iteration"] <= 300


def test_probabilities_are_in_range(model, score_rows):
    risk = predict.predict(model, score_rows)["churn_risk"].to_numpy()
    assert np.all((risk >= 0) & (risk <= 1))
    assert 0.02 < risk.mean() < 0.5


def test_same_data_and_seed_give_identical_predictions(frame, model, score_rows):
    again = train.train(frame.sample(frac=1.0, random_state=1), dataset_id="acme")
    a = predict.predict(model, score_rows)
    b = predict.predict(again, score_rows)
    assert np.array_equal(a["churn_risk"].to_numpy(), b["churn_risk"].to_numpy())
    assert again.data_fingerprint == model.data_fingerprint


def test_transactions_only_business_trains_and_reports_unused(capfd):
    f = make_frame(n_customers=1500, n_dates=5, with_interactions=False)
    m = train.train(f, dataset_id="shop")
    assert "avg_csat_90d" in m.unused_features and "avg_csat_90d" not in m.features
    assert m.metrics["roc_auc"] > 0.7
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # LightGBM stays silent


def test_params_override_defaults(frame):
    m = train.train(frame, dataset_id="acme", params={"num_boost_round": 5, "early_stopping_rounds": 2}, num_threads=1)
    assert m.booster.num_trees() <= 5
    assert m.params["num_threads"] == 1 and m.params["learning_rate"] == train.DEFAULT_PARAMS["learning_rate"]


def test_data_fingerprint_matches_what_train_records(frame, model):
    assert train.data_fingerprint(frame) == model.data_fingerprint
    assert train.data_fingerprint(frame, {"num_threads": 1}) == model.data_fingerprint
    assert train.data_fingerprint(frame, {"num_leaves": 7}) != model.data_fingerprint


def test_sigmoid_calibration_for_small_folds():
    rng = np.random.default_rng(0)
    raw = rng.normal(0, 1.5, 400)
    y = (rng.random(400) < 1 / (1 + np.exp(-(0.5 * raw - 1)))).astype(float)
    cal = fit_calibrator(raw, y)
    assert cal.method == "sigmoid" and 0.3 < cal.a < 0.8
    again = Calibrator.from_dict(cal.to_dict())
    assert np.array_equal(again.predict(raw), cal.predict(raw))
    iso = fit_calibrator(np.tile(raw, 5), np.tile(y, 5), "isotonic")
    p = iso.predict(np.array([-100.0, 0.0, 100.0]))
    assert np.all(np.diff(p) >= 0) and p.min() >= 0 and p.max() <= 1
    oof = cross_fitted(raw, y, "sigmoid")
    assert oof.shape == raw.shape and np.all((oof > 0) & (oof < 1))


def test_metrics_and_tie_aware_lift():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], dtype=float)
    p = np.array([0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert lift_at(y, p, 0.1) == 5.0  # the top row churned, base rate 0.2
    flat = np.full(10, 0.2)
    assert abs(lift_at(y, flat, 0.1) - 1.0) < 1e-12  # ties shared: no lift from a constant score
    m = classification_metrics(y, p)
    assert m["roc_auc"] is not None and m["rows"] == 10 and m["positives"] == 2
    assert classification_metrics(np.zeros(4), np.full(4, 0.1))["roc_auc"] is None


def test_predict_output_shape(model, score_rows):
    out = predict.predict(model, score_rows)
    assert list(out.columns[:4]) == ["customer_id", "as_of", "churn_risk", "raw_score"]
    assert out.index.equals(score_rows.index)
    shap = out[predict.contribution_columns(model) + [predict.EXPECTED_VALUE_COLUMN]].to_numpy()
    assert np.allclose(shap.sum(axis=1), out["raw_score"].to_numpy())
    X = dataset.feature_matrix(score_rows, model.features, model.categories)
    raw = model.booster.predict(X, raw_score=True)
    assert np.allclose(raw, out["raw_score"].to_numpy())


def test_predict_names_missing_feature_columns(model, score_rows):
    import pytest

    from ml.errors import FrameError

    with pytest.raises(FrameError, match="days_since_last_purchase"):
        predict.predict(model, score_rows.drop(columns=["days_since_last_purchase"]))
    assert len(predict.predict(model, score_rows.iloc[:0])) == 0


def test_score_returns_the_output_columns(model, score_rows):
    out = predict.score(model, score_rows.head(50))
    assert list(out.columns) == ["customer_id", "as_of", "churn_risk", "engagement_score", "experience_score",
                                 "voice_score", "value_score", "top_drivers", "reasons", "model_version"]
    assert isinstance(out["top_drivers"].iloc[0], list)
    assert isinstance(pd.Timestamp(out["as_of"].iloc[0]), pd.Timestamp)
