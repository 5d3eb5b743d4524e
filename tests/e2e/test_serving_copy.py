"""The serving copy: BI tools and the web app read a copy of the output tables that each publish
swaps in atomically, so a reader holding it open never blocks or breaks a pipeline run."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from datetime import datetime, timedelta

import duckdb
import yaml

from customer_health.config import load_settings
from customer_health.serving import SERVING_TABLES, open_serving_copy, publish_serving_copy
from customer_health.warehouse import connect
from tests.e2e.conftest import cli

# A BI tool in another process: opens the serving copy, answers "count" and "run" on request,
# and keeps the same connection open all the time.
READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
for line in sys.stdin:
    row = con.execute("select count(*), min(run_id) from customer_health").fetchone()
    print(row[0], row[1], flush=True)
"""


def _ask(reader) -> tuple[int, str]:
    reader.stdin.write("?\n")
    reader.stdin.flush()
    count, run = reader.stdout.readline().split()
    return int(count), run


def test_a_reader_holding_the_serving_copy_open_never_blocks_a_run(scored, demo, tmp_path, capsys):
    home = tmp_path / "home"
    shutil.copytree(scored["home"], home)
    settings = load_settings(demo["config"], home=home, landing=demo["landing"])
    with open_serving_copy(settings) as con:
        tables = {name for (name,) in con.execute("show tables").fetchall()}
        before = con.execute("select count(*), min(run_id) from customer_health").fetchone()
    assert tables == set(SERVING_TABLES)

    reader = subprocess.Popen([sys.executable, "-c", READER, str(settings.serving_file)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert _ask(reader) == before
        # a new run (stricter bands) scores and publishes while the reader holds the copy open
        config = yaml.safe_load(demo["config"].read_text())
        config["bands"]["healthy"] = 90
        strict = tmp_path / "strict.yml"
        strict.write_text(yaml.safe_dump(config))
        flags = ["--config", str(strict), "--home", str(home), "--landing", str(demo["landing"])]
        cli(capsys, "score", *flags)
        cli(capsys, "publish", *flags)
        # the open reader still sees the copy it opened, whole and unchanged
        assert _ask(reader) == before
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    assert reader.returncode == 0
    with open_serving_copy(settings) as con:  # a new reader gets the new run
        after = con.execute("select count(*), min(run_id) from customer_health").fetchone()
    assert after[0] == before[0] and after[1] != before[1]
    assert not [p.name for p in settings.serving_file.parent.iterdir()
                if p.name != settings.serving_file.name]  # no staging leftovers


# -- each publish brings a file copy of the previous serving copy up to date -------------------

def _home(scored, demo, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(scored["home"], home)
    return load_settings(demo["config"], home=home, landing=demo["landing"])


def _publish(settings, caplog) -> str:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="customer_health.serving"), \
            connect(settings.warehouse) as con:
        publish_serving_copy(settings, con)
    return " ".join(r.getMessage() for r in caplog.records)


def _differences(settings) -> dict[str, tuple[int, int]]:
    """{table: (rows only in the copy, rows only in the warehouse's output)}, for every table
    of either, compared as multisets."""
    with connect(settings.warehouse, read_only=True) as con:
        con.execute(f"attach '{settings.serving_file}' as copy (read_only)")
        try:
            held = {r[0] for r in con.execute("select table_name from duckdb_tables() "
                                              "where database_name = 'copy'").fetchall()}
            found = {}
            for table in held | set(SERVING_TABLES):
                if table not in held or table not in SERVING_TABLES:
                    found[table] = (-1, -1)
                    continue
                mine, wanted = f"select * from copy.main.{table}", SERVING_TABLES[table]
                found[table] = tuple(con.execute(
                    f"select count(*) from ({a} except all {b})").fetchone()[0]
                    for a, b in ((mine, wanted), (wanted, mine)))
        finally:
            con.execute("detach copy")
    return {t: d for t, d in found.items() if d != (0, 0)}


def _tamper(settings, *statements: str) -> None:
    with duckdb.connect(str(settings.serving_file)) as con:
        for statement in statements:
            con.execute(statement)


def _state(settings, table: str) -> dict:
    with duckdb.connect(str(settings.serving_file), read_only=True) as con:
        return json.loads(con.execute("select comment from duckdb_tables() where table_name = ?",
                                      [table]).fetchone()[0])


def test_publish_brings_the_previous_copy_up_to_date(scored, demo, tmp_path, caplog):
    """What changes between two runs, played back on the copy: the copy lacks the newest run of
    the history and the interactions loaded since an earlier publish, its interactions window
    started later (the window moved back) and its transactions window holds older rows (the
    window moved forward); publish adds and drops exactly those rows."""
    settings = _home(scored, demo, tmp_path)
    assert not _differences(settings)
    with connect(settings.warehouse, read_only=True) as con:
        loads = [r[0] for r in con.execute(
            "select distinct loaded_at from main.stg_interactions order by 1").fetchall()]
        newest_run = con.execute("select run_id from main.customer_health limit 1").fetchone()[0]
    interactions, transactions = _state(settings, "interactions"), _state(settings, "transactions")
    later = datetime.fromisoformat(interactions["start"]) + timedelta(days=30)
    earlier = datetime.fromisoformat(transactions["start"]) - timedelta(days=400)
    _tamper(settings,
            f"delete from customer_health_history where run_id = '{newest_run}'",
            f"delete from interactions where occurred_at < '{later}'",
            f"attach '{settings.warehouse}' as warehouse (read_only)",
            f"""delete from interactions where interaction_id in (
                select interaction_id from warehouse.raw.interactions
                where _ingested_at > '{loads[-2]}')""",
            _comment("interactions", {**interactions, "start": str(later),
                                      "loaded_through": str(loads[-2])}),
            f"""insert into transactions select * replace (transaction_id || '-old' as
                transaction_id, occurred_at - interval 400 day as occurred_at)
                from transactions limit 5""",
            _comment("transactions", {**transactions, "start": str(earlier)}),
            "update customer_health set health_score = 0")
    assert set(_differences(settings)) == {"customer_health_history", "interactions",
                                           "transactions", "customer_health"}

    said = _publish(settings, caplog)
    assert not _differences(settings)
    assert "customer_health_history, interactions, transactions brought up to date" in said
    assert _state(settings, "interactions") == interactions   # the warehouse's window again


def _comment(table: str, state: dict) -> str:
    return f"comment on table {table} is '{json.dumps(state)}'"


def test_a_previous_copy_that_does_not_match_is_written_whole(scored, demo, tmp_path, caplog):
    settings = _home(scored, demo, tmp_path)
    _tamper(settings,
            "comment on table interactions is NULL",            # no state: unknown window
            "insert into transactions select * from transactions limit 1",  # a row twice
            "update customer_health_history set scored_at = scored_at + interval 1 second "
            "where run_id = (select min(run_id) from customer_health_history)",  # another run
            "create table stale_table as select 1 as n")        # no longer served
    said = _publish(settings, caplog)
    assert not _differences(settings)
    assert "all written whole" in said and "holds" in said     # the row count that did not match
    # the tables written whole say what they hold: the next publish brings them up to date
    assert "history, interactions, transactions brought up to date" in _publish(settings, caplog)

    _tamper(settings,
            "alter table customer_health_history drop column model_version",  # an older layout
            _comment("transactions", {**_state(settings, "transactions"), "dataset": "another"}))
    assert "interactions brought up to date" in _publish(settings, caplog)
    assert not _differences(settings)


def test_an_unreadable_previous_copy_is_replaced(scored, demo, tmp_path, caplog):
    settings = _home(scored, demo, tmp_path)
    settings.serving_file.write_bytes(b"not a DuckDB file")
    crashed = settings.serving_file.with_name(f".{settings.serving_file.name}.99999.tmp")
    crashed.write_bytes(b"left by a publish that crashed")
    assert "all written whole" in _publish(settings, caplog)
    assert not _differences(settings)
    assert [p.name for p in settings.serving_file.parent.iterdir()] == [settings.serving_file.name]
