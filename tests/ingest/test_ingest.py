"""Ingest: every landing row is loaded or quarantined with its reason, each file exactly once."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from customer_health.config import EXPECTATIONS_DIR
from customer_health.ingest import ingest_landing
from customer_health.validation import validate_batch
from customer_health.warehouse import connect
from tests.conftest import write

VALIDATE = partial(validate_batch, suites_dir=EXPECTATIONS_DIR)

GOOD_TX = """transaction_id,customer_id,occurred_at,type,amount,currency
t1,c1,2025-01-01T10:00:00,purchase,10.5,USD
t2,c1,2025-01-02T10:00:00Z,refund,-5,USD
t3,c2,2025-01-03 08:00:00+00:00,subscription_payment,20,EUR
"""


def ingest(tmp_path: Path, landing: Path):
    with connect(tmp_path / "wh.duckdb") as con:
        report = ingest_landing(con, landing, validator=VALIDATE)
        tables = {name: con.execute(f"select * from raw.{name}").df()
                  for name in ("transactions", "interactions", "customers", "quarantine",
                               "ingest_ledger", "validation_results")}
    return report, tables


def test_same_file_twice_loads_once(tmp_path, landing):
    write(landing / "transactions" / "day1.csv", GOOD_TX)
    first, tables = ingest(tmp_path, landing)
    assert first.total("loaded") == 3
    second, tables = ingest(tmp_path, landing)
    assert second.outcomes == [] and second.skipped == 1
    # the same content under another name is recognised and not loaded again
    write(landing / "transactions" / "day1_resent.csv", GOOD_TX)
    third, tables = ingest(tmp_path, landing)
    assert [o.status for o in third.outcomes] == ["duplicate"]
    assert "day1.csv" in third.outcomes[0].reason
    assert len(tables["transactions"]) == 3


def test_broken_rows_are_quarantined_with_file_line_and_rule(tmp_path, landing):
    write(landing / "transactions" / "mixed.csv", GOOD_TX + (
        "t4,,2025-01-04,purchase,1,USD\n"           # line 5: missing customer
        "t5,c3,yesterday,purchase,1,USD\n"           # line 6: bad timestamp
        "t6,c3,2025-01-05,purchase,ten,USD\n"        # line 7: bad number
        "t1,c1,2025-01-01T10:00:00,purchase,10.5,USD\n"  # line 8: repeats t1
    ))
    report, tables = ingest(tmp_path, landing)
    (outcome,) = report.outcomes
    assert (outcome.status, outcome.rows_in, outcome.loaded, outcome.quarantined) == ("partial", 7, 3, 4)
    q = tables["quarantine"].set_index("line")
    assert q.loc[5, "rule"] == "missing_value" and "customer_id is empty" in q.loc[5, "reason"]
    assert q.loc[6, "rule"] == "bad_timestamp" and "'yesterday'" in q.loc[6, "reason"]
    assert q.loc[7, "rule"] == "bad_number" and "amount 'ten'" in q.loc[7, "reason"]
    assert q.loc[8, "rule"] == "duplicate_id" and "repeats line 2" in q.loc[8, "reason"]
    assert set(q["path"]) == {"transactions/mixed.csv"}
    ledger = tables["ingest_ledger"].iloc[0]
    assert ledger.rows_in == ledger.rows_loaded + ledger.rows_quarantined
    # the quarantined record keeps the original values: nothing is lost
    assert json.loads(q.loc[6, "record"])["occurred_at"] == "yesterday"


def test_out_of_range_scores_are_quarantined(tmp_path, landing):
    write(landing / "interactions" / "i.jsonl", "\n".join(json.dumps(r) for r in [
        {"interaction_id": "i1", "customer_id": "c1", "occurred_at": "2025-01-01", "csat": 4},
        {"interaction_id": "i2", "customer_id": "c1", "occurred_at": "2025-01-01", "csat": 9},
        {"interaction_id": "i3", "customer_id": "c1", "occurred_at": "2025-01-01", "sentiment": -3},
    ]))
    report, tables = ingest(tmp_path, landing)
    assert report.total("loaded") == 1 and report.total("quarantined") == 2
    reasons = tables["quarantine"].set_index("line")["reason"]
    assert re.search(r"csat 9(\.0)? outside 1\.\.5", reasons[2])
    assert re.search(r"sentiment -3(\.0)? outside -1\.\.1", reasons[3])


def test_unreadable_file_fails_and_the_others_load(tmp_path, landing):
    (landing / "transactions" / "broken.csv.gz").write_bytes(b"this is not gzip")
    (landing / "transactions" / "broken.parquet").write_bytes(b"PAR1 truncated")
    write(landing / "transactions" / "good.csv", GOOD_TX)
    report, tables = ingest(tmp_path, landing)
    status = {o.path: o for o in report.outcomes}
    assert status["transactions/broken.csv.gz"].status == "failed"
    assert "gzip" in status["transactions/broken.csv.gz"].reason
    assert status["transactions/broken.parquet"].status == "failed"
    assert "Parquet" in status["transactions/broken.parquet"].reason
    assert status["transactions/good.csv"].loaded == 3
    assert set(tables["ingest_ledger"]["status"]) == {"failed", "loaded"}


def test_missing_required_column_fails_the_file_with_its_name(tmp_path, landing):
    write(landing / "transactions" / "nokey.csv", "transaction_id,occurred_at\nt1,2025-01-01\n")
    report, _ = ingest(tmp_path, landing)
    (outcome,) = report.outcomes
    assert outcome.status == "failed" and "customer_id" in outcome.reason


def test_duplicate_ids_across_files_load_once(tmp_path, landing):
    write(landing / "transactions" / "a.csv", GOOD_TX)
    write(landing / "transactions" / "b.csv",
          "transaction_id,customer_id,occurred_at,type,amount,currency\n"
          "t2,c1,2025-01-02T10:00:00Z,refund,-5,USD\nt9,c9,2025-02-01,purchase,3,USD\n")
    report, tables = ingest(tmp_path, landing)
    assert sorted(tables["transactions"]["transaction_id"]) == ["t1", "t2", "t3", "t9"]
    dup = tables["quarantine"].iloc[0]
    assert dup.rule == "duplicate_id" and "already loaded from transactions/a.csv line 3" in dup.reason


def test_every_format_loads_and_extra_columns_are_not_fatal(tmp_path, landing):
    frame = pd.DataFrame({
        "interaction_id": ["p1", "p2"], "customer_id": ["c1", "c2"],
        "occurred_at": pd.to_datetime(["2025-03-01 10:00", "2025-03-02 11:00"]),
        "channel": ["chat", "carrier pigeon"], "type": ["support_ticket", "login"],
        "csat": [4.0, None], "brand_new_column": ["x", "y"],
    })
    frame.to_parquet(landing / "interactions" / "i.parquet", index=False)
    (landing / "transactions" / "t.csv.gz").write_bytes(gzip.compress(GOOD_TX.encode(), mtime=0))
    write(landing / "customers" / "c.jsonl",
          '{"customer_id": "c1", "signup_at": "2024-05-01", "segment": "smb", "shoe_size": 9}\n')
    report, tables = ingest(tmp_path, landing)
    assert {o.path: o.status for o in report.outcomes} == {
        "customers/c.jsonl": "loaded", "interactions/i.parquet": "loaded",
        "transactions/t.csv.gz": "loaded"}
    # an unknown channel is kept as "other", as the input contract says
    assert sorted(tables["interactions"]["channel"]) == ["chat", "other"]
    assert "brand_new_column" in tables["ingest_ledger"].set_index("path").loc[
        "interactions/i.parquet", "extra_columns"]


def test_jsonl_with_one_broken_line_quarantines_that_line(tmp_path, landing):
    write(landing / "customers" / "c.jsonl",
          '{"customer_id": "c1", "signup_at": "2024-05-01"}\n{"customer_id": "c2", "signup_at\n'
          '{"customer_id": "c3", "signup_at": "2024-06-01"}\n')
    report, tables = ingest(tmp_path, landing)
    (outcome,) = report.outcomes
    assert (outcome.rows_in, outcome.loaded, outcome.quarantined) == (3, 2, 1)
    q = tables["quarantine"].iloc[0]
    assert q.line == 2 and q.rule == "unparsable_record" and "not valid JSON" in q.reason


def test_batch_failing_its_expectation_suite_is_rejected_not_loaded(tmp_path, landing):
    # A stricter suite than the shipped one (amounts up to 100) shows the gate at work: the row
    # rules accept these rows, the suite does not.
    suites = tmp_path / "suites"
    shutil.copytree(EXPECTATIONS_DIR, suites)
    suite = json.loads((suites / "transactions.json").read_text())
    for expectation in suite["expectations"]:
        if (expectation["type"] == "expect_column_values_to_be_between"
                and expectation["kwargs"].get("column") == "amount"):
            expectation["kwargs"].update(min_value=-100, max_value=100)
    (suites / "transactions.json").write_text(json.dumps(suite))
    rows = "\n".join(f"t{i},c1,2025-01-01,purchase,{i * 50},USD" for i in range(5))
    write(landing / "transactions" / "big_amounts.csv",
          "transaction_id,customer_id,occurred_at,type,amount,currency\n" + rows + "\n")
    write(landing / "transactions" / "good.csv", GOOD_TX.replace("t1", "g1").replace("t2", "g2").replace("t3", "g3"))
    with connect(tmp_path / "wh.duckdb") as con:
        report = ingest_landing(con, landing, validator=partial(validate_batch, suites_dir=suites))
        results = con.execute("select success, failed from raw.validation_results").df()
        quarantine = con.execute("select line, rule, reason, record from raw.quarantine "
                                 "order by line").df()
        loaded = [r[0] for r in con.execute(
            "select transaction_id from raw.transactions order by 1").fetchall()]
    status = {o.path: o for o in report.outcomes}
    rejected = status["transactions/big_amounts.csv"]
    assert (rejected.status, rejected.loaded, rejected.quarantined) == ("rejected", 0, 5)
    assert "amount" in rejected.reason
    assert status["transactions/good.csv"].loaded == 3
    # the rejected rows were inserted beside the gate and taken out again before the commit
    assert loaded == ["g1", "g2", "g3"]
    assert sorted(results["success"]) == [False, True]
    assert set(quarantine["rule"]) == {"failed_validation"} and len(quarantine) == 5
    # the parsed rows were released before the gate: the records come from the file again
    assert [json.loads(r)["transaction_id"] for r in quarantine["record"]] == [f"t{i}" for i in range(5)]
    assert json.loads(quarantine["record"].iloc[4])["amount"] == "200"


def test_a_file_rewritten_while_its_batch_is_rejected_is_left_for_the_next_ingest(tmp_path, landing):
    """The parsed rows are released before the gate; a rejected batch's records are read from
    the file again, and a file that changed meanwhile rolls its whole transaction back."""
    from customer_health.ingest.landing import FileChanged

    suites = tmp_path / "suites"
    shutil.copytree(EXPECTATIONS_DIR, suites)
    suite = json.loads((suites / "transactions.json").read_text())
    for expectation in suite["expectations"]:
        if expectation["kwargs"].get("column") == "amount" and "max_value" in expectation["kwargs"]:
            expectation["kwargs"].update(min_value=-100, max_value=100)
    (suites / "transactions.json").write_text(json.dumps(suite))
    path = landing / "transactions" / "big_amounts.csv"
    header = "transaction_id,customer_id,occurred_at,type,amount,currency\n"
    write(path, header + "t1,c1,2025-01-01,purchase,500,USD\n")

    def rewriting_validator(entity, frame):
        path.write_text(header + "t1,c1,2025-01-01,purchase,5,USD\n")   # a new delivery
        return validate_batch(entity, frame, suites_dir=suites)

    with connect(tmp_path / "wh.duckdb") as con:
        with pytest.raises(FileChanged, match="big_amounts.csv"):
            ingest_landing(con, landing, validator=rewriting_validator)
        assert con.execute("select count(*) from raw.ingest_ledger").fetchone()[0] == 0
        assert con.execute("select count(*) from raw.quarantine").fetchone()[0] == 0
        report = ingest_landing(con, landing, validator=partial(validate_batch, suites_dir=suites))
    assert [(o.status, o.loaded) for o in report.outcomes] == [("loaded", 1)]


def test_currency_must_be_an_iso_code(tmp_path, landing):
    write(landing / "transactions" / "t.csv",
          "transaction_id,customer_id,occurred_at,type,amount,currency\n"
          "g1,c1,2026-01-05,purchase,10,US Dollar\ng2,c1,2026-01-05,purchase,10,usd\n")
    report, tables = ingest(tmp_path, landing)
    (outcome,) = report.outcomes
    assert (outcome.loaded, outcome.quarantined) == (1, 1)
    q = tables["quarantine"].iloc[0]
    assert (q.line, q.rule) == (2, "bad_value") and "'US Dollar' is not an ISO 4217 code" in q.reason
    assert tables["transactions"]["currency"].tolist() == ["USD"]


def test_only_iso_8601_timestamps_are_accepted(tmp_path, landing):
    write(landing / "transactions" / "t.csv",
          "transaction_id,customer_id,occurred_at\n"
          "a,c1,05/01/2026 10:00\nb,c1,13/01/2026 10:00\nc,c1,2026-01-13T10:00:00+01:00\n")
    report, tables = ingest(tmp_path, landing)
    assert tables["quarantine"]["line"].tolist() == [2, 3]
    assert set(tables["quarantine"]["rule"]) == {"bad_timestamp"}
    # a zone is honoured: 10:00 at +01:00 is 09:00 UTC
    assert str(tables["transactions"]["occurred_at"].iloc[0]) == "2026-01-13 09:00:00"


def test_a_file_without_header_is_quarantined_and_its_data_not_echoed(tmp_path, landing):
    write(landing / "customers" / "noheader.csv",
          "C000001,2022-01-02,smb,basic,europe,Chen Wei,john.doe@private.com,2022-03-28\n"
          "C000002,2022-01-03,smb,basic,europe,Chen Wei,jane@private.com,2022-03-28\n")
    report, tables = ingest(tmp_path, landing)
    (outcome,) = report.outcomes
    # line 1 is data, not a header: it is counted and quarantined too, nothing is lost
    assert (outcome.status, outcome.rows_in, outcome.quarantined) == ("failed", 2, 2)
    assert tables["quarantine"]["line"].tolist() == [1, 2]
    assert "does not look like a header" in outcome.reason
    assert "private.com" not in outcome.reason
    assert "private.com" not in tables["ingest_ledger"]["reason"].iloc[0]
    assert tables["quarantine"]["rule"].tolist() == ["missing_column"] * 2


def test_header_only_and_unknown_file_types_are_recorded(tmp_path, landing):
    write(landing / "transactions" / "header.csv", "transaction_id,customer_id,occurred_at\n")
    write(landing / "transactions" / "notes.txt", "hello")
    report, _ = ingest(tmp_path, landing)
    status = {o.path: o for o in report.outcomes}
    assert status["transactions/header.csv"].status == "empty"
    assert status["transactions/notes.txt"].status == "failed"
    assert "unknown file type" in status["transactions/notes.txt"].reason


def test_missing_entity_folder_is_reported(tmp_path):
    root = tmp_path / "landing"
    write(root / "transactions" / "t.csv", GOOD_TX)
    report, _ = ingest(tmp_path, root)
    assert report.missing_entities == ["customers", "interactions"]


def test_quoted_newlines_keep_line_numbers_true_to_the_file(tmp_path, landing):
    write(landing / "interactions" / "q.csv",
          'interaction_id,customer_id,occurred_at,text,csat\n'
          'i1,c1,2025-01-01,"two\nlines",4\n'
          'i2,c1,2025-01-01,fine,9\n')
    report, tables = ingest(tmp_path, landing)
    assert tables["quarantine"]["line"].tolist() == [4]


def test_non_utf8_bytes_quarantine_their_row_and_the_rest_loads(tmp_path, landing):
    (landing / "transactions" / "latin1.csv").write_bytes(
        b"transaction_id,customer_id,occurred_at,product\nt1,c1,2025-01-01,caf\xe9\n"
        b"t2,c1,2025-01-01,tea\n")
    report, tables = ingest(tmp_path, landing)
    (outcome,) = report.outcomes
    assert (outcome.status, outcome.loaded, outcome.quarantined) == ("partial", 1, 1)
    q = tables["quarantine"].iloc[0]
    assert (q.line, q.rule) == (2, "bad_encoding")
    assert "product" in q.reason and "0xe9" in q.reason and "UTF-8" in q.reason
    assert json.loads(q.record)["raw"]  # the original values, the bad byte shown as \xe9


FAST_AND_SLOW = [
    # (file name, content read by pyarrow, the same records in a shape only the fallback reads)
    ("i.csv",
     'interaction_id,customer_id,occurred_at,channel,csat,text\n'
     '"i1","c1","2025-01-01T10:00:00+02:00","Chat",4," spaced "\n'
     'i2,c2,2025-01-02,pigeon,,\n'
     'i3,c2,2025-01-03,email,9,bad score\n',
     # a blank line after the header moves every record one line down
     'interaction_id,customer_id,occurred_at,channel,csat,text\n\n'
     '"i1","c1","2025-01-01T10:00:00+02:00","Chat",4," spaced "\n'
     'i2,c2,2025-01-02,pigeon,,\n'
     'i3,c2,2025-01-03,email,9,bad score\n'),
    ("i.jsonl",
     '{"interaction_id": "i1", "customer_id": "c1", "occurred_at": "2025-01-01T10:00:00+02:00", '
     '"channel": "Chat", "csat": 4, "text": " spaced "}\n'
     '{"interaction_id": "i2", "customer_id": "c2", "occurred_at": "2025-01-02", "channel": "pigeon"}\n'
     '{"interaction_id": "i3", "customer_id": "c2", "occurred_at": "2025-01-03", "channel": "email", '
     '"csat": 9, "text": "bad score"}\n',
     None),
]


@pytest.mark.parametrize("name,fast,slow", FAST_AND_SLOW, ids=["csv", "jsonl"])
def test_fast_and_fallback_parsers_load_the_same_rows(tmp_path, monkeypatch, name, fast, slow):
    """pyarrow reads well-formed files, Python the rest: both must give the same warehouse rows."""
    from customer_health.ingest import readers

    # JSON Lines: a blank line between records sends the file down the fallback path
    slow = slow or fast.replace("\n", "\n\n", 1)
    fast_parser = "_csv_fast" if name.endswith(".csv") else "_jsonl_fast"
    took_fast_path = []
    original = getattr(readers, fast_parser)
    monkeypatch.setattr(readers, fast_parser,
                        lambda *a: took_fast_path.append(original(*a) is not None) or original(*a))
    loaded = {}
    for label, content in (("fast", fast), ("slow", slow)):
        root = tmp_path / label
        write(root / "landing" / "interactions" / name, content)
        report, tables = ingest(root, root / "landing")
        (outcome,) = report.outcomes
        assert (outcome.rows_in, outcome.loaded, outcome.quarantined) == (3, 2, 1)
        q = tables["quarantine"].iloc[0]
        assert q.rule == "out_of_range" and re.search(r"csat 9(\.0)? outside 1\.\.5", q.reason)
        # the line of i3 in each file: the blank line moved it down by one
        first_data_line = 2 if name.endswith(".csv") else 1
        assert q.line == first_data_line + 2 + (label == "slow")
        loaded[label] = tables["interactions"].drop(columns=["_file_id", "_line", "_ingested_at"])
    assert took_fast_path == [True, False]
    pd.testing.assert_frame_equal(loaded["fast"], loaded["slow"])
    rows = loaded["fast"].set_index("interaction_id")
    assert str(rows.loc["i1", "occurred_at"]) == "2025-01-01 08:00:00"      # offset honoured
    assert rows.loc["i1", "channel"] == "chat" and rows.loc["i2", "channel"] == "other"
    assert rows.loc["i1", "text"] == "spaced"                              # trimmed
    assert pd.isna(rows.loc["i2", "text"]) and pd.isna(rows.loc["i2", "csat"])


def test_the_gate_gets_personal_values_only_when_its_suite_reads_them(tmp_path, landing):
    write(landing / "customers" / "c.csv",
          "customer_id,signup_at,email\nc1,2025-01-01,ann@example.com\nc2,2025-01-02,bob@example.com\n")
    seen = {}

    def gate(reads):
        def validate(entity, frame):
            seen[reads] = frame["email"].tolist()
            return VALIDATE(entity, frame)
        validate.reads = lambda entity: frozenset({"customer_id", "signup_at"} | reads)
        return validate

    for reads in (frozenset(), frozenset({"email"})):
        with connect(tmp_path / f"wh{len(reads)}.duckdb") as con:
            report = ingest_landing(con, landing, validator=gate(reads))
            emails = con.execute("select email from raw.customers order by customer_id").df()["email"]
        assert report.total("loaded") == 2
        # what the gate saw never changes what is stored
        assert emails.tolist() == ["ann@example.com", "bob@example.com"]
    assert seen[frozenset()] == [0, 0]
    assert seen[frozenset({"email"})] == ["ann@example.com", "bob@example.com"]


@pytest.mark.parametrize("budget, ahead", [(1 << 30, True), (400, False)])
def test_the_next_file_is_parsed_ahead_only_while_both_are_small(tmp_path, landing, monkeypatch,
                                                                budget, ahead):
    """Two parsed files are held at once only within the read-ahead budget: at W100 a Parquet
    file parsed ahead of a big file's validation set the ingest's memory peak."""
    import threading

    from customer_health.ingest import landing as ingest_module

    write(landing / "transactions" / "a.csv", GOOD_TX)                  # 250 bytes
    write(landing / "transactions" / "b.csv", re.sub(r"^t(\d)", r"u\1", GOOD_TX, flags=re.M))
    readers = []
    real_read = ingest_module._read

    def recording_read(contract, path):
        readers.append((path.name, threading.current_thread().name.startswith("ingest-read")))
        return real_read(contract, path)

    monkeypatch.setattr(ingest_module, "_read", recording_read)
    monkeypatch.setattr(ingest_module, "READ_AHEAD_MAX_BYTES", budget)
    report, tables = ingest(tmp_path, landing)
    assert readers == [("a.csv", False), ("b.csv", ahead)]
    assert report.total("loaded") == 6 and len(tables["transactions"]) == 6


def test_parsed_size_estimate_counts_compressed_files_expanded(tmp_path):
    from customer_health.ingest.landing import PARSED_SIZE_FACTOR, parsed_size_estimate

    plain, packed, columnar = tmp_path / "a.csv", tmp_path / "a.csv.gz", tmp_path / "a.parquet"
    write(plain, GOOD_TX)
    packed.write_bytes(gzip.compress(GOOD_TX.encode()))
    pd.DataFrame({"x": range(100)}).to_parquet(columnar)
    assert parsed_size_estimate(plain) == len(GOOD_TX.encode())
    assert parsed_size_estimate(packed) == packed.stat().st_size * PARSED_SIZE_FACTOR["gz"]
    assert parsed_size_estimate(columnar) == columnar.stat().st_size * PARSED_SIZE_FACTOR["parquet"]
    assert parsed_size_estimate(tmp_path / "gone.csv") == 0
