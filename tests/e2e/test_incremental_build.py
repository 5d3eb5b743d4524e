"""The incremental models equal a full rebuild, late events included.

A first build, then a new landing file with late events (older than the lookback, so only their
load time brings them in) and a brand-new one, an incremental build, and a full refresh of a copy
of the same warehouse: the incremental models (events, customer-days, activity days) and the
feature mart must be identical row for row.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from customer_health.config import DEFAULT_CONFIG, load_settings
from customer_health.demo import generate_demo_data
from customer_health.pipeline import features_step, ingest_step

TABLES = {
    "int_ticket_contacts": ["interaction_id"],
    "int_interactions_enriched": ["interaction_id"],
    "int_transactions_enriched": ["transaction_id"],
    "int_customer_days": ["customer_id", "activity_date"],
    "int_customer_activity": ["customer_id", "activity_date"],
    "fct_customer_features": ["customer_id", "as_of"],
}
# the incremental models (merged, not rebuilt, on a build with new events) and their folders
INCREMENTAL = {
    "int_ticket_contacts": "intermediate/events",
    "int_transactions_enriched": "intermediate/events",
    "int_customer_days": "intermediate",
    "int_customer_activity": "intermediate",
}


def read(warehouse: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).df()


def snapshot(warehouse: Path) -> dict[str, pd.DataFrame]:
    return {table: read(warehouse, f"select * from main.{table}")
            .sort_values(key).reset_index(drop=True)
            for table, key in TABLES.items()}


def assert_same(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    for table in TABLES:
        assert len(left[table]) == len(right[table]), table
        pd.testing.assert_frame_equal(left[table], right[table], check_exact=True, obj=table)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, default=str) + "\n" for row in rows))


def used_merge(settings, model: str) -> bool:
    """dbt wrote a MERGE for the model: it really ran incrementally."""
    folder = settings.dbt_target_dir / "run" / "customer_health" / "models" / INCREMENTAL[model]
    return "merge into" in (folder / f"{model}.sql").read_text().lower()


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    generate_demo_data(root / "landing", root / "truth", customers=300, months=10, seed=23)
    settings = load_settings(DEFAULT_CONFIG, home=root / "home", landing=root / "landing")
    lookback = settings.options.features.event_lookback_days
    ingest_step(settings)
    features_step(settings)
    warehouse = settings.warehouse
    first = snapshot(warehouse)
    newest = read(warehouse, "select max(occurred_at) as t from main.int_interactions_enriched")["t"][0]
    too_old = newest - timedelta(days=lookback + 7)

    # (i) a contact an hour before the first contact of a ticket that has several, on another channel
    ticket = read(warehouse, """
        select first.customer_id, first.ticket_id, first.interaction_id, first.occurred_at,
               first.channel
        from main.int_interactions_enriched as first
        join main.int_interactions_enriched as second
          on second.customer_id = first.customer_id and second.ticket_id = first.ticket_id
         and second.contact_number = 2
        where first.contact_number = 1 and second.occurred_at < ?
        order by first.customer_id, first.ticket_id
        limit 1""", [too_old]).iloc[0]
    late_contact = {
        "interaction_id": "LATE-I1", "customer_id": ticket["customer_id"],
        "occurred_at": (ticket["occurred_at"] - timedelta(hours=1)).isoformat(),
        "channel": "phone" if ticket["channel"] != "phone" else "chat", "type": "support_ticket",
        "direction": "inbound", "ticket_id": ticket["ticket_id"], "handle_seconds": 300,
        "csat": None, "nps": None, "sentiment": -0.5, "text": None, "topic": "billing",
    }
    # (ii) a purchase a day after one purchase and at least a day before the customer's next one
    gap = read(warehouse, """
        select customer_id, transaction_id, occurred_at, purchase_gap_days,
               lag(occurred_at) over (partition by customer_id order by occurred_at, transaction_id) as previous_at
        from main.int_transactions_enriched
        where transaction_type = 'purchase'
        qualify purchase_gap_days >= 3 and occurred_at < ?
        order by customer_id, occurred_at
        limit 1""", [too_old]).iloc[0]
    late_purchase = {
        "transaction_id": "LATE-T1", "customer_id": gap["customer_id"],
        "occurred_at": (gap["previous_at"] + timedelta(days=1)).isoformat(), "type": "purchase",
        "amount": 42.0, "currency": "USD", "product": "addon", "channel": "web",
    }
    # (iii) brand-new events at the newest time already seen
    new_login = {"interaction_id": "NEW-I1", "customer_id": ticket["customer_id"],
                 "occurred_at": newest.isoformat(), "channel": "in_app", "type": "login",
                 "direction": "inbound", "ticket_id": None, "handle_seconds": None, "csat": None,
                 "nps": None, "sentiment": None, "text": None, "topic": None}
    newest_tx = read(warehouse, "select max(occurred_at) as t from main.int_transactions_enriched")["t"][0]
    new_purchase = {"transaction_id": "NEW-T1", "customer_id": gap["customer_id"],
                    "occurred_at": newest_tx.isoformat(), "type": "purchase", "amount": 10.0,
                    "currency": "USD", "product": "addon", "channel": "web"}
    write_jsonl(settings.landing / "interactions" / "interactions_late.jsonl", [late_contact, new_login])
    write_jsonl(settings.landing / "transactions" / "transactions_late.jsonl", [late_purchase, new_purchase])

    report = ingest_step(settings)
    assert (report.total("loaded"), report.total("quarantined"), report.failed) == (4, 0, [])
    features_step(settings)
    incremental = snapshot(warehouse)
    merged = {model: used_merge(settings, model) for model in INCREMENTAL}

    # the same raw data, rebuilt from scratch
    full_warehouse = root / "full" / "warehouse.duckdb"
    full_warehouse.parent.mkdir()
    shutil.copy(warehouse, full_warehouse)
    full_settings = load_settings(DEFAULT_CONFIG, warehouse=full_warehouse)
    features_step(full_settings, full_refresh=True)
    full = snapshot(full_warehouse)

    features_step(settings)  # nothing new arrived
    rerun = snapshot(warehouse)
    return {"first": first, "incremental": incremental, "full": full, "rerun": rerun,
            "merged": merged, "ticket": ticket, "gap": gap, "too_old": too_old,
            "late_contact": late_contact, "late_purchase": late_purchase}


def test_incremental_build_equals_full_rebuild(builds):
    assert all(builds["merged"].values()), builds["merged"]
    assert_same(builds["incremental"], builds["full"])


def test_a_rerun_without_new_data_changes_nothing(builds):
    assert_same(builds["incremental"], builds["rerun"])


def test_late_contact_renumbers_its_ticket(builds):
    ticket, late = builds["ticket"], builds["late_contact"]
    assert pd.Timestamp(late["occurred_at"]) < builds["too_old"], "late event must be outside the lookback"

    def contacts(snapshot):
        frame = snapshot["int_interactions_enriched"]
        frame = frame[(frame["customer_id"] == ticket["customer_id"])
                      & (frame["ticket_id"] == ticket["ticket_id"]) & (frame["contact_number"] > 0)]
        return frame.set_index("interaction_id")

    before, after = contacts(builds["first"]), contacts(builds["incremental"])
    flags = ["contact_number", "is_repeat_contact", "is_channel_hop"]
    assert after.loc["LATE-I1", flags].tolist() == [1, 0, 0]
    # the former first contact now follows a contact an hour earlier on another channel
    assert after.loc[ticket["interaction_id"], flags].tolist() == [2, 1, 1]
    # every later contact moved up by one
    assert (after.loc[before.index, "contact_number"] == before["contact_number"] + 1).all()


def test_late_purchase_splits_the_gap(builds):
    gap = builds["gap"]
    assert pd.Timestamp(builds["late_purchase"]["occurred_at"]) < builds["too_old"]

    def gaps(snapshot) -> dict[str, int | None]:
        frame = snapshot["int_transactions_enriched"]
        return {tid: None if pd.isna(days) else int(days)
                for tid, days in zip(frame["transaction_id"], frame["purchase_gap_days"])}

    before, after = gaps(builds["first"]), gaps(builds["incremental"])
    split = gap["transaction_id"]
    assert before[split] == gap["purchase_gap_days"]
    # the late purchase lands a day after the previous one; the next purchase's gap shrinks by a day
    assert (after.get("LATE-T1"), after[split]) == (1, before[split] - 1)


def test_new_events_arrive(builds):
    assert "NEW-I1" in set(builds["incremental"]["int_interactions_enriched"]["interaction_id"])
    assert "NEW-T1" in set(builds["incremental"]["int_transactions_enriched"]["transaction_id"])
    for table in ("int_interactions_enriched", "int_transactions_enriched"):
        assert len(builds["incremental"][table]) == len(builds["first"][table]) + 2
