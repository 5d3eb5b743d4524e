"""Tests of the Great Expectations gate for ingest batches (customer_health.validation)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from customer_health.validation import (
    ENTITIES,
    BatchValidation,
    SuiteError,
    columns_read,
    load_suite,
    validate_batch,
)

ROOT = Path(__file__).resolve().parents[2]
SUITES = ROOT / "expectations"
EMAILS = ["ada.lovelace@example.com", "grace.hopper@example.org", "alan.turing@example.net"]
TEXTS = ["my card was charged twice, call me on 0123", "the app crashes at checkout", None]


def _strings(*values) -> pd.Series:
    return pd.Series(list(values), dtype="string")


def _stamps(*values) -> pd.Series:
    return pd.to_datetime(pd.Series(list(values)), format="ISO8601").astype("datetime64[us]")


def customers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": _strings("c1", "c2", "c1"),
        "signup_at": _stamps("2023-01-05", "2024-03-01", "2023-01-05"),
        "segment": _strings("smb", "enterprise", "smb"),
        "plan": _strings("pro", None, "pro"),
        "region": _strings("emea", "na", None),
        "account_owner": _strings("kim", None, "kim"),
        "email": _strings(*EMAILS),
        "updated_at": _stamps(None, "2024-06-01", "2024-07-01 10:00"),
    })


def transactions() -> pd.DataFrame:
    return pd.DataFrame({
        "transaction_id": _strings("t1", "t2", "t3"),
        "customer_id": _strings("c1", "c1", "c2"),
        "occurred_at": _stamps("2024-01-01 09:00", "2024-02-01", "2024-02-03"),
        "type": _strings("purchase", "refund", "other"),
        "amount": [120.0, -40.0, None],
        "currency": _strings("USD", "USD", None),
        "product": _strings("pro", "pro", None),
        "channel": _strings("web", None, "store"),
    })


def interactions() -> pd.DataFrame:
    return pd.DataFrame({
        "interaction_id": _strings("i1", "i2", "i3"),
        "customer_id": _strings("c1", "c2", "c2"),
        "occurred_at": _stamps("2024-01-01 09:00", "2024-01-02", "2024-01-03"),
        "channel": _strings("email", "chat", "in_app"),
        "type": _strings("support_ticket", "complaint", None),
        "direction": _strings("inbound", None, "outbound"),
        "ticket_id": _strings("k1", "k1", None),
        "handle_seconds": [300.0, None, 0.0],
        "csat": [1.0, 5.0, None],
        "nps": [0.0, None, 10.0],
        "sentiment": [-1.0, 0.2, 1.0],
        "text": _strings(*TEXTS),
        "topic": _strings("billing", None, "app"),
    })


FRAMES = {"customers": customers, "transactions": transactions, "interactions": interactions}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("validation tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def failure(result: BatchValidation, expectation: str, column: str | None):
    matches = [f for f in result.failed if f.expectation == expectation and f.column == column]
    assert matches, f"no {expectation} failure on {column}: {result.failed}"
    return matches[0]


@pytest.mark.parametrize("entity", ENTITIES)
def test_clean_batch_passes(entity):
    result = validate_batch(entity, FRAMES[entity](), SUITES)
    assert result.success, result.failed
    assert result.suite == entity
    assert result.failed == ()
    assert result.evaluated == len(load_suite(entity, SUITES).expectations)


@pytest.mark.parametrize("entity,key", [("transactions", "transaction_id"),
                                        ("interactions", "interaction_id")])
def test_duplicated_event_id_fails(entity, key):
    frame = FRAMES[entity]()
    frame.loc[2, key] = frame.loc[0, key]
    result = validate_batch(entity, frame, SUITES)
    assert not result.success
    failed = failure(result, "expect_column_values_to_be_unique", key)
    assert failed.unexpected_count == 2
    assert failed.sample == [frame.loc[0, key]]
    assert "twice" in failed.rule


def test_customer_id_may_repeat_in_a_customers_batch():
    frame = customers()
    assert frame["customer_id"].duplicated().any()
    assert validate_batch("customers", frame, SUITES).success


def test_out_of_range_csat_fails():
    frame = interactions()
    frame.loc[1, "csat"] = 7.0
    result = validate_batch("interactions", frame, SUITES)
    failed = failure(result, "expect_column_values_to_be_between", "csat")
    assert (failed.unexpected_count, failed.sample) == (1, [7.0])
    assert failed.rule == "csat, when given, is between 1 and 5."


@pytest.mark.parametrize("column,value", [("nps", 11.0), ("sentiment", -1.5),
                                          ("handle_seconds", -1.0)])
def test_out_of_range_scores_fail(column, value):
    frame = interactions()
    frame.loc[0, column] = value
    result = validate_batch("interactions", frame, SUITES)
    assert failure(result, "expect_column_values_to_be_between", column).sample == [value]


def test_unknown_channel_fails():
    frame = interactions()
    frame.loc[0, "channel"] = "carrier_pigeon"
    result = validate_batch("interactions", frame, SUITES)
    failed = failure(result, "expect_column_values_to_be_in_set", "channel")
    assert (failed.unexpected_count, failed.sample) == (1, ["carrier_pigeon"])


def test_missing_key_and_unknown_type_fail():
    frame = transactions()
    frame.loc[1, "customer_id"] = pd.NA
    frame.loc[2, "type"] = "chargeback"
    result = validate_batch("transactions", frame, SUITES)
    assert failure(result, "expect_column_values_to_not_be_null", "customer_id").unexpected_count == 1
    assert failure(result, "expect_column_values_to_be_in_set", "type").sample == ["chargeback"]


def test_timestamps_before_1970_or_in_the_future_fail():
    frame = transactions()
    frame.loc[0, "occurred_at"] = pd.Timestamp("1969-12-31")
    frame.loc[1, "occurred_at"] = pd.Timestamp.now() + pd.Timedelta(days=30)
    result = validate_batch("transactions", frame, SUITES)
    failed = failure(result, "expect_column_values_to_be_between", "occurred_at")
    assert failed.unexpected_count == 2


def test_timestamps_outside_the_nanosecond_range_still_fail():
    frame = customers()
    frame["signup_at"] = pd.Series(["0001-01-01", "9999-12-31", "2020-01-01"],
                                   dtype="datetime64[us]")
    result = validate_batch("customers", frame, SUITES)
    assert failure(result, "expect_column_values_to_be_between", "signup_at").unexpected_count == 2


def test_amount_bound_and_currency_pattern():
    frame = pd.concat([transactions()] * 50, ignore_index=True)
    frame["transaction_id"] = pd.Series([f"t{i}" for i in range(len(frame))], dtype="string")
    frame["currency"] = "EUR"
    frame.loc[0, "currency"] = "US Dollar"          # 1 in 150 bad: within the 1% tolerance
    assert validate_batch("transactions", frame, SUITES).success
    frame.loc[1, "currency"] = "$"                  # 2 in 150 bad: not any more
    frame.loc[4, "amount"] = 5e12
    result = validate_batch("transactions", frame, SUITES)
    assert failure(result, "expect_column_values_to_match_regex", "currency").sample == [
        "US Dollar", "$"]
    assert failure(result, "expect_column_values_to_be_between", "amount").sample == [5e12]


def test_empty_batch_fails_row_count():
    result = validate_batch("interactions", interactions().iloc[:0], SUITES)
    failed = failure(result, "expect_table_row_count_to_be_between", None)
    assert failed.rule == "The batch has at least one row."


def test_missing_column_fails_and_names_it():
    result = validate_batch("interactions", interactions().drop(columns=["csat"]), SUITES)
    assert not result.success
    failure(result, "expect_column_to_exist", "csat")


def test_extra_columns_do_not_fail():
    frame = interactions()
    frame["_line"] = [2, 3, 4]
    frame["loyalty_tier"] = ["gold", None, "unknown tier"]
    frame["payload"] = [{"a": 1}, None, [1, 2]]       # unhashable values
    result = validate_batch("interactions", frame, SUITES)
    assert result.success, result.failed


def test_other_dtypes_are_accepted():
    frame = interactions()
    frame["occurred_at"] = frame["occurred_at"].dt.tz_localize("UTC")
    frame["csat"] = frame["csat"].astype("Float64")
    frame["channel"] = frame["channel"].astype(object)
    assert validate_batch("interactions", frame, SUITES).success


def test_caller_frame_is_not_changed():
    frame = interactions()
    before = frame.copy()
    validate_batch("interactions", frame, SUITES)
    pd.testing.assert_frame_equal(frame, before)


def test_result_json_is_json_without_personal_values():
    frame = customers()
    frame.loc[1, "customer_id"] = pd.NA                  # make the batch fail
    events = interactions()
    events.loc[0, "csat"] = 0.0
    for entity, batch in (("customers", frame), ("interactions", events)):
        result = validate_batch(entity, batch, SUITES)
        assert not result.success
        document = json.loads(result.result_json)
        assert document["suite_name"] == entity
        assert len(document["results"]) == result.evaluated
        for secret in EMAILS + [t for t in TEXTS if t]:
            assert secret not in result.result_json


def test_value_checks_on_personal_columns_hide_their_values(tmp_path):
    suite = json.loads((SUITES / "customers.json").read_text())
    suite["expectations"].append({
        "type": "expect_column_values_to_match_regex",
        "kwargs": {"column": "email", "regex": "^[^@]+@example\\.com$"},
        "description": "Emails are company addresses.",
    })
    (tmp_path / "customers.json").write_text(json.dumps(suite))
    result = validate_batch("customers", customers(), tmp_path)
    failed = failure(result, "expect_column_values_to_match_regex", "email")
    assert failed.unexpected_count == 2
    assert failed.sample == []
    for secret in EMAILS:
        assert secret not in result.result_json


def test_columns_read_are_the_value_checks_of_the_suite(tmp_path):
    # ingest copies out only these values for the gate (personal data the suite does not read
    # goes as a placeholder), so the list must follow the suite
    assert {"interaction_id", "occurred_at", "csat"} <= columns_read("interactions", SUITES)
    assert "text" not in columns_read("interactions", SUITES)
    assert "email" not in columns_read("customers", SUITES)
    suite = json.loads((SUITES / "customers.json").read_text())
    suite["expectations"].append({"type": "expect_column_values_to_match_regex",
                                  "kwargs": {"column": "email", "regex": "@"}})
    (tmp_path / "customers.json").write_text(json.dumps(suite))
    assert "email" in columns_read("customers", tmp_path)


def test_suites_on_disk_one_per_entity():
    assert sorted(p.stem for p in SUITES.glob("*.json")) == sorted(ENTITIES)
    for entity in ENTITIES:
        raw = json.loads((SUITES / f"{entity}.json").read_text())
        suite = load_suite(entity, SUITES)
        assert suite.name == raw["name"] == entity
        assert len(suite.expectations) == len(raw["expectations"]) > 5
        for item in raw["expectations"]:
            assert item.get("description") or item.get("meta", {}).get("notes"), item
        types = {e.expectation_type for e in suite.expectations}
        assert {"expect_table_row_count_to_be_between", "expect_column_to_exist",
                "expect_column_values_to_not_be_null"} <= types


def test_missing_suite_file_names_the_file(tmp_path):
    with pytest.raises(SuiteError, match="interactions.json"):
        validate_batch("interactions", interactions(), tmp_path)


def test_invalid_json_names_the_file(tmp_path):
    (tmp_path / "transactions.json").write_text('{"name": "transactions", ')
    with pytest.raises(SuiteError, match=r"transactions\.json: not valid JSON"):
        validate_batch("transactions", transactions(), tmp_path)


def test_invalid_expectation_names_the_file_and_position(tmp_path):
    suite = json.loads((SUITES / "transactions.json").read_text())
    suite["expectations"][1]["type"] = "expect_column_to_be_wonderful"
    (tmp_path / "transactions.json").write_text(json.dumps(suite))
    with pytest.raises(SuiteError, match=r"transactions\.json: expectation #2 "):
        load_suite("transactions", tmp_path)


def test_unknown_entity_is_refused():
    with pytest.raises(ValueError, match="unknown entity"):
        validate_batch("orders", transactions(), SUITES)


def test_import_is_cheap_and_validation_is_quiet():
    script = """
