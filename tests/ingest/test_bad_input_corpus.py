"""The bad-input corpus: every way a landing file can be wrong, and what ingest must do about it.

Each case is a small landing folder under ``tests/ingest/corpus/<case>/`` (or built here when
it cannot be a committed file: symlinks, a truncated Parquet file). Every case is ingested into
a fresh warehouse with the shipped expectation suites, and must:

- not raise;
- give each file the expected status and rows in / loaded / quarantined, with
  rows_in == loaded + quarantined in the report and in raw.ingest_ledger;
- quarantine rows carrying the file's path, their line and the expected rule, with a reason;
  a file refused as a whole has a reason in the ledger;
- leave in the warehouse exactly the loaded rows, and account for every line of the file once
  (loaded or quarantined, never both).

The module also writes the closing-note table of issue #8 to state/reports/bad_input_corpus.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import duckdb
import pandas as pd
import pytest

from customer_health.config import EXPECTATIONS_DIR
from customer_health.ingest import ingest_landing
from customer_health.landing_files import ENTITIES
from customer_health.validation import validate_batch
from customer_health.warehouse import SCHEMA_DDL, connect
from tests.conftest import REPO, write

CORPUS = Path(__file__).parent / "corpus"
REPORT = REPO / "state" / "reports" / "bad_input_corpus.md"
VALIDATE = partial(validate_batch, suites_dir=EXPECTATIONS_DIR)
ROW_RULES = {"missing_value", "bad_timestamp", "bad_number", "bad_value", "out_of_range",
             "duplicate_id", "unparsable_record", "bad_encoding", "bad_record",
             "missing_column", "duplicate_column", "failed_validation"}
TX = "transaction_id,customer_id,occurred_at,type,amount,currency\n"


@dataclass(frozen=True)
class Expect:
    status: str
    rows_in: int = 0
    loaded: int = 0
    quarantined: int = 0
    rules: frozenset[str] = frozenset()     # the rules of the file's quarantined rows
    lines: tuple[int, ...] | None = None    # the quarantined lines, when worth stating
    reason: str | None = None               # a regex the file's ledger reason must match


@dataclass(frozen=True)
class Case:
    name: str
    what: str                               # the input, in a few words
    files: dict[str, Expect]
    build: Callable[[Path, Path], None] | None = None   # makes files git cannot hold
    check: Callable[[dict], None] | None = None         # a case's own extra assertions
    tags: tuple[str, ...] = field(default=())


def rules(*names: str) -> frozenset[str]:
    return frozenset(names)


# -- cases built at test time -------------------------------------------------------------------

def _symlink_out(landing: Path, outside: Path) -> None:
    target = write(outside / "secret.csv", TX + "t1,c1,2025-01-01,purchase,1,USD\n")
    (landing / "transactions" / "link.csv").symlink_to(target)


def _dangling_symlink(landing: Path, outside: Path) -> None:
    (landing / "transactions" / "gone.csv").symlink_to(landing / "transactions" / "nothing.csv")


def _symlinked_folders(landing: Path, outside: Path) -> None:
    write(outside / "shared" / "x.csv", TX + "t1,c1,2025-01-01,purchase,1,USD\n")
    (landing / "transactions" / "shared").symlink_to(outside / "shared")
    (landing / "transactions" / "again").symlink_to(landing / "customers")
    write(landing / "transactions" / "real.csv", TX + "t2,c1,2025-01-01,purchase,1,USD\n")


def _truncated_parquet(landing: Path, outside: Path) -> None:
    path = landing / "interactions" / "cut.parquet"
    pd.DataFrame({"interaction_id": [f"i{i}" for i in range(200)], "customer_id": "c1",
                  "occurred_at": pd.Timestamp("2025-01-01")}).to_parquet(path, index=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# -- extra checks of single cases ---------------------------------------------------------------

def _outside_file_never_read(t: dict) -> None:
    secret = (t["outside"] / "secret.csv").read_bytes()
    assert t["ledger"]["content_hash"].iloc[0] != hashlib.sha256(secret).hexdigest()


def _zones_become_utc(t: dict) -> None:
    at = t["transactions"].set_index("transaction_id")["occurred_at"]
    expected = {"t1": "2025-03-01 10:00:00", "t2": "2025-03-01 08:00:00",
                "t3": "2025-03-01 10:00:00", "t4": "2025-03-01 00:00:00",
                "t5": "2025-03-01 15:00:00.123456"}
    assert at.to_dict() == {k: pd.Timestamp(v) for k, v in expected.items()}


def _parquet_zone_to_utc(t: dict) -> None:
    first = t["interactions"].set_index("interaction_id").loc["p1"]
    assert first["occurred_at"] == pd.Timestamp("2025-01-01 09:00")   # 10:00 in Paris
    assert first["csat"] == 4.0                                  # "4" as text still a number


def _unknown_values_kept_as_other(t: dict) -> None:
    rows = t["interactions"].set_index("interaction_id")
    assert rows.loc["i1", "channel"] == "other" and rows.loc["i2", "channel"] == "chat"
    assert rows.loc["i2", "type"] == "other"
    assert pd.isna(rows.loc["i2", "direction"])      # direction outside inbound/outbound: empty


def _transaction_type_other_and_currency(t: dict) -> None:
    rows = t["transactions"].set_index("transaction_id")
    assert rows.loc["t1", "type"] == "other" and rows.loc["t1", "currency"] == "USD"


def _refunds_keep_their_sign(t: dict) -> None:
    amounts = t["transactions"].set_index("transaction_id")["amount"]
    assert amounts["t1"] == -25.5 and amounts["t2"] == 25.5 and pd.isna(amounts["t8"])


def _customer_orphans_loaded_and_counted(t: dict) -> None:
    # Files arrive in any order: the customers file naming c404 may come tomorrow, so its events
    # are kept (quarantining them would drop real revenue from the features). They must not be
    # silent: the file's outcome counts them, the ledger says so, dbt marks the customer
    # in_customer_feed = false and `customer-health status` counts customers outside the feed.
    outcome = t["outcomes"]["transactions/tx.csv"]
    assert outcome.unknown_customers == 2
    assert t["report"].summary()["rows_with_unknown_customer"] == 2
    assert "customers feed does not hold" in outcome.reason
    assert t["outcomes"]["customers/customers.csv"].unknown_customers == 0


def _json_ids_as_text(t: dict) -> None:
    rows = t["interactions"].set_index("interaction_id")
    assert rows.loc["i2", "customer_id"] == "42" and rows.loc["i2", "csat"] == 4.0


def _header_names_normalised(t: dict) -> None:
    row = t["transactions"].iloc[0]
    assert (row["transaction_id"], row["customer_id"], row["amount"]) == ("t1", "c1", 7.0)


def _no_personal_data_in_reasons(t: dict) -> None:
    assert "private.example" not in " ".join(t["ledger"]["reason"].dropna())
    assert "private.example" not in " ".join(t["quarantine"]["reason"])


def _bad_bytes_kept_visible(t: dict) -> None:
    record = json.loads(json.loads(t["quarantine"]["record"].iloc[0])["raw"])
    assert record["customer_id"] == "c\\xe9"


def _new_columns_recorded(t: dict) -> None:
    assert t["ledger"]["extra_columns"].iloc[0] == "loyalty_tier,reason"
    # an input column named like ours ("reason") is kept in the quarantined record
    assert json.loads(t["quarantine"]["record"].iloc[0])["reason"] == "late delivery"


def _bom_dropped(t: dict) -> None:
    assert t["customers"].columns[0] == "customer_id"
    assert t["customers"]["account_owner"].tolist() == ["Zoë"]


def _quoted_newline_kept(t: dict) -> None:
    text = t["interactions"].set_index("interaction_id")["text"]
    assert text["i1"] == "line one\nline two, with a comma"
    assert json.loads(t["quarantine"]["record"].iloc[0])["text"] == "three\n\nlines"


def _duplicate_names_its_origin(t: dict) -> None:
    (reason,) = t["quarantine"]["reason"]
    assert reason == "transaction_id already loaded from transactions/a_monday.csv line 3"


def _later_customer_row_kept(t: dict) -> None:
    assert sorted(t["customers"]["segment"]) == ["mid", "smb"]


# -- the corpus ---------------------------------------------------------------------------------

CASES = [
    Case("wrong_delimiter", "semicolon-separated .csv",
         {"transactions/semicolons.csv": Expect(
             "failed", 2, 0, 2, rules("missing_column"), (2, 3),
             r"missing required column\(s\): transaction_id.*separated by a semicolon")}),
    Case("tab_separated_tsv", ".tsv file with tabs",
         {"transactions/export.tsv": Expect("loaded", 2, 2, 0)}),
    Case("missing_header", "customers .csv without a header line (personal data in line 1)",
         {"customers/noheader.csv": Expect(
             "failed", 3, 0, 3, rules("missing_column"), (1, 2, 3),
             r"customer_id, signup_at; the first line does not look like a header")},
         check=_no_personal_data_in_reasons),
    Case("missing_required_column", "schema drift: customer_id column dropped",
         {"transactions/no_customer.csv": Expect(
             "failed", 2, 0, 2, rules("missing_column"), (2, 3),
             r"missing required column\(s\): customer_id; columns found: transaction_id")}),
    Case("new_column_tolerated", "schema drift: new columns (one named `reason`), one bad row",
         {"interactions/with_new_columns.csv": Expect(
             "partial", 3, 2, 1, rules("bad_timestamp"), (4,))},
         check=_new_columns_recorded),
    Case("wrong_types_csv", "text, booleans and 1.2.3 in number and timestamp columns",
         {"transactions/types.csv": Expect(
             "partial", 5, 1, 4, rules("bad_number", "bad_timestamp"), (3, 4, 5, 6))}),
    Case("parquet_changed_types", "schema drift in Parquet: csat as text, zoned timestamps",
         {"interactions/drift.parquet": Expect("partial", 4, 3, 1, rules("bad_number"), (2,))},
         check=_parquet_zone_to_utc),
    Case("parquet_epoch_timestamps", "Parquet with epoch seconds instead of timestamps",
         {"transactions/epoch.parquet": Expect(
             "quarantined", 2, 0, 2, rules("bad_timestamp"), (1, 2), r"every row broke a rule")}),
    Case("parquet_no_rows", "Parquet file with a schema and no rows",
         {"transactions/none.parquet": Expect("empty", reason="no data rows")}),
    Case("truncated_parquet", "Parquet file cut in half",
         {"interactions/cut.parquet": Expect("failed", reason=r"not a readable Parquet file")},
         build=_truncated_parquet),
    Case("empty_file", "0-byte .csv",
         {"customers/empty.csv": Expect("empty", reason=r"the file is empty \(0 bytes\)")}),
    Case("whitespace_only", ".csv holding only blank lines",
         {"transactions/blank.csv": Expect("empty", reason=r"the file is empty")}),
    Case("empty_jsonl", "0-byte .jsonl",
         {"interactions/none.jsonl": Expect("empty", reason=r"the file is empty")}),
    Case("header_only", "header line and no rows",
         {"transactions/header.csv": Expect("empty", reason=r"no data rows \(header only\)")}),
    Case("non_utf8_bytes", "Latin-1 byte in one row of a .csv",
         {"transactions/latin1.csv": Expect("partial", 3, 2, 1, rules("bad_encoding"), (4,))},
         check=_bad_bytes_kept_visible),
    Case("non_utf8_jsonl", "Latin-1 byte in one line of a .jsonl",
         {"interactions/latin1.jsonl": Expect("partial", 2, 1, 1, rules("bad_encoding"), (1,))}),
    Case("utf8_bom", "UTF-8 .csv starting with a byte-order mark",
         {"customers/bom.csv": Expect("loaded", 1, 1, 0)},
         check=_bom_dropped),
    Case("utf8_bom_jsonl", ".jsonl starting with a byte-order mark",
         {"customers/bom.jsonl": Expect("loaded", 1, 1, 0)}),
    Case("quoted_newlines", "quoted values spanning lines, then a bad row",
         {"interactions/notes.csv": Expect("partial", 3, 2, 1, rules("out_of_range"), (4,))},
         check=_quoted_newline_kept),
    Case("blank_lines_and_crlf", "Windows line ends and blank lines between rows",
         {"transactions/windows.csv": Expect("partial", 3, 2, 1, rules("bad_number"), (4,))}),
    Case("mixed_timestamp_formats_and_zones",
         "ISO with Z, offsets, naive, date only; US dates, words, epoch, 30 February",
         {"transactions/stamps.csv": Expect(
             "partial", 9, 5, 4, rules("bad_timestamp"), (7, 8, 9, 10))},
         check=_zones_become_utc),
    Case("future_and_pre_1970_timestamps", "year 2999, 1969-12-31, year 1",
         {"interactions/times.csv": Expect("partial", 5, 2, 3, rules("out_of_range"), (3, 4, 6))}),
    Case("signup_in_the_future", "customers with signup_at / updated_at in the future",
         {"customers/future.csv": Expect("partial", 3, 1, 2, rules("out_of_range"), (3, 4))}),
    Case("negative_and_huge_amounts", "refunds either sign, 1e12, -2e9, 1e400, NaN, empty",
         {"transactions/amounts.csv": Expect(
             "partial", 8, 4, 4, rules("out_of_range", "bad_number"), (4, 5, 6, 7))},
         check=_refunds_keep_their_sign),
    Case("scores_out_of_range", "csat 0 and 6, nps 11 and -1, sentiment 1.5, handle time",
         {"interactions/scores.csv": Expect(
             "partial", 8, 1, 7, rules("out_of_range"), (3, 4, 5, 6, 7, 8, 9))}),
    Case("unknown_channel_and_type", "channel 'carrier pigeon', type 'Telepathy', upper case",
         {"interactions/values.csv": Expect("loaded", 3, 3, 0)},
         check=_unknown_values_kept_as_other),
    Case("unknown_transaction_type_and_bad_currency", "type 'chargeback', currency 'US Dollar'",
         {"transactions/types.csv": Expect("partial", 3, 2, 1, rules("bad_value"), (3,))},
         check=_transaction_type_other_and_currency),
    Case("missing_required_values", "empty, null, blank and absent ids and timestamps",
         {"interactions/holes.jsonl": Expect(
             "partial", 5, 1, 4, rules("missing_value"), (2, 3, 4, 5))}),
    Case("duplicate_ids_in_file", "transaction_id repeated (same and different values)",
         {"transactions/repeats.csv": Expect("partial", 4, 2, 2, rules("duplicate_id"), (4, 5))}),
    Case("duplicate_ids_across_files", "Tuesday's file repeats one of Monday's ids",
         {"transactions/a_monday.csv": Expect("loaded", 2, 2, 0),
          "transactions/b_tuesday.csv": Expect("partial", 2, 1, 1, rules("duplicate_id"), (2,))},
         check=_duplicate_names_its_origin),
    Case("same_file_sent_twice", "the same bytes under a second name",
         {"transactions/a.csv": Expect("loaded", 1, 1, 0),
          "transactions/a_resent.csv": Expect("duplicate", reason=r"same content as transactions/a\.csv")}),
    Case("customer_updated_in_one_file", "one customer twice (a later row updates it)",
         {"customers/updates.csv": Expect("loaded", 2, 2, 0)}, check=_later_customer_row_kept),
    Case("customer_not_in_customers", "transactions of a customer the customers feed lacks",
         {"customers/customers.csv": Expect("loaded", 1, 1, 0),
          "transactions/tx.csv": Expect("loaded", 3, 3, 0, reason=r"2 row\(s\) name a customer_id")},
         check=_customer_orphans_loaded_and_counted),
    Case("jsonl_one_broken_line", "a cut JSON line, a blank line, an array instead of an object",
         {"interactions/broken.jsonl": Expect(
             "partial", 4, 2, 2, rules("unparsable_record"), (2, 5))}),
    Case("jsonl_nothing_parses", "a .jsonl of plain text",
         {"interactions/garbage.jsonl": Expect(
             "quarantined", 2, 0, 2, rules("unparsable_record"), (1, 2),
             r"no record could be parsed")}),
    Case("jsonl_wrong_types", "numbers as ids, objects and lists as values, booleans",
         {"interactions/types.jsonl": Expect(
             "partial", 7, 2, 5, rules("bad_number", "bad_value", "bad_timestamp"),
             (3, 4, 5, 6, 7))},
         check=_json_ids_as_text),
    Case("jsonl_gzip", "gzip-compressed JSON Lines",
         {"customers/batch.jsonl.gz": Expect("loaded", 1, 1, 0)}),
    Case("gzip_that_is_not_gzip", "plain text named .csv.gz",
         {"transactions/export.csv.gz": Expect("failed", reason=r"not a valid gzip file")}),
    Case("gzip_truncated", "gzip cut after 60 bytes",
         {"transactions/cut.csv.gz": Expect("failed", reason=r"not a valid gzip file")}),
    Case("file_name_with_spaces", "spaces and parentheses in the file name",
         {"transactions/March export (final).csv": Expect("loaded", 1, 1, 0)}),
    Case("file_name_with_unicode", "accents and CJK in the file name",
         {"transactions/ventes_été_売上.csv": Expect("loaded", 1, 1, 0)}),
    Case("unknown_file_type", "an .xlsx in the landing folder",
         {"transactions/notes.xlsx": Expect("failed", reason=r"unknown file type")}),
    Case("ragged_rows", "a row with an unquoted comma in a value, a short row",
         {"transactions/ragged.csv": Expect("partial", 3, 2, 1, rules("bad_record"), (3,))}),
    Case("duplicate_column_names", "customer_id and Customer_ID in one header",
         {"transactions/twice.csv": Expect(
             "failed", 1, 0, 1, rules("duplicate_column"), (2,), r"customer_id appear more than once")}),
    Case("header_case_and_spaces", "' Transaction_ID ', OCCURRED_AT: names differ in case",
         {"transactions/Shouty.csv": Expect("loaded", 1, 1, 0)}, check=_header_names_normalised),
    Case("symlink_out_of_landing", "a symlink to a file outside the landing folder",
         {"transactions/link.csv": Expect("failed", reason=r"links outside the landing folder")},
         build=_symlink_out, check=_outside_file_never_read),
    Case("dangling_symlink", "a symlink to a file that does not exist",
         {"transactions/gone.csv": Expect("failed", reason=r"No such file")},
         build=_dangling_symlink),
    Case("symlinked_folders", "symlinks to folders (outside and inside): not followed",
         {"transactions/real.csv": Expect("loaded", 1, 1, 0)}, build=_symlinked_folders),
]


# -- the test -----------------------------------------------------------------------------------

_table: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def closing_note_table():
    """Write the closing-note table (case, what the pipeline did, rows) after the module."""
    yield
    if not _table:
        return
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    lines = ["| case | what the pipeline did | rows in / loaded / quarantined |",
             "|---|---|---|"]
    lines += [_table[c.name] for c in CASES if c.name in _table]
    REPORT.write_text("# Bad-input corpus (tests/ingest/test_bad_input_corpus.py)\n\n"
                      + "\n".join(lines) + "\n", encoding="utf-8")


def _did(outcome, quarantine: pd.DataFrame) -> str:
    mine = quarantine[quarantine["path"] == outcome.path]
    text = f"`{outcome.path}` {outcome.status}"
    if outcome.status in ("failed", "quarantined", "empty", "duplicate"):
        text += f" ({outcome.reason})"
    if len(mine):
        by_rule = mine.groupby("rule")["line"].apply(lambda s: ", ".join(map(str, sorted(s))))
        text += ": " + "; ".join(f"{rule} (line {lines})" for rule, lines in by_rule.items())
    elif outcome.unknown_customers:
        text += f"; {outcome.unknown_customers} row(s) of customers not in the customers feed"
    return text.replace("|", "\\|").replace("\n", " ")


def _ingest(case: Case, tmp_path: Path) -> dict:
    landing, outside = tmp_path / "landing", tmp_path / "outside"
    if (CORPUS / case.name).is_dir():
        shutil.copytree(CORPUS / case.name, landing, symlinks=True)
    for entity in ENTITIES:
        (landing / entity).mkdir(parents=True, exist_ok=True)
    if case.build:
        case.build(landing, outside)
    with duckdb.connect() as con:      # in memory: the warehouse's tables, a third of the time
        con.execute(SCHEMA_DDL)
        report = ingest_landing(con, landing, validator=VALIDATE)
        tables = {name: con.execute(f"select * from raw.{name}").df()
                  for name in ("ingest_ledger", "quarantine", *ENTITIES)}
    return {"report": report, "outcomes": {o.path: o for o in report.outcomes},
            "ledger": tables.pop("ingest_ledger"), "quarantine": tables.pop("quarantine"),
            "outside": outside, **tables}


def test_corpus_has_every_case_once():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)) and len(names) >= 30
    committed = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    built = {c.name for c in CASES if c.build and not (CORPUS / c.name).is_dir()}
    assert committed | built == set(names), "a corpus folder without a case, or the reverse"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path):
    t = _ingest(case, tmp_path)                       # never raises
    outcomes, ledger, quarantine = t["outcomes"], t["ledger"], t["quarantine"]
    assert set(outcomes) == set(case.files), "every delivered file gets exactly one outcome"
    warehouse_rows = 0
    for path, expect in case.files.items():
        o = outcomes[path]
        got = (o.status, o.rows_in, o.loaded, o.quarantined)
        assert got == (expect.status, expect.rows_in, expect.loaded, expect.quarantined), path
        assert o.rows_in == o.loaded + o.quarantined
        (entry,) = ledger[ledger["path"] == path].itertuples()
        assert (entry.status, entry.rows_in, entry.rows_loaded, entry.rows_quarantined) == got
        assert (entry.reason if isinstance(entry.reason, str) else None) == o.reason

        mine = quarantine[quarantine["path"] == path]
        assert len(mine) == o.quarantined
        assert (mine["file_id"] == entry.file_id).all() and (mine["entity"] == entry.entity).all()
        assert set(mine["rule"]) == expect.rules <= ROW_RULES
        assert mine["line"].notna().all() and mine["line"].is_unique
        assert (mine["reason"].str.len() > 5).all()
        assert mine["record"].map(lambda r: isinstance(json.loads(r), dict)).all()
        if expect.lines is not None:
            assert tuple(sorted(mine["line"])) == expect.lines
        if expect.reason is not None:
            assert o.reason and re.search(expect.reason, o.reason), o.reason
        if o.status in ("failed", "empty", "duplicate", "quarantined"):
            assert o.reason, "a file that loads nothing says why"

        loaded = t[entry.entity][lambda f: f["_file_id"] == entry.file_id]
        assert len(loaded) == o.loaded
        warehouse_rows += len(loaded)
        # every record of the file is accounted for once: loaded or quarantined, never both
        assert not set(loaded["_line"]) & set(mine["line"])
        assert len(set(loaded["_line"]) | set(mine["line"])) == o.rows_in
    assert sum(len(t[e]) for e in ENTITIES) == warehouse_rows, "the warehouse holds only loaded rows"
    if case.check:
        case.check(t)
    rows = " · ".join(f"{outcomes[p].rows_in} / {outcomes[p].loaded} / {outcomes[p].quarantined}"
                      for p in case.files)
    did = "<br>".join(_did(outcomes[p], quarantine) for p in case.files)
    _table[case.name] = f"| {case.name}: {case.what} | {did} | {rows} |"


def test_rerun_of_the_corpus_changes_nothing(tmp_path):
    """Idempotent: a second ingest of the same folders loads and quarantines nothing more."""
    landing = tmp_path / "landing"
    for case in CASES:
        if (CORPUS / case.name).is_dir():
            for entity in ENTITIES:
                source = CORPUS / case.name / entity
                if source.is_dir():
                    shutil.copytree(source, landing / entity / case.name)
    with connect(tmp_path / "wh.duckdb") as con:
        first = ingest_landing(con, landing, validator=VALIDATE)
        counts = con.execute("select (select count(*) from raw.quarantine), "
                             "(select count(*) from raw.transactions)").fetchone()
        second = ingest_landing(con, landing, validator=VALIDATE)
        again = con.execute("select (select count(*) from raw.quarantine), "
                            "(select count(*) from raw.transactions)").fetchone()
    assert second.outcomes == [] and second.skipped == len(first.outcomes)
    assert again == counts
    assert first.total("rows_in") == first.total("loaded") + first.total("quarantined")
