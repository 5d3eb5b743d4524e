"""Load every new file of a landing folder into the warehouse, exactly once and losing nothing.

Each file is one batch: parsed, checked row by row, deduplicated against what is loaded,
validated by its Great Expectations suite, then written together with its ledger row, its
quarantined rows and its validation result in one DuckDB transaction. A file the ledger already
holds with the same size and times is not read again to hash it, the next new file is parsed
in a background thread while the current one is validated and stored, and a file's validation
runs beside the insert of its rows (undone in its transaction when the gate rejects it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import duckdb
import pandas as pd
import pyarrow as pa

from customer_health.ingest.contracts import CONTRACTS, ENTITIES, PERSONAL_COLUMNS, Contract
from customer_health.ingest.readers import (
    LINE, NESTED, FileEmpty, FileUnreadable, ParsedFile, file_format, read_landing_file,
)
from customer_health.ingest.rows import checked_query, mark_duplicates, trimmed
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
    # loaded rows naming a customer_id the customers feed does not hold (yet): kept, reported
    unknown_customers: int = 0


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
            "rows_with_unknown_customer": self.total("unknown_customers"),
            "missing_entities": list(self.missing_entities),
        }


# Validates one batch: (entity, good rows) -> a result with .success. It may have a method
# reads(entity) -> the columns whose values it reads; personal-data columns it does not read are
# then handed to it as placeholders.
Validator = Callable[[str, pd.DataFrame], "object"]


# What the ledger keeps of each file besides its content hash: a file whose size and times are
# those of a ledger row of its path is that row's content, not read again to hash it. The change
# time (which no tool can set back) guards against a rewrite that keeps the size and mtime.
STAT_COLUMNS = ("file_size", "file_mtime_ns", "file_ctime_ns")
Stat = tuple[int, int, int]


def _stat(path: Path) -> Stat | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _known_hashes(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, Stat], str]:
    """{(path, stat): content hash} of the files in the ledger."""
    return {(r[0], tuple(r[1:4])): r[4] for r in con.execute(
        f"select path, {', '.join(STAT_COLUMNS)}, content_hash from raw.ingest_ledger "
        "where file_size is not null").fetchall()}


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _records(frame: pd.DataFrame) -> list[str]:
    """Each row as a JSON object (the original values a quarantined row keeps)."""
    if frame.empty:
        return []
    if frame.columns.duplicated().any():     # a header that repeats a name: keep every value
        seen: Counter = Counter()
        names = []
        for name in frame.columns:
            seen[name] += 1
            names.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
        frame = frame.set_axis(names, axis=1)
    return frame.to_json(orient="records", lines=True, date_format="iso",
                         default_handler=str).splitlines()


class _Batch:
    """One landing file on its way into the warehouse."""

    def __init__(self, con: duckdb.DuckDBPyConnection, contract: Contract, path: Path,
                 rel: str, digest: str, now: datetime, stat: Stat | None = None):
        self.con, self.contract, self.path, self.rel, self.digest = con, contract, path, rel, digest
        self.now = now.replace(tzinfo=None)
        self.stat = stat
        self.file_id = hashlib.sha256(f"{rel}\0{digest}".encode()).hexdigest()[:16]

    def ledger(self, outcome: FileOutcome, fmt: str | None, extra: tuple[str, ...] = ()) -> None:
        self.con.execute(
            "insert into raw.ingest_ledger (file_id, entity, path, content_hash, file_format, "
            "status, rows_in, rows_loaded, rows_quarantined, reason, extra_columns, ingested_at, "
            f"{', '.join(STAT_COLUMNS)}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [self.file_id, self.contract.entity, self.rel, self.digest, fmt, outcome.status,
             outcome.rows_in, outcome.loaded, outcome.quarantined, outcome.reason,
             ",".join(extra) or None, self.now, *(self.stat or (None,) * len(STAT_COLUMNS))],
        )

    def quarantine(self, lines, rules, reasons, records: list[str]) -> None:
        if len(lines) == 0:
            return
        frame = pd.DataFrame({
            "file_id": self.file_id, "entity": self.contract.entity, "path": self.rel,
            "line": pd.Series(lines, dtype="int64").to_numpy(),
            "rule": pd.Series(rules, dtype=object).to_numpy(),
            "reason": pd.Series(reasons, dtype=object).to_numpy(), "record": records,
        })
        self.con.register("_quarantine_batch", frame)
        self.con.execute("insert into raw.quarantine by name select * from _quarantine_batch")
        self.con.unregister("_quarantine_batch")


HEADER_NAME = re.compile(r"^[a-z_][a-z0-9_ .-]{0,63}$")
OTHER_DELIMITERS = {";": "a semicolon", "\t": "a tab", "|": "a pipe"}


def _wrong_delimiter(found: list[str], required: tuple[str, ...]) -> str | None:
    """The delimiter a one-column header really uses, when splitting on it finds the columns."""
    if len(found) != 1:
        return None
    for delimiter, name in OTHER_DELIMITERS.items():
        names = [n.strip() for n in found[0].split(delimiter)]
        if len(names) > 1 and set(required) <= set(names):
            return name
    return None


def _missing_columns_reason(missing: list[str], found: list[str], fmt: str,
                            required: tuple[str, ...]) -> tuple[str, bool]:
    """Say which required columns are missing, and whether line 1 is data rather than a header.

    Never echoes a first line that holds data (it may hold personal data).
    """
    delimiter = _wrong_delimiter(found, required) if fmt == "csv" else None
    if delimiter:
        return (f"missing required column(s): {', '.join(missing)}; the header is separated "
                f"by {delimiter}, not by the file's delimiter (comma for .csv, tab for .tsv)",
                False)
    if not found or all(HEADER_NAME.match(n) for n in found) or fmt != "csv":
        return (f"missing required column(s): {', '.join(missing)}; "
                f"columns found: {', '.join(found) or 'none'}", False)
    return (f"missing required column(s): {', '.join(missing)}; the first line does not look "
            "like a header (is the header missing, or is the delimiter not a comma?)", True)


def _unknown_customers(con: duckdb.DuckDBPyConnection) -> int:
    """Good rows of the batch whose customer_id the customers feed does not hold."""
    return con.execute(
        "select count(*) from _checked g where rule is null and not exists "
        "(select 1 from raw.customers c where c.customer_id = g.customer_id)").fetchall()[0][0]


@dataclass(frozen=True)
class _Delivery:
    """A landing file found by the listing, fingerprinted before anything parses it."""
    contract: Contract
    path: Path
    rel: str
    digest: str
    inside: bool     # resolves inside the landing folder (else it is never read)
    stat: Stat | None = None   # size and times when hashed (None: not hashed)


def _fingerprint(contract: Contract, path: Path, rel: str, landing: Path,
                 known: dict[tuple[str, Stat], str]) -> _Delivery:
    inside = path.resolve().is_relative_to(landing.resolve())
    if not inside:
        # never read a file outside the landing folder, not even to hash it
        digest = "outside:" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()
        return _Delivery(contract, path, rel, digest, inside)
    stat = _stat(path)           # before hashing: a file changed meanwhile is hashed next time
    digest = known.get((rel, stat)) if stat else None
    if digest is None:
        try:
            digest = _content_hash(path)
        except OSError:          # dangling link, removed meanwhile, unreadable: read says why
            return _Delivery(contract, path, rel, "unreadable", inside)
    return _Delivery(contract, path, rel, digest, inside, stat)


def _remember_stat(con: duckdb.DuckDBPyConnection, delivery: _Delivery) -> None:
    """A file seen before, hashed again (its times changed, or its ledger row predates the file
    statistics): the next run knows it by its size and times."""
    con.execute(f"update raw.ingest_ledger set {' = ?, '.join(STAT_COLUMNS)} = ? "
                "where path = ? and content_hash = ?",
                [*delivery.stat, delivery.rel, delivery.digest])


# The next file is parsed ahead only while it and the file being stored are small: both are
# held in memory at once, and a big file's validation gate peaks on top of its rows (at W100 a
# 243 MB Parquet file parsed ahead of a 1.3 GB CSV file's gate set the ingest's 15 GiB peak).
READ_AHEAD_MAX_BYTES = 1024 * 1024 * 1024
# After a file at least this big, freed memory is handed back before the next file is read.
BIG_FILE_BYTES = 256 * 1024 * 1024
# The validation gate of a file (GX: Python, about one core) runs while its rows are inserted
# (DuckDB: native, both cores), the rows deleted again in the file's transaction when the gate
# rejects the batch. Only below this parsed size: the gate's frame is held while the rows are
# written, which a big file cannot afford (at W100 the ingest sets the run's peak memory).
GATE_BESIDE_INSERT_MAX_BYTES = BIG_FILE_BYTES
# Parsed rows take about the file's size for text formats; compressed formats expand.
PARSED_SIZE_FACTOR = {"parquet": 10, "gz": 6}


def parsed_size_estimate(path: Path) -> int:
    """About how many bytes the parsed rows of ``path`` take (0 when it cannot be read)."""
    try:
        size = path.stat().st_size
    except OSError:              # read says why
        return 0
    name = path.name.lower()
    if name.endswith(".gz"):
        return size * PARSED_SIZE_FACTOR["gz"]
    if file_format(path) == "parquet":
        return size * PARSED_SIZE_FACTOR["parquet"]
    return size


class _ReadAhead:
    """Parses the next new file in a background thread while this one is validated and stored:
    parsing is mostly pyarrow's C++, validation mostly Python on one core, so the two share
    the machine. At most two parsed files are held at a time, and only while together they
    are small (``READ_AHEAD_MAX_BYTES``)."""

    def __init__(self, deliveries: list[_Delivery]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read")
        self._next = {d.path: after for d, after in zip(deliveries, deliveries[1:])}
        self._parsing: dict[Path, Future] = {}

    def parsed(self, contract: Contract, path: Path) -> tuple[ParsedFile, pa.Table]:
        """The file parsed, and its table trimmed (raising what parsing it raised)."""
        parsing = self._parsing.pop(path, None)
        return parsing.result() if parsing else _read(contract, path)

    def start_next(self, path: Path) -> None:
        """Start parsing the file after ``path`` (never one outside the landing folder)."""
        after = self._next.get(path)
        if after is not None and after.inside and after.path not in self._parsing \
                and parsed_size_estimate(path) + parsed_size_estimate(after.path) \
                < READ_AHEAD_MAX_BYTES:
            self._parsing[after.path] = self._pool.submit(_read, after.contract, after.path)

    def forget(self, path: Path) -> None:
        """Drop a parse nobody asked for (a duplicate file is not parsed)."""
        parsing = self._parsing.pop(path, None)
        if parsing:
            parsing.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _read(contract: Contract, path: Path) -> tuple[ParsedFile, pa.Table]:
    parsed = read_landing_file(path, text_columns=contract.strings + contract.timestamps)
    return parsed, trimmed(parsed.table, contract)


def _ingest_file(con: duckdb.DuckDBPyConnection, delivery: _Delivery,
                 validator: Validator | None, reader: _ReadAhead) -> FileOutcome:
    """Load one new file: its rows, quarantine, validation result and ledger row commit together."""
    batch = _Batch(con, delivery.contract, delivery.path, delivery.rel, delivery.digest,
                   datetime.now(timezone.utc), delivery.stat)
    con.begin()
    try:
        outcome = _load(batch, validator, delivery.inside, reader)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        reader.forget(delivery.path)
    return outcome


def _fail_every_row(batch: _Batch, parsed: ParsedFile, rule: str, reason: str,
                    rows_in: int) -> FileOutcome:
    """Nothing of this file can load: every parsed row goes to quarantine so nothing is lost."""
    lines = parsed.table[LINE].to_pylist()
    batch.quarantine(lines, [rule] * len(lines), [reason] * len(lines),
                     _records(parsed.records()))
    return FileOutcome(batch.contract.entity, batch.rel, "failed", rows_in, 0, rows_in,
                       reason=reason)


def _load(batch: _Batch, validator: Validator | None, inside: bool,
          reader: _ReadAhead) -> FileOutcome:
    entity, rel = batch.contract.entity, batch.rel

    def finish(outcome: FileOutcome, fmt: str | None = None, extra=()) -> FileOutcome:
        batch.ledger(outcome, fmt, extra)
        return outcome

    if not inside:
        return finish(FileOutcome(entity, rel, "failed",
                                  reason="links outside the landing folder; not read"))
    twin = batch.con.execute(
        "select path from raw.ingest_ledger where content_hash = ? and status in "
        "('loaded', 'partial') order by ingested_at limit 1", [batch.digest]).fetchall()
    if twin:
        return finish(FileOutcome(entity, rel, "duplicate",
                                  reason=f"same content as {twin[0][0]}, already loaded"))
    contract = batch.contract
    try:
        parsed, clean = reader.parsed(contract, batch.path)
    except FileEmpty as exc:
        return finish(FileOutcome(entity, rel, "empty", reason=str(exc)))
    except FileUnreadable as exc:
        return finish(FileOutcome(entity, rel, "failed", reason=str(exc)))
    except OSError as exc:       # a dangling link, a file removed or unreadable meanwhile
        return finish(FileOutcome(entity, rel, "failed",
                                  reason=f"cannot read the file ({exc.strerror or exc})"))

    broken = parsed.broken_lines
    rows_in = parsed.rows + len(broken)
    # records that could not be parsed at all (a broken JSON line) are quarantined as they were
    batch.quarantine(broken[LINE], broken["rule"], broken["reason"],
                     [json.dumps({"raw": r}) for r in broken["raw"]])
    if parsed.rows == 0 and len(broken):
        return finish(FileOutcome(entity, rel, "quarantined", rows_in, 0, rows_in,
                                  reason="no record could be parsed; see raw.quarantine"),
                      parsed.file_format)
    found = parsed.columns
    twice = sorted({c for c in found if found.count(c) > 1})
    if twice:
        reason = (f"column(s) {', '.join(twice)} appear more than once in the header "
                  "(names are compared in lower case)")
        return finish(_fail_every_row(batch, parsed, "duplicate_column", reason, rows_in),
                      parsed.file_format)
    missing = [c for c in contract.required if c not in found]
    if missing and parsed.rows:
        reason, headerless = _missing_columns_reason(missing, found, parsed.file_format,
                                                     contract.required)
        if headerless:   # line 1 is data too: read it as a row so it is not lost
            parsed = read_landing_file(batch.path, header=False)
            rows_in = parsed.rows + len(parsed.broken_lines)
        return finish(_fail_every_row(batch, parsed, "missing_column", reason, rows_in),
                      parsed.file_format)
    known = set(contract.columns) | {LINE, NESTED}
    extra = tuple(c for c in found if c not in known)
    if rows_in == 0:
        what = "no data rows (header only)" if parsed.file_format == "csv" else "no data rows"
        return finish(FileOutcome(entity, rel, "empty", reason=what), parsed.file_format, extra)

    con = batch.con
    con.register("_landing", clean)
    try:
        types = dict(con.execute("select column_name, column_type from "
                                 "(describe select * from _landing)").fetchall())
        con.execute("create or replace temp table _checked as "
                    + checked_query("_landing", types, contract))
    finally:
        con.unregister("_landing")
    del clean   # the rows are in _checked now; the parsed file stays for quarantined records
    if contract.unique_key:
        mark_duplicates(con, "_checked", contract)
    reader.start_next(batch.path)   # while this file is validated and stored
    originals = _Originals(parsed, batch)
    fmt = parsed.file_format
    del parsed
    try:
        return _store(batch, originals, fmt, validator, rows_in, extra, finish)
    finally:
        con.execute("drop table if exists _checked")


class FileChanged(RuntimeError):
    """A landing file changed while it was being ingested; nothing of it was stored."""


class _Originals:
    """The original values of a file's records, which quarantined rows keep. The parsed rows
    are released before the validation gate (a big file's take several GiB beside the gate's
    copy) and parsed again from the file in the rare case the gate rejects the batch."""

    def __init__(self, parsed: ParsedFile, batch: _Batch) -> None:
        self._parsed: ParsedFile | None = parsed
        self._batch = batch

    def records(self, lines) -> pd.DataFrame:
        if self._parsed is None:
            batch = self._batch
            if _content_hash(batch.path) != batch.digest:   # the file's transaction rolls back
                raise FileChanged(f"{batch.rel}: the file changed while it was being ingested; "
                                  "nothing of it was loaded, the next ingest reads it again")
            self._parsed, _ = _read(batch.contract, batch.path)
        return self._parsed.records(lines)

    def release(self) -> None:
        """Drop the parsed rows and hand their memory back (Arrow's pool would keep it)."""
        self._parsed = None
        pa.default_memory_pool().release_unused()


def _store(batch: _Batch, originals: _Originals, fmt: str, validator: Validator | None,
           rows_in: int, extra: tuple[str, ...], finish) -> FileOutcome:
    """Quarantine the bad rows of ``_checked``, validate the good ones, load them."""
    con, contract, entity, rel = batch.con, batch.contract, batch.contract.entity, batch.rel
    bad = con.execute("select _line, rule, reason from _checked where rule is not null "
                      "order by _line").df()
    if len(bad):
        records = originals.records(bad[LINE])
        batch.quarantine(bad[LINE], bad["rule"], bad["reason"], _records(records))
    good = con.execute("select count(*) from _checked where rule is null").fetchall()[0][0]
    quarantined = rows_in - good
    if good == 0:
        return finish(FileOutcome(entity, rel, "quarantined", rows_in, 0, quarantined,
                                  reason="every row broke a rule; see raw.quarantine"),
                      fmt, extra)

    def loaded(unknown: int) -> FileOutcome:
        status = "loaded" if quarantined == 0 else "partial"
        notes = [f"{quarantined} row(s) quarantined; see raw.quarantine"] if quarantined else []
        if unknown:
            notes.append(f"{unknown} row(s) name a customer_id the customers feed does not hold "
                         "(yet); loaded, such customers show in status as outside the feed")
        return finish(FileOutcome(entity, rel, status, rows_in, good, quarantined,
                                  "; ".join(notes) or None, unknown), fmt, extra)

    if validator is None:
        return loaded(_insert_good(batch))
    originals.release()
    frame = _gate_frame(con, contract, validator)
    beside = parsed_size_estimate(batch.path) < GATE_BESIDE_INSERT_MAX_BYTES
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-gate") as pool:
        gate = pool.submit(lambda rows: validator(entity, _pandas(rows)), frame)
        del frame   # gigabytes for a big file: the gate lets go of it when done
        unknown = _insert_good(batch) if beside else None
        result = gate.result()
    con.execute(
        "insert into raw.validation_results values (?, ?, ?, ?, ?, ?, ?, ?)",
        [batch.file_id, entity, result.suite, result.success, result.evaluated,
         "; ".join(f"{f.expectation}({f.column or ''}): {f.rule}" for f in result.failed)
         or None, result.result_json, batch.now])
    if not result.success:
        if beside:   # inside the file's transaction: nothing of the batch was ever visible
            con.execute(f"delete from raw.{entity} where _file_id = ?", [batch.file_id])
        rule = "; ".join(f"{f.expectation} on {f.column or 'batch'}" for f in result.failed)
        reason = f"batch failed validation suite {result.suite}: {rule}"
        lines = [r[0] for r in con.execute(
            "select _line from _checked where rule is null order by _line").fetchall()]
        batch.quarantine(lines, ["failed_validation"] * len(lines), [reason] * len(lines),
                         _records(originals.records(lines)))
        return finish(FileOutcome(entity, rel, "rejected", rows_in, 0, rows_in,
                                  reason=reason), fmt, extra)
    return loaded(unknown if beside else _insert_good(batch))


def _gate_frame(con: duckdb.DuckDBPyConnection, contract: Contract,
                validator: Validator) -> pa.Table:
    """The good rows of ``_checked`` the validation gate reads. Personal data (e-mail, free text)
    whose values the suite does not read reaches the gate as a placeholder: it is not copied out
    (free text is most of an interaction file's bytes)."""
    read = validator.reads(contract.entity) if hasattr(validator, "reads") else PERSONAL_COLUMNS
    columns = ", ".join(f'0::tinyint as "{c}"' if c in PERSONAL_COLUMNS and c not in read else f'"{c}"'
                        for c in contract.columns)
    # pandas holds text as Arrow large strings: fetched as such, no copy is made of them
    con.execute("set arrow_large_buffer_size = true")
    try:
        return con.sql(f"select {columns} from _checked where rule is null").to_arrow_table()
    finally:
        con.execute("reset arrow_large_buffer_size")


def _insert_good(batch: _Batch) -> int:
    """Insert the good rows of ``_checked`` into the entity's raw table; return how many of
    them name a customer the customers feed does not hold."""
    con, contract = batch.con, batch.contract
    unknown = _unknown_customers(con) if contract.entity != "customers" else 0
    columns = ", ".join(f'"{c}"' for c in contract.columns)
    con.execute(
        f"insert into raw.{contract.entity} ({columns}, _line, _file_id, _ingested_at) "
        f"select {columns}, _line, ?, ? from _checked where rule is null",
        [batch.file_id, batch.now])
    return unknown


def _pandas(table) -> pd.DataFrame:
    """Good rows for the validation gate: text as pandas strings, timestamps, floats."""
    import pyarrow as pa

    def mapper(arrow_type):
        if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) \
                or pa.types.is_string_view(arrow_type):
            return pd.StringDtype()
        return None

    return table.to_pandas(types_mapper=mapper)


