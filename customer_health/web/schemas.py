"""Response models of the REST API, so its OpenAPI document describes every field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class ErrorItem(BaseModel):
    parameter: str = Field(description="the parameter at fault")
    message: str


class ErrorResponse(BaseModel):
    error: str = Field(description="unauthorized, invalid_parameter, not_found or not_published")
    message: str = Field(description="what went wrong and what to do, in one sentence")
    errors: list[ErrorItem] = Field(default_factory=list)


EMAIL_HASH = ("join key for CRMs: HMAC-SHA256 (SHA-256 without a key) of the lower-cased, trimmed "
              "email, hex; null unless privacy.export_personal_data is hashed or plain")
EMAIL = "the customer's email; null unless privacy.export_personal_data is plain"


class PageInfo(BaseModel):
    total: int = Field(description="rows matching the filters, over all pages")
    offset: int
    limit: int
    page: int = Field(description="1-based page of this offset and limit")
    next: str | None = Field(description="URL of the next page, null on the last")
    previous: str | None = Field(description="URL of the previous page, null on the first")


class AtRiskItem(BaseModel):
    rank: int = Field(description="position by revenue at risk among the rows the filters "
                                  "(without the search) select; 1 is the most")
    customer_id: str
    health_band: str = Field(description="the model's band: healthy, watch, at_risk or critical")
    override_band: str | None = Field(description="a CSM's band that applies today, else null; "
                                                  "never replaces the model's")
    health_score: int | None = Field(description="0-100, higher is healthier")
    previous_score: int | None
    score_delta: int | None
    trend: str | None
    churn_risk: float | None = Field(description="calibrated probability of churn within the horizon")
    revenue_12m: float | None
    revenue_at_risk: float | None = Field(description="churn_risk x revenue_12m")
    segment: str | None
    plan: str | None
    region: str | None
    account_owner: str | None
    reasons: str | None
    recommended_action: str | None
    as_of: date | None
    score_source: str | None
    model_version: str | None
    email_hash: str | None = Field(None, description=EMAIL_HASH)
    email: str | None = Field(None, description=EMAIL)
    url: str = Field(description="this customer in the API")


class AtRiskPage(PageInfo):
    bands: list[str] = Field(description="the bands listed (the default ones when none was asked)")
    sort: str
    order: str
    revenue_at_risk: float = Field(description="sum over every matching row")
    items: list[AtRiskItem]


class Driver(BaseModel):
    feature: str | None = None
    label: str | None = None
    dimension: str | None = None
    direction: str | None = None
    contribution: float | None = None
    value: Any = None
    typical: Any = None
    sentence: str | None = Field(None, description="the reason in plain words")


class HistoryPoint(BaseModel):
    as_of: date
    health_score: int | None
    health_band: str | None
    churn_risk: float | None
    engagement_score: float | None
    experience_score: float | None
    voice_score: float | None
    value_score: float | None
    revenue_at_risk: float | None
    model_version: str | None
    score_source: str | None
    run_id: str | None
    scored_at: datetime | None


class OverrideOut(BaseModel):
    override_id: int
    band: str
    reason: str
    author: str
    created_at: str = Field(description="UTC, ISO 8601")
    expires_at: str = Field(description="last day it applies (UTC), YYYY-MM-DD")
    status: str = Field(description="active, expired, superseded or removed")
    applies: bool
    model_score: int | None = Field(description="the model's score when it was recorded")
    model_band: str | None
    removed_at: str | None
    removed_by: str | None
    removed_reason: str | None


class AlertItem(BaseModel):
    alert_id: str
    as_of: date | None
    rule: str
    customer_id: str
    health_band: str | None
    health_score: int | None
    previous_score: int | None
    message: str | None
    segment: str | None
    account_owner: str | None
    window_start: date | None
    window_end: date | None
    detected_in_run_id: str | None
    created_at: datetime | None


class AlertPage(PageInfo):
    items: list[AlertItem]


class CustomerOut(BaseModel):
    customer_id: str
    as_of: date | None
    health_score: int | None
    health_band: str | None
    churn_risk: float | None
    engagement_score: float | None
    experience_score: float | None
    voice_score: float | None
    value_score: float | None
    top_drivers: list[Driver]
    reasons: str | None
    recommended_action: str | None
    revenue_12m: float | None
    revenue_at_risk: float | None
    previous_score: int | None
    score_delta: int | None
    trend: str | None
    segment: str | None
    plan: str | None
    region: str | None
    account_owner: str | None
    score_source: str | None
    model_version: str | None
    run_id: str | None
    scored_at: datetime | None
    email_hash: str | None = Field(None, description=EMAIL_HASH)
    email: str | None = Field(None, description=EMAIL)
    override: OverrideOut | None = Field(description="the CSM override in force, or the latest "
                                                     "expired one (status says which); null if none")
    override_history: list[OverrideOut] = Field(description="every override, newest first")
    history: list[HistoryPoint] = Field(description="one point per scoring date, oldest first")
    alerts: list[AlertItem] = Field(description="the customer's latest health alerts")
