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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml.catalogue import DIMENSIONS
from ml.dataset import feature_matrix
from ml.errors import FrameError
from ml.model import TrainedModel
from ml.predict import contribution_columns

if TYPE_CHECKING:
    import pyarrow as pa

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


def _ranked(masked: np.ndarray, top_n: int, measures: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(columns, values) of each row's ``top_n`` largest values, largest first, ties to the lower
    column (as a stable sort would), at most one column per measure (``measures[column]``);
    top_n passes of argmax, cheaper than sorting every row."""
    work = masked.copy()
    rows = np.arange(len(work))
    columns = np.empty((len(work), top_n), dtype="intp")
    values = np.empty((len(work), top_n))
    _, ids, sizes = np.unique(measures, return_inverse=True, return_counts=True)
    ids = ids.reshape(-1)
    # (measure id, its columns) of each measure that more than one column shares
    shared = [(m, np.flatnonzero(ids == m)) for m in np.flatnonzero(sizes > 1)]
    for r in range(top_n):
        columns[:, r] = best = work.argmax(axis=1)
        values[:, r] = work[rows, best]
        work[rows, best] = -np.inf
        taken = ids[best]
        for m, members in shared:
            hit = np.flatnonzero(taken == m)
            work[hit[:, None], members[None, :]] = -np.inf
    return columns, values


@dataclass(frozen=True)
class Drivers:
    """Each row's drivers held as columns, turned into dicts, JSON text or reasons on demand.

    Rank r of row i is feature ``features[i, r]`` with contribution ``contributions[i, r]`` and
    the value and sentence of ``shown[keys[i, r]]``, for r < ``counts[i]``. A sentence is made
    once per distinct (feature, value), and the JSON and reasons of every row are joined by Arrow
    (``json``, ``reasons``): building a dict per driver was most of the time of scoring 100k rows.
    """

    counts: np.ndarray          # (n,) drivers of each row, largest contribution first
    features: np.ndarray        # (n, top_n) model feature index of each rank
    contributions: np.ndarray   # (n, top_n) rounded to 4 decimals
    keys: np.ndarray            # (n, top_n) index into ``shown``; -1 past a row's count
    static: list[tuple[str, str, str, Any]]   # per feature: name, label, dimension, shown typical
    shown: list[tuple[Any, str]]              # per key: (shown value, sentence)
    key_features: np.ndarray                  # per key: its feature

    def __len__(self) -> int:
        return len(self.counts)

    def dicts(self) -> list[list[dict[str, Any]]]:
        """Each row's drivers as dicts: {feature, label, dimension, direction, contribution,
        value, typical, sentence}."""
        features, contribs, keys = (a.tolist() for a in (self.features, self.contributions, self.keys))
        out = []
        for i, count in enumerate(self.counts.tolist()):
            row = []
            for r in range(count):
                name, label, dimension, typical = self.static[features[i][r]]
                value, sentence = self.shown[keys[i][r]]
                row.append({"feature": name, "label": label, "dimension": dimension,
                            "direction": DIRECTION_UP, "contribution": contribs[i][r],
                            "value": value, "typical": typical, "sentence": sentence})
            out.append(row)
        return out

    def _ranks(self, per_key: list[str], separator: str, per_feature: list[str] | None = None,
               prefix: str = "", suffix: str = "") -> "pa.Array":
        """Each row's ranks joined by ``separator`` between ``prefix`` and ``suffix``: the text
        of each rank's key, after its feature's text and its contribution when ``per_feature``
        is given. One join builds every row's text: each piece is taken from an array whose
        last entry is "", which an absent rank takes."""
        import msgspec
        import pyarrow as pa
        import pyarrow.compute as pc

        n, top_n = self.features.shape
        tails = pa.array([*per_key, ""], pa.string())
        separators = pa.array([separator, ""], pa.string())
        if per_feature is not None:
            heads = pa.array([*per_feature, ""], pa.string())
            # one encode for every contribution: msgspec's number text, as in the dicts' JSON
            numbers = (msgspec.json.encode(self.contributions.reshape(-1).tolist())[1:-1].split(b",")
                       if self.contributions.size else [])
            numbers = pa.array([*numbers, b""], pa.binary()).cast(pa.string())
            rows = np.arange(n) * top_n

        def pick(texts: "pa.Array", index: np.ndarray, present: np.ndarray) -> "pa.Array":
            """``texts[index]`` where ``present``, else the last entry ("")."""
            return texts.take(pa.array(np.where(present, index, len(texts) - 1)))

        # Absent ranks are empty strings, never nulls: the "skip" null handling of
        # binary_join_element_wise returns fewer rows than it is given (pyarrow 26).
        pieces: list = [prefix]
        for r in range(top_n):
            present = r < self.counts
            if r:
                pieces.append(pick(separators, np.zeros(n, dtype=np.int64), present))
            if per_feature is not None:
                pieces += [pick(heads, self.features[:, r], present), pick(numbers, rows + r, present)]
            pieces.append(pick(tails, np.maximum(self.keys[:, r], 0), present))
        if not top_n:
            pieces.append(pa.array([""] * n, pa.string()))
        return pc.binary_join_element_wise(*pieces, suffix, "")

    def json(self) -> "pa.Array":
        """Each row's drivers as JSON text (the dicts of ``dicts``, in order), one Arrow string."""
        import msgspec

        encode = msgspec.json.Encoder().encode
        heads = [(b'{"feature":' + encode(name) + b',"label":' + encode(label) + b',"dimension":'
                  + encode(dimension) + b',"direction":' + encode(DIRECTION_UP)
                  + b',"contribution":').decode() for name, label, dimension, _ in self.static]
        typical = [encode(t) for *_, t in self.static]
        tails = [(b',"value":' + encode(value) + b',"typical":' + typical[f] + b',"sentence":'
                  + encode(sentence) + b"}").decode()
                 for f, (value, sentence) in zip(self.key_features.tolist(), self.shown)]
        return self._ranks(tails, ",", heads, prefix="[", suffix="]")

    def reasons(self) -> "pa.Array":
        """Each row's sentences joined with "; " (``NO_DRIVER_REASON`` for a row without one)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        joined = self._ranks([s for _, s in self.shown], "; ")
        return pc.if_else(pa.array(self.counts > 0), joined, NO_DRIVER_REASON)

    def primary(self, field: int) -> "pa.Array":
        """The strongest driver's name (field 0) or dimension (2) per row, null without one."""
        import pyarrow as pa

        names = np.array([s[field] for s in self.static] + [None], dtype=object)
        first = self.features[:, 0] if self.features.shape[1] else np.zeros(len(self), dtype="intp")
        return pa.array(names[np.where(self.counts > 0, first, len(self.static))], pa.string())


