"""Training data: normalise the feature frame, pick features, split by time, refuse thin data.

The feature frame has one row per customer x as_of with ``customer_id``, ``as_of``, ``eligible``
(customer active at as_of), ``churned`` (0/1, NaN while the horizon is not yet observed) and feature
columns (NaN = not observed): numeric, or text for the catalogue's ``unit: category`` features.
A categorical feature is encoded as the integer code of its value in a vocabulary (the sorted
distinct values of the training rows, ``vocabulary``); a null or never-seen value becomes NaN, so
it scores as missing. Only eligible, labelled rows train a model. The latest labelled as_of is the
validation/calibration fold; every older labelled as_of trains. Nothing here trains.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ml.catalogue import Catalogue, load_catalogue
from ml.errors import FrameError, InsufficientData

REQUIRED_COLUMNS: tuple[str, ...] = ("customer_id", "as_of", "eligible", "churned")
FINGERPRINT_SCHEMA = "ml-train-1"


@dataclass
class Split:
    """A time split of the eligible, labelled rows.

    ``train`` holds every labelled as_of before ``valid_as_of`` (minus the embargo), ``valid`` the
    rows at ``valid_as_of``. ``features`` are the catalogue features the model will use;
    ``unused_features`` the catalogue features it cannot use, with a reason each.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    features: list[str]
    unused_features: list[str]
    unused_feature_reasons: dict[str, str]
    train_as_of: list[pd.Timestamp]
    valid_as_of: pd.Timestamp
    bounds: dict[str, int] = field(default_factory=dict)


def _as_datetime(s: pd.Series) -> pd.Series:
    out = pd.to_datetime(s)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.astype("datetime64[ns]")


def _as_bool(s: pd.Series) -> np.ndarray:
    if s.dtype == bool:
        return s.to_numpy()
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return (pd.to_numeric(s, errors="coerce").fillna(0).to_numpy(dtype="float64") != 0)
    text = s.astype("string").str.strip().str.lower()
    return text.isin(["true", "t", "1", "yes", "y"]).fillna(False).to_numpy(dtype=bool)


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a normalised copy: as_of naive datetime64[ns], eligible bool, churned float 0/1/NaN.

    Raises ``FrameError`` when a required column is missing or ``churned`` holds values other than
    0, 1 and null.
    """
    if not isinstance(frame, pd.DataFrame):
        raise FrameError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    absent = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if absent:
        raise FrameError(f"feature frame is missing required column(s): {', '.join(absent)}")
    out = frame.copy()
    out["customer_id"] = out["customer_id"].astype(str)
    try:
        out["as_of"] = _as_datetime(out["as_of"])
    except (ValueError, TypeError) as exc:
        raise FrameError(f"column as_of does not hold dates: {exc}") from exc
    if out["as_of"].isna().any():
        raise FrameError(f"column as_of has {int(out['as_of'].isna().sum())} null value(s)")
    out["eligible"] = _as_bool(out["eligible"])
    churned = pd.to_numeric(out["churned"], errors="coerce").astype("float64")
    bad = churned.notna() & ~churned.isin([0.0, 1.0])
    if bad.any():
        raise FrameError(f"column churned must be 0, 1 or null; found {sorted(churned[bad].unique()[:5])}")
    out["churned"] = churned.to_numpy(dtype="float64", na_value=np.nan)
    return out


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Eligible rows whose churn outcome is known (frame must be ``prepare``d)."""
    return frame.loc[frame["eligible"] & frame["churned"].notna()]


def category_text(col: pd.Series) -> pd.Series:
    """A categorical column as text (object dtype, None for nulls), e.g. 1 -> "1", "smb" -> "smb"."""
    text = col.astype("string")
    return pd.Series(np.where(text.isna(), None, text.to_numpy(dtype=object, na_value=None)),
                     index=col.index, dtype=object)


def vocabulary(col: pd.Series) -> list[str]:
    """The sorted distinct non-null categories of a column (what a model learns to encode)."""
    return sorted(set(category_text(col).dropna()))


