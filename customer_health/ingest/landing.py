"""Load every new file of a landing folder into the warehouse, exactly once and losing nothing.

Each file is one batch: parsed, checked row by row, deduplicated against what is loaded,
validated by its Great Expectations suite, then written together with its ledger row, its
quarantined rows and its validation result in one DuckDB transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import duckdb
import pandas as pd

from customer_health.ingest.contracts import CONTRACTS, ENTITIES, Contract
from customer_health.ingest.readers import LINE, FileUnreadable, read_landing_file
from customer_health.ingest.rows import check_rows
from customer_health.landing_files import entity_files

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileOutcome:
    entity: str
    path: str
    status: str          # loaded, partial, quarantined, rejected, failed, duplicate, empty
    rows_in: int = 0
    loaded: int = 0
    quarantined: int = 0
    reason: str | None = None


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    missing_entities: list[str] = field(default_factory=list)
    skipped: int = 0     # files already processed with the same content

    def total(self, attr: str, entity: str | None = None) -> int:
        return sum(getattr(o, attr) for o in self.outcomes if entity in (None, o.entity))

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status in ("failed", "rejected")]

    def summary(self) -> dict:
        """Counts only (no paths' contents, no personal data): safe to log and to pass on."""
        return {
            "files": dict(Counter(o.status for o in self.outcomes)),
            "files_already_loaded": self.skipped,
            "rows_loaded": self.total("loaded"),
            "rows_quarantined": self.total("quarantined"),
            "missing_entities": list(self.missing_entities),
        }


Validator = Callable[[str, pd.DataFrame], "object"]


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _records(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return []
    return frame.to_json(orient="records", lines=True, date_format="iso",
                         default_handler=str).splitlines()


class _Batch:
    """One landing file on its way into the warehouse."""

    def __init__(self, con: duckdb.DuckDBPyConnection, contract: Contract, path: Path,
                 rel: str, digest: str, now: datetime):
        self.con, self.contract, self.path, self.rel, self.digest = con, contract, path, rel, digest
        self.now = now.replace(tzinfo=None)
        self.file_id = hashlib.sha256(f"{rel}\0{digest}".encode()).hexdigest()[:16]

    def ledger(self, outcome: FileOutcome, fmt: str | None, extra: tuple[str, ...] = ()) -> None:
        self.con.execute(
            "insert into raw.ingest_ledger values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [self.file_id, self.contract.entity, self.rel, self.digest, fmt, outcome.status,
             outcome.rows_in, outcome.loaded, outcome.quarantined, outcome.reason,
             ",".join(extra) or None, self.now],
        )

    def quarantine(self, lines: pd.Series, rules: pd.Series, reasons: pd.Series,
                   records: list[str]) -> None:
        if len(lines) == 0:
            return
        frame = pd.DataFrame({
            "file_id": self.file_id, "entity": self.contract.entity, "path": self.rel,
            "line": lines.to_numpy(), "rule": rules.to_numpy(), "reason": reasons.to_numpy(),
            "record": records,
        })
        self.con.register("_quarantine_batch", frame)
        self.con.execute("insert into raw.quarantine by name select * from _quarantine_batch")
        self.con.unregister("_quarantine_batch")

    def duplicates(self, good: pd.DataFrame) -> pd.DataFrame:
        """Rows whose event id is already loaded (earlier file) or repeats earlier in this file."""
        key = self.contract.key
        repeated = good[key].duplicated(keep="first")
        reasons = pd.Series(pd.NA, index=good.index, dtype="object")
        first_line = good.groupby(key, sort=False)[LINE].transform("first")
        reasons[repeated] = (f"{key} repeats line " + first_line[repeated].astype(str)
                             + " of this file")
        self.con.register("_ids", good[[key]].drop_duplicates())
        known = self.con.execute(
            f"select r.{key} as id, l.path, r._line from raw.{self.contract.entity} r "
            f"join _ids using ({key}) join raw.ingest_ledger l on l.file_id = r._file_id"
        ).df()
        self.con.unregister("_ids")
        if not known.empty:
            where = known.set_index("id")
            hit = good[key].isin(where.index) & reasons.isna()
            origin = where.loc[good.loc[hit, key]]
            reasons[hit] = (f"{key} already loaded from " + origin["path"].to_numpy()
                            + " line " + origin["_line"].astype(str).to_numpy())
        return reasons.dropna()


HEADER_NAME = re.compile(r"^[a-z_][a-z0-9_ .-]{0,63}$")


def _missing_columns_reason(missing: list[str], found) -> str:
    """Say which required columns are missing; never echo a first line that holds data."""
    names = [str(c) for c in found if c != LINE]
    if names and all(HEADER_NAME.match(n) for n in names):
        return (f"missing required column(s): {', '.join(missing)}; "
                f"columns found: {', '.join(names)}")
    return (f"missing required column(s): {', '.join(missing)}; the first line does not look "
            "like a header (is the header missing, or is the delimiter not a comma?)")


def _ingest_file(con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, rel: str,
                 validator: Validator | None, landing: Path) -> FileOutcome | None:
    digest = _content_hash(path) if path.exists() else "missing"
    seen = con.execute("select 1 from raw.ingest_ledger where path = ? and content_hash = ?",
                       [rel, digest]).fetchall()
    if seen:
        return None
    batch = _Batch(con, contract, path, rel, digest, datetime.now(timezone.utc))
    con.begin()
    try:
        outcome = _load(batch, validator, landing)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return outcome


def _load(batch: _Batch, validator: Validator | None, landing: Path) -> FileOutcome:
    entity, rel = batch.contract.entity, batch.rel

    def finish(outcome: FileOutcome, fmt: str | None = None, extra=()) -> FileOutcome:
        batch.ledger(outcome, fmt, extra)
        return outcome

    if not batch.path.resolve().is_relative_to(landing.resolve()):
        return finish(FileOutcome(entity, rel, "failed",
                                  reason="links outside the landing folder; not read"))
    twin = batch.con.execute(
        "select path from raw.ingest_ledger where content_hash = ? and status in "
        "('loaded', 'partial') order by ingested_at limit 1", [batch.digest]).fetchall()
    if twin:
        return finish(FileOutcome(entity, rel, "duplicate",
                                  reason=f"same content as {twin[0][0]}, already loaded"))
    try:
        parsed = read_landing_file(batch.path)
    except (FileUnreadable, OSError) as exc:
        return finish(FileOutcome(entity, rel, "failed", reason=str(exc)))

    frame, broken = parsed.frame, parsed.broken_lines
    rows_in = len(frame) + len(broken)
    # records that could not be parsed at all (a broken JSON line) are quarantined as they were
    batch.quarantine(broken[LINE], pd.Series(["unparsable_record"] * len(broken)),
                     broken["reason"], [json.dumps({"raw": r}) for r in broken["raw"]])
    missing = [c for c in batch.contract.required if c not in frame.columns]
    if missing:
        # nothing of this file can load: every row goes to quarantine so nothing is lost
        reason = _missing_columns_reason(missing, frame.columns)
        batch.quarantine(frame[LINE], pd.Series(["missing_column"] * len(frame)),
                         pd.Series([reason] * len(frame)), _records(frame.drop(columns=[LINE])))
        return finish(FileOutcome(entity, rel, "failed", rows_in, 0, rows_in, reason=reason),
                      parsed.file_format)

    checked = check_rows(frame, batch.contract)
    bad = checked.bad
    batch.quarantine(bad[LINE], bad["rule"], bad["reason"],
                     _records(bad.drop(columns=["rule", "reason", LINE])))
    good = checked.good
    if batch.contract.unique_key and not good.empty:
        dup_reasons = batch.duplicates(good)
        dups = good.loc[dup_reasons.index]
        batch.quarantine(dups[LINE], pd.Series(["duplicate_id"] * len(dups)), dup_reasons,
                         _records(frame.set_index(LINE).loc[dups[LINE]].reset_index(drop=True)))
        good = good.drop(index=dup_reasons.index)

    quarantined = rows_in - len(good)
    if rows_in == 0:
        return finish(FileOutcome(entity, rel, "empty", reason="header only, no data rows"),
                      parsed.file_format, checked.extra_columns)
    if good.empty:
        return finish(FileOutcome(entity, rel, "quarantined", rows_in, 0, quarantined,
                                  reason="every row broke a rule; see raw.quarantine"),
                      parsed.file_format, checked.extra_columns)

    if validator is not None:
        result = validator(entity, good.drop(columns=[LINE]))
        batch.con.execute(
            "insert into raw.validation_results values (?, ?, ?, ?, ?, ?, ?, ?)",
            [batch.file_id, entity, result.suite, result.success, result.evaluated,
             "; ".join(f"{f.expectation}({f.column or ''}): {f.rule}" for f in result.failed)
             or None, result.result_json, batch.now])
        if not result.success:
            rule = "; ".join(f"{f.expectation} on {f.column or 'batch'}" for f in result.failed)
            reason = f"batch failed validation suite {result.suite}: {rule}"
            batch.quarantine(good[LINE], pd.Series(["failed_validation"] * len(good)),
                             pd.Series([reason] * len(good)),
                             _records(frame.set_index(LINE).loc[good[LINE]].reset_index(drop=True)))
            return finish(FileOutcome(entity, rel, "rejected", rows_in, 0, rows_in,
                                      reason=reason), parsed.file_format, checked.extra_columns)

    batch.con.register("_good_batch", good)
    batch.con.execute(
        f"insert into raw.{entity} by name select * exclude ({LINE}), {LINE} as _line, "
        "? as _file_id, ? as _ingested_at from _good_batch", [batch.file_id, batch.now])
    batch.con.unregister("_good_batch")
    status = "loaded" if quarantined == 0 else "partial"
    reason = None if quarantined == 0 else f"{quarantined} row(s) quarantined; see raw.quarantine"
    return finish(FileOutcome(entity, rel, status, rows_in, len(good), quarantined, reason),
                  parsed.file_format, checked.extra_columns)


def ingest_landing(con: duckdb.DuckDBPyConnection, landing: Path,
                   validator: Validator | None = None,
                   progress: Callable[[FileOutcome | None], None] | None = None) -> IngestReport:
    """Ingest every file of ``landing`` not yet in the ledger; return what happened to each."""
    report = IngestReport()
    if not landing.is_dir():
        raise FileNotFoundError(f"{landing}: landing folder not found")
    for entity in ENTITIES:
        folder = landing / entity
        if not folder.is_dir():
            report.missing_entities.append(entity)
            continue
        for path in entity_files(folder):
            rel = path.relative_to(landing).as_posix()
            outcome = _ingest_file(con, CONTRACTS[entity], path, rel, validator, landing)
            if outcome is None:
                report.skipped += 1
            else:
                report.outcomes.append(outcome)
                log.info("ingest %s: %s, %d in, %d loaded, %d quarantined", rel, outcome.status,
                         outcome.rows_in, outcome.loaded, outcome.quarantined)
            if progress:
                progress(outcome)
    return report
