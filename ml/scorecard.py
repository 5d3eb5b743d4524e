"""Rule-based health scorecard and recency baseline: what the model must beat, and the cold start.

The scorecard works the way commercial customer-success suites score (Gainsight scorecards,
ChurnZero ChurnScore): a list of measures, each ``{feature, weight, good, bad}``. A measure earns
its full ``weight`` in points at the ``good`` value and 0 points at the ``bad`` value, linearly in
between and clipped outside (``good`` may be above or below ``bad``). The health score is the
points earned as a share of all weights, 0..100 (weights need not sum to 100; they are
normalised).

Missing values: by default (``missing: half``) a measure whose value is not observed earns half its
weight, so a customer is neither rewarded nor punished for what was not observed and every
customer is scored on the same scale. ``missing: exclude`` instead drops the measure for that
customer and renormalises the remaining weights (the Gainsight behaviour); a customer with no
observed measure then scores 50.

``risk = 1 - health / 100`` ranks customers but is NOT a calibrated probability of churn; it
becomes one only through ``calibrate`` on labelled outcomes. The risk splits exactly into the
points each measure lost (``contribution`` of a driver = points lost / total weight), the way SHAP
contributions split a model's score.

``recency_risk`` is the simplest baseline: risk from the days since the customer's last sign of
life (payment or inbound contact) alone.

Pure numpy/pandas: no pipeline imports, no LightGBM.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ml import calibration
from ml.catalogue import DIMENSIONS, Catalogue, load_catalogue

MISSING_RULES = ("half", "exclude")
SCORECARD_VERSION = "scorecard"  # model_version of scores that come from the scorecard
RECENCY_FEATURES = ("days_since_last_purchase", "days_since_last_inbound")
# The same words and columns as the model's explanations (ml.explain, which needs LightGBM).
DIRECTION_UP = "raises risk"
NO_DRIVER_REASON = "No factor raises the risk above that of a typical customer"
DIMENSION_COLUMNS = [f"{d}_score" for d in DIMENSIONS]
# A customer with neither a payment nor an inbound contact on record counts as this many days silent.
VERY_OLD_DAYS = 3650.0


@dataclass(frozen=True)
class Measure:
    """One scorecard line: ``weight`` points at ``good``, 0 at ``bad``, linear in between."""

    feature: str
    weight: float
    good: float
    bad: float

    def __post_init__(self) -> None:
        if not (isinstance(self.weight, (int, float)) and self.weight > 0 and math.isfinite(self.weight)):
            raise ValueError(f"scorecard measure {self.feature!r}: weight must be a positive number")
        if not (math.isfinite(self.good) and math.isfinite(self.bad)) or self.good == self.bad:
            raise ValueError(f"scorecard measure {self.feature!r}: good and bad must be different numbers")

    def points(self, values: np.ndarray) -> np.ndarray:
        """Points earned per value (NaN where the value is missing)."""
        share = (np.asarray(values, dtype="float64") - self.bad) / (self.good - self.bad)
        return self.weight * np.clip(share, 0.0, 1.0)


# Defaults for the features of fct_customer_features; the pipeline's config file repeats them.
DEFAULT_MEASURES: tuple[Measure, ...] = (
    Measure("days_since_last_inbound", 15, good=3, bad=60),
    Measure("active_days_30d", 15, good=20, bad=0),
    Measure("logins_30d", 10, good=15, bad=0),
    Measure("open_tickets", 10, good=0, bad=3),
    Measure("repeat_contacts_90d", 10, good=0, bad=3),
    Measure("avg_csat_90d", 10, good=4.5, bad=2),
    Measure("last_nps", 10, good=9, bad=5),
    Measure("spend_change_90d", 10, good=1.0, bad=0.5),
    Measure("days_since_last_purchase", 10, good=14, bad=90),
)


@dataclass(frozen=True)
class Scorecard:
    """A validated scorecard: its measures and the rule for missing values."""

    measures: tuple[Measure, ...] = DEFAULT_MEASURES
    missing: str = "half"

    def __post_init__(self) -> None:
        if not self.measures:
            raise ValueError("a scorecard needs at least one measure")
        if self.missing not in MISSING_RULES:
            raise ValueError(f"scorecard missing must be one of {', '.join(MISSING_RULES)}, not {self.missing!r}")
        names = [m.feature for m in self.measures]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"scorecard measures repeat feature(s) {', '.join(repeated)}")

    @property
    def total_weight(self) -> float:
        return float(sum(m.weight for m in self.measures))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready definition (what ``from_config`` reads back)."""
        return {"missing": self.missing, "measures": [asdict(m) for m in self.measures]}

    @classmethod
    def from_config(cls, definition: "Scorecard | Mapping[str, Any] | Iterable[Mapping[str, Any]] | None") -> "Scorecard":
        """A scorecard from a plain definition: ``{"measures": [...], "missing": "half"}``, a bare
        list of measure mappings, an existing ``Scorecard``, or None for the defaults."""
        if definition is None:
            return cls()
        if isinstance(definition, Scorecard):
            return definition
        if isinstance(definition, Mapping):
            raw, missing = definition.get("measures"), str(definition.get("missing", "half"))
        else:
            raw, missing = definition, "half"
        if raw is None:
            return cls(missing=missing)
        measures = tuple(Measure(str(m["feature"]), float(m["weight"]), float(m["good"]), float(m["bad"]))
                         for m in raw)
        return cls(measures=measures, missing=missing)

    def check_features(self, catalogue: Catalogue) -> list[str]:
        """Problems with the measures' features against a catalogue (unknown or categorical)."""
        problems = []
        for m in self.measures:
            if m.feature not in catalogue:
                problems.append(f"{m.feature!r} is not a feature of the catalogue")
            elif catalogue[m.feature].is_categorical:
                problems.append(f"{m.feature!r} is a category; a scorecard measure needs a number")
        return problems


