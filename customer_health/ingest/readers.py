"""Read one landing file (CSV, gzip CSV, Parquet, JSON Lines) into an Arrow table with line numbers.

A file that cannot be parsed as a whole raises ``FileUnreadable`` (``FileEmpty`` when it holds
nothing). Records that cannot be parsed on their own (a broken JSON line, a CSV row with too many
fields, bytes that are not UTF-8) come back in ``broken_lines`` with their line, rule and reason,
so the rest of the file still loads and nothing is lost.

Two paths: well-formed files (every record on one line, valid UTF-8, one JSON type per field)
are parsed by pyarrow in C++; anything else falls back to Python, row by row, which is slower
but knows each record's line and keeps whatever parses. CSV values are always text; the row
rules (``rows.py``) type them.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

LINE = "_line"
SUFFIXES = {
    ".csv": "csv", ".csv.gz": "csv", ".tsv": "csv", ".tsv.gz": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".jsonl.gz": "jsonl",
}
NESTED = "_nested"   # JSON slow path: names of the columns holding an object or a list
_BOM = b"\xef\xbb\xbf"
# Bytes that are not UTF-8 decode (with surrogateescape) to lone surrogates U+DC80..U+DCFF.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


class FileUnreadable(Exception):
    """The file as a whole cannot be parsed; the message says why."""


class FileEmpty(FileUnreadable):
    """The file holds no header and no records."""


@dataclass(frozen=True)
class ParsedFile:
    table: pa.Table              # one row per parsed record, column LINE holds its line number
    broken_lines: pd.DataFrame   # records that could not be parsed: LINE, rule, raw, reason
    file_format: str

    @property
    def columns(self) -> list[str]:
        """The file's own column names (lower case), without LINE and NESTED."""
        return [c for c in self.table.column_names if c not in (LINE, NESTED)]

    @property
    def rows(self) -> int:
        return self.table.num_rows

    def records(self, lines=None) -> pd.DataFrame:
        """The original values of the records (all, or those on ``lines``), without LINE."""
        table = self.table
        if lines is not None:
            import pyarrow.compute as pc
            table = table.filter(pc.is_in(table[LINE], pa.array(list(lines), pa.int64())))
        keep = [i for i, c in enumerate(table.column_names) if c not in (LINE, NESTED)]
        return table.select(keep).to_pandas()


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


def _numbers(first: int, count: int) -> pa.Array:
    """Line (or row) numbers ``first``, ``first + 1``, ...: ``count`` of them (numpy builds them
    50x faster than a Python range)."""
    return pa.array(np.arange(first, first + count, dtype=np.int64))


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


def _first_line(data: bytes) -> bytes:
    end = data.find(b"\n")
    return data if end < 0 else data[:end]


def _csv_fast(data: bytes, sep: str, header: bool) -> pa.Table | None:
    """pyarrow's parser, all values as text, when every record is exactly one line; else None."""
    first = _first_line(data).decode("utf-8", "replace")
    names = next(csv.reader([first], delimiter=sep), [])
    if header:
        names = [n.strip() for n in names]
    else:
        names = [f"column_{i}" for i in range(1, len(names) + 1)]
    if not names or len(set(names)) != len(names) or LINE in names:
        return None
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(data),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1 if header else 0,
                                            block_size=1 << 20),
            parse_options=pa_csv.ParseOptions(delimiter=sep),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: pa.string() for n in names}, null_values=[""],
                strings_can_be_null=True, quoted_strings_can_be_null=True))
    except (pa.ArrowInvalid, pa.ArrowException):  # ragged rows, bad bytes, ...: slow path
        return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines != table.num_rows + (1 if header else 0):   # blank lines or quoted newlines
        return None
    first_line = 2 if header else 1
    return table.append_column(LINE, _numbers(first_line, table.num_rows))


def _read_csv(path: Path, header: bool = True) -> ParsedFile:
    data = _open_bytes(path)
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    if not data.strip():
        raise FileEmpty("the file is empty (no header line, no rows)")
    sep = "\t" if ".tsv" in path.name.lower() else ","
    table = _csv_fast(data, sep, header)
    if table is not None:
        table = table.rename_columns([c if c == LINE else printable(c.strip().lower())
                                      for c in table.column_names])
        return ParsedFile(table, _broken([]), "csv")
    text = _decode(data)
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
    return ParsedFile(_text_table(frame.reset_index(drop=True)), broken_frame, "csv")


