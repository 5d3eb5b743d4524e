"""Deterministic batch-file writers for the demo landing zone.

Same table in, same bytes out: CSV via pyarrow, gzip with ``mtime=0`` and no file name,
Parquet via pyarrow (no timestamps in its metadata), JSON Lines built with pyarrow string
kernels (keys in column order; keys of null values are omitted, as event feeds do).
Instants travel as int64 epoch seconds until a file is rendered: real UTC timestamps in
Parquet, ISO 8601 strings in text formats (naive meaning UTC, or with a 'Z' / '+00:00'
suffix per row).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from .clock import DAY

ZONE_SUFFIXES = ("", "Z", "+00:00")
FORMATS = ("csv", "csv.gz", "parquet", "jsonl")


@lru_cache(maxsize=1)
def _times_of_day() -> pa.Array:
    return pa.array([f"T{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)])


def date_strings(t: np.ndarray) -> pa.Array:
    """'YYYY-MM-DD' of each instant."""
    day = t // DAY
    first = int(day.min()) if len(day) else 0
    span = np.arange(first, (int(day.max()) if len(day) else 0) + 1)
    table = pa.array(np.datetime_as_string(span.astype("datetime64[D]")).astype(object))
    return table.take(pa.array(day - first))


def iso_strings(t: np.ndarray, style: np.ndarray | None = None) -> pa.Array:
    """ISO 8601 'YYYY-MM-DDTHH:MM:SS' plus the zone suffix chosen by ``style`` (0 none)."""
    parts = [date_strings(t), _times_of_day().take(pa.array(t % DAY))]
    if style is not None:
        parts.append(pa.array(ZONE_SUFFIXES).take(pa.array(style.astype(np.int64))))
    return pc.binary_join_element_wise(*parts, "")


def fixed_width_strings(data: np.ndarray) -> pa.Array:
    """A string array from an (n, width) uint8 matrix of ASCII bytes."""
    n, width = data.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets),
                                                        pa.py_buffer(np.ascontiguousarray(data))]).cast(pa.string())


def id_strings(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """'C000123'-style identifiers (``width`` zero-padded digits after ``prefix``)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (numbers[:, None] // powers[None, :]) % 10 + ord("0")
    head = np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (len(numbers), len(prefix)))
    return fixed_width_strings(np.hstack([head, digits.astype(np.uint8)]))


def decode(vocab: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """Category codes to strings; negative codes become nulls."""
    codes = codes.astype(np.int64)
    return pa.array(vocab).take(pa.array(np.maximum(codes, 0), mask=codes < 0))


def nullable(values: np.ndarray, missing: np.ndarray, dtype: pa.DataType) -> pa.Array:
    return pa.array(values, mask=missing).cast(dtype)


@dataclass(frozen=True)
class Frame:
    """Columns of one entity: ready arrays plus instants rendered per file format."""

    columns: tuple[str, ...]
    values: dict[str, pa.Array]
    times: dict[str, np.ndarray]
    style: np.ndarray

    def table(self, lo: int, hi: int, fmt: str) -> pa.Table:
        cols = {}
        for name in self.columns:
            if name in self.times:
                t = self.times[name][lo:hi]
                cols[name] = (pa.array(t * 1_000_000, pa.timestamp("us", tz="UTC")) if fmt == "parquet"
                              else iso_strings(t, self.style[lo:hi]))
            else:
                cols[name] = self.values[name].slice(lo, hi - lo)
        return pa.table(cols)


def write_csv(table: pa.Table, path: Path, compress: bool) -> None:
    sink = pa.BufferOutputStream()
    pcsv.write_csv(table, sink, pcsv.WriteOptions(quoting_style="needed"))
    data = sink.getvalue().to_pybytes()
    path.write_bytes(gzip.compress(data, compresslevel=6, mtime=0) if compress else data)


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="snappy")


def _json_escape(column: pa.Array) -> pa.Array:
    """Escape backslashes, double quotes and newlines (only scanning when present)."""
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n")):
        if pc.any(pc.match_substring(column, raw)).as_py():
            column = pc.replace_substring(column, raw, escaped)
    return column


def _json_fragments(table: pa.Table) -> list[pa.Array]:
    """'"name":value' per cell, null where the value is null (the key is then omitted)."""
    out = []
    for name, column in zip(table.column_names, table.columns):
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            out.append(pc.binary_join_element_wise(f'"{name}":"', _json_escape(column), '"', ""))
        else:
            text = pc.cast(column, pa.string())
            if pa.types.is_floating(column.type):  # keep 2.0 a float for type-inferring readers
                text = pc.if_else(pc.match_substring_regex(text, "[.eEn]"), text,
                                  pc.binary_join_element_wise(text, ".0", ""))
            out.append(pc.binary_join_element_wise(f'"{name}":', text, ""))
    return out


def write_jsonl(table: pa.Table, path: Path) -> None:
    """JSON Lines, one object per row, keys in column order, null values omitted."""
    def large(text: str) -> pa.Scalar:
        return pa.scalar(text, pa.large_string())

    fragments = [f.cast(pa.large_string()) for f in _json_fragments(table)]
    body = pc.binary_join_element_wise(*fragments, large(","), null_handling="skip")
    lines = pc.binary_join_element_wise(large("{"), body, large("}\n"), large(""))
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
    with path.open("wb") as sink:
        sink.write(memoryview(data)[int(bounds[0]):int(bounds[-1])] if len(lines) else b"")


def write_batch(table: pa.Table, path: Path, fmt: str) -> None:
    """Write one batch file in ``fmt`` (one of FORMATS)."""
    if fmt == "parquet":
        write_parquet(table, path)
    elif fmt == "jsonl":
        write_jsonl(table, path)
    elif fmt in ("csv", "csv.gz"):
        write_csv(table, path, compress=fmt == "csv.gz")
    else:
        raise ValueError(f"unknown batch format {fmt!r}; expected one of {FORMATS}")
