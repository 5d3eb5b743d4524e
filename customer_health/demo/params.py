"""Tunable knobs and vocabularies of the demo-data simulation.

Every number that shapes the simulated world lives in :class:`SimParams`, so the
generator's functions take parameters instead of reading globals. The defaults are
tuned so that about a fifth of the customers active at the cut-off churn within 90
days and the oracle (the true latent-state hazard) reaches a ROC AUC of about 0.85.
"""

from __future__ import annotations

from dataclasses import dataclass

SEGMENTS = ("smb", "mid_market", "enterprise")
PLANS = ("basic", "pro", "premium")
REGIONS = ("north_america", "europe", "uk", "apac", "latam")
REGION_CURRENCY = ("USD", "EUR", "GBP", "USD", "USD")
ACCOUNT_OWNERS = (
    "Alex Morgan",
    "Priya Shah",
    "Jordan Lee",
    "Sam Taylor",
    "Maria Garcia",
    "Chen Wei",
)

INTERACTION_CHANNELS = ("email", "chat", "phone", "social", "in_app", "web", "store", "survey", "other")
INTERACTION_TYPES = (
    "support_ticket",
    "ticket_resolved",
    "complaint",
    "survey_response",
    "login",
    "feature_use",
    "marketing",
    "other",
)
DIRECTIONS = ("inbound", "outbound")
TOPICS = ("billing", "bug", "onboarding", "performance", "account", "feature_request")

TRANSACTION_TYPES = ("purchase", "refund", "subscription_payment", "cancellation")
TRANSACTION_CHANNELS = ("web", "store", "in_app", "phone")
PRODUCTS = (
    "starter_kit",
    "extra_storage",
    "extra_seats",
    "training_session",
    "consulting_hours",
    "hardware_bundle",
    "priority_support",
    "api_credits",
    "plan_pro",
    "plan_premium",
)
#: Index of the subscription product of plan p in PRODUCTS (basic has none).
PLAN_PRODUCT = (-1, 8, 9)
#: Support channels are the first five interaction channels (email .. in_app).
N_SUPPORT_CHANNELS = 5


@dataclass(frozen=True)
class SimParams:
    """Parameters of the latent-satisfaction world (rates are per week)."""

    # population
    existing_share: float = 0.4
    existing_max_tenure_days: int = 3 * 365
    signup_growth: float = 1.0
    existing_mu_shift: float = 0.3
    segment_p: tuple[float, ...] = (0.6, 0.3, 0.1)
    plan_p_by_segment: tuple[tuple[float, ...], ...] = ((0.5, 0.35, 0.15), (0.3, 0.45, 0.25), (0.1, 0.4, 0.5))
    region_p: tuple[float, ...] = (0.55, 0.2, 0.1, 0.1, 0.05)
    seats_range_by_segment: tuple[tuple[int, int], ...] = ((1, 5), (10, 50), (100, 400))
    plan_price: tuple[float, ...] = (0.0, 29.0, 79.0)

    # latent satisfaction s = mu + x, x is a mean-reverting AR(1)
    mu_mean: float = 0.0
    mu_sd: float = 0.45
    x_sd: float = 0.8
    phi: float = 0.99
    x_bound: float = 3.0

    # churn hazard h = base * seg * plan * (1 + tenure boost) * exp(-k s)
    hazard_base: float = 0.022
    hazard_k: float = 2.2
    hazard_segment: tuple[float, ...] = (1.2, 0.9, 0.6)
    hazard_plan: tuple[float, ...] = (1.2, 1.0, 0.85)
    hazard_new_boost: float = 1.5
    hazard_new_weeks: float = 20.0
    hazard_cap: float = 0.35
    cancellation_share: float = 0.4

    # support tickets
    ticket_base: float = 0.05
    ticket_k: float = 0.9
    repeat_base: float = 0.5
    repeat_k: float = 0.8
    max_extra_contacts: int = 7
    repeat_gap_days: float = 1.5
    hop_intercept: float = -1.6
    hop_k: float = 1.0
    resolve_intercept: float = 1.8
    resolve_k: float = 1.0
    shock_per_badness: float = 0.12
    max_weekly_shock: float = 0.3
    csat_response_resolved: float = 0.5
    csat_response_unresolved: float = 0.25
    escalation_p: float = 0.3

    # voice of customer
    csat_sd: float = 0.7
    sentiment_sd: float = 0.4
    complaint_base: float = 0.008
    complaint_k: float = 1.3
    nps_every_months: int = 3
    nps_response_intercept: float = -0.7
    nps_response_k: float = 0.5
    nps_sd: float = 1.2
    survey_text_p: float = 0.4

    # engagement (inbound, floored so active customers never go quiet for 90 days)
    login_median: float = 1.5
    login_sd: float = 0.25
    login_k: float = 1.0
    login_floor: float = 0.45
    feature_median: float = 0.9
    feature_sd: float = 0.3
    feature_k: float = 1.2
    other_rate: float = 0.03

    # value
    purchase_median: float = 0.18
    purchase_sd: float = 0.5
    purchase_k: float = 0.6
    amount_median_by_segment: tuple[float, ...] = (45.0, 260.0, 1800.0)
    amount_sd: float = 0.7
    refund_intercept: float = -3.3
    refund_k: float = 0.9
    plan_change_p: float = 0.004
    plan_change_k: float = 1.5
    owner_change_p: float = 0.002

    # noise
    marketing_rate: float = 0.5
    marketing_after_churn_weeks: float = 8.0
    zone_suffix_p: tuple[float, ...] = (0.85, 0.10, 0.05)
