"""The input contract of each landing entity: columns, types, keys, accepted values, ranges."""

from __future__ import annotations

from dataclasses import dataclass, field

from customer_health.landing_files import ENTITIES


@dataclass(frozen=True)
class Contract:
    entity: str
    key: str                      # identifying column; unique for event entities
    required: tuple[str, ...]     # columns that must exist and be non-empty
    strings: tuple[str, ...]      # text columns (kept as text)
    timestamps: tuple[str, ...]   # parsed as UTC timestamps; naive means UTC
    numbers: tuple[str, ...]      # parsed as floating point numbers
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Columns whose unknown values are kept as "other" (the contract says so).
    enums: dict[str, frozenset[str]] = field(default_factory=dict)
    # Columns whose unknown values become empty.
    soft_enums: dict[str, frozenset[str]] = field(default_factory=dict)
    # Text columns that must match a pattern when given: (regex, what it means).
    patterns: dict[str, tuple[str, str]] = field(default_factory=dict)
    unique_key: bool = True       # events are unique by key; customers are updated by key

    @property
    def columns(self) -> tuple[str, ...]:
        return self.strings + self.timestamps + self.numbers


CUSTOMERS = Contract(
    entity="customers",
    key="customer_id",
    required=("customer_id", "signup_at"),
    strings=("customer_id", "segment", "plan", "region", "account_owner", "email"),
    timestamps=("signup_at", "updated_at"),
    numbers=(),
    unique_key=False,
)

TRANSACTIONS = Contract(
    entity="transactions",
    key="transaction_id",
    required=("transaction_id", "customer_id", "occurred_at"),
    strings=("transaction_id", "customer_id", "type", "currency", "product", "channel"),
    timestamps=("occurred_at",),
    numbers=("amount",),
    ranges={"amount": (-1e9, 1e9)},
    enums={"type": frozenset({"purchase", "refund", "subscription_payment", "cancellation"})},
    patterns={"currency": (r"^[A-Za-z]{3}$", "an ISO 4217 code such as USD")},
)

INTERACTIONS = Contract(
    entity="interactions",
    key="interaction_id",
    required=("interaction_id", "customer_id", "occurred_at"),
    strings=("interaction_id", "customer_id", "channel", "type", "direction", "ticket_id",
             "text", "topic"),
    timestamps=("occurred_at",),
    numbers=("handle_seconds", "csat", "nps", "sentiment"),
    ranges={"handle_seconds": (0, 7 * 86400), "csat": (1, 5), "nps": (0, 10),
            "sentiment": (-1, 1)},
    enums={
        "channel": frozenset({"email", "chat", "phone", "social", "in_app", "web", "store",
                              "survey"}),
        "type": frozenset({"support_ticket", "ticket_resolved", "complaint", "survey_response",
                           "login", "feature_use", "marketing"}),
    },
    soft_enums={"direction": frozenset({"inbound", "outbound"})},
)

CONTRACTS = {c.entity: c for c in (CUSTOMERS, TRANSACTIONS, INTERACTIONS)}

# Columns that hold personal data: never logged, never sampled into reports.
PERSONAL_COLUMNS = frozenset({"email", "text"})
