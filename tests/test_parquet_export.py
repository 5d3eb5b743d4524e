"""The Parquet exports: the score history as one file per run, written once and mirrored."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow.parquet as pq
import pytest

from customer_health.parquet_export import HISTORY, export_parquet, history_file_name

RUNS = [("a1b2c3d4e5f60718", date(2026, 3, 1), 40), ("0f9e8d7c6b5a4321", date(2026, 3, 2), 45),
        ("ffff000011112222", date(2026, 3, 2), 45)]


def _add_run(con, run_id: str, as_of: date, customers: int) -> None:
    con.execute(f"""insert into main.{HISTORY}
        select ?, ?, ? + interval 6 hour, 'c' || lpad(i::varchar, 5, '0'), (i % 100) / 100.0,
               100 - i % 100
        from range(?) t(i)""", [run_id, as_of, as_of, customers])


@pytest.fixture()
def warehouse():
    con = duckdb.connect(":memory:")
    con.execute(f"create table main.{HISTORY} (run_id varchar, as_of date, scored_at timestamp, "
                "customer_id varchar, churn_risk double, health_score integer)")
    for run in RUNS:
        _add_run(con, *run)
    con.execute("create table main.customer_health as select * from main.customer_health_history "
                "where run_id = 'ffff000011112222'")
    con.execute("create table main.health_alerts as select customer_id, as_of, 'entered_critical' "
                "as rule from main.customer_health where health_score < 10")
    yield con
    con.close()


def _stats(folder):
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


def _rows(con, query) -> list[dict]:
    return con.sql(query).to_arrow_table().to_pylist()


def _file_rows(path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_history_is_exported_as_one_file_per_run_holding_exactly_that_runs_rows(warehouse, tmp_path):
    exported = export_parquet(warehouse, tmp_path)

    folder = tmp_path / HISTORY
    assert exported == [str(tmp_path / "customer_health.parquet"),
                        str(tmp_path / "health_alerts.parquet"), str(folder)]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        history_file_name(as_of, run_id) for run_id, as_of, _ in RUNS)
    for run_id, as_of, customers in RUNS:
        part = _file_rows(folder / history_file_name(as_of, run_id))
        assert part == _rows(warehouse, f"select * from main.{HISTORY} where run_id = '{run_id}'")
        assert len(part) == customers
    # a BI tool reading the folder as one table sees the whole history
    everything = warehouse.execute(
        f"select count(*) from (select * from read_parquet('{folder}/*.parquet') "
        f"except all select * from main.{HISTORY})").fetchall()[0][0]
    assert everything == 0 and sum(r[2] for r in RUNS) == warehouse.execute(
        f"select count(*) from read_parquet('{folder}/*.parquet')").fetchall()[0][0]
    for table in ("customer_health", "health_alerts"):
        assert _file_rows(tmp_path / f"{table}.parquet") == _rows(warehouse, f"select * from main.{table}")


def test_a_publish_writes_only_the_new_run_and_a_rerun_rewrites_no_history_file(warehouse, tmp_path):
    export_parquet(warehouse, tmp_path)
    folder = tmp_path / HISTORY
    before = _stats(folder)

    export_parquet(warehouse, tmp_path)
    assert _stats(folder) == before

    _add_run(warehouse, "1234567890abcdef", date(2026, 3, 3), 50)
    export_parquet(warehouse, tmp_path)
    after = _stats(folder)
    new = history_file_name(date(2026, 3, 3), "1234567890abcdef")
    assert set(after) == set(before) | {new}
    assert {name: after[name] for name in before} == before
    assert pq.read_metadata(folder / new).num_rows == 50


def test_damaged_files_are_rewritten_and_runs_gone_from_the_history_removed(warehouse, tmp_path):
    export_parquet(warehouse, tmp_path)
    folder = tmp_path / HISTORY
    truncated = folder / history_file_name(RUNS[0][1], RUNS[0][0])
    truncated.write_bytes(truncated.read_bytes()[:100])
    short = folder / history_file_name(RUNS[1][1], RUNS[1][0])
    pq.write_table(pq.read_table(short).slice(0, 3), short)
    (folder / "2026-03-02_0f9e8d7c6b5a4321.parquet.tmp").write_bytes(b"half a file")
    (tmp_path / f"{HISTORY}.parquet").write_bytes(b"the single file of earlier versions")
    warehouse.execute(f"delete from main.{HISTORY} where run_id = '{RUNS[2][0]}'")

    export_parquet(warehouse, tmp_path)

    assert sorted(p.name for p in folder.iterdir()) == sorted(
        history_file_name(as_of, run_id) for run_id, as_of, _ in RUNS[:2])
    for run_id, as_of, customers in RUNS[:2]:
        assert _file_rows(folder / history_file_name(as_of, run_id)) == _rows(
            warehouse, f"select * from main.{HISTORY} where run_id = '{run_id}'")
    assert not (tmp_path / f"{HISTORY}.parquet").exists()


def test_a_run_scored_again_with_the_same_rows_is_written_again(warehouse, tmp_path):
    export_parquet(warehouse, tmp_path)
    folder = tmp_path / HISTORY
    before = _stats(folder)
    # a rebuilt warehouse scored a run again: as many rows, a later scored_at
    run_id, as_of, _ = RUNS[1]
    warehouse.execute(f"update main.{HISTORY} set scored_at = scored_at + interval 1 day "
                      f"where run_id = '{run_id}'")

    export_parquet(warehouse, tmp_path)

    name = history_file_name(as_of, run_id)
    assert _file_rows(folder / name) == _rows(
        warehouse, f"select * from main.{HISTORY} where run_id = '{run_id}'")
    after = _stats(folder)
    assert after[name] != before[name]
    assert {n: s for n, s in after.items() if n != name} == {
        n: s for n, s in before.items() if n != name}