@dataclass
class ScorecardResult:
    """Per-row scorecard numbers: ``points`` and ``lost`` (rows x measures), health and risk."""

    scorecard: Scorecard
    values: np.ndarray
    points: np.ndarray
    lost: np.ndarray
    health: np.ndarray
    risk: np.ndarray


def _values(frame: pd.DataFrame, feature: str) -> np.ndarray:
    """A feature column as float64 with NaN for nulls; all NaN when the frame lacks it."""
    if feature not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[feature], errors="coerce").astype("Float64").to_numpy(dtype="float64",
                                                                                        na_value=np.nan)


def evaluate(scorecard: Scorecard, frame: pd.DataFrame) -> ScorecardResult:
    """Points, points lost, health (0..100) and uncalibrated risk of every row of ``frame``.

    ``lost`` is in points of the normalised 100-point scale, so each row's lost points sum to
    ``100 - health``.
    """
    n, k = len(frame), len(scorecard.measures)
    values = np.column_stack([_values(frame, m.feature) for m in scorecard.measures]) if n else np.empty((0, k))
    weights = np.array([m.weight for m in scorecard.measures], dtype="float64")
    earned = np.column_stack([m.points(values[:, j]) for j, m in enumerate(scorecard.measures)]) if n \
        else np.empty((0, k))
    observed = ~np.isnan(values)
    if scorecard.missing == "half":
        points = np.where(observed, earned, weights / 2)
        counted = np.broadcast_to(weights, points.shape)
    else:
        points = np.where(observed, earned, 0.0)
        counted = np.where(observed, weights, 0.0)
    total = counted.sum(axis=1)
    scale = np.divide(100.0, total, out=np.zeros_like(total), where=total > 0)
    health = np.where(total > 0, points.sum(axis=1) * scale, 50.0)
    lost = (counted - points) * scale[:, None]
    return ScorecardResult(scorecard, values, points * scale[:, None], lost, health, 1.0 - health / 100.0)