def most_common(col: pd.Series) -> str | None:
    """The most frequent non-null category (ties: the first in sort order), None when all null."""
    counts = category_text(col).value_counts()
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if len(counts) else None


def encode(col: pd.Series, categories: list[str]) -> np.ndarray:
    """Float codes of ``col`` in ``categories`` (0, 1, ...); null and unknown categories give NaN."""
    codes = pd.Categorical(category_text(col), categories=list(categories)).codes.astype("float64")
    codes[codes < 0] = np.nan
    return codes


def feature_matrix(frame: pd.DataFrame, features: Iterable[str],
                   categories: Mapping[str, list[str]] | None = None) -> np.ndarray:
    """Float64 matrix of ``features`` in order; nulls become NaN.

    A feature in ``categories`` (feature -> vocabulary) is encoded with ``encode``; every other
    feature must be numeric. Raises ``FrameError`` naming any feature column that is missing or,
    for a non-categorical feature, not numeric.
    """
    features = list(features)
    categories = categories or {}
    absent = [f for f in features if f not in frame.columns]
    if absent:
        raise FrameError(
            f"feature frame lacks {len(absent)} column(s) the model was trained on: {', '.join(absent)}"
        )
    X = np.empty((len(frame), len(features)), dtype="float64")
    for j, name in enumerate(features):
        col = frame[name]
        if name in categories:
            X[:, j] = encode(col, categories[name])
            continue
        if not (pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype)):
            try:
                col = pd.to_numeric(col, errors="raise")
            except (ValueError, TypeError) as exc:
                raise FrameError(f"feature column {name} is not numeric ({col.dtype}): {exc}; a text feature "
                                 "must be declared 'unit: category' in the feature catalogue") from exc
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiub":
            X[:, j] = col.to_numpy(dtype="float64")
        else:  # nullable / extension dtypes: pd.NA -> NaN
            X[:, j] = pd.Series(col).astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    return X


def select_features(rows: pd.DataFrame, catalogue: Catalogue) -> tuple[list[str], dict[str, str]]:
    """Catalogue features usable on ``rows``: present and not entirely null.

    Returns (features in catalogue order, {unused feature: reason}).
    """
    used: list[str] = []
    unused: dict[str, str] = {}
    for name in catalogue.names():
        if name not in rows.columns:
            unused[name] = "not in the feature frame"
        elif rows[name].isna().all():
            unused[name] = "no observed values in the labelled rows"
        else:
            used.append(name)
    return used, unused


