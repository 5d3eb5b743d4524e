"""Score feature-frame rows with a trained model: calibrated churn risk plus SHAP contributions.

``predict`` returns the numbers (risk, raw log-odds score, one ``shap_<feature>`` column per
feature and ``shap_expected_value``, all in raw log-odds space; each row's contributions sum to its
raw score). ``score`` adds the explanations (drivers, reasons, dimension scores) in one call;
``score_table`` gives the same as Arrow columns with the drivers as JSON text, what the pipeline
stores.
``raw_scores`` gives the raw scores alone, the numbers calibration is fitted on and applied to.
Categorical features are encoded with the model's stored vocabulary: a category never seen in
training scores exactly like a missing value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml import tree_tables
from ml.dataset import feature_matrix
from ml.model import TrainedModel

if TYPE_CHECKING:
    import pyarrow as pa

CONTRIB_PREFIX = "shap_"
EXPECTED_VALUE_COLUMN = "shap_expected_value"


def contribution_columns(model: TrainedModel) -> list[str]:
    """Names of the per-feature contribution columns ``predict`` returns, in model feature order."""
    return [CONTRIB_PREFIX + f for f in model.features]


def _contributions(model: TrainedModel, X: np.ndarray, num_threads: int | None) -> np.ndarray:
    """SHAP values of the rows of ``X``: one column per feature, the expected value last."""
    if not len(X):
        return np.zeros((0, len(model.features) + 1))
    if model.shap_tables is not None:
        return tree_tables.contributions(model.shap_tables, X)
    extra = {} if num_threads is None else {"num_threads": int(num_threads)}
    return model.booster.predict(X, pred_contrib=True, **extra)


def booster_raw_scores(booster: Any, tables: "tree_tables.ModelTables | None", X: np.ndarray,
                       num_threads: int | None = None) -> np.ndarray:
    """Raw scores (log-odds) of the rows of ``X``: the sums of the rows' SHAP values when the trees
    have lookup tables (the numbers scoring calibrates, several times faster than LightGBM's
    ``predict`` on shallow trees; equal to it up to rounding), else LightGBM's raw scores."""
    if not len(X):
        return np.zeros(0)
    if tables is not None:
        return tree_tables.contributions(tables, X).sum(axis=1)
    extra = {} if num_threads is None else {"num_threads": int(num_threads)}
    return booster.predict(X, raw_score=True, **extra)


def raw_scores(model: TrainedModel, X: np.ndarray, num_threads: int | None = None) -> np.ndarray:
    """``booster_raw_scores`` of a trained model."""
    return booster_raw_scores(model.booster, model.shap_tables, X, num_threads)


def predict(model: TrainedModel, frame: pd.DataFrame, *, num_threads: int | None = None,
            matrix: np.ndarray | None = None) -> pd.DataFrame:
    """Score every row of ``frame`` (the caller picks the rows, e.g. ``dataset.rows_to_score``).

    Returns a DataFrame on ``frame``'s index: customer_id, as_of (when present), churn_risk
    (calibrated, in [0, 1]), raw_score (log-odds), ``shap_<feature>`` for each model feature and
    ``shap_expected_value``. Raises ``FrameError`` when a model feature column is missing.
    Shallow trees (what the default parameters grow) are scored and explained by table lookup
    (``ml.tree_tables``: the same numbers, about ten times faster); bigger ones by LightGBM's
    ``pred_contrib``, whose ``num_threads`` defaults to OpenMP's choice (all cores). ``matrix``:
    the rows' ``feature_matrix`` when the caller has it already.
    """
    X = matrix if matrix is not None else feature_matrix(frame, model.features, model.categories)
    contrib = _contributions(model, X, num_threads)
    raw = contrib.sum(axis=1)
    head = {"customer_id": frame["customer_id"].astype(str).to_numpy()}
    if "as_of" in frame.columns:
        head["as_of"] = frame["as_of"].to_numpy()
    head["churn_risk"] = model.calibrator.predict(raw)
    head["raw_score"] = raw
    out = pd.DataFrame(head, index=frame.index)
    shap = pd.DataFrame(contrib, columns=contribution_columns(model) + [EXPECTED_VALUE_COLUMN], index=frame.index)
    return pd.concat([out, shap], axis=1)


def score(model: TrainedModel, frame: pd.DataFrame, *, top_n: int = 3, unmeasured: float = 50.0,
          include_contributions: bool = False, num_threads: int | None = None) -> pd.DataFrame:
    """``predict`` + ``explain`` in one call: everything the output table needs from the model.

    Columns: customer_id, as_of (when present), churn_risk, engagement_score, experience_score,
    voice_score, value_score, top_drivers (list of dicts), reasons (str), model_version; plus
    raw_score and the shap_ columns when ``include_contributions``.
    """
    from ml.explain import explain  # local import keeps the module graph acyclic

    X = feature_matrix(frame, model.features, model.categories)
    scored = predict(model, frame, num_threads=num_threads, matrix=X)
    expl = explain(model, frame, scored, top_n=top_n, unmeasured=unmeasured, matrix=X)
    keep = ["customer_id"] + (["as_of"] if "as_of" in scored.columns else []) + ["churn_risk"]
    out = pd.concat([scored[keep], expl.drop(columns=["customer_id"])], axis=1)
    out["model_version"] = model.version
    if include_contributions:
        out = pd.concat([out, scored.drop(columns=keep)], axis=1)
    return out


def score_table(model: TrainedModel, frame: pd.DataFrame, *, top_n: int = 3, unmeasured: float = 50.0,
                num_threads: int | None = None) -> "pa.Table":
    """``score`` as Arrow columns ready to store, for scoring many rows at once.

    Columns: customer_id, as_of (when present), churn_risk, engagement_score, experience_score,
    voice_score, value_score, top_drivers (JSON text of ``score``'s driver dicts), reasons,
    primary_feature and primary_dimension (the strongest driver's, null without one) and
    model_version. The drivers never become Python dicts (see ``ml.explain.Drivers``).
    """
    import pyarrow as pa

    from ml.explain import dimension_scores, drivers  # local import keeps the module graph acyclic

    X = feature_matrix(frame, model.features, model.categories)
    contrib = _contributions(model, X, num_threads)
    found = drivers(model, contrib[:, :-1], X, top_n=top_n)
    columns = {"customer_id": pa.array(frame["customer_id"].astype(str).to_numpy(), pa.string())}
    if "as_of" in frame.columns:
        columns["as_of"] = pa.array(frame["as_of"].to_numpy())
    columns["churn_risk"] = pa.array(model.calibrator.predict(contrib.sum(axis=1)), pa.float64())
    dims = dimension_scores(model, contrib[:, :-1], unmeasured=unmeasured)
    columns.update({name: pa.array(dims[name].to_numpy(), pa.float64()) for name in dims.columns})
    columns.update(top_drivers=found.json(), reasons=found.reasons(), primary_feature=found.primary(0),
                   primary_dimension=found.primary(2),
                   model_version=pa.array([model.version] * len(frame), pa.string()))
    return pa.table(columns)