def _distinct(features: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, first): the index of each (feature, value) pair among the distinct pairs, and where
    each distinct pair first occurs. Values compare by their bits (NaN equals NaN)."""
    bits = np.ascontiguousarray(values, dtype="float64").view("int64")
    order = np.lexsort((bits, features))
    f, b = features[order], bits[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (f[1:] != f[:-1]) | (b[1:] != b[:-1])
    keys = np.empty(len(order), dtype="intp")
    keys[order] = np.cumsum(starts) - 1
    return keys, order[starts]


def drivers(model: TrainedModel, contributions: np.ndarray, values: np.ndarray, *, top_n: int = 3,
            min_contribution: float = 1e-6) -> Drivers:
    """For each row, up to ``top_n`` features with the largest positive contribution, largest first,
    one per measure (the same fact over another window would say it twice).

    Only a value a person would call a reason counts: missing, or on the risky side of the
    typical value. value/typical are None when not observed, category text for a categorical
    feature (``values`` holds its codes, as from ``feature_matrix``).
    """
    contributions = np.asarray(contributions, dtype="float64")
    n, k = contributions.shape
    top_n = max(0, min(top_n, k))
    values = np.asarray(values, dtype="float64")
    specs = [model.specs[f] for f in model.features]
    vocabs = [model.categories.get(f) for f in model.features]
    typical = [_typical_number(model, f) for f in model.features]
    shown_typical = [_decode(vocab, t) for vocab, t in zip(vocabs, typical)]
    static = [(spec.name, spec.label, spec.dimension, shown) for spec, shown in zip(specs, shown_typical)]
    if n == 0 or top_n == 0:
        none = np.zeros((n, top_n), dtype="intp")
        return Drivers(np.zeros(n, dtype="intp"), none, np.zeros((n, top_n)), none - 1, static, [],
                       np.zeros(0, dtype="intp"))
    # "1 purchase (typical 1)" may carry SHAP weight through interactions, but it explains nothing.
    masked = np.where((contributions > min_contribution) & _explainable(specs, typical, values),
                      contributions, -np.inf)
    order, chosen = _ranked(masked, top_n, [spec.measure_key for spec in specs])
    present = chosen > -np.inf
    counts = present.sum(axis=1)
    keys = np.full((n, top_n), -1, dtype="intp")
    picked_features = order[present]
    picked_values = np.take_along_axis(values, order, axis=1)[present]
    keys[present], first = _distinct(picked_features, picked_values)
    shown: list[tuple[Any, str]] = [None] * len(first)  # type: ignore[list-item]
    first_features, first_values = picked_features[first], picked_values[first].tolist()
    for j in np.unique(first_features).tolist():
        at = np.flatnonzero(first_features == j).tolist()
        decoded = [_decode(vocabs[j], None if first_values[a] != first_values[a] else first_values[a])
                   for a in at]
        for a, v, sentence in zip(at, decoded, specs[j].sentence_each(decoded, shown_typical[j])):
            shown[a] = (v, sentence)
    contribs = np.round(np.where(present, chosen, 0.0), 4)
    return Drivers(counts, order, contribs, keys, static, shown, first_features)


def top_drivers(model: TrainedModel, contributions: np.ndarray, values: np.ndarray, *, top_n: int = 3,
                min_contribution: float = 1e-6) -> list[list[dict[str, Any]]]:
    """``drivers`` as dicts per row: {feature, label, dimension, direction, contribution (4
    decimals), value, typical, sentence}."""
    return drivers(model, contributions, values, top_n=top_n, min_contribution=min_contribution).dicts()


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
    found = drivers(model, contrib, values, top_n=top_n)
    dims = dimension_scores(model, contrib, unmeasured=unmeasured, scale=scale)
    dims.index = scored.index
    out = pd.DataFrame({"customer_id": scored["customer_id"].to_numpy()}, index=scored.index)
    out = pd.concat([out, dims], axis=1)
    out["top_drivers"] = pd.Series(found.dicts(), index=scored.index, dtype=object)
    out["reasons"] = found.reasons().to_pylist()
    return out
