"""Explain scores: top risk drivers in plain language and per-dimension health scores.

Works on the SHAP contributions from ``predict`` (raw log-odds space). A driver is a feature whose
contribution pushes the customer's risk above the model's average and whose value is missing or on
its risky side of the typical value (for a category: any category but the most common one); its
sentence comes from the catalogue template stored in the model, with a categorical driver's value
decoded back to its category text. Dimension scores map the summed contributions of a
dimension's features to 0..100 (higher is healthier): 50 - 50 * tanh(sum / scale).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ml.catalogue import DIMENSIONS
from ml.dataset import feature_matrix
from ml.errors import FrameError
from ml.model import TrainedModel
from ml.predict import contribution_columns

DIRECTION_UP = "raises risk"
NO_DRIVER_REASON = "No factor raises the risk above that of a typical customer"


def dimension_columns() -> list[str]:
    """Output column names of the dimension scores, e.g. ``engagement_score``."""
    return [f"{d}_score" for d in DIMENSIONS]


def dimension_scores(model: TrainedModel, contributions: np.ndarray, *, unmeasured: float = 50.0,
                     scale: float = 1.0) -> pd.DataFrame:
    """0..100 health score per dimension from an (n x features) contribution matrix.

    ``unmeasured`` is the score of a dimension none of whose features the model uses (e.g. voice
    for a business without surveys); pass NaN to show it as unknown instead of neutral 50.
    """
    contributions = np.asarray(contributions, dtype="float64")
    membership = np.zeros((len(model.features), len(DIMENSIONS)))
    for j, f in enumerate(model.features):
        membership[j, DIMENSIONS.index(model.specs[f].dimension)] = 1.0
    sums = contributions @ membership if len(model.features) else np.zeros((len(contributions), len(DIMENSIONS)))
    scores = 50.0 - 50.0 * np.tanh(sums / scale)
    measured = membership.sum(axis=0) > 0
    scores[:, ~measured] = unmeasured
    return pd.DataFrame(np.round(scores, 1), columns=dimension_columns())


def _clean(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def _typical_number(model: TrainedModel, feature: str) -> float | None:
    """The typical value in the feature matrix's terms (a category's code)."""
    typical = model.typical.get(feature)
    vocab = model.categories.get(feature)
    if vocab is not None:
        return float(vocab.index(typical)) if typical in vocab else None
    return _clean(typical)


def _decode(vocab: list[str] | None, v: float | None) -> float | str | None:
    if vocab is None or v is None:
        return v
    return vocab[int(v)] if 0 <= v < len(vocab) else None


def _explainable(specs: list, typical: list[float | None], values: np.ndarray) -> np.ndarray:
    """True where a feature's value is missing or lies on its risky side of the typical value."""
    typ = np.array([np.nan if t is None else t for t in typical], dtype="float64")
    side = np.array([spec.risk_when for spec in specs])
    with np.errstate(invalid="ignore"):
        risky = np.where(side == "high", values > typ,
                         np.where(side == "low", values < typ, values != typ))
    return np.isnan(values) | np.isnan(typ) | risky


