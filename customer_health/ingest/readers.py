"""Read one landing file (CSV, gzip CSV, Parquet, JSON Lines) into a DataFrame with line numbers."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

LINE = "_line"
SUFFIXES = {
    ".csv": "csv", ".csv.gz": "csv", ".tsv": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".jsonl.gz": "jsonl",
}


class FileUnreadable(Exception):
    """The file as a whole cannot be parsed; the message says why."""


@dataclass(frozen=True)
class ParsedFile:
    frame: pd.DataFrame          # one row per parsed record, column LINE holds its line number
    broken_lines: pd.DataFrame   # records that could not be parsed at all: LINE, raw, reason
    file_format: str


def file_format(path: Path) -> str | None:
    """The format of a landing file from its name, or None when it is not a data file."""
    name = path.name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return SUFFIXES[suffix]
    return None


def _open_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise FileUnreadable(f"not a valid gzip file ({exc})") from None
    return data


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileUnreadable(
            f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x} on line {line}); "
            "re-export the file as UTF-8"
        ) from None


def _record_lines(text: str, sep: str, records: int) -> list[int] | None:
    """The line each CSV record starts on, when quoted fields span lines (else None)."""
    if '"' not in text:
        return None
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    next(reader, None)  # header
    starts, previous_end = [], reader.line_num
    for row in reader:
        if row:  # blank lines are skipped, as pandas does
            starts.append(previous_end + 1)
        previous_end = reader.line_num
    return starts if len(starts) == records else None


def _read_csv(path: Path) -> ParsedFile:
    text = _decode(_open_bytes(path))
    if not text.strip():
        raise FileUnreadable("the file is empty (no header line)")
    sep = "\t" if path.name.lower().endswith(".tsv") else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            na_values=[""], skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise FileUnreadable(f"not valid CSV: {str(exc).strip()}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    # line 1 is the header; quoted newlines push later records down
    frame[LINE] = _record_lines(text, sep, len(frame)) or range(2, len(frame) + 2)
    return ParsedFile(frame, _no_broken_lines(), "csv")


def _read_parquet(path: Path) -> ParsedFile:
    try:
        frame = pq.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise FileUnreadable(f"not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    frame[LINE] = range(1, len(frame) + 1)  # Parquet has no lines: the row number
    return ParsedFile(frame, _no_broken_lines(), "parquet")


def _read_jsonl(path: Path) -> ParsedFile:
    text = _decode(_open_bytes(path))
    records, lines, broken = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            broken.append((number, line[:500], f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict):
            broken.append((number, line[:500], "a JSON Lines record must be an object"))
            continue
        records.append(record)
        lines.append(number)
    if not records and not broken:
        raise FileUnreadable("the file is empty (no records)")
    if not records:
        raise FileUnreadable(f"no line is valid JSON ({broken[0][2]} at line {broken[0][0]})")
    frame = pd.DataFrame.from_records(records)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    frame[LINE] = lines
    broken_frame = pd.DataFrame(broken, columns=[LINE, "raw", "reason"])
    return ParsedFile(frame, broken_frame, "jsonl")


def _no_broken_lines() -> pd.DataFrame:
    return pd.DataFrame({LINE: pd.Series(dtype="int64"), "raw": pd.Series(dtype=object),
                         "reason": pd.Series(dtype=object)})


READERS = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}


def read_landing_file(path: Path) -> ParsedFile:
    """Parse a landing file; raise FileUnreadable with a reason when it cannot be parsed."""
    fmt = file_format(path)
    if fmt is None:
        raise FileUnreadable("unknown file type; expected .csv, .csv.gz, .parquet or .jsonl")
    return READERS[fmt](path)