import logging, sys, warnings
logging.basicConfig(level=logging.DEBUG)
warnings.simplefilter("default")
before = warnings.showwarning
import customer_health.validation as v
assert "great_expectations" not in sys.modules, "importing the module imported GX"
import pandas as pd
frame = pd.DataFrame({"transaction_id": ["t1"], "customer_id": ["c1"],
                      "occurred_at": pd.to_datetime(["2024-01-01"]), "type": ["purchase"],
                      "amount": [1.0], "currency": ["USD"], "product": ["p"], "channel": ["web"]})
assert v.validate_batch("transactions", frame, sys.argv[1]).success
assert warnings.showwarning is before, "GX left warnings captured by logging"
"""
    done = subprocess.run([sys.executable, "-c", script, str(SUITES)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == "", done.stderr


def test_edited_suite_is_reloaded(tmp_path):
    suite = json.loads((SUITES / "interactions.json").read_text())
    (tmp_path / "interactions.json").write_text(json.dumps(suite))
    assert validate_batch("interactions", interactions(), tmp_path).success
    suite["expectations"].append({
        "type": "expect_column_values_to_not_be_null", "kwargs": {"column": "topic"},
        "description": "Every interaction has a topic.",
    })
    (tmp_path / "interactions.json").write_text(json.dumps(suite))
    result = validate_batch("interactions", interactions(), tmp_path)
    assert failure(result, "expect_column_values_to_not_be_null", "topic").unexpected_count == 1
