"""The raw rows the peer starts from, and the per-event columns every feature family reads.

``load_raw`` reads what a notebook reads first: ``raw.customers``, ``raw.transactions`` and
``raw.interactions`` (text columns as categoricals) and the as-of dates of the mart.
``prepare`` derives, once for every as-of date, what dbt's staging and intermediate models
derive: the unified customers, net amounts and purchase gaps, inbound flags, the place of each
contact in its ticket, one row per ticket, inbound activity per day, and which kinds of
evidence the business sends at all. Times become day numbers (days since 1970-01-01): every
window ends at a midnight (the cutoff is the start of the day after as-of), so a window on the
day number is the same window as on the timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

INBOUND_TYPES = ("support_ticket", "complaint", "survey_response", "login", "feature_use")
CASE_TYPES = ("support_ticket", "complaint")

_QUERIES = {
    "customers": ("select customer_id, signup_at, segment, plan, region, updated_at, _ingested_at, "
                  "_line from raw.customers", ("segment", "plan", "region")),
    "transactions": ("select customer_id, occurred_at, type, amount from raw.transactions",
                     ("customer_id", "type")),
    "interactions": ("select interaction_id, customer_id, occurred_at, channel, type, direction, "
                     "ticket_id, handle_seconds, csat, nps, sentiment, topic from raw.interactions",
                     ("customer_id", "channel", "type", "direction", "ticket_id", "topic")),
}


def load_raw(warehouse: Path) -> dict[str, pd.DataFrame]:
    """The raw rows as pandas frames (text columns with few values as categoricals) and the
    as-of dates of ``fct_customer_features``."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        raw = {}
        for name, (sql, categorical) in _QUERIES.items():
            table = con.sql(sql).to_arrow_table()
            for column in categorical:
                table = table.set_column(table.schema.get_field_index(column), column,
                                         table[column].dictionary_encode())
            raw[name] = table.to_pandas()
        raw["as_of"] = con.sql("select distinct as_of from main.fct_customer_features order by 1").df()
        return raw
    finally:
        con.close()


@dataclass
class Events:
    ids: pd.Index               # every known customer id, sorted: customer number i is ids[i]
    customers: pd.DataFrame     # one row per customer number
    transactions: pd.DataFrame
    days: pd.DataFrame          # one row per customer and day with an inbound interaction
    contacts: pd.DataFrame      # ticket contacts plus inbound complaints outside a ticket
    tickets: pd.DataFrame
    feedback: pd.DataFrame      # interactions with a CSAT, an NPS or a sentiment
    topics: pd.DataFrame        # topics the customer raised in complaints and tickets
    coverage: dict              # has_transactions, has_purchases, has_interactions, ...
    data_start_day: int         # first day of data: windows reaching further back are not observed


def day_number(times: pd.Series) -> pd.Series:
    """Days since 1970-01-01 of each timestamp (the date part, as dbt's datediff('day') counts):
    int32, or float64 when some are missing."""
    days = times.to_numpy().astype("datetime64[D]")
    if not np.isnat(days).any():
        return pd.Series(days.astype("int64").astype("int32"), index=times.index)
    return pd.Series(np.where(np.isnat(days), np.nan, days.astype("int64")), index=times.index)


def micro(values):
    """Values in millionths, as dbt's cast to numeric(28,6) holds them before a sum or an
    average: DuckDB scales the double by 10^6 and rounds halves away from zero (np.round would
    round them to even). Integers in float64, so sums stay exact below 2^53 millionths."""
    scaled = np.asarray(values, dtype="float64") * 1e6
    rounded = np.trunc(scaled + np.copysign(0.5, scaled))
    return pd.Series(rounded, index=values.index) if isinstance(values, pd.Series) else rounded


def decimal_sum(values: pd.Series) -> pd.Series:
    """The double of an exact sum of millionths (dbt: cast(sum(numeric) as double))."""
    return values / 1e6


def decimal_mean(grouped) -> pd.Series:
    """Average of grouped millionths as DuckDB averages a numeric(28,6): exact sum over
    count * 10^6 in floating point; null without values."""
    return grouped.sum() / (grouped.count() * 1e6)


def window(frame: pd.DataFrame, cut: int, days: int, offset: int = 0, column: str = "day"):
    """Rows of ``frame`` in the ``days`` days before the cutoff day ``cut`` less ``offset`` days
    (dbt's in_window macro)."""
    d = frame[column]
    return frame[(d >= cut - offset - days) & (d < cut - offset)]


def observed(values: pd.Series, source_has_rows: bool) -> pd.Series:
    """Null (not observed) instead of a value when the business sends no data of that kind."""
    return values if source_has_rows else pd.Series(np.nan, index=values.index)


