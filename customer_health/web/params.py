"""The query parameters of the at-risk list, its CSV export and the alerts, validated once.

The API, the HTML pages and the CSV export take the same parameters through these models, so a
filter means the same everywhere. Unknown parameters, unknown bands, rules or sort columns, and
out-of-range numbers are refused (422) before any query runs; an empty form field means "no filter".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from customer_health.config import ServeConfig

Band = Literal["critical", "at_risk", "watch", "healthy"]
BANDS: tuple[str, ...] = ("critical", "at_risk", "watch", "healthy")
Rule = Literal["entered_watch", "entered_at_risk", "entered_critical", "score_drop", "critical_runs"]
RULES: tuple[str, ...] = ("entered_watch", "entered_at_risk", "entered_critical", "score_drop",
                          "critical_runs")
# The columns the at-risk list can be sorted by (queries.SORT_SQL maps each to fixed SQL).
SortKey = Literal["rank", "customer_id", "health_band", "override_band", "health_score",
                  "score_delta", "trend", "churn_risk", "revenue_12m", "revenue_at_risk", "segment",
                  "account_owner", "reasons", "recommended_action"]
SORT_KEYS: tuple[str, ...] = SortKey.__args__  # type: ignore[attr-defined]
# Sorting a column for the first time: the most alarming or largest first for numbers.
DEFAULT_ORDER = {"rank": "asc", "customer_id": "asc", "health_band": "asc", "override_band": "asc",
                 "health_score": "asc", "score_delta": "asc", "trend": "asc", "churn_risk": "desc",
                 "revenue_12m": "desc", "revenue_at_risk": "desc", "segment": "asc",
                 "account_owner": "asc", "reasons": "asc", "recommended_action": "asc"}
MAX_TEXT = 100  # longest segment, owner or search text accepted
MAX_OFFSET = 1_000_000_000


class ParamError(ValueError):
    """A parameter that passed its type but breaks a rule of the request (422)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


def _blank_is_none(value: Any) -> Any:
    """An empty form field is no filter; control characters are never part of a filter."""
    if isinstance(value, str):
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("control characters are not allowed")
        if not value.strip():
            return None
    return value


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    page: int | None = Field(None, ge=1, le=MAX_OFFSET,
                             description="1-based page number (with limit); not with offset")
    offset: int | None = Field(None, ge=0, le=MAX_OFFSET,
                               description="rows to skip (with limit); not with page")
    limit: int | None = Field(None, ge=1, description="rows per page (default serve.page_size, "
                                                      "at most serve.max_page_size)")

    @field_validator("page", "offset", "limit", mode="before")
    @classmethod
    def _blank_number(cls, value: Any) -> Any:
        return _blank_is_none(value)


class AtRiskParams(_Query):
    """Filters and sort of the at-risk list."""

    segment: str | None = Field(None, max_length=MAX_TEXT,
                                description="segment, exact match ignoring case")
    owner: str | None = Field(None, max_length=MAX_TEXT,
                              description="account owner, exact match ignoring case")
    band: list[Band] = Field(default_factory=list,
                             description="health band, repeatable (default: the at-risk bands "
                                         "of the configuration, critical and at_risk)")
    min_revenue: float | None = Field(None, ge=0, le=1e15, allow_inf_nan=False,
                                      description="minimum trailing 12-month revenue (revenue_12m)")
    q: str | None = Field(None, max_length=MAX_TEXT,
                          description="search: customer ids containing this text, ignoring case")
    sort: SortKey = Field("rank", description="column to sort by; rank is the position by "
                                              "revenue at risk within the filters")
    order: Literal["asc", "desc"] | None = Field(
        None, description="sort direction (default: desc for risk and revenue, asc otherwise)")

    @field_validator("segment", "owner", "q", "min_revenue", "sort", "order", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return _blank_is_none(value)

    @field_validator("sort", mode="after")
    @classmethod
    def _sort_default(cls, value: str | None) -> str:
        return value or "rank"

    def direction(self) -> str:
        return self.order or DEFAULT_ORDER[self.sort]

    def bands(self, default: list[str]) -> list[str]:
        """The bands asked for in severity order, or the default ones when none is given."""
        chosen = set(self.band) or set(default)
        return [b for b in BANDS if b in chosen]


class CsvParams(AtRiskParams):
    """The at-risk list's parameters plus what to export: the page shown or every matching row."""

    scope: Literal["page", "all"] = Field("page", description="page: the rows of the page shown; "
                                                              "all: every row matching the filters")


class AlertParams(_Query):
    """Filters of the health alerts (newest first)."""

    since: date | None = Field(None, description="scoring dates on or after this day (YYYY-MM-DD)")
    until: date | None = Field(None, description="scoring dates on or before this day")
    rule: list[Rule] = Field(default_factory=list, description="alert rule, repeatable")
    band: list[Band] = Field(default_factory=list, description="band at the alert, repeatable")
    segment: str | None = Field(None, max_length=MAX_TEXT, description="segment, ignoring case")
    owner: str | None = Field(None, max_length=MAX_TEXT, description="account owner, ignoring case")
    customer_id: str | None = Field(None, max_length=MAX_TEXT, description="one customer")

    @field_validator("since", "until", "segment", "owner", "customer_id", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return _blank_is_none(value)


@dataclass(frozen=True)
class Paging:
    offset: int
    limit: int

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1


def paging(params: _Query, serve: ServeConfig) -> Paging:
    """Offset and limit from page/offset/limit, within the configured page sizes."""
    limit = serve.page_size if params.limit is None else params.limit
    if limit > serve.max_page_size:
        raise ParamError("limit", f"at most {serve.max_page_size} rows per page "
                                  "(serve.max_page_size); use page or offset for more")
    if params.page is not None and params.offset is not None:
        raise ParamError("offset", "give page or offset, not both")
    if params.offset is not None:
        return Paging(params.offset, limit)
    page = params.page or 1
    if (page - 1) * limit > MAX_OFFSET:
        raise ParamError("page", f"page {page} is beyond any list (offset above {MAX_OFFSET:,})")
    return Paging((page - 1) * limit, limit)