def scorecard_risk(frame: pd.DataFrame, scorecard: Scorecard | Mapping[str, Any] | None = None) -> np.ndarray:
    """Uncalibrated risk ``1 - health / 100`` of every row (higher = less healthy)."""
    return evaluate(Scorecard.from_config(scorecard), frame).risk


def recency_risk(frame: pd.DataFrame, scale_days: float = 90.0) -> np.ndarray:
    """Risk from silence alone: ``1 - exp(-days / scale_days)`` of the days since the last payment
    or inbound contact, whichever is more recent; a customer with neither on record counts as very
    long silent. Monotone in the days, so it ranks like recency; not a calibrated probability."""
    days = np.column_stack([_values(frame, f) for f in RECENCY_FEATURES]) if len(frame) \
        else np.empty((0, len(RECENCY_FEATURES)))
    days = np.where(np.isnan(days), VERY_OLD_DAYS, days).min(axis=1) if len(frame) else np.empty(0)
    return 1.0 - np.exp(-np.clip(days, 0.0, None) / scale_days)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def calibrate(risk: np.ndarray, y: np.ndarray, *, min_each: int = 10) -> calibration.Calibrator | None:
    """A sigmoid calibrator from a baseline's risk to churn probability, fitted on labelled rows
    (``y`` 0/1); None when there are fewer than ``min_each`` churners or non-churners.
    Apply it with ``calibrator.predict(logit(risk))`` (see ``apply_calibration``)."""
    y = np.asarray(y, dtype="float64")
    pos = int(y.sum())
    if pos < min_each or len(y) - pos < min_each:
        return None
    return calibration.fit_calibrator(_logit(risk), y, "sigmoid")


def apply_calibration(calibrator: calibration.Calibrator, risk: np.ndarray) -> np.ndarray:
    return calibrator.predict(_logit(risk))


def baseline_metrics(risk: np.ndarray, y: np.ndarray, method: str, seed: int = 42) -> dict[str, Any]:
    """Validation metrics of a baseline, measured like the model's: ``ml.metrics`` on out-of-fold
    calibrated probabilities (same calibration ``method`` and folds), plus the uncalibrated AUC."""
    from ml.metrics import classification_metrics

    raw = _logit(risk)
    out = classification_metrics(y, calibration.cross_fitted(raw, y, method, seed=seed))
    out["roc_auc_uncalibrated"] = classification_metrics(y, np.asarray(risk, dtype="float64"))["roc_auc"]
    return out


def _typical(result: ScorecardResult, typical: Mapping[str, float | None] | None) -> list[float]:
    out = []
    for j, m in enumerate(result.scorecard.measures):
        given = None if typical is None else typical.get(m.feature)
        if given is None or (isinstance(given, float) and math.isnan(given)):
            column = result.values[:, j]
            given = float(np.nanmedian(column)) if (~np.isnan(column)).any() else float("nan")
        out.append(float(given))
    return out