def prepare(raw: dict[str, pd.DataFrame]) -> Events:
    """What every as-of date reads, derived once from the raw frames of ``load_raw``."""
    tx, ix = raw["transactions"], raw["interactions"]
    # customers are grouped by number (a categorical over 0..n-1, so every groupby gives every
    # customer), cheaper to align than the text ids; numbers follow the sorted ids
    ids = pd.Index(sorted(set(raw["customers"]["customer_id"]) | set(tx["customer_id"].cat.categories)
                          | set(ix["customer_id"].cat.categories)), name="customer_id")
    numbers = pd.CategoricalDtype(pd.RangeIndex(len(ids)))
    tx = tx.assign(customer_id=_numbered(tx["customer_id"], ids, numbers))
    ix = ix.assign(customer_id=_numbered(ix["customer_id"], ids, numbers))
    tx["day"], ix["day"] = day_number(tx["occurred_at"]), day_number(ix["occurred_at"])
    starts = [frame["day"].min() for frame in (tx, ix) if len(frame)]
    ix["is_inbound"] = np.where(ix["direction"].isna(), ix["type"].isin(INBOUND_TYPES),
                                ix["direction"] == "inbound")
    contacts, tickets = _support_cases(ix)
    return Events(
        ids=ids,
        customers=_customers(raw["customers"], tx, ix, ids, numbers),
        transactions=_transactions(tx),
        days=_inbound_days(ix),
        contacts=contacts,
        tickets=tickets,
        feedback=_feedback(ix),
        topics=ix.loc[ix["topic"].notna() & ix["is_inbound"] & ix["type"].isin(CASE_TYPES),
                      ["customer_id", "day", "occurred_at", "topic"]].astype({"topic": "str"}),
        coverage={
            "has_transactions": len(tx) > 0,
            "has_purchases": bool((tx["type"] == "purchase").any()),
            "has_interactions": len(ix) > 0,
            "has_product_usage": bool(ix["type"].isin(["login", "feature_use"]).any()),
            "has_tickets": bool((ix["ticket_id"].notna() & ix["type"].isin(CASE_TYPES)).any()),
            "has_resolutions": bool((ix["type"] == "ticket_resolved").any()),
        },
        data_start_day=int(min(starts)) if starts else 0,
    )


def _customers(customers: pd.DataFrame, tx: pd.DataFrame, ix: pd.DataFrame,
               ids: pd.Index, numbers: pd.CategoricalDtype) -> pd.DataFrame:
    """The latest version of each customer record, plus ids seen only in events (signup: their
    first event); attributes lower-cased as in stg_customers."""
    latest = (customers.assign(version_at=customers["updated_at"].fillna(customers["signup_at"]))
              .sort_values(["customer_id", "version_at", "_ingested_at", "_line"], na_position="first")
              .drop_duplicates("customer_id", keep="last")
              .set_index("customer_id"))
    first_event = pd.concat([tx[["customer_id", "occurred_at"]], ix[["customer_id", "occurred_at"]]])
    first_event = first_event.groupby("customer_id", observed=False)["occurred_at"].min()
    out = pd.DataFrame(index=pd.CategoricalIndex(numbers.categories, dtype=numbers, name="customer_id"))
    out["signup_at"] = latest["signup_at"].reindex(ids).to_numpy()
    out["signup_at"] = out["signup_at"].fillna(first_event)
    for column in ("segment", "plan"):
        out[column] = latest[column].astype("str").str.lower().reindex(ids).to_numpy()
    out["region"] = latest["region"].astype("str").reindex(ids).to_numpy()
    out["signup_day"] = day_number(out["signup_at"])
    return out


def _numbered(customer_ids: pd.Series, ids: pd.Index, numbers: pd.CategoricalDtype) -> pd.Series:
    """Categorical text ids as categorical customer numbers."""
    number_of_category = ids.get_indexer(customer_ids.cat.categories)
    codes = np.where(customer_ids.cat.codes < 0, -1, number_of_category[customer_ids.cat.codes])
    return pd.Series(pd.Categorical.from_codes(codes, dtype=numbers), index=customer_ids.index)


def _transactions(tx: pd.DataFrame) -> pd.DataFrame:
    """Net amounts (refunds negative, cancellations 0) and days since the previous purchase."""
    amount = tx["amount"].fillna(0.0)
    tx = tx.assign(
        net_micro=micro(np.where(tx["type"] == "refund", -amount.abs(),
                                 np.where(tx["type"] == "cancellation", 0.0, amount))),
        is_payment=tx["type"].isin(["purchase", "subscription_payment"]))
    purchases = tx[tx["type"] == "purchase"].sort_values(["customer_id", "occurred_at"])
    previous_day = purchases.groupby("customer_id", observed=True)["day"].shift()
    tx["purchase_gap_micro"] = micro((purchases["day"] - previous_day).reindex(tx.index))
    return tx.drop(columns=["amount", "occurred_at"])


