"""Behaviour of the demo-data generator that a user of ``customer-health demo-data`` would notice."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq
import pytest

from customer_health.demo import generate_demo_data

CUSTOMERS, MONTHS, SEED = 300, 12, 7
START = date(2025, 1, 1)
CUTOFF = date(2026, 1, 1)
CONTRACT = {
    "customers": ["customer_id", "signup_at", "segment", "plan", "region", "account_owner", "email", "updated_at"],
    "transactions": ["transaction_id", "customer_id", "occurred_at", "type", "amount", "currency", "product",
                     "channel"],
    "interactions": ["interaction_id", "customer_id", "occurred_at", "channel", "type", "direction", "ticket_id",
                     "handle_seconds", "csat", "nps", "sentiment", "text", "topic"],
}
INBOUND_PURCHASE = "purchase"


def _generate(root: Path, seed: int = SEED, customers: int = CUSTOMERS):
    return generate_demo_data(root / "landing", root / "truth", customers, MONTHS, seed)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _file_format(path: Path) -> str:
    name = path.name
    return next(fmt for fmt in ("csv.gz", "csv", "parquet", "jsonl") if name.endswith("." + fmt))


def _read(path: Path) -> pd.DataFrame:
    fmt = _file_format(path)
    if fmt == "parquet":
        return pq.read_table(path).to_pandas()
    if fmt == "jsonl":
        return pjson.read_json(path).to_pandas()
    return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(strings_can_be_null=True)).to_pandas()


def _utc(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    return pd.to_datetime(values.astype(str), utc=True, format="ISO8601")


def _entity(landing: Path, entity: str) -> pd.DataFrame:
    frames = []
    for path in sorted((landing / entity).iterdir()):
        frame = _read(path)
        for column in ("occurred_at", "updated_at", "signup_at"):
            if column in frame:
                frame[column] = _utc(frame[column])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    summary = _generate(root)
    landing = root / "landing"
    return {
        "root": root,
        "summary": summary,
        "landing": landing,
        "truth": pd.read_csv(root / "truth" / "ground_truth.csv"),
        "customers": _entity(landing, "customers"),
        "transactions": _entity(landing, "transactions"),
        "interactions": _entity(landing, "interactions"),
    }


def test_same_seed_gives_identical_bytes_and_reruns_replace_old_files(demo, tmp_path):
    again = tmp_path / "again"
    _generate(again)
    assert _snapshot(again) == _snapshot(demo["root"])

    stray = again / "landing" / "transactions" / "transactions_1999-01.csv"
    stray.write_text("old batch\n")
    _generate(again)
    assert not stray.exists()
    assert _snapshot(again) == _snapshot(demo["root"])


def test_different_seed_gives_different_data(demo, tmp_path):
    _generate(tmp_path / "other", seed=SEED + 1)
    other, mine = _snapshot(tmp_path / "other"), _snapshot(demo["root"])
    assert other["truth/ground_truth.csv"] != mine["truth/ground_truth.csv"]
    interactions = [name for name in other.keys() & mine.keys() if name.startswith("landing/interactions/")]
    assert interactions and all(other[name] != mine[name] for name in interactions)


def test_each_entity_arrives_as_several_files_in_mixed_formats(demo):
    landing, summary = demo["landing"], demo["summary"]
    formats = {}
    for entity in CONTRACT:
        files = sorted((landing / entity).iterdir())
        assert len(files) >= 3, entity
        assert summary.files[entity] == len(files)
        formats[entity] = {_file_format(path) for path in files}
    assert formats["customers"] == {"csv", "jsonl"}
    assert formats["transactions"] == {"parquet", "csv.gz"}
    assert formats["interactions"] == {"jsonl", "csv", "parquet"}
    assert (landing / "transactions" / "transactions_2025-03.parquet").exists()


def test_files_carry_the_input_contract_columns(demo):
    for entity, columns in CONTRACT.items():
        for path in sorted((demo["landing"] / entity).iterdir()):
            names = list(_read(path).columns)
            if _file_format(path) == "jsonl":  # like event feeds, JSON Lines omit the keys of null values
                assert set(names) <= set(columns) and {columns[0], "customer_id"} <= set(names), path.name
            else:
                assert names == columns, path.name
        assert set(demo[entity].columns) == set(columns)
        assert len(demo[entity]) == demo["summary"].rows[entity]


def test_values_follow_the_contract_vocabularies(demo):
    tx, ix, cust = demo["transactions"], demo["interactions"], demo["customers"]
    assert set(cust["segment"]) == {"smb", "mid_market", "enterprise"}
    assert set(cust["plan"]) == {"basic", "pro", "premium"}
    assert cust["email"].str.fullmatch(r"c\d{6}@example\.com").all()
    assert set(tx["type"]) == {"purchase", "refund", "subscription_payment", "cancellation"}
    assert set(tx["channel"]) <= {"web", "store", "in_app", "phone"}
    assert tx["currency"].value_counts().idxmax() == "USD"
    refunds = tx.loc[tx["type"] == "refund", "amount"]
    assert (refunds < 0).any() and (refunds > 0).any()
    assert tx.loc[tx["type"] == "cancellation", "amount"].fillna(0).eq(0).all()
    assert set(ix["type"]) <= {"support_ticket", "ticket_resolved", "complaint", "survey_response", "login",
                               "feature_use", "marketing", "other"}
    assert set(ix["channel"]) <= {"email", "chat", "phone", "social", "in_app", "web", "store", "survey", "other"}
    assert set(ix["direction"]) == {"inbound", "outbound"}
    assert ix["csat"].dropna().between(1, 5).all() and ix["nps"].dropna().between(0, 10).all()
    assert ix["sentiment"].dropna().between(-1, 1).all()
    assert ix["text"].notna().sum() > 0 and ix["ticket_id"].notna().sum() > 0
    assert ix.loc[ix["type"] == "support_ticket", "handle_seconds"].notna().all()
    for frame, column, prefix in ((tx, "transaction_id", "T"), (ix, "interaction_id", "I"), (cust, "customer_id", "C")):
        assert frame[column].str.startswith(prefix).all()
    assert tx["transaction_id"].is_unique and ix["interaction_id"].is_unique


def test_text_timestamps_mix_naive_and_utc_suffixes(demo):
    raw = pcsv.read_csv(next((demo["landing"] / "interactions").glob("*.csv")),
                        convert_options=pcsv.ConvertOptions(column_types={"occurred_at": "string"}))
    stamps = pd.Series(raw.column("occurred_at").to_pylist())
    assert stamps.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").mean() > 0.7
    assert stamps.str.endswith("Z").any() and stamps.str.endswith("+00:00").any()


def test_nothing_is_written_at_or_after_the_cutoff(demo):
    cutoff = pd.Timestamp(CUTOFF, tz="UTC")
    start = pd.Timestamp(START, tz="UTC")
    assert demo["summary"].cutoff == CUTOFF
    for entity in ("transactions", "interactions"):
        assert demo[entity]["occurred_at"].between(start, cutoff, inclusive="left").all()
    assert (demo["customers"]["updated_at"] < cutoff).all() and (demo["customers"]["signup_at"] < cutoff).all()


def test_later_customer_rows_update_earlier_ones(demo):
    cust = demo["customers"]
    repeated = cust[cust.duplicated("customer_id", keep=False)].sort_values(["customer_id", "updated_at"])
    assert len(repeated) > 0
    changed = repeated.groupby("customer_id")[["plan", "account_owner"]].nunique().max(axis=1)
    assert (changed > 1).any()


def test_a_cancellation_ends_purchases_and_inbound_activity(demo):
    tx, ix = demo["transactions"], demo["interactions"]
    cancelled = tx[tx["type"] == "cancellation"].set_index("customer_id")["occurred_at"]
    assert len(cancelled) > 0
    active_tx = tx[tx["type"].isin(["purchase", "subscription_payment"])]
    inbound = ix[ix["direction"] == "inbound"]
    for events in (active_tx, inbound):
        joined = events.join(cancelled.rename("cancelled_at"), on="customer_id", how="inner")
        assert (joined["occurred_at"] < joined["cancelled_at"]).all()


def test_active_customers_are_never_silent_for_ninety_days(demo):
    truth, ix, tx = demo["truth"], demo["interactions"], demo["transactions"]
    window = pd.Timestamp(CUTOFF - timedelta(days=90), tz="UTC")
    seen = set(ix.loc[(ix["direction"] == "inbound") & (ix["occurred_at"] >= window), "customer_id"])
    seen |= set(tx.loc[(tx["type"] == INBOUND_PURCHASE) & (tx["occurred_at"] >= window), "customer_id"])
    first_seen = demo["customers"].groupby("customer_id")["signup_at"].min()
    veterans = truth[truth["customer_id"].map(first_seen) < window]
    assert len(veterans) > 50
    assert veterans["customer_id"].isin(seen).mean() > 0.99


def test_truth_is_separate_and_well_formed(demo):
    root, truth, summary = demo["root"], demo["truth"], demo["summary"]
    assert not any(p.name in ("ground_truth.csv", "meta.json") for p in (root / "landing").rglob("*"))
    assert list(truth.columns) == ["customer_id", "cutoff", "true_churn_probability", "churned"]
    assert truth["customer_id"].is_unique and set(truth["customer_id"]) <= set(demo["customers"]["customer_id"])
    assert (truth["cutoff"] == CUTOFF.isoformat()).all()
    assert truth["true_churn_probability"].between(0, 1).all() and set(truth["churned"]) == {0, 1}
    assert summary.active_at_cutoff == len(truth)
    assert summary.churn_rate == pytest.approx(truth["churned"].mean())
    assert 0.08 < summary.churn_rate < 0.4
    meta = json.loads((root / "truth" / "meta.json").read_text())
    assert meta["seed"] == SEED and meta["cutoff"] == CUTOFF.isoformat() and meta["horizon_days"] == 90
    assert meta["oracle_auc"] == pytest.approx(summary.oracle_auc, abs=1e-6)
    assert meta["rows"] == summary.rows and meta["files"] == summary.files


def test_oracle_probability_is_informative(demo):
    from sklearn.metrics import roc_auc_score

    truth = demo["truth"]
    assert demo["summary"].oracle_auc > 0.7
    assert roc_auc_score(truth["churned"], truth["true_churn_probability"]) == pytest.approx(
        demo["summary"].oracle_auc, abs=1e-3)


def test_low_satisfaction_signals_go_with_churn(demo):
    truth, ix = demo["truth"].set_index("customer_id"), demo["interactions"]
    ix = ix[ix["customer_id"].isin(truth.index)].join(truth["churned"], on="customer_id")

    def since(days: int) -> pd.DataFrame:
        return ix[ix["occurred_at"] >= pd.Timestamp(CUTOFF - timedelta(days=days), tz="UTC")]

    logins = since(30)[since(30)["type"] == "login"].groupby("customer_id").size()
    logins = logins.reindex(truth.index, fill_value=0).groupby(truth["churned"]).mean()
    csat = since(180).groupby("churned")["csat"].mean()
    sentiment = since(90).groupby("churned")["sentiment"].mean()
    assert logins[1] < logins[0]
    assert csat[1] < csat[0]
    assert sentiment[1] < sentiment[0]


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError):
        generate_demo_data(tmp_path / "landing", tmp_path / "truth", 0, MONTHS, SEED)
    with pytest.raises(ValueError):
        generate_demo_data(tmp_path / "landing", tmp_path / "landing" / "customers" / "truth", 10, 1, SEED)
