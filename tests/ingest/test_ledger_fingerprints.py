"""The ledger knows each file by its size and times as well as its content hash: a rerun reads
none of the files it has seen unchanged, and a file whose content changed is still found."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pytest

from customer_health.config import EXPECTATIONS_DIR
from customer_health.ingest import ingest_landing
from customer_health.ingest import landing as ingest_module
from customer_health.validation import validate_batch
from customer_health.warehouse import connect
from tests.conftest import write

VALIDATE = partial(validate_batch, suites_dir=EXPECTATIONS_DIR)
DAY1 = """transaction_id,customer_id,occurred_at,type,amount,currency
t1,c1,2025-01-01T10:00:00,purchase,10.5,USD
t2,c1,2025-01-02T10:00:00,refund,-5,USD
"""
DAY2 = """transaction_id,customer_id,occurred_at,type,amount,currency
t3,c2,2025-01-03T08:00:00,purchase,20.0,EUR
"""


@pytest.fixture
def hashed(monkeypatch) -> list[str]:
    """The names of the files ingest reads to hash them."""
    names: list[str] = []
    real = ingest_module._content_hash

    def counting(path: Path) -> str:
        names.append(path.name)
        return real(path)

    monkeypatch.setattr(ingest_module, "_content_hash", counting)
    return names


def ingest(tmp_path: Path, landing: Path):
    with connect(tmp_path / "wh.duckdb") as con:
        report = ingest_landing(con, landing, validator=VALIDATE)
        loaded = con.execute("select transaction_id from raw.transactions order by 1").fetchall()
    return report, [r[0] for r in loaded]


def test_a_rerun_hashes_only_new_or_changed_files(tmp_path, landing, hashed):
    write(landing / "transactions" / "day1.csv", DAY1)
    first, _ = ingest(tmp_path, landing)
    assert first.total("loaded") == 2 and hashed == ["day1.csv"]

    hashed.clear()
    write(landing / "transactions" / "day2.csv", DAY2)
    second, loaded = ingest(tmp_path, landing)
    assert hashed == ["day2.csv"]                     # day1.csv is known by size and times
    assert second.skipped == 1 and loaded == ["t1", "t2", "t3"]

    # new content of the same size, its modification time set back: still read and loaded
    path = landing / "transactions" / "day1.csv"
    before = path.stat()
    changed = DAY1.replace("t2,c1", "t9,c1")
    assert len(changed) == len(DAY1)
    path.write_text(changed)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    hashed.clear()
    third, loaded = ingest(tmp_path, landing)
    assert hashed == ["day1.csv"]
    assert [o.status for o in third.outcomes] == ["partial"]   # t1 is already loaded
    assert loaded == ["t1", "t2", "t3", "t9"]


def test_a_touched_file_is_hashed_once_more_then_known_again(tmp_path, landing, hashed):
    path = write(landing / "transactions" / "day1.csv", DAY1)
    ingest(tmp_path, landing)
    os.utime(path)                                    # same content, new times
    hashed.clear()
    report, _ = ingest(tmp_path, landing)
    assert hashed == ["day1.csv"] and report.skipped == 1 and report.outcomes == []
    hashed.clear()
    report, _ = ingest(tmp_path, landing)
    assert hashed == [] and report.skipped == 1


# the ledger as warehouses written before the file statistics hold it
OLD_LEDGER = """
create table raw.ingest_ledger (
    file_id varchar primary key, entity varchar not null, path varchar not null,
    content_hash varchar not null, file_format varchar, status varchar not null,
    rows_in bigint not null, rows_loaded bigint not null, rows_quarantined bigint not null,
    reason varchar, extra_columns varchar, ingested_at timestamp not null
)"""


def test_a_ledger_without_file_statistics_gains_them(tmp_path, landing, hashed):
    """A warehouse whose ledger predates the file statistics: its files are hashed once more."""
    write(landing / "transactions" / "day1.csv", DAY1)
    with connect(tmp_path / "wh.duckdb") as con:
        con.execute("drop table raw.ingest_ledger")
        con.execute(OLD_LEDGER)
        assert "file_size" not in {r[0] for r in con.execute("describe raw.ingest_ledger").fetchall()}
        con.execute("insert into raw.ingest_ledger values ('old', 'transactions', "
                    "'transactions/day1.csv', ?, 'csv', 'loaded', 2, 2, 0, NULL, NULL, now())",
                    [ingest_module._content_hash(landing / "transactions" / "day1.csv")])
    hashed.clear()
    report, _ = ingest(tmp_path, landing)
    assert hashed == ["day1.csv"] and report.skipped == 1
    hashed.clear()
    report, _ = ingest(tmp_path, landing)
    assert hashed == [] and report.skipped == 1