def _inbound_days(ix: pd.DataFrame) -> pd.DataFrame:
    """One row per customer and day with an interaction the customer started (int_customer_days)."""
    inbound = ix.loc[ix["is_inbound"], ["customer_id", "day", "type"]]
    return (inbound.assign(logins=inbound["type"] == "login",
                           feature_uses=inbound["type"] == "feature_use")
            .groupby(["customer_id", "day"], observed=True, sort=False)
            .agg(inbound=("type", "size"), logins=("logins", "sum"), feature_uses=("feature_uses", "sum"))
            .reset_index())


def _support_cases(ix: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contacts with their ticket flags (int_interactions_enriched) and one row per ticket
    (int_tickets): opened, first resolved, contacts needed until the resolution."""
    on_ticket = ix["ticket_id"].notna() & ix["is_inbound"] & ix["type"].isin(CASE_TYPES)
    contacts = ix.loc[on_ticket | ((ix["type"] == "complaint") & ix["is_inbound"]),
                      ["customer_id", "ticket_id", "day", "occurred_at", "interaction_id", "type",
                       "channel", "handle_seconds"]]
    contacts["is_ticket_contact"] = on_ticket.loc[contacts.index]
    ticket = (contacts[contacts["is_ticket_contact"]]
              .sort_values(["customer_id", "ticket_id", "occurred_at", "interaction_id"]))
    by_ticket = ticket.groupby(["customer_id", "ticket_id"], observed=True)
    previous_at = by_ticket["occurred_at"].shift()
    channel = ticket["channel"].cat.codes.where(ticket["channel"].notna())
    previous_channel = channel.groupby([ticket["customer_id"], ticket["ticket_id"]], observed=True).shift()
    contacts["is_repeat_contact"] = (previous_at.notna()
                                     & (ticket["occurred_at"] < previous_at + pd.Timedelta(days=7)))
    contacts["is_channel_hop"] = previous_channel.notna() & channel.notna() & (previous_channel != channel)
    contacts[["is_repeat_contact", "is_channel_hop"]] = \
        contacts[["is_repeat_contact", "is_channel_hop"]].fillna(False).astype(bool)
    contacts["handle_minutes_micro"] = micro(contacts["handle_seconds"] / 60.0)

    keys = ["customer_id", "ticket_id"]
    resolved = (ix[ix["ticket_id"].notna() & (ix["type"] == "ticket_resolved")]
                .groupby(keys, observed=True)["occurred_at"].min().rename("resolved_at"))
    tickets = by_ticket["occurred_at"].min().rename("opened_at").to_frame().join(resolved)
    upto = ticket[keys + ["occurred_at"]].join(tickets["resolved_at"], on=keys)
    tickets["contacts_to_resolve"] = ((upto["occurred_at"] <= upto["resolved_at"])
                                      .groupby([upto["customer_id"], upto["ticket_id"]], observed=True).sum())
    tickets.loc[tickets["resolved_at"].isna(), "contacts_to_resolve"] = np.nan
    minutes = (tickets["resolved_at"].to_numpy().astype("datetime64[m]").astype("int64")
               - tickets["opened_at"].to_numpy().astype("datetime64[m]").astype("int64"))
    tickets["resolution_hours_micro"] = micro(np.where(tickets["resolved_at"].isna(), np.nan, minutes / 60.0))
    tickets["opened_day"] = day_number(tickets["opened_at"])
    tickets["resolved_day"] = day_number(tickets["resolved_at"]).astype("float64")
    return contacts.drop(columns=["occurred_at", "interaction_id", "handle_seconds"]), \
        tickets.reset_index()


def _feedback(ix: pd.DataFrame) -> pd.DataFrame:
    """Answers and messages with a rating or a sentiment, oldest first (ties by interaction id),
    each flagged negative when sentiment < -0.3, CSAT <= 2 or NPS <= 6."""
    feedback = ix.loc[ix["csat"].notna() | ix["nps"].notna() | ix["sentiment"].notna(),
                      ["customer_id", "day", "occurred_at", "interaction_id", "csat", "nps", "sentiment"]]
    feedback = feedback.sort_values(["occurred_at", "interaction_id"])
    feedback["is_negative"] = ((feedback["sentiment"] < -0.3) | (feedback["csat"] <= 2)
                               | (feedback["nps"] <= 6))
    for column in ("csat", "nps", "sentiment"):  # averaged as numeric(28,6); last_* keep the answer
        feedback[f"{column}_micro"] = micro(feedback[column])
    return feedback.drop(columns=["occurred_at", "interaction_id"])
