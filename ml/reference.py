"""Reference distributions of a model's training rows, kept with the model for drift checks.

Drift compares today's customers with the rows a model was trained on using the population
stability index (PSI). The training side of that comparison never changes for a model, so it is
summarised once at training time (``profile``: decile edges and bin shares per feature, category
shares for text, plus the calibrated risk) and saved beside the model; a drift check then reads
only the current rows (``psi_against``). ``psi`` compares two samples directly and gives exactly
the same number as profiling the first and comparing the second with it.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

BINS = 10
MISSING = "(missing)"
# An empty bin would make the index infinite; this share stands in for "almost none".
_FLOOR = 1e-4


def _is_text(values: pd.Series) -> bool:
    return values.dtype == object or isinstance(values.dtype, pd.StringDtype)


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _bins(values: pd.Series, edges: list[float]) -> np.ndarray:
    numbers = _numbers(values)
    return np.where(numbers.isna(), -1, np.searchsorted(np.asarray(edges, dtype="float64"), numbers,
                                                         side="right"))


def _categories(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna(MISSING)


def _shares(keys) -> dict[str, float]:
    counts = pd.Series(keys).value_counts(normalize=True)
    return {str(k): float(v) for k, v in counts.items()}


def profile_of(values: pd.Series) -> dict[str, Any]:
    """The distribution of one column: decile bins (numbers) or categories (text), plus missing."""
    if _is_text(values):
        return {"kind": "category", "shares": _shares(_categories(values))}
    numbers = _numbers(values)
    edges = (np.unique(np.nanquantile(numbers, np.linspace(0, 1, BINS + 1)[1:-1])).tolist()
             if numbers.notna().any() else [])
    return {"kind": "number", "edges": edges, "shares": _shares(_bins(numbers, edges))}


def psi_against(reference: Mapping[str, Any], current: pd.Series) -> float:
    """PSI of ``current`` against a reference ``profile_of``."""
    if reference["kind"] == "category":
        keys = _categories(current)
    else:
        keys = _bins(current, reference["edges"])
    shares = pd.concat([pd.Series(reference["shares"], dtype="float64"),
                        pd.Series(_shares(keys), dtype="float64")], axis=1)
    shares = shares.fillna(0.0).clip(lower=_FLOOR)
    r, c = shares.iloc[:, 0], shares.iloc[:, 1]
    return float(((c - r) * np.log(c / r)).sum())


def psi(reference: pd.Series, current: pd.Series) -> float:
    """PSI of ``current`` against the sample ``reference``."""
    return psi_against(profile_of(reference), current)


RISK = "churn_risk"


def profile(rows: pd.DataFrame, features: list[str], risk: np.ndarray) -> dict[str, Any]:
    """Profiles of every model feature over the training ``rows`` and of their calibrated ``risk``."""
    out = {f: profile_of(rows[f]) for f in features}
    out[RISK] = profile_of(pd.Series(np.asarray(risk, dtype="float64")))
    return out
