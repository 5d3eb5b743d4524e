"""Table-lookup SHAP values equal LightGBM's pred_contrib, missing values and categories included."""

from __future__ import annotations

import numpy as np
import pytest

from ml import predict, tree_tables
from ml._lightgbm import lgb
from ml.dataset import feature_matrix


def synthetic(seed: int, n: int = 4000):
    """Numbers with NaNs and exact zeros, and a categorical column with missing and unseen codes."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[rng.random(n) < 0.15, 0] = np.nan
    X[rng.random(n) < 0.30, 1] = 0.0
    X[rng.random(n) < 0.10, 1] = np.nan
    X[:, 2] = rng.integers(0, 6, n)
    X[rng.random(n) < 0.10, 2] = np.nan
    logit = X[:, 0] * 0.8 - (X[:, 1] == 0) * 0.7 + np.isin(X[:, 2], [1, 4]) * 1.1 + X[:, 3] * X[:, 4]
    y = (rng.random(n) < 1 / (1 + np.exp(-np.nan_to_num(logit)))).astype(float)
    return X, y


@pytest.mark.parametrize("num_leaves, zero_as_missing", [(3, False), (5, False), (4, True)])
def test_table_contributions_equal_pred_contrib(num_leaves, zero_as_missing):
    X, y = synthetic(num_leaves)
    booster = lgb.train({"objective": "binary", "num_leaves": num_leaves, "min_data_in_leaf": 20,
                         "learning_rate": 0.1, "verbose": -1, "seed": 1,
                         "zero_as_missing": zero_as_missing},
                        lgb.Dataset(X, y, categorical_feature=[2]), num_boost_round=60)
    tables = tree_tables.tables(booster)
    assert tables is not None
    if num_leaves == 3:  # two splits: every tree is merged into a per-feature or per-pair table
        assert tables.merged and not tables.unmerged
    probe, _ = synthetic(99, 3000)
    probe[:50, 2] = 9        # categories never seen in training
    probe[50:60, 2] = -1     # a negative code
    expected = booster.predict(probe, pred_contrib=True)
    got = tree_tables.contributions(tables, probe)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.sum(axis=1), booster.predict(probe, raw_score=True), atol=1e-9)


def test_big_trees_are_left_to_lightgbm():
    X, y = synthetic(7)
    booster = lgb.train({"objective": "binary", "num_leaves": 31, "verbose": -1},
                        lgb.Dataset(X, y), num_boost_round=5)
    assert tree_tables.tables(booster) is None


def test_predict_uses_the_tables_and_matches_lightgbm(frame, score_rows, monkeypatch):
    from ml.train import train

    # the shallow trees of the shipped configuration (customer_health.yml: num_leaves 3)
    built, build = [], tree_tables.tables
    monkeypatch.setattr(tree_tables, "tables", lambda booster: built.append(booster) or build(booster))
    model = train(frame, dataset_id="acme", params={"num_leaves": 3, "num_boost_round": 200})
    assert model.shap_tables is not None
    X = feature_matrix(score_rows, model.features, model.categories)
    # calibration was fitted on the raw scores that scoring computes, the tables' sums
    fast_raw = predict.raw_scores(model, X)
    fast = predict.predict(model, score_rows)
    assert len(built) == 1  # training built the tables once, scoring used the same
    monkeypatch.setattr(type(model), "shap_tables", property(lambda self: None))
    slow = predict.predict(model, score_rows)
    np.testing.assert_allclose(predict.raw_scores(model, X), fast_raw, atol=1e-9)
    np.testing.assert_allclose(fast.filter(like="shap_").to_numpy(),
                               slow.filter(like="shap_").to_numpy(), atol=1e-9)
    np.testing.assert_allclose(fast["churn_risk"], slow["churn_risk"], atol=1e-12)
    np.testing.assert_allclose(fast["raw_score"], model.booster.predict(X, raw_score=True), atol=1e-9)
    np.testing.assert_array_equal(fast["raw_score"], fast_raw)


def test_trees_without_a_split_add_their_value_only():
    X, y = synthetic(11, 300)
    # leaves of at least 200 rows: most trees cannot split at all
    booster = lgb.train({"objective": "binary", "num_leaves": 3, "min_data_in_leaf": 200,
                         "verbose": -1}, lgb.Dataset(X, y), num_boost_round=20)
    assert any(t["num_leaves"] == 1 for t in booster.dump_model()["tree_info"])
    got = tree_tables.contributions(tree_tables.tables(booster), X)
    np.testing.assert_allclose(got, booster.predict(X, pred_contrib=True), rtol=0, atol=1e-9)
