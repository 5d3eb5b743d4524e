"""Registry: round trip, reuse by fingerprint, dataset isolation, atomic writes, model card."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from ml import predict, registry
from ml.errors import DatasetMismatch, ModelNotFound


def test_round_trip_gives_identical_predictions(tmp_path, model, score_rows):
    model = copy.copy(model)  # the session model stays unsaved
    version = registry.save(model, tmp_path)
    assert version == "v0001" and model.version == "v0001"
    assert sorted(p.name for p in (tmp_path / version).iterdir()) == [
        "calibrator.json", "card.json", "card.md", "model.txt", "reference.json"]
    loaded = registry.load(tmp_path, version)
    assert loaded.reference == json.loads(json.dumps(model.reference))
    a = predict.score(model, score_rows, include_contributions=True)
    b = predict.score(loaded, score_rows, include_contributions=True)
    assert np.array_equal(a["churn_risk"].to_numpy(), b["churn_risk"].to_numpy())
    assert np.array_equal(a.filter(like="shap_").to_numpy(), b.filter(like="shap_").to_numpy())
    assert a["reasons"].tolist() == b["reasons"].tolist()
    assert (b["model_version"] == "v0001").all()
    assert loaded.metrics == json.loads(json.dumps(model.metrics))


def test_card_contents(tmp_path, model):
    model = copy.copy(model)  # the session model stays unsaved
    version = registry.save(model, tmp_path)
    card = registry.read_card(tmp_path, version)
    for key in ("version", "created_at", "dataset_id", "data_fingerprint", "params", "features",
                "unused_features", "metrics", "training", "typical", "feature_importance_gain"):
        assert key in card
    assert card["version"] == version and card["dataset_id"] == "acme"
    assert card["training"]["train_as_of_min"] == "2025-01-01" and card["training"]["valid_rows"] > 0
    md = (tmp_path / version / "card.md").read_text()
    assert "## Metrics" in md and "ROC AUC" in md and "## Top features by gain" in md and "## Limitations" in md
    assert "days_since_last_purchase" in md


def test_versions_are_sortable_and_find_reuses_by_fingerprint(tmp_path, model):
    model = copy.copy(model)  # the session model stays unsaved
    assert registry.list_versions(tmp_path / "absent") == []
    v1 = registry.save(model, tmp_path)
    v2 = registry.save(model, tmp_path)
    assert (v1, v2) == ("v0001", "v0002") and registry.list_versions(tmp_path) == ["v0001", "v0002"]
    assert registry.find(tmp_path, "acme", model.data_fingerprint) == "v0002"
    assert registry.find(tmp_path, "acme", "0" * 32) is None
    assert registry.find(tmp_path, "other", model.data_fingerprint) is None


def test_latest_refuses_a_model_of_another_dataset(tmp_path, model):
    model = copy.copy(model)  # the session model stays unsaved
    registry.save(model, tmp_path)
    assert registry.latest(tmp_path, "acme") == "v0001"
    with pytest.raises(ModelNotFound, match="no model trained on dataset 'globex'.*acme"):
        registry.latest(tmp_path, "globex")
    with pytest.raises(DatasetMismatch, match="trained on dataset 'acme', not 'globex'"):
        registry.load(tmp_path, "v0001", dataset_id="globex")
    with pytest.raises(ModelNotFound):
        registry.load(tmp_path, "v0009")
    with pytest.raises(ModelNotFound, match="holds no models"):
        registry.latest(tmp_path / "empty", "acme")


def test_half_written_versions_are_invisible(tmp_path, model):
    model = copy.copy(model)  # the session model stays unsaved
    (tmp_path / "v0005").mkdir()
    (tmp_path / "v0005" / "model.txt").write_text("partial")
    (tmp_path / ".tmp-v0006-x").mkdir()
    assert registry.list_versions(tmp_path) == []
    version = registry.save(model, tmp_path)
    assert version == "v0006"  # never reuses a number, even of a broken folder
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-") and p.name != ".tmp-v0006-x"]


def test_failed_save_leaves_nothing(tmp_path, model, monkeypatch):
    model = copy.copy(model)  # the session model stays unsaved
    def boom(card, top_features=10):
        raise RuntimeError("disk full")

    monkeypatch.setattr(registry, "render_markdown", boom)
    before = model.version
    with pytest.raises(RuntimeError):
        registry.save(model, tmp_path)
    assert list(tmp_path.iterdir()) == [] and model.version == before


def test_ensure_model_trains_once_then_reuses(tmp_path, frame):
    m1, reused1 = registry.ensure_model(tmp_path, frame, dataset_id="acme")
    m2, reused2 = registry.ensure_model(tmp_path, frame, dataset_id="acme")
    assert (reused1, reused2) == (False, True)
    assert m1.version == m2.version == "v0001"
    m3, reused3 = registry.ensure_model(tmp_path, frame, dataset_id="globex")
    assert not reused3 and m3.version == "v0002"


SCORE_IN_A_FRESH_PROCESS = """
import sys
import pandas as pd
from ml import predict, registry
model = registry.load(sys.argv[1], "v0001")
scored = predict.score(model, pd.read_parquet(sys.argv[2]), include_contributions=True)
scored[["churn_risk", "reasons"] + [c for c in scored if c.startswith("shap_")]].to_parquet(sys.argv[3])
print("lightgbm imported" if "lightgbm" in sys.modules else "lightgbm not imported")
"""


def test_a_saved_shallow_model_scores_from_its_tables_without_lightgbm(tmp_path, frame, score_rows):
    import subprocess
    import sys

    import pandas as pd

    from ml.train import train

    model = train(frame, dataset_id="acme", params={"num_leaves": 3, "num_boost_round": 80})
    registry.save(model, tmp_path / "models")
    assert (tmp_path / "models" / "v0001" / registry.TABLES_FILE).is_file()
    score_rows.to_parquet(tmp_path / "rows.parquet")
    done = subprocess.run([sys.executable, "-c", SCORE_IN_A_FRESH_PROCESS, str(tmp_path / "models"),
                           str(tmp_path / "rows.parquet"), str(tmp_path / "scored.parquet")],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "lightgbm not imported"
    expected = predict.score(model, score_rows, include_contributions=True)
    got = pd.read_parquet(tmp_path / "scored.parquet")
    assert np.array_equal(got["churn_risk"].to_numpy(), expected["churn_risk"].to_numpy())
    assert np.array_equal(got.filter(like="shap_").to_numpy(), expected.filter(like="shap_").to_numpy())
    assert got["reasons"].tolist() == expected["reasons"].tolist()


def test_tables_of_another_model_txt_or_damaged_are_not_used(tmp_path, frame, score_rows):
    from ml.dataset import feature_matrix
    from ml.train import train

    for seed, folder in ((1, "a"), (2, "b")):
        registry.save(train(frame, dataset_id="acme", params={"num_leaves": 3, "num_boost_round": 40,
                                                              "seed": seed, "feature_fraction": 0.5}),
                      tmp_path / folder)
    (tmp_path / "b" / "v0001" / registry.TABLES_FILE).replace(tmp_path / "a" / "v0001" / registry.TABLES_FILE)
    loaded = registry.load(tmp_path / "a", "v0001")
    X = feature_matrix(score_rows, loaded.features, loaded.categories)
    np.testing.assert_allclose(predict.raw_scores(loaded, X), loaded.booster.predict(X, raw_score=True), atol=1e-9)
    # nor a damaged file: the model still loads and scores right
    (tmp_path / "a" / "v0001" / registry.TABLES_FILE).write_bytes(b"not a zip file")
    loaded = registry.load(tmp_path / "a", "v0001")
    np.testing.assert_allclose(predict.raw_scores(loaded, X), loaded.booster.predict(X, raw_score=True), atol=1e-9)