def drivers(result: ScorecardResult, catalogue: Catalogue, *, typical: Mapping[str, float | None] | None = None,
            top_n: int = 3) -> list[list[dict[str, Any]]]:
    """For each row, up to ``top_n`` measures losing the most points, most first.

    Like the model's drivers, a measure only counts as a reason when its value is missing or worse
    than typical (it earns fewer points than the typical value would); ``typical`` defaults to the
    median of ``result``'s rows. Each driver: {feature, label, dimension, direction, contribution
    (risk it adds: points lost / 100), points_lost, value, typical, sentence}.
    """
    measures = result.scorecard.measures
    typ = _typical(result, typical)
    typ_points = np.array([m.points(np.array([t]))[0] if not math.isnan(t) else np.nan
                           for m, t in zip(measures, typ)])
    raw_points = np.column_stack([m.points(result.values[:, j]) for j, m in enumerate(measures)]) \
        if len(result.values) else np.empty((0, len(measures)))
    reason = np.isnan(result.values) | (raw_points < np.nan_to_num(typ_points, nan=np.inf))
    masked = np.where(reason & (result.lost > 1e-9), result.lost, -np.inf)
    order = np.argsort(-masked, axis=1, kind="stable")[:, :top_n]
    out: list[list[dict[str, Any]]] = []
    for i in range(len(masked)):
        row = []
        for j in order[i]:
            if masked[i, j] == -np.inf:
                break
            m = measures[j]
            spec = catalogue[m.feature]
            v = result.values[i, j]
            value = None if math.isnan(v) else float(v)
            shown = None if math.isnan(typ[j]) else typ[j]
            row.append({
                "feature": m.feature,
                "label": spec.label,
                "dimension": spec.dimension,
                "direction": DIRECTION_UP,
                "contribution": round(float(result.lost[i, j]) / 100.0, 4),
                "points_lost": round(float(result.lost[i, j]), 1),
                "value": value,
                "typical": shown,
                "sentence": spec.sentence(value, shown),
            })
        out.append(row)
    return out


def dimension_scores(result: ScorecardResult, catalogue: Catalogue, *, unmeasured: float = 50.0) -> pd.DataFrame:
    """0..100 per catalogue dimension: the points its measures earned as a share of their weights
    (with the same missing rule); ``unmeasured`` for a dimension without any measure."""
    n = len(result.health)
    cols = {}
    for d in DIMENSIONS:
        idx = [j for j, m in enumerate(result.scorecard.measures) if catalogue[m.feature].dimension == d]
        if not idx:
            cols[f"{d}_score"] = np.full(n, unmeasured)
            continue
        earned = result.points[:, idx].sum(axis=1)
        possible = earned + result.lost[:, idx].sum(axis=1)
        cols[f"{d}_score"] = np.where(possible > 0, 100.0 * earned / np.where(possible > 0, possible, 1.0),
                                      unmeasured)
    return pd.DataFrame({c: np.round(cols[c], 1) for c in DIMENSION_COLUMNS})


def score(frame: pd.DataFrame, scorecard: Scorecard | Mapping[str, Any] | None = None, *,
          catalogue: Catalogue | None = None, calibrator: calibration.Calibrator | None = None,
          typical: Mapping[str, float | None] | None = None, top_n: int = 3,
          unmeasured: float = 50.0) -> pd.DataFrame:
    """Score rows with the scorecard, in the columns ``ml.predict.score`` returns for a model.

    Columns: customer_id, as_of (when present), churn_risk (``calibrator`` applied when given,
    else the uncalibrated ``1 - health / 100``), engagement_score, experience_score, voice_score,
    value_score, top_drivers, reasons, model_version (``"scorecard"``); plus ``health`` (0..100).
    """
    card = Scorecard.from_config(scorecard)
    catalogue = catalogue or load_catalogue()
    result = evaluate(card, frame)
    risk = result.risk if calibrator is None else apply_calibration(calibrator, result.risk)
    head: dict[str, Any] = {"customer_id": frame["customer_id"].astype(str).to_numpy()}
    if "as_of" in frame.columns:
        head["as_of"] = frame["as_of"].to_numpy()
    head["churn_risk"] = np.clip(risk, 0.0, 1.0)
    out = pd.DataFrame(head, index=frame.index)
    dims = dimension_scores(result, catalogue, unmeasured=unmeasured)
    dims.index = frame.index
    out = pd.concat([out, dims], axis=1)
    rows = drivers(result, catalogue, typical=typical, top_n=top_n)
    out["top_drivers"] = pd.Series(rows, index=frame.index, dtype=object)
    out["reasons"] = ["; ".join(d["sentence"] for d in r) if r else NO_DRIVER_REASON for r in rows]
    out["model_version"] = SCORECARD_VERSION
    out["health"] = np.round(result.health, 1)
    return out
