"""Row-level contract checks as one DuckDB query: typed columns, the first broken rule, every reason.

``checked_query`` turns a parsed landing file (registered in DuckDB as an Arrow table) into the
contract's typed columns plus ``_line``, ``rule`` (the first rule a row breaks, NULL for a good
row) and ``reason`` (every broken rule in words, ``; ``-separated). Event entities also get
``duplicate_id`` (``mark_duplicates``) for a key repeated in the file or already loaded.

Rules, in the order they are reported: ``bad_value`` (a JSON object or list where a value
belongs), ``missing_value`` (a required column empty), per timestamp column ``bad_timestamp``
(not ISO 8601) and ``out_of_range`` (before 1970, or more than a day in the future), per number
column ``bad_number`` and ``out_of_range``, per pattern column ``bad_value``; then
``duplicate_id``. Text is trimmed and empty text is NULL. Timestamps without a zone are UTC
(the caller pins the session time zone to UTC); a zone or an offset is honoured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc

from customer_health.ingest.contracts import Contract
from customer_health.ingest.readers import LINE, NESTED
from customer_health.warehouse import sql_literal

FUTURE_SLACK = timedelta(days=1)
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_NESTED_TYPES = ("STRUCT", "MAP", "UNION")


@dataclass(frozen=True)
class Check:
    condition: str   # SQL: true where the row breaks the rule
    rule: str
    reason: str      # SQL text expression, evaluated only where the condition holds


def trimmed(table: pa.Table, contract: Contract) -> pa.Table:
    """``table`` with whitespace trimmed off both ends of the contract's text columns.

    Done in Arrow: one C++ kernel per column, 10x faster than DuckDB's trim with a character set.
    """
    for i, name in enumerate(table.column_names):
        if name in contract.columns and pa.types.is_string(table.schema.field(i).type):
            table = table.set_column(i, name, pc.utf8_trim_whitespace(table.column(i)))
    return table


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'




def _kind(sql_type: str | None) -> str:
    """text, number, timestamp, timestamptz, nested or missing: how a source column is read."""
    if sql_type is None:
        return "missing"
    upper = sql_type.upper()
    if upper.endswith("[]") or upper.startswith(_NESTED_TYPES):
        return "nested"
    if upper.startswith("TIMESTAMP WITH TIME ZONE") or upper == "TIMESTAMPTZ":
        return "timestamptz"
    if upper.startswith("TIMESTAMP") or upper == "DATE":
        return "timestamp"
    if upper.startswith(_NUMERIC):
        return "number"
    return "text"


class _Column:
    """SQL expressions for one contract column of the source table."""

    def __init__(self, name: str, sql_type: str | None, has_nested_marker: bool):
        self.name, self.kind = name, _kind(sql_type)
        src = _ident(name)
        self.src = src
        if self.kind == "missing":
            self.text = "cast(NULL as varchar)"
            self.original = self.text
            self.nested = "false"
        elif self.kind == "nested":
            self.text = "cast(NULL as varchar)"
            self.original = f"cast({src} as varchar)"
            self.nested = f"({src} is not null)"
        else:
            if (sql_type or "").upper() == "VARCHAR":     # trimmed by ``trimmed`` already
                self.original = src
                self.text = f"nullif({src}, '')"
            else:
                self.original = f"cast({src} as varchar)"
                self.text = f"nullif(trim({self.original}), '')"
            self.nested = (f"coalesce(list_contains(string_split({_ident(NESTED)}, ','), "
                           f"{sql_literal(name)}), false)") if has_nested_marker else "false"

    def timestamp(self) -> str:
        if self.kind == "timestamptz":
            return f"timezone('UTC', {self.src})"
        if self.kind == "timestamp":
            return f"cast({self.src} as timestamp)"
        return f"timezone('UTC', try_cast({self.text} as timestamptz))"

    def number(self) -> str:
        value = (f"cast({self.src} as double)" if self.kind == "number"
                 else f"try_cast({self.text} as double)")
        return f"(case when isnan({value}) then NULL else {value} end)"


def _range_text(low: float, high: float) -> str:
    return f"{low:g}..{high:g}"


def checked_query(source: str, source_types: dict[str, str], contract: Contract,
                  now: datetime | None = None) -> str:
    """SELECT of the contract's typed columns, LINE, rule and reason over table ``source``.

    Three stages, so each value is parsed once: the text and typed value of every column, then
    one flag per rule, then the first rule and the reasons.
    """
    now = now or datetime.now(timezone.utc)
    latest = (now.astimezone(timezone.utc).replace(tzinfo=None) + FUTURE_SLACK).isoformat(sep=" ")
    marker = NESTED in source_types
    cols = {c: _Column(c, source_types.get(c), marker) for c in contract.columns}
    parsed: dict[str, str] = {}             # stage 1: alias -> expression over the source

    def text(name: str) -> str:
        return _ident(f"t:{name}")

    def value(name: str) -> str:
        return _ident(f"v:{name}")

    def original(name: str) -> str:
        return _ident(f"o:{name}")

    def quoted(name: str) -> str:
        """'value' (first 40 characters), as the reasons quote it."""
        return "chr(39) || left(" + original(name) + ", 40) || chr(39)"

    for name, col in cols.items():
        parsed[f"t:{name}"] = col.text
        parsed[f"o:{name}"] = col.original
        parsed[f"n:{name}"] = col.nested
    checks: list[Check] = []
    for name in contract.columns:
        checks.append(Check(_ident(f"n:{name}"), "bad_value",
                            sql_literal(f"{name} holds a JSON object or list, not a value")))
    for name in contract.timestamps:
        parsed[f"v:{name}"] = cols[name].timestamp()
    for name in contract.numbers:
        parsed[f"v:{name}"] = cols[name].number()
    for name in contract.required:
        col = cols[name]
        native = (("timestamp", "timestamptz") if name in contract.timestamps
                  else ("number",) if name in contract.numbers else ())
        # a column of its own type is empty when NULL (no text to build); else its text is empty
        empty = f"{value(name)} is null" if col.kind in native else f"{text(name)} is null"
        checks.append(Check(f"({empty} and not {_ident('n:' + name)})", "missing_value",
                            sql_literal(f"{name} is empty")))

    def unparsable(name: str, typed_kinds: tuple[str, ...]) -> str:
        if cols[name].kind in typed_kinds + ("missing", "nested"):
            return "false"
        return f"({text(name)} is not null and {value(name)} is null)"

    for name in contract.timestamps:
        checks.append(Check(unparsable(name, ("timestamp", "timestamptz")), "bad_timestamp",
                            f"{sql_literal(name + ' ')} || {quoted(name)} || "
                            + sql_literal(" is not an ISO 8601 timestamp "
                                       "(YYYY-MM-DD[THH:MM:SS][zone])")))
        checks.append(Check(f"({value(name)} < timestamp '1970-01-01')", "out_of_range",
                            sql_literal(f"{name} is before 1970-01-01")))
        checks.append(Check(f"({value(name)} > timestamp '{latest}')", "out_of_range",
                            sql_literal(f"{name} is in the future")))
    for name in contract.numbers:
        checks.append(Check(unparsable(name, ("number",)), "bad_number",
                            f"{sql_literal(name + ' ')} || {quoted(name)} || ' is not a number'"))
        low, high = contract.ranges.get(name, (float("-inf"), float("inf")))
        bounds = [f"isinf({value(name)})"]
        if low != float("-inf"):
            bounds.append(f"{value(name)} < {low!r}")
        if high != float("inf"):
            bounds.append(f"{value(name)} > {high!r}")
        checks.append(Check("(" + " or ".join(bounds) + ")", "out_of_range",
                            f"{sql_literal(name + ' ')} || {original(name)} || "
                            + sql_literal(f" outside {_range_text(low, high)}")))
    for name, (pattern, meaning) in contract.patterns.items():
        checks.append(Check(f"({text(name)} is not null and not regexp_full_match({text(name)}, "
                            f"{sql_literal(pattern)}))", "bad_value",
                            f"{sql_literal(name + ' ')} || {quoted(name)} || "
                            + sql_literal(f" is not {meaning}")))

    final: dict[str, str] = {}
    for name in contract.columns:
        if name not in contract.strings:
            final[name] = value(name)
            continue
        t = text(name)
        if name in contract.enums:
            values = ", ".join(sql_literal(v) for v in sorted(contract.enums[name]))
            final[name] = (f"(case when lower({t}) in ({values}) then lower({t}) "
                           f"when {t} is null then NULL else 'other' end)")
        elif name in contract.soft_enums:
            values = ", ".join(sql_literal(v) for v in sorted(contract.soft_enums[name]))
            final[name] = f"(case when lower({t}) in ({values}) then lower({t}) end)"
        elif name in contract.patterns:
            final[name] = f"upper({t})"
        else:
            final[name] = t

    stage1 = ", ".join(f"{expr} as {_ident(alias)}" for alias, expr in parsed.items())
    flags = ", ".join(f"coalesce({c.condition}, false) as {_ident(f'f:{i}')}"
                      for i, c in enumerate(checks))
    rule = "case " + " ".join(f"when {_ident(f'f:{i}')} then '{c.rule}'"
                              for i, c in enumerate(checks)) + " end"
    reason = "nullif(concat_ws('; ', " + ", ".join(
        f"case when {_ident(f'f:{i}')} then {c.reason} end" for i, c in enumerate(checks)) + "), '')"
    select = ", ".join(f"{expr} as {_ident(name)}" for name, expr in final.items())
    return (f"select {select}, {_ident(LINE)}, {rule} as rule, {reason} as reason from ("
            f"select *, {flags} from (select {_ident(LINE)}, {stage1} from {source}))")


def mark_duplicates(con, table: str, contract: Contract) -> None:
    """Mark good rows of ``table`` whose key repeats in the file or is loaded: duplicate_id.

    The first good row of a key stays; later ones name that row's line. A key already in the
    warehouse names the file and line it was loaded from. Both tests are cheap when nothing
    repeats (the usual case): a distinct count, and one join that DuckDB narrows to the row
    groups of raw whose key range overlaps the batch's.
    """
    key, entity = _ident(contract.key), contract.entity
    rows, keys = con.execute(f"select count(*), count(distinct {key}) from {table} "
                             "where rule is null").fetchall()[0]
    if keys < rows:
        con.execute(f"""
            update {table} set rule = 'duplicate_id',
                reason = '{contract.key} repeats line ' || d._first || ' of this file'
            from (select {_ident(LINE)} as _at, min({_ident(LINE)}) over (partition by {key})
                         as _first
                  from {table} where rule is null) d
            where {table}.{_ident(LINE)} = d._at and d._at > d._first""")
    con.execute(f"""
        update {table} set rule = 'duplicate_id',
            reason = '{contract.key} already loaded from ' || k._path || ' line ' || k._known
        from (select b.{_ident(LINE)} as _at, l.path as _path, r._line as _known
              from {table} b join raw.{entity} r on r.{key} = b.{key}
              join raw.ingest_ledger l on l.file_id = r._file_id
              where b.rule is null) k
        where {table}.{_ident(LINE)} = k._at""")