def _ranked(masked: np.ndarray, top_n: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns, values) of each row's ``top_n`` largest values, largest first, ties to the lower
    column (as a stable sort would); top_n passes of argmax, cheaper than sorting every row."""
    work = masked.copy()
    rows = np.arange(len(work))
    columns = np.empty((len(work), top_n), dtype="intp")
    values = np.empty((len(work), top_n))
    for r in range(top_n):
        columns[:, r] = best = work.argmax(axis=1)
        values[:, r] = work[rows, best]
        work[rows, best] = -np.inf
    return columns, values


def top_drivers(model: TrainedModel, contributions: np.ndarray, values: np.ndarray, *, top_n: int = 3,
                min_contribution: float = 1e-6) -> list[list[dict[str, Any]]]:
    """For each row, up to ``top_n`` features with the largest positive contribution, largest first.

    Each driver: {feature, label, dimension, direction, contribution (4 decimals), value, typical,
    sentence}; value/typical are None when not observed, category text for a categorical feature
    (``values`` holds its codes, as from ``feature_matrix``).
    """
    contributions = np.asarray(contributions, dtype="float64")
    n, k = contributions.shape
    top_n = max(0, min(top_n, k))
    if n == 0 or top_n == 0:
        return [[] for _ in range(n)]
    values = np.asarray(values, dtype="float64")
    specs = [model.specs[f] for f in model.features]
    vocabs = [model.categories.get(f) for f in model.features]
    typical = [_typical_number(model, f) for f in model.features]
    shown_typical = [_decode(vocab, t) for vocab, t in zip(vocabs, typical)]
    # Only a value a person would call a reason: missing, or on the risky side of typical.
    # "1 purchase (typical 1)" may carry SHAP weight through interactions, but it explains nothing.
    masked = np.where((contributions > min_contribution) & _explainable(specs, typical, values),
                      contributions, -np.inf)
    order, chosen = _ranked(masked, top_n)
    counts = (chosen > -np.inf).sum(axis=1).tolist()
    # Python lists of plain objects: per-element numpy indexing is the slow part at 100k rows.
    order_l = order.tolist()
    contrib_l = np.round(np.where(np.isfinite(chosen), chosen, 0.0), 4).tolist()
    picked = np.take_along_axis(values, order, axis=1)
    values_l = np.where(np.isnan(picked), None, picked).tolist()
    static = [(spec.name, spec.label, spec.dimension, shown) for spec, shown in zip(specs, shown_typical)]
    shown: dict[tuple[int, float | None], tuple[Any, str]] = {}  # (feature, value) -> (value, sentence)
    out: list[list[dict[str, Any]]] = []
    append = out.append
    for i, count in enumerate(counts):
        row = []
        for r in range(count):
            j = order_l[i][r]
            key = (j, values_l[i][r])
            hit = shown.get(key)
            if hit is None:
                v = _decode(vocabs[j], key[1])
                hit = shown[key] = (v, specs[j].sentence(v, shown_typical[j]))
            name, label, dimension, typ = static[j]
            row.append({"feature": name, "label": label, "dimension": dimension,
                        "direction": DIRECTION_UP, "contribution": contrib_l[i][r],
                        "value": hit[0], "typical": typ, "sentence": hit[1]})
        append(row)
    return out


def _aligned_values(model: TrainedModel, frame: pd.DataFrame, scored: pd.DataFrame) -> np.ndarray:
    if frame.index.equals(scored.index):
        rows = frame
    elif frame.index.is_unique and scored.index.isin(frame.index).all():
        rows = frame.loc[scored.index]
    else:
        raise FrameError("explain needs the scored rows and the feature rows on the same index "
                         "(pass the frame you gave to predict)")
    return feature_matrix(rows, model.features, model.categories)


def explain(model: TrainedModel, frame: pd.DataFrame, scored: pd.DataFrame, *, top_n: int = 3,
            unmeasured: float = 50.0, scale: float = 1.0, matrix: np.ndarray | None = None) -> pd.DataFrame:
    """Drivers, reasons and dimension scores for rows scored by ``predict``.

    ``frame`` supplies the feature values (same index as ``scored``). Returns a DataFrame on
    ``scored``'s index: customer_id, engagement_score, experience_score, voice_score, value_score,
    top_drivers (list of driver dicts, largest first) and reasons (their sentences joined with "; ").
    ``matrix``: the rows' ``feature_matrix`` when the caller has it already (same row order).
    """
    cols = contribution_columns(model)
    missing = [c for c in cols if c not in scored.columns]
    if missing:
        raise FrameError(f"scored frame lacks contribution column(s) {', '.join(missing[:5])}: pass predict's output")
    contrib = scored[cols].to_numpy(dtype="float64")
    values = matrix if matrix is not None else _aligned_values(model, frame, scored)
    drivers = top_drivers(model, contrib, values, top_n=top_n)
    reasons = ["; ".join(d["sentence"] for d in row) if row else NO_DRIVER_REASON for row in drivers]
    dims = dimension_scores(model, contrib, unmeasured=unmeasured, scale=scale)
    dims.index = scored.index
    out = pd.DataFrame({"customer_id": scored["customer_id"].to_numpy()}, index=scored.index)
    out = pd.concat([out, dims], axis=1)
    out["top_drivers"] = pd.Series(drivers, index=scored.index, dtype=object)
    out["reasons"] = reasons
    return out
