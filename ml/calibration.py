"""Probability calibration of raw LightGBM scores (log-odds) into churn probabilities.

Isotonic regression when the calibration fold is large enough, Platt (sigmoid) scaling when it is
small. The fitted calibrator is plain numbers (thresholds or two coefficients), so it is stored as
JSON beside the booster and applied with numpy alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

METHODS = ("auto", "isotonic", "sigmoid")


def expit(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) without overflow (SciPy's ``expit`` costs scoring the import of
    ``scipy.special``, a quarter of a second)."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype="float64")))


@dataclass
class Calibrator:
    """Maps raw scores (log-odds) to calibrated probabilities in [0, 1].

    ``isotonic``: piecewise-linear through the (x, y) centres of the isotonic steps, clipped at
    both ends.
    ``sigmoid``: p = 1 / (1 + exp(-(a * raw + b))).
    """

    method: str
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    a: float = 1.0
    b: float = 0.0
    n_rows: int = 0
    n_positives: int = 0

    def predict(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype="float64")
        if self.method == "isotonic":
            p = np.interp(raw, np.asarray(self.x), np.asarray(self.y))
        elif self.method == "sigmoid":
            p = expit(self.a * raw + self.b)
        else:
            raise ValueError(f"unknown calibration method {self.method!r}")
        return np.clip(p, 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": self.method, "n_rows": self.n_rows, "n_positives": self.n_positives}
        if self.method == "isotonic":
            d.update(x=[float(v) for v in self.x], y=[float(v) for v in self.y])
        else:
            d.update(a=float(self.a), b=float(self.b))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Calibrator":
        return cls(
            method=str(d["method"]),
            x=list(d.get("x", [])),
            y=list(d.get("y", [])),
            a=float(d.get("a", 1.0)),
            b=float(d.get("b", 0.0)),
            n_rows=int(d.get("n_rows", 0)),
            n_positives=int(d.get("n_positives", 0)),
        )


def choose_method(n_rows: int, n_positives: int, method: str = "auto", *, isotonic_min_rows: int = 1000,
                  isotonic_min_positives: int = 50) -> str:
    """Resolve ``auto``: isotonic when the fold has enough rows and churners, else sigmoid."""
    if method not in METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(METHODS)}, got {method!r}")
    if method != "auto":
        return method
    big = n_rows >= isotonic_min_rows and n_positives >= isotonic_min_positives
    return "isotonic" if big else "sigmoid"


def _fit_isotonic(raw: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """Centred isotonic regression: the isotonic fit's blocks, joined at their centres.

    Plain isotonic regression is a step function, so customers inside one step share a
    probability and the ranking the model learned is lost (lower ROC AUC). Interpolating
    between the centres of the steps keeps the calibration and a strictly increasing map
    (Oron and Flournoy, "Centered isotonic regression", 2017).
    """
    from sklearn.isotonic import IsotonicRegression

    order = np.argsort(raw, kind="stable")
    xs, ys = np.asarray(raw, dtype="float64")[order], np.asarray(y, dtype="float64")[order]
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True).fit(xs, ys).predict(xs)
    starts = np.flatnonzero(np.r_[True, np.diff(fitted) != 0])
    centres = np.add.reduceat(xs, starts) / np.diff(np.r_[starts, len(xs)])
    return centres.astype(float).tolist(), fitted[starts].astype(float).tolist()


def _fit_sigmoid(raw: np.ndarray, y: np.ndarray, max_iter: int = 100) -> tuple[float, float]:
    """Platt scaling with Platt's smoothed targets, Newton steps with backtracking."""
    n_pos = float(y.sum())
    n_neg = float(len(y) - n_pos)
    t = np.where(y > 0.5, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(a: float, b: float) -> float:
        z = a * raw + b
        return float(np.sum(np.logaddexp(0.0, z) - t * z))

    a, b = 1.0, 0.0  # raw scores are already log-odds: start from the identity
    current = loss(a, b)
    for _ in range(max_iter):
        p = expit(a * raw + b)
        r = p - t
        g = np.array([np.dot(r, raw), r.sum()])
        w = p * (1.0 - p)
        h = np.array([[np.dot(w, raw * raw), np.dot(w, raw)], [np.dot(w, raw), w.sum()]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        scale = 1.0
        while scale > 1e-8:
            na, nb = a - scale * step[0], b - scale * step[1]
            new = loss(na, nb)
            if new <= current:
                break
            scale /= 2.0
        else:
            break
        done = abs(current - new) < 1e-12 * max(1.0, abs(current))
        a, b, current = na, nb, new
        if done:
            break
    return float(a), float(b)


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: str = "auto", *, isotonic_min_rows: int = 1000,
                   isotonic_min_positives: int = 50) -> Calibrator:
    """Fit a calibrator on raw scores ``raw`` and 0/1 outcomes ``y`` of the calibration fold."""
    raw = np.asarray(raw, dtype="float64")
    y = np.asarray(y, dtype="float64")
    n_pos = int(y.sum())
    chosen = choose_method(len(y), n_pos, method, isotonic_min_rows=isotonic_min_rows,
                           isotonic_min_positives=isotonic_min_positives)
    if chosen == "isotonic":
        x, yy = _fit_isotonic(raw, y)
        return Calibrator(method="isotonic", x=x, y=yy, n_rows=len(y), n_positives=n_pos)
    a, b = _fit_sigmoid(raw, y)
    return Calibrator(method="sigmoid", a=a, b=b, n_rows=len(y), n_positives=n_pos)


def cross_fitted(raw: np.ndarray, y: np.ndarray, method: str, *, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold calibrated probabilities: each row is calibrated by a calibrator fitted on the
    other folds, so metrics on the calibration fold are not flattered by calibrating in-sample.

    ``method`` must be resolved ("isotonic" or "sigmoid"); folds are stratified by outcome.
    """
    raw = np.asarray(raw, dtype="float64")
    y = np.asarray(y, dtype="float64")
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=int)
    for cls in (0.0, 1.0):
        idx = np.flatnonzero(y == cls)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % n_folds
    out = np.empty(len(y), dtype="float64")
    for k in range(n_folds):
        test = fold == k
        if not test.any():
            continue
        cal = fit_calibrator(raw[~test], y[~test], method)
        out[test] = cal.predict(raw[test])
    return out
