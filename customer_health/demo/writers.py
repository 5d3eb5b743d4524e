"""Deterministic batch-file writers for the demo landing zone.

Same table in, same bytes out: CSV via pyarrow, gzip with ``mtime=0`` and no file name,
Parquet via pyarrow (no timestamps in its metadata), JSON Lines via an in-memory DuckDB
``COPY`` that preserves row order. Instants travel as int64 epoch seconds until a file
is rendered: real UTC timestamps in Parquet, ISO 8601 strings in text formats (naive
meaning UTC, or with a 'Z' / '+00:00' suffix per row).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
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


def id_strings(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """'C000123'-style identifiers."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers.astype(np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


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


def write_jsonl(table: pa.Table, path: Path) -> None:
    with duckdb.connect() as con:
        con.register("batch", table)
        target = str(path).replace("'", "''")
        con.execute(f"COPY (SELECT * FROM batch) TO '{target}' (FORMAT JSON)")


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
