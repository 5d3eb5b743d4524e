"""Categorical features (unit: category): learned, encoded with the training vocabulary, explained."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from ml import dataset, predict, registry
from ml.catalogue import load_catalogue
from ml.errors import CatalogueError
from ml.train import train
from ml_synthetic import CATEGORIES, SEGMENT_RISK, make_frame


@pytest.fixture(scope="module")
def seg_frame() -> pd.DataFrame:
    return make_frame(n_customers=1500, n_dates=5, seed=3, segment_signal=True)


@pytest.fixture(scope="module")
def seg_model(seg_frame):
    return train(seg_frame, dataset_id="acme")


@pytest.fixture(scope="module")
def seg_rows(seg_frame) -> pd.DataFrame:
    return dataset.rows_to_score(seg_frame)


def test_a_category_that_drives_churn_improves_the_model(seg_frame, seg_model):
    without = train(seg_frame.drop(columns=["segment"]), dataset_id="acme")
    assert seg_model.metrics["roc_auc"] > without.metrics["roc_auc"] + 0.05
    assert "segment" in list(seg_model.feature_importance)[:2]
    train_rows = seg_frame.loc[seg_frame["as_of"] < pd.Timestamp("2025-04-01")]
    assert seg_model.categories["segment"] == sorted(SEGMENT_RISK)
    assert seg_model.typical["segment"] == train_rows.loc[train_rows["eligible"] & train_rows["churned"].notna(),
                                                          "segment"].mode().iloc[0]
    assert set(seg_model.categories) == {"segment", "plan", "region", "lifecycle_stage", "nps_category"}
    assert seg_model.booster.dump_model()["feature_infos"]["segment"]["values"]  # a LightGBM categorical


def test_an_unseen_category_scores_like_a_missing_value(seg_model, seg_rows):
    unseen, missing = seg_rows.copy(), seg_rows.copy()
    unseen["segment"] = "brand_new_segment"
    missing["segment"] = None
    a = predict.predict(seg_model, unseen)
    b = predict.predict(seg_model, missing)
    assert np.array_equal(a["churn_risk"].to_numpy(), b["churn_risk"].to_numpy())
    assert np.array_equal(a.filter(like="shap_").to_numpy(), b.filter(like="shap_").to_numpy())
    out = predict.score(seg_model, unseen, top_n=len(seg_model.features))
    drivers = [d for ds in out["top_drivers"] for d in ds if d["feature"] == "segment"]
    assert all(d["value"] is None and d["sentence"] == seg_model.specs["segment"].missing for d in drivers)


def test_the_explanation_names_the_category(seg_model, seg_rows):
    out = predict.score(seg_model, seg_rows)
    drivers = [d for ds in out["top_drivers"] for d in ds if d["feature"] == "segment"]
    startup = [d for d in drivers if d["value"] == "startup"]
    assert startup, "the riskiest segment should be a top driver for somebody"
    assert startup[0]["sentence"] == "Customers in the startup segment churn more often than others"
    assert startup[0]["typical"] == seg_model.typical["segment"] and startup[0]["contribution"] > 0
    assert all(d["value"] != d["typical"] for d in drivers)  # the most common category is no reason
    json.dumps(drivers)
    spec = load_catalogue()["lifecycle_stage"]
    assert spec.sentence("lapsing", "established") == "Lapsing: no payment and no inbound interaction in the last 30 days"
    assert spec.sentence("dormant", "established") == "Lifecycle stage: dormant"  # template for other categories


def test_saved_and_loaded_model_encodes_identically(tmp_path, seg_model, seg_rows):
    model = copy.copy(seg_model)
    version = registry.save(model, tmp_path)
    card = registry.read_card(tmp_path, version)
    assert card["card_schema"] == 2 and card["categories"]["segment"] == sorted(SEGMENT_RISK)
    assert "segment: enterprise, mid_market, smb, startup" in (tmp_path / version / "card.md").read_text()
    loaded = registry.load(tmp_path, version)
    assert loaded.categories == seg_model.categories and loaded.typical == seg_model.typical
    rows = seg_rows.copy()
    rows.loc[rows.index[:20], "region"] = "atlantis"  # unseen
    a = predict.score(model, rows, include_contributions=True)
    b = predict.score(loaded, rows, include_contributions=True)
    assert np.array_equal(a["churn_risk"].to_numpy(), b["churn_risk"].to_numpy())
    assert np.array_equal(a.filter(like="shap_").to_numpy(), b.filter(like="shap_").to_numpy())
    assert a["reasons"].tolist() == b["reasons"].tolist()


def test_a_schema_1_card_without_categories_still_loads(tmp_path, seg_frame):
    numeric_only = seg_frame.drop(columns=list(CATEGORIES))
    model = train(numeric_only, dataset_id="acme", params={"num_boost_round": 5})
    version = registry.save(model, tmp_path)
    path = tmp_path / version / "card.json"
    card = json.loads(path.read_text())
    del card["categories"]
    card["card_schema"] = 1
    path.write_text(json.dumps(card))
    loaded = registry.load(tmp_path, version)
    rows = dataset.rows_to_score(numeric_only)
    assert loaded.categories == {}
    assert np.array_equal(predict.predict(loaded, rows)["churn_risk"], predict.predict(model, rows)["churn_risk"])


def test_fingerprint_covers_categorical_features(seg_frame):
    fp = dataset.fingerprint(seg_frame)
    changed = seg_frame.copy()
    first_labelled = changed.index[changed["eligible"] & changed["churned"].notna()][0]
    changed.loc[first_labelled, "segment"] = "other" if changed.loc[first_labelled, "segment"] != "other" else "smb"
    assert dataset.fingerprint(changed) != fp


def _catalogue(tmp_path, body: str):
    path = tmp_path / "features.yml"
    path.write_text("features:\n  seg:\n    dimension: value\n    label: Segment\n    unit: category\n" + body)
    return load_catalogue(path)


def test_catalogue_validates_categorical_features(tmp_path):
    spec = _catalogue(tmp_path, "    risk_when: either\n    template: 'In the {value} segment'\n"
                                "    sentences: {smb: Small business}\n    missing: No segment\n")["seg"]
    assert spec.is_categorical and spec.fmt == "s"
    assert (spec.sentence("smb", "smb"), spec.sentence("ent", "smb"), spec.sentence(None, "smb")) == \
        ("Small business", "In the ent segment", "No segment")
    with pytest.raises(CatalogueError, match="risk_when must be 'either', not 'low'"):
        _catalogue(tmp_path, "    risk_when: low\n    template: '{value}'\n    missing: none\n")
    with pytest.raises(CatalogueError, match="'sentences' must map each category"):
        _catalogue(tmp_path, "    risk_when: either\n    template: '{value}'\n    sentences: [a, b]\n    missing: none\n")
    with pytest.raises(CatalogueError, match="does not format"):
        _catalogue(tmp_path, "    risk_when: either\n    template: '{value}'\n    sentences: {a: '{typical}'}\n"
                             "    missing: none\n")
    path = tmp_path / "numeric.yml"
    path.write_text("features:\n  x:\n    dimension: value\n    label: X\n    fmt: '.0f'\n    risk_when: high\n"
                    "    template: '{value}'\n    sentences: {a: b}\n    missing: none\n")
    with pytest.raises(CatalogueError, match="only for 'unit: category'"):
        load_catalogue(path)
