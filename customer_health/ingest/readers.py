"""Read one landing file (CSV, gzip CSV, Parquet, JSON Lines) into a DataFrame with line numbers.

A file that cannot be parsed as a whole raises ``FileUnreadable`` (``FileEmpty`` when it holds
nothing). Records that cannot be parsed on their own (a broken JSON line, a CSV row with too many
fields, bytes that are not UTF-8) come back in ``broken_lines`` with their line, rule and reason,
so the rest of the file still loads and nothing is lost.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

LINE = "_line"
SUFFIXES = {
    ".csv": "csv", ".csv.gz": "csv", ".tsv": "csv", ".tsv.gz": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".jsonl.gz": "jsonl",
}
# Bytes that are not UTF-8 decode (with surrogateescape) to lone surrogates U+DC80..U+DCFF.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


class FileUnreadable(Exception):
    """The file as a whole cannot be parsed; the message says why."""


class FileEmpty(FileUnreadable):
    """The file holds no header and no records."""


@dataclass(frozen=True)
class ParsedFile:
    frame: pd.DataFrame          # one row per parsed record, column LINE holds its line number
    broken_lines: pd.DataFrame   # records that could not be parsed: LINE, rule, raw, reason
    file_format: str


def file_format(path: Path) -> str | None:
    """The format of a landing file from its name, or None when it is not a data file."""
    name = path.name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return SUFFIXES[suffix]
    return None


def printable(text: str) -> str:
    """``text`` with bytes that were not UTF-8 shown as ``\\xe9`` (storable, loggable)."""
    if not _ESCAPED_BYTE.search(text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _open_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise FileUnreadable(f"not a valid gzip file ({exc})") from None
    return data


def _decode(data: bytes) -> str:
    """UTF-8 text (a BOM is dropped); bytes that are not UTF-8 survive as lone surrogates."""
    return data.decode("utf-8-sig", errors="surrogateescape")


def _bad_bytes(text: str) -> str:
    found = sorted({f"0x{ord(c) - 0xDC00:02x}" for c in _ESCAPED_BYTE.findall(text)})
    return ", ".join(found[:3])


def _encoding_reason(text: str) -> str:
    return (f"bytes that are not UTF-8 ({_bad_bytes(text)}); re-export the file as UTF-8")


def _broken(rows: list[tuple[int, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame({
        LINE: pd.Series([r[0] for r in rows], dtype="int64"),
        "rule": pd.Series([r[1] for r in rows], dtype=object),
        "raw": pd.Series([r[2] for r in rows], dtype=object),
        "reason": pd.Series([r[3] for r in rows], dtype=object),
    })


# -- CSV ----------------------------------------------------------------------------------------

def _record_lines(text: str, sep: str, records: int, header: bool) -> list[int] | None:
    """The line each CSV record starts on, when quoted fields span lines (else None)."""
    if '"' not in text:
        return None
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    if header:
        next(reader, None)
    starts, previous_end = [], reader.line_num
    for _row in reader:
        starts.append(previous_end + 1)
        previous_end = reader.line_num
    return starts if len(starts) == records else None


def _csv_rows_one_by_one(text: str, sep: str, header: bool) -> tuple[pd.DataFrame, list]:
    """Slow path for what pandas refuses (rows with too many fields, bytes that are not UTF-8)."""
    reader = csv.reader(io.StringIO(text), delimiter=sep, skipinitialspace=True)
    names = next(reader, []) if header else None
    first = reader.line_num + 1
    rows, lines, broken = [], [], []
    for row in reader:
        line, first = first, reader.line_num + 1
        if names is None:
            names = [f"column_{i}" for i in range(1, len(row) + 1)]
        if len(row) > len(names):
            broken.append((line, "bad_record", printable(sep.join(row)[:500]),
                           f"{len(row)} fields where the header has {len(names)} "
                           "(an unquoted delimiter in a value?)"))
            continue
        rows.append([v.strip() or None for v in row] + [None] * (len(names) - len(row)))
        lines.append(line)
    frame = pd.DataFrame(rows, columns=list(names or []), dtype=object)
    frame[LINE] = pd.Series(lines, dtype="int64")
    return frame, broken


def _read_csv(path: Path, header: bool = True) -> ParsedFile:
    data = _open_bytes(path)
    text = _decode(data)
    if not text.strip():
        raise FileEmpty("the file is empty (no header line, no rows)")
    sep = "\t" if ".tsv" in path.name.lower() else ","
    broken: list = []
    if _ESCAPED_BYTE.search(text):      # pandas cannot hold the escaped bytes
        frame, broken = _csv_rows_one_by_one(text, sep, header)
    else:
        try:
            # Blank lines are kept as empty rows so row positions stay true to the file's lines.
            frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                                na_values=[""], skipinitialspace=True, skip_blank_lines=False,
                                header=0 if header else None)
            first = 2 if header else 1
            frame[LINE] = (_record_lines(text, sep, len(frame), header)
                           or range(first, len(frame) + first))
        except pd.errors.ParserError:
            frame, broken = _csv_rows_one_by_one(text, sep, header)
        except ValueError as exc:
            raise FileUnreadable(f"not valid CSV: {str(exc).strip()}") from None
    frame.columns = [LINE if c == LINE else f"column_{c + 1}" if isinstance(c, int)
                     else printable(str(c).strip().lower()) for c in frame.columns]
    values = frame.columns.drop(LINE)
    frame = frame.loc[frame[values].notna().any(axis=1)]   # blank lines are not records
    frame, encoding = _split_bad_encoding(frame)
    broken_frame = _broken(sorted(broken + encoding))
    return ParsedFile(frame.reset_index(drop=True), broken_frame, "csv")


def _split_bad_encoding(frame: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """Move rows holding bytes that are not UTF-8 out of ``frame`` (as broken records).

    Works on column positions: a header may repeat a name (reported later as duplicate_column).
    """
    names = list(frame.columns)
    line_at = names.index(LINE)
    text = [i for i, name in enumerate(names)
            if name != LINE and frame.dtypes.iloc[i] == object]   # the slow path's columns
    if frame.empty or not text:
        return frame, []
    hit = pd.concat([frame.iloc[:, i].str.contains(_ESCAPED_BYTE, na=False) for i in text],
                    axis=1).any(axis=1)
    if not hit.any():
        return frame, []
    broken = []
    for row in frame.loc[hit].itertuples(index=False, name=None):
        values = [(names[i], row[i]) for i in text if isinstance(row[i], str)]
        bad = [(c, v) for c, v in values if _ESCAPED_BYTE.search(v)]
        reason = (f"{', '.join(c for c, _ in bad)} holds "
                  + _encoding_reason("".join(v for _, v in bad)))
        raw = json.dumps({c: printable(v) for c, v in values})
        broken.append((int(row[line_at]), "bad_encoding", raw, reason))
    return frame.loc[~hit], broken


# -- Parquet ------------------------------------------------------------------------------------

def _read_parquet(path: Path, header: bool = True) -> ParsedFile:
    try:
        frame = pq.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow raises several types for corrupt files
        message = str(exc).replace(str(path), path.name)   # no absolute paths in the ledger
        raise FileUnreadable(f"not a readable Parquet file ({type(exc).__name__}: {message})") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    frame[LINE] = range(1, len(frame) + 1)  # Parquet has no lines: the row number
    return ParsedFile(frame, _broken([]), "parquet")


# -- JSON Lines ---------------------------------------------------------------------------------

def _read_jsonl(path: Path, header: bool = True) -> ParsedFile:
    text = _decode(_open_bytes(path))
    records, lines, broken = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if _ESCAPED_BYTE.search(line):
            broken.append((number, "bad_encoding", printable(line[:500]),
                           "the line holds " + _encoding_reason(line)))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            broken.append((number, "unparsable_record", line[:500],
                           f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict):
            broken.append((number, "unparsable_record", line[:500],
                           "a JSON Lines record must be an object"))
            continue
        records.append(record)
        lines.append(number)
    if not records and not broken:
        raise FileEmpty("the file is empty (no records)")
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    frame[LINE] = pd.Series(lines, dtype="int64")
    return ParsedFile(frame, _broken(broken), "jsonl")


READERS = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}


def read_landing_file(path: Path, header: bool = True) -> ParsedFile:
    """Parse a landing file; raise FileUnreadable with a reason when it cannot be parsed.

    ``header=False`` reads a CSV file whose first line is data (columns ``column_1``...).
    """
    fmt = file_format(path)
    if fmt is None:
        raise FileUnreadable("unknown file type; expected .csv, .csv.gz, .tsv, .parquet or .jsonl")
    if path.stat().st_size == 0:
        raise FileEmpty("the file is empty (0 bytes)")
    return READERS[fmt](path, header)