def _text_table(frame: pd.DataFrame) -> pa.Table:
    """A parsed CSV frame as an Arrow table of text columns (names may repeat)."""
    arrays = [pa.array(frame.iloc[:, i].astype(object).where(frame.iloc[:, i].notna(), None),
                       pa.int64() if name == LINE else pa.string())
              for i, name in enumerate(frame.columns)]
    return pa.Table.from_arrays(arrays, names=list(frame.columns))


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

def _read_parquet(path: Path, header: bool = True, text_columns=()) -> ParsedFile:
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        message = str(exc).replace(str(path), path.name)   # no absolute paths in the ledger
        raise FileUnreadable(f"not a readable Parquet file ({type(exc).__name__}: {message})") from None
    table = table.rename_columns([str(c).strip().lower() for c in table.column_names])
    table = table.drop_columns([c for c in (LINE, NESTED) if c in table.column_names])
    # Parquet has no lines: the row number
    table = table.append_column(LINE, _numbers(1, table.num_rows))
    return ParsedFile(table, _broken([]), "parquet")


# -- JSON Lines ---------------------------------------------------------------------------------

def _jsonl_fast(data: bytes, text_columns) -> pa.Table | None:
    """pyarrow's parser when every line is one JSON object of consistent types; else None."""
    if b"\n\n" in data or data.startswith(b"\n"):
        return None
    try:
        first = json.loads(_first_line(data))
    except ValueError:
        return None
    if not isinstance(first, dict):
        return None
    # text stays text: pyarrow would read ISO strings as naive timestamps, dropping their zone
    schema = pa.schema([(k, pa.string()) for k in first if k.strip().lower() in text_columns])
    try:
        table = pa_json.read_json(pa.BufferReader(data), parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="infer"))
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines != table.num_rows or any(c.strip().lower() in (LINE, NESTED) for c in table.column_names):
        return None
    return table.append_column(LINE, _numbers(1, table.num_rows))


def _json_column(values: list) -> pa.Array:
    """One column of the JSON slow path: numbers stay numbers, anything else becomes text."""
    given = [v for v in values if v is not None]
    if all(isinstance(v, str) for v in given):
        return pa.array(values, pa.string())
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given):
        try:
            return pa.array(values, pa.float64() if any(isinstance(v, float) for v in given)
                            else pa.int64())
        except (pa.ArrowInvalid, OverflowError):
            pass
    return pa.array([None if v is None else v if isinstance(v, str) else json.dumps(v)
                     for v in values], pa.string())


def _read_jsonl(path: Path, header: bool = True, text_columns=()) -> ParsedFile:
    data = _open_bytes(path)
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    if not data.strip():
        raise FileEmpty("the file is empty (no records)")
    table = _jsonl_fast(data, frozenset(text_columns))
    if table is not None:
        table = table.rename_columns([c if c == LINE else c.strip().lower()
                                      for c in table.column_names])
        return ParsedFile(table, _broken([]), "jsonl")
    text = _decode(data)
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
        fields = {str(k).strip().lower(): v for k, v in record.items()}
        if len(fields) < len(record):
            broken.append((number, "bad_record", line[:500], "a field name appears twice "
                           "(names are compared in lower case)"))
            continue
        records.append(fields)
        lines.append(number)
    if not records and not broken:
        raise FileEmpty("the file is empty (no records)")
    names = list(dict.fromkeys(k for r in records for k in r))
    columns = {n: [r.get(n) for r in records] for n in names if n not in (LINE, NESTED)}
    nested = [",".join(n for n, v in r.items() if isinstance(v, (dict, list))) or None
              for r in records]
    arrays = [_json_column(v) for v in columns.values()] + [pa.array(lines, pa.int64())]
    table = pa.Table.from_arrays(arrays, names=[*columns, LINE])
    if any(nested):
        table = table.append_column(NESTED, pa.array(nested, pa.string()))
    return ParsedFile(table, _broken(broken), "jsonl")


READERS = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}


def read_landing_file(path: Path, header: bool = True, text_columns=()) -> ParsedFile:
    """Parse a landing file; raise FileUnreadable with a reason when it cannot be parsed.

    ``header=False`` reads a CSV file whose first line is data (columns ``column_1``...).
    ``text_columns``: JSON fields to keep as text (the rows rules parse timestamps themselves).
    """
    fmt = file_format(path)
    if fmt is None:
        raise FileUnreadable("unknown file type; expected .csv, .csv.gz, .tsv, .parquet or .jsonl")
    if path.stat().st_size == 0:
        raise FileEmpty("the file is empty (0 bytes)")
    if fmt == "csv":
        return _read_csv(path, header)
    return READERS[fmt](path, header, text_columns)
