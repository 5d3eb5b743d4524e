"""Drivers and dimension scores: the signal feature is named, sentences carry the customer's value."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from ml import explain, predict
from ml_synthetic import SIGNAL_FEATURE


def test_drivers_name_the_signal_for_a_high_risk_customer(model, score_rows):
    scored = predict.predict(model, score_rows)
    expl = explain.explain(model, score_rows, scored)
    worst = scored["churn_risk"].idxmax()
    drivers = expl.loc[worst, "top_drivers"]
    assert 1 <= len(drivers) <= 3
    top = drivers[0]
    assert top["feature"] == SIGNAL_FEATURE
    assert top["direction"] == "raises risk" and top["contribution"] > 0
    assert top["dimension"] == "engagement" and top["label"] == "Days since last payment"
    value = score_rows.loc[worst, SIGNAL_FEATURE]
    assert top["value"] == value
    assert f"{value:,.0f} days since the last payment" in top["sentence"]
    assert f"(typical {model.typical[SIGNAL_FEATURE]:,.0f})" in top["sentence"]
    assert expl.loc[worst, "reasons"].startswith(top["sentence"])
    assert expl.loc[worst, "reasons"] == "; ".join(d["sentence"] for d in drivers)
    contributions = [d["contribution"] for d in drivers]
    assert contributions == sorted(contributions, reverse=True)
    json.dumps(drivers)  # JSON-ready (no NaN, no numpy types)


def test_nan_values_get_a_plain_sentence(model, score_rows):
    rows = score_rows.copy()
    rows["avg_csat_90d"] = np.nan
    rows["last_csat"] = np.nan
    scored = predict.predict(model, rows)
    expl = explain.explain(model, rows, scored, top_n=len(model.features))
    sentences = [d for ds in expl["top_drivers"] for d in ds if d["feature"] == "avg_csat_90d"]
    assert sentences, "a missing CSAT should raise risk for somebody in this synthetic data"
    assert all(d["value"] is None and d["sentence"] == "No CSAT survey answered in 90 days" for d in sentences)


def test_dimension_scores(model, score_rows):
    scored = predict.predict(model, score_rows)
    expl = explain.explain(model, score_rows, scored)
    dims = expl[explain.dimension_columns()].to_numpy()
    assert dims.min() >= 0 and dims.max() <= 100
    worst = scored["churn_risk"].idxmax()
    assert expl.loc[worst, "engagement_score"] < 25  # the signal sits in engagement
    contrib = scored[predict.contribution_columns(model)].to_numpy()
    eng = [i for i, f in enumerate(model.features) if model.specs[f].dimension == "engagement"]
    expected = 50 - 50 * np.tanh(contrib[:, eng].sum(axis=1))
    assert np.allclose(expl["engagement_score"].to_numpy(), np.round(expected, 1))


def test_unmeasured_dimension_is_neutral(model):
    import copy

    m = copy.copy(model)
    m.features = [f for f in model.features if model.specs[f].dimension != "voice"]
    contrib = np.ones((3, len(m.features)))
    scores = explain.dimension_scores(m, contrib)
    assert (scores["voice_score"] == 50.0).all()
    assert np.isnan(explain.dimension_scores(m, contrib, unmeasured=np.nan)["voice_score"]).all()


def test_no_positive_contribution_means_no_driver(model):
    contrib = -np.ones((2, len(model.features)))
    values = np.zeros((2, len(model.features)))
    assert explain.top_drivers(model, contrib, values) == [[], []]


def test_a_typical_or_reassuring_value_is_never_given_as_a_reason(model, score_rows):
    scored = predict.predict(model, score_rows)
    expl = explain.explain(model, score_rows, scored)
    for drivers in expl["top_drivers"]:
        for d in drivers:
            spec = model.specs[d["feature"]]
            if d["value"] is None or d["typical"] is None:
                continue
            assert d["value"] != d["typical"]
            if spec.risk_when == "high":
                assert d["value"] > d["typical"]
            elif spec.risk_when == "low":
                assert d["value"] < d["typical"]


def test_drivers_are_the_largest_positive_contributions_in_order_ties_to_the_first_feature(model):
    """One driver per measure: the strongest of its features."""
    rng = np.random.default_rng(3)
    k = len(model.features)
    contrib = np.round(rng.normal(0.0, 0.5, (400, k)), 1)  # coarse: many exact ties
    contrib[:50] = -1.0                                      # rows without any driver
    contrib[50:60] = -1.0
    contrib[50:60, 2] = 0.3                                  # rows with a single driver
    values = np.full((400, k), np.nan)                       # missing: always explainable
    got = explain.top_drivers(model, contrib, values, top_n=3)
    measure = [model.specs[f].measure_key for f in model.features]
    for row, drivers in zip(contrib, got):
        positive, seen = [], set()
        for j in np.argsort(-row, kind="stable"):
            if row[j] > 1e-6 and measure[j] not in seen and len(positive) < 3:
                positive.append(j)
                seen.add(measure[j])
        assert [d["feature"] for d in drivers] == [model.features[j] for j in positive]
        assert [d["contribution"] for d in drivers] == [round(float(row[j]), 4) for j in positive]
    assert got[:50] == [[]] * 50 and all(len(d) == 1 for d in got[50:60])


def test_score_table_stores_exactly_what_score_explains(model, score_rows):
    """The columnar path the pipeline writes (JSON text joined by Arrow) says what the dicts say."""
    rows = score_rows.copy()
    rows.loc[rows.index[:5], model.features] = np.nan  # all missing: drivers from missing values
    dicts = predict.score(model, rows)
    table = predict.score_table(model, rows).to_pydict()
    assert len(table["customer_id"]) == len(rows)
    assert [json.loads(t) for t in table["top_drivers"]] == list(dicts["top_drivers"])
    assert list(table["reasons"]) == list(dicts["reasons"])
    assert list(table["primary_feature"]) == [d[0]["feature"] if d else None for d in dicts["top_drivers"]]
    assert list(table["primary_dimension"]) == [d[0]["dimension"] if d else None for d in dicts["top_drivers"]]
    for column in ("customer_id", "churn_risk", "engagement_score", "value_score", "model_version"):
        assert list(table[column]) == list(dicts[column]), column


def test_drivers_as_json_and_reasons_for_every_count_of_drivers(model):
    k = len(model.features)
    contrib = -np.ones((4, k))
    contrib[1, 0] = 0.5                          # one driver
    contrib[2, :3] = [0.2, 0.4, 0.3]             # three, out of order
    contrib[3, :5] = 0.1                         # ties: the first features win
    values = np.full((4, k), np.nan)
    for top_n in (0, 1, 3):
        found = explain.drivers(model, contrib, values, top_n=top_n)
        dicts = found.dicts()
        assert [json.loads(t) for t in found.json().to_pylist()] == dicts
        assert found.reasons().to_pylist() == [
            "; ".join(d["sentence"] for d in row) if row else explain.NO_DRIVER_REASON for row in dicts]
        assert [len(row) for row in dicts] == [0, min(1, top_n), min(3, top_n), min(3, top_n)]
    empty = explain.drivers(model, np.zeros((0, k)), np.zeros((0, k)))
    assert empty.dicts() == [] and empty.json().to_pylist() == [] and empty.reasons().to_pylist() == []


def test_the_same_measure_over_another_window_is_never_a_second_driver(model):
    """Sentiment over 30 and over 90 days say one thing: the stronger is shown, and the third
    place goes to the next measure."""
    names = list(model.features)
    family = [n for n in names if model.specs[n].measure == "sentiment"]
    other = [n for n in names if model.specs[n].measure_key != "sentiment"]
    other = [other[0]] + [n for n in other if model.specs[n].measure_key != model.specs[other[0]].measure_key]
    assert len(family) >= 2, "the catalogue groups the sentiment windows under one measure"
    contrib = np.full((1, len(names)), -1.0)
    contrib[0, names.index(family[0])] = 0.9
    contrib[0, names.index(family[1])] = 0.8
    contrib[0, names.index(other[0])] = 0.5
    contrib[0, names.index(other[1])] = 0.4
    values = np.full((1, len(names)), np.nan)
    got = explain.top_drivers(model, contrib, values, top_n=3)[0]
    assert [d["feature"] for d in got] == [family[0], other[0], other[1]]
    # a model saved before measures existed keeps one driver per feature
    import copy
    old = copy.copy(model)
    old.specs = {n: replace(spec, measure=None) for n, spec in model.specs.items()}
    assert [d["feature"] for d in explain.top_drivers(old, contrib, values, top_n=3)[0]] == [
        family[0], family[1], other[0]]