def split(
    frame: pd.DataFrame,
    catalogue: Catalogue | None = None,
    *,
    min_rows: int = 500,
    min_positives: int = 50,
    min_cutoffs: int = 3,
    min_valid_positives: int = 10,
    embargo_days: int = 0,
) -> Split:
    """Time split of the eligible labelled rows, or ``InsufficientData`` listing every unmet bound.

    The latest labelled as_of is the validation fold. Training uses the older labelled as_of dates;
    with ``embargo_days`` > 0 only those at least that many days before the validation date (use the
    churn horizon for a strictly point-in-time evaluation). Bounds: at least ``min_rows`` labelled
    rows, ``min_positives`` churners, ``min_cutoffs`` labelled as_of dates (one validates, the others
    train) and ``min_valid_positives`` churners and non-churners in the validation fold.
    """
    catalogue = catalogue or load_catalogue()
    data = prepare(frame)
    rows = labelled(data)
    features, unused = select_features(rows, catalogue)

    problems: list[str] = []
    n_rows, n_pos = len(rows), int(rows["churned"].sum())
    dates = sorted(rows["as_of"].unique())
    if n_rows < min_rows:
        problems.append(f"only {n_rows} labelled rows (eligible customers with a known outcome); need at least {min_rows}")
    if n_pos < min_positives:
        problems.append(f"only {n_pos} labelled churners; need at least {min_positives}")
    if len(dates) < min_cutoffs:
        problems.append(
            f"only {len(dates)} labelled as-of date{'s' if len(dates) != 1 else ''}; need at least {min_cutoffs}"
        )
    if not features and n_rows:  # without labelled rows the row count above says it all
        problems.append("none of the catalogue features has observed values in the feature frame")
    if problems:
        raise InsufficientData(problems)

    valid_as_of = pd.Timestamp(dates[-1])
    horizon_end = valid_as_of - pd.Timedelta(days=int(embargo_days))
    train_dates = [pd.Timestamp(d) for d in dates[:-1] if pd.Timestamp(d) <= horizon_end]
    valid = rows.loc[rows["as_of"] == valid_as_of]
    train = rows.loc[rows["as_of"].isin(train_dates)]
    if len(train_dates) < max(min_cutoffs - 1, 1):
        problems.append(
            f"only {len(train_dates)} labelled as-of date(s) at least {embargo_days} days before the validation "
            f"date {valid_as_of.date()}; need at least {max(min_cutoffs - 1, 1)}"
        )
    v_pos = int(valid["churned"].sum())
    v_neg = len(valid) - v_pos
    if v_pos < min_valid_positives or v_neg < min_valid_positives:
        problems.append(
            f"the validation as-of date {valid_as_of.date()} has {v_pos} churners and {v_neg} non-churners; "
            f"need at least {min_valid_positives} of each"
        )
    t_pos = int(train["churned"].sum())
    if len(train) and (t_pos == 0 or t_pos == len(train)):
        problems.append("the training as-of dates hold only one outcome class; need both churners and non-churners")
    if problems:
        raise InsufficientData(problems)

    return Split(
        train=train,
        valid=valid,
        features=features,
        unused_features=list(unused),
        unused_feature_reasons=unused,
        train_as_of=train_dates,
        valid_as_of=valid_as_of,
        bounds=dict(
            min_rows=min_rows,
            min_positives=min_positives,
            min_cutoffs=min_cutoffs,
            min_valid_positives=min_valid_positives,
            embargo_days=int(embargo_days),
        ),
    )


def fingerprint(frame: pd.DataFrame, settings: Mapping[str, Any] | None = None, catalogue: Catalogue | None = None) -> str:
    """Content hash of what a model would be trained on: eligible labelled rows + settings.

    Covers customer_id, as_of, churned and the usable catalogue features of the eligible labelled
    rows (order-independent; categorical features by their text), plus ``settings``
    (JSON-serialisable, e.g. the resolved parameters).
    Unlabelled rows (the newest as_of dates) do not change it, so daily reruns reuse the model.
    """
    catalogue = catalogue or load_catalogue()
    rows = labelled(prepare(frame))
    features, _ = select_features(rows, catalogue)
    rows = rows.sort_values(["as_of", "customer_id"], kind="stable")
    canon = pd.DataFrame(
        {
            "customer_id": np.asarray(rows["customer_id"], dtype=object),
            "as_of": rows["as_of"].to_numpy(dtype="datetime64[ns]").astype("int64"),
            "churned": rows["churned"].to_numpy(dtype="float64"),
        }
    )
    numeric = sorted(f for f in features if not catalogue[f].is_categorical)
    X = feature_matrix(rows, numeric)
    for name in sorted(features):
        canon["f:" + name] = (category_text(rows[name]).to_numpy() if catalogue[name].is_categorical
                              else X[:, numeric.index(name)])
    h = hashlib.sha256()
    h.update(FINGERPRINT_SCHEMA.encode())
    h.update(json.dumps(list(canon.columns)).encode())
    h.update(pd.util.hash_pandas_object(canon, index=False).to_numpy().tobytes())
    h.update(json.dumps(dict(settings or {}), sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def rows_to_score(frame: pd.DataFrame, as_of: Any = None) -> pd.DataFrame:
    """Eligible rows at ``as_of`` (default: the latest as_of in the frame), normalised, in frame order."""
    data = prepare(frame)
    if data.empty:
        return data
    when = data["as_of"].max() if as_of is None else pd.Timestamp(as_of)
    return data.loc[data["eligible"] & (data["as_of"] == when)]