def ingest_landing(con: duckdb.DuckDBPyConnection, landing: Path,
                   validator: Validator | None = None,
                   progress: Callable[[FileOutcome | None], None] | None = None) -> IngestReport:
    """Ingest every file of ``landing`` not yet in the ledger; return what happened to each."""
    report = IngestReport()
    if not landing.is_dir():
        raise FileNotFoundError(f"{landing}: landing folder not found")
    # timestamps without a zone are UTC: the row rules parse them in the session's zone
    zone = con.execute("select current_setting('TimeZone')").fetchall()[0][0]
    con.execute("set TimeZone = 'UTC'")
    try:
        _ingest_entities(con, landing, validator, progress, report)
    finally:
        con.execute(f"set TimeZone = '{zone}'")
    return report


def return_freed_memory() -> None:
    """Give the memory an ingest freed back to the machine. Arrow keeps freed buffers for reuse
    and the C heap keeps freed blocks: after the biggest file of a W100 ingest (2.2 GB of JSON
    Lines) that was 2.5 GiB the later steps of the run (dbt's DuckDB) would have found taken."""
    import ctypes
    import gc

    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):   # not glibc: nothing to trim
        pass


def _ingest_entities(con, landing: Path, validator, progress, report: IngestReport) -> None:
    known = _known_hashes(con)
    new: list[_Delivery] = []
    for entity in ENTITIES:
        folder = landing / entity
        if not folder.is_dir():
            report.missing_entities.append(entity)
            continue
        for path in entity_files(folder):
            delivery = _fingerprint(CONTRACTS[entity], path, path.relative_to(landing).as_posix(),
                                    landing, known)
            if con.execute("select 1 from raw.ingest_ledger where path = ? and content_hash = ?",
                           [delivery.rel, delivery.digest]).fetchall():
                report.skipped += 1
                if delivery.stat and (delivery.rel, delivery.stat) not in known:
                    _remember_stat(con, delivery)
                if progress:
                    progress(None)
            else:
                new.append(delivery)
    reader = _ReadAhead(new)
    try:
        for delivery in new:
            outcome = _ingest_file(con, delivery, validator, reader)
            if delivery.inside and parsed_size_estimate(delivery.path) >= BIG_FILE_BYTES:
                return_freed_memory()   # before the next file parses and its gate peaks
            report.outcomes.append(outcome)
            log.info("ingest %s: %s, %d in, %d loaded, %d quarantined", delivery.rel,
                     outcome.status, outcome.rows_in, outcome.loaded, outcome.quarantined)
            if progress:
                progress(outcome)
    finally:
        reader.close()
