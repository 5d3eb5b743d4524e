"""The at-risk table's columns, shared by the HTML table and its CSV export.

Each column has the header people see, how its cell reads on the page, and the plain value the
CSV holds (numbers unformatted). The page puts that CSV value on every cell (``data-value``), so
the export is, row for row and column for column, the table on the screen.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

BAND_LABELS = {"critical": "critical", "at_risk": "at risk", "watch": "watch", "healthy": "healthy"}


def money(value: Any) -> str:
    return "–" if value is None else f"{value:,.0f}"


def risk(value: Any) -> str:
    """A probability for people: never a flat 100% or 0%."""
    if value is None:
        return "–"
    if value >= 0.995:
        return ">99%"
    if value < 0.005:
        return "<1%"
    return f"{value:.0%}"


def delta(value: Any) -> str:
    if value is None:
        return "new"
    return f"+{value}" if value > 0 else ("±0" if value == 0 else f"−{abs(value)}")


def band(value: Any) -> str:
    return "" if value is None else BAND_LABELS.get(value, str(value))


def _text(value: Any) -> str:
    """A text cell for CSV; a leading = + - @ is defused so a spreadsheet never runs it."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _number(digits: int) -> Callable[[Any], str]:
    return lambda v: "" if v is None else (f"{v:.{digits}f}" if digits else str(int(v)))


@dataclass(frozen=True)
class Column:
    key: str            # the list's field, and the sort key
    label: str          # header on the page and in the CSV
    csv: Callable[[Any], str]
    display: Callable[[Any], str]
    numeric: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("rank", "Rank", _number(0), str, numeric=True),
    Column("customer_id", "Customer", _text, str),
    Column("health_band", "Band", _text, band),
    Column("override_band", "CSM band", _text, band),
    Column("health_score", "Score", _number(0), lambda v: "–" if v is None else str(v), numeric=True),
    Column("score_delta", "Change", _number(0), delta, numeric=True),
    Column("churn_risk", "Churn risk", _number(4), risk, numeric=True),
    Column("revenue_12m", "Revenue 12m", _number(2), money, numeric=True),
    Column("revenue_at_risk", "Revenue at risk", _number(2), money, numeric=True),
    Column("segment", "Segment", _text, lambda v: v or "–"),
    Column("account_owner", "Owner", _text, lambda v: v or "–"),
    Column("reasons", "Why", _text, lambda v: v or ""),
    Column("recommended_action", "Recommended action", _text, lambda v: v or ""),
)


# Personal data, shown and exported only as far as privacy.export_personal_data allows.
_EMAIL_HASH = Column("email_hash", "Email hash", _text, lambda v: v[:12] + "…" if v else "–")
_EMAIL = Column("email", "Email", _text, lambda v: v or "–")
PERSONAL_COLUMNS = {"none": (), "hashed": (_EMAIL_HASH,), "plain": (_EMAIL, _EMAIL_HASH)}


def columns(privacy: str) -> tuple[Column, ...]:
    """The table's columns under the privacy mode ``privacy`` (none, hashed or plain)."""
    return COLUMNS + PERSONAL_COLUMNS[privacy]


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column] = COLUMNS) -> str:
    """The rows as CSV with the table's headers, in the table's column order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.label for c in columns])
    for row in rows:
        writer.writerow([c.csv(row.get(c.key)) for c in columns])
    return out.getvalue()
