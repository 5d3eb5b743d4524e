"""Time split, refusal on thin data, feature selection and the data fingerprint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml import dataset
from ml.catalogue import load_catalogue
from ml.errors import FrameError, InsufficientData
from ml_synthetic import make_frame


def test_split_respects_time(frame):
    sp = dataset.split(frame)
    assert sp.valid["as_of"].nunique() == 1
    assert sp.valid_as_of == pd.Timestamp("2025-04-01")  # latest labelled date; 2025-05-01 is unlabelled
    assert sp.train["as_of"].max() < sp.valid_as_of
    assert not set(sp.train["as_of"].unique()) & set(sp.valid["as_of"].unique())
    assert sp.train["eligible"].all() and sp.valid["eligible"].all()
    assert sp.train["churned"].notna().all() and sp.valid["churned"].notna().all()
    assert len(sp.train_as_of) == 3


def test_embargo_keeps_training_outcomes_out_of_the_validation_window(frame):
    sp = dataset.split(frame, embargo_days=45, min_cutoffs=2)
    assert max(sp.train_as_of) <= sp.valid_as_of - pd.Timedelta(days=45)
    assert len(sp.train_as_of) == 2


def test_refuses_too_few_as_of_dates():
    small = make_frame(n_customers=2000, n_dates=3, unlabelled_dates=1)
    with pytest.raises(InsufficientData, match="only 2 labelled as-of dates; need at least 3") as info:
        dataset.split(small)
    assert len(info.value.problems) == 1


def test_refuses_too_few_rows_and_positives():
    tiny = make_frame(n_customers=60, n_dates=5, base_logit=-4.0)
    with pytest.raises(InsufficientData) as info:
        dataset.split(tiny)
    text = str(info.value)
    assert "labelled rows" in text and "need at least 500" in text
    assert "labelled churners; need at least 50" in text


def test_refuses_a_validation_fold_without_churners():
    f = make_frame(n_customers=1500, n_dates=5)
    f.loc[f["as_of"] == pd.Timestamp("2025-04-01"), "churned"] = 0.0
    with pytest.raises(InsufficientData, match="validation as-of date 2025-04-01 has 0 churners"):
        dataset.split(f)


def test_missing_required_column_is_named(frame):
    with pytest.raises(FrameError, match="missing required column.*churned"):
        dataset.split(frame.drop(columns=["churned"]))


def test_unused_features_are_reported():
    f = make_frame(n_customers=1500, n_dates=5, with_interactions=False).drop(columns=["last_nps"])
    sp = dataset.split(f)
    assert "tickets_opened_90d" in sp.unused_features and "tickets_opened_90d" not in sp.features
    assert sp.unused_feature_reasons["last_nps"] == "not in the feature frame"
    assert "no observed values" in sp.unused_feature_reasons["avg_csat_90d"]
    assert "days_since_last_purchase" in sp.features


def test_nullable_dtypes_and_date_objects_are_accepted(frame):
    f = frame.copy()
    f["as_of"] = f["as_of"].dt.date
    f["eligible"] = f["eligible"].astype("boolean")
    f["churned"] = f["churned"].astype("Float64")
    f["complaints_90d"] = f["complaints_90d"].astype("Int64")
    f["segment"] = f["segment"].astype("string")  # pd.NA for nulls
    sp = dataset.split(f)
    vocab = dataset.vocabulary(sp.train["segment"])
    assert vocab == sorted(frame["segment"].dropna().unique())
    cats = {f: dataset.vocabulary(sp.train[f]) for f in sp.features if load_catalogue()[f].is_categorical}
    X = dataset.feature_matrix(sp.valid, sp.features, {**cats, "nps_category": ["passive"]})
    assert X.dtype == np.float64
    seg = X[:, sp.features.index("segment")]
    assert np.array_equal(np.isnan(seg), sp.valid["segment"].isna().to_numpy())
    nps = X[:, sp.features.index("nps_category")]
    assert set(np.unique(nps[~np.isnan(nps)])) == {0.0}  # categories outside the vocabulary are NaN
    assert sp.valid_as_of == pd.Timestamp("2025-04-01")


def test_fingerprint_ignores_row_order_and_unlabelled_rows(frame):
    fp = dataset.fingerprint(frame)
    assert dataset.fingerprint(frame.sample(frac=1.0, random_state=3)) == fp
    newer = frame.copy()
    newer.loc[newer["churned"].isna(), "spend_30d"] += 1  # unlabelled (latest) rows change daily
    assert dataset.fingerprint(newer) == fp
    changed = frame.copy()
    changed.loc[changed.index[0], "churned"] = 1 - (changed.loc[changed.index[0], "churned"] or 0)
    assert dataset.fingerprint(changed) != fp
    assert dataset.fingerprint(frame, {"learning_rate": 0.2}) != fp


def test_rows_to_score_takes_eligible_rows_of_the_latest_as_of(frame):
    rows = dataset.rows_to_score(frame)
    assert rows["as_of"].nunique() == 1 and rows["as_of"].iloc[0] == pd.Timestamp("2025-05-01")
    assert rows["eligible"].all()
    assert len(dataset.rows_to_score(frame, "2025-03-01")) > 0
