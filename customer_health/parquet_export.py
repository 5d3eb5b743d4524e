"""Parquet exports of the output tables, written after each publish into ``<home>/exports/``.

``customer_health.parquet`` and ``health_alerts.parquet`` are written whole: the first is one
row per active customer, the second holds alerts only. The score history grows by a run at
every publish, so writing it whole would make each publish slower than the last; it is kept as
one file per scoring run instead, ``customer_health_history/<as_of>_<run_id>.parquet``, and a
publish writes only the runs the folder lacks. A file whose row count or latest scored_at (read
from its footer) differs from its run's in the warehouse, or that cannot be read, is written
again; a file of a run the history no longer holds is removed, so the folder always mirrors the
table. Each file is written beside its target and renamed into place, so a reader never sees
half a file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from customer_health.warehouse import sql_literal

log = logging.getLogger(__name__)

WHOLE_TABLES = ("customer_health", "health_alerts")
HISTORY = "customer_health_history"
# changes when a run is scored again (a rebuilt warehouse): its file is then written again
STAMP = "scored_at"


def _copy(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    con.execute(f"copy ({query}) to {sql_literal(str(tmp))} (format parquet)").fetchall()
    tmp.replace(target)


def _footer(path: Path) -> tuple | None:
    """(rows, latest scored_at) of a run's file from its footer; None when it cannot be read."""
    try:
        meta = pq.read_metadata(path)
        column = meta.schema.to_arrow_schema().get_field_index(STAMP)
        stamps = [meta.row_group(i).column(column).statistics for i in range(meta.num_row_groups)]
        latest = max(s.max for s in stamps) if stamps and all(s.has_min_max for s in stamps) else None
        return meta.num_rows, latest
    except (OSError, ValueError) as exc:   # pyarrow raises ArrowInvalid (a ValueError) on junk
        log.warning("export %s is unreadable (%s); writing it again", path.name, type(exc).__name__)
        return None


def history_file_name(as_of, run_id: str) -> str:
    """``<as_of>_<run_id>.parquet``: sorting the names sorts the runs by scoring date."""
    return f"{as_of:%Y-%m-%d}_{run_id}.parquet"


def export_history(con: duckdb.DuckDBPyConnection, folder: Path) -> tuple[int, int]:
    """Bring ``folder`` (one file per run of ``main.customer_health_history``) up to date;
    return (runs written, files removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob("*.tmp"):   # a publish that crashed mid-file
        leftover.unlink(missing_ok=True)
    runs = con.execute(f"select as_of, run_id, count(*), max({STAMP}) from main.{HISTORY} "
                       "group by as_of, run_id").fetchall()
    wanted = {history_file_name(as_of, run_id): (run_id, (rows, latest))
              for as_of, run_id, rows, latest in runs}
    removed = 0
    for path in folder.glob("*.parquet"):
        if path.name not in wanted:
            path.unlink()
            removed += 1
    written = 0
    for name, (run_id, footer) in sorted(wanted.items()):
        target = folder / name
        if target.exists() and _footer(target) == footer:
            continue
        _copy(con, f"select * from main.{HISTORY} where run_id = {sql_literal(run_id)}", target)
        written += 1
    return written, removed


def export_parquet(con: duckdb.DuckDBPyConnection, exports_dir: Path) -> list[str]:
    """Write the Parquet exports from the open warehouse ``con``; return what they are."""
    exports_dir.mkdir(parents=True, exist_ok=True)
    exported = []
    for table in WHOLE_TABLES:
        target = exports_dir / f"{table}.parquet"
        _copy(con, f"select * from main.{table}", target)
        exported.append(str(target))
    folder = exports_dir / HISTORY
    written, removed = export_history(con, folder)
    # before the history was one file per run it was one file for all runs
    (exports_dir / f"{HISTORY}.parquet").unlink(missing_ok=True)
    log.info("exports: %s and %s; history: %d run file(s) written, %d removed",
             *WHOLE_TABLES, written, removed)
    exported.append(str(folder))
    return exported
