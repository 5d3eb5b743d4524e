"""Row-level contract checks: split a parsed file into typed good rows and quarantined rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from customer_health.ingest.contracts import Contract
from customer_health.ingest.readers import LINE

EARLIEST = pd.Timestamp("1970-01-01")
FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class CheckedRows:
    good: pd.DataFrame         # typed contract columns + LINE, one row per accepted record
    bad: pd.DataFrame          # LINE, rule, reason of each quarantined record
    bad_records: pd.DataFrame  # the original values of those records (same order)
    extra_columns: tuple[str, ...]


class _Problems:
    """Collects, per row, the first broken rule and every reason."""

    def __init__(self, index: pd.Index):
        self.rule = pd.Series(pd.NA, index=index, dtype="object")
        self.reason = pd.Series("", index=index, dtype="object")

    def add(self, mask: pd.Series, rule: str,
            reasons: str | Callable[[pd.Series], pd.Series]) -> None:
        """Record ``rule`` for the rows of ``mask``; ``reasons`` may build texts for those rows only."""
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        first = mask & self.rule.isna()
        self.rule[first] = rule
        text = reasons if isinstance(reasons, str) else reasons(mask)
        sep = np.where(self.reason[mask] == "", "", "; ")
        self.reason[mask] = self.reason[mask] + sep + text

    @property
    def mask(self) -> pd.Series:
        return self.rule.notna()


def _as_text(series: pd.Series) -> pd.Series:
    text = series.astype("string").str.strip()
    return text.mask(text == "", pd.NA)


def _given(series: pd.Series) -> pd.Series:
    """True where the source sent a value (typed columns need no text conversion)."""
    if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
        return _as_text(series).notna()
    return series.notna()


def _quote(values: pd.Series) -> pd.Series:
    return "'" + values.astype("string").str.slice(0, 40).fillna("") + "'"


def _parse_timestamps(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = series
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        return parsed.astype("datetime64[us]")
    # ISO 8601 only: guessing other layouts reads 05/01 as May 1st and 13/01 as January 13th
    # in the same file. Anything else is quarantined as bad_timestamp.
    parsed = pd.to_datetime(_as_text(series), utc=True, errors="coerce", format="ISO8601")
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")


def _nested(series: pd.Series) -> pd.Series:
    """True where a JSON record holds an object or a list instead of a single value."""
    if not pd.api.types.is_object_dtype(series):
        return pd.Series(False, index=series.index)
    return series.map(lambda v: isinstance(v, (dict, list)))


def _parse_numbers(series: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype("float64")
    return pd.to_numeric(_as_text(series), errors="coerce").astype("float64")


def check_rows(frame: pd.DataFrame, contract: Contract, now: datetime | None = None) -> CheckedRows:
    """Apply the contract's row rules; every input row ends up in exactly one of good or bad."""
    now = now or datetime.now(timezone.utc)
    latest = pd.Timestamp(now.replace(tzinfo=None) + FUTURE_SLACK)
    original = frame
    frame = frame.copy(deep=False)  # columns are added and masked: not the caller's
    problems = _Problems(frame.index)
    typed = pd.DataFrame(index=frame.index)

    for col in contract.columns:
        if col not in frame.columns:
            frame[col] = pd.NA
    nested = {}
    for col in contract.columns:
        nested[col] = _nested(frame[col])
        if nested[col].any():
            problems.add(nested[col], "bad_value", f"{col} holds a JSON object or list, not a value")
            frame[col] = frame[col].mask(nested[col], pd.NA)
    for col in contract.strings:
        typed[col] = _as_text(frame[col])
    for col in contract.required:
        problems.add(_as_text(frame[col]).isna() & ~nested[col], "missing_value", f"{col} is empty")

    for col in contract.timestamps:
        typed[col] = _parse_timestamps(frame[col])
        unparsable = _given(frame[col]) & typed[col].isna()
        problems.add(unparsable, "bad_timestamp",
                     lambda m, col=col: f"{col} " + _quote(frame.loc[m, col])
                     + " is not an ISO 8601 timestamp (YYYY-MM-DD[THH:MM:SS][zone])")
        problems.add(typed[col] < EARLIEST, "out_of_range", f"{col} is before 1970-01-01")
        problems.add(typed[col] > latest, "out_of_range", f"{col} is in the future")

    for col in contract.numbers:
        typed[col] = _parse_numbers(frame[col])
        problems.add(_given(frame[col]) & typed[col].isna(), "bad_number",
                     lambda m, col=col: f"{col} " + _quote(frame.loc[m, col]) + " is not a number")
        low, high = contract.ranges.get(col, (-np.inf, np.inf))
        outside = (typed[col] < low) | (typed[col] > high) | np.isinf(typed[col])
        problems.add(outside, "out_of_range",
                     lambda m, col=col, low=low, high=high: f"{col} "
                     + _as_text(frame.loc[m, col].astype("string")).fillna("")
                     + f" outside {low:g}..{high:g}")

    for col, (pattern, meaning) in contract.patterns.items():
        bad = typed[col].notna() & ~typed[col].str.fullmatch(pattern).fillna(False).astype(bool)
        problems.add(bad, "bad_value",
                     lambda m, col=col, meaning=meaning: f"{col} " + _quote(frame.loc[m, col])
                     + f" is not {meaning}")
        typed[col] = typed[col].str.upper()

    for col, allowed in contract.enums.items():
        value = typed[col].str.lower()
        typed[col] = value.where(value.isin(allowed) | value.isna(), "other")
    for col, allowed in contract.soft_enums.items():
        value = typed[col].str.lower()
        typed[col] = value.where(value.isin(allowed), pd.NA)

    typed[LINE] = frame[LINE].astype("int64")
    bad_mask = problems.mask
    bad = pd.DataFrame({LINE: frame.loc[bad_mask, LINE].astype("int64"),
                        "rule": problems.rule[bad_mask], "reason": problems.reason[bad_mask]})
    known = set(contract.columns) | {LINE}
    extra = tuple(c for c in frame.columns if c not in known)
    return CheckedRows(typed.loc[~bad_mask].reset_index(drop=True), bad.reset_index(drop=True),
                       original.loc[bad_mask].drop(columns=[LINE]).reset_index(drop=True), extra)
