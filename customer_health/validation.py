"""Great Expectations gate for ingest batches.

``validate_batch(entity, frame, suites_dir)`` checks one batch (a pandas DataFrame after ingest's
row-level checks) against the entity's suite ``<suites_dir>/<entity>.json`` and returns a
``BatchValidation``: pass/fail, the failed expectations in plain words, and the GX validation
result as JSON for the warehouse.

How it runs (choices checked against great-expectations 1.24.1 and pandas 3):

- One ephemeral GX context with one pandas data source, one DataFrame asset and batch definition
  per entity is built on first use and reused for every batch. GX is imported lazily, so
  importing this module is cheap; analytics are switched off and GX's loggers, progress bars and
  warnings are silenced first. Nothing calls the network.
- Only the columns a suite names are handed to GX: extra columns can never fail a batch, and GX
  neither hashes nor scans them. A column the suite only needs to exist (``expect_column_to_exist``
  and nothing else) is handed over as a placeholder of zeros, so its values (``text`` is personal
  data) never reach GX.
- A batch is validated with GX's ``BOOLEAN_ONLY`` result format first (about 2.5x faster than
  ``SUMMARY``: no counts, no samples); only a batch that fails is validated again with
  ``SUMMARY``, so its failures carry counts and samples. The stored result of a passing batch
  says which expectations ran and passed, without counts.
- GX's batch fingerprint (a hash of the whole DataFrame, used only as a label) is switched off.
- Timestamps are handed to GX as ``datetime64[ns]``: for any other unit (pandas 3 parses to
  microseconds) GX 1.24 compares values one by one in Python, about 7x slower, and string bounds
  fail with "Cannot compare Timestamp with datetime.date".
- The upper timestamp bound is the suite parameter ``latest_allowed_timestamp``: validation time
  (UTC) plus the suite's ``meta.future_slack_days``.
- Values of personal-data columns (``email``, ``text`` and any listed in the suite's
  ``meta.personal_data_columns``) never reach ``FailedExpectation.sample`` or ``result_json``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from customer_health.ingest.contracts import ENTITIES, PERSONAL_COLUMNS

LATEST_PARAMETER = "latest_allowed_timestamp"
DEFAULT_FUTURE_SLACK_DAYS = 2
SAMPLE_SIZE = 5
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
PASS_FAIL_FORMAT = {"result_format": "BOOLEAN_ONLY"}
# Keys of an expectation result that can carry column values.
_VALUE_KEYS = (
    "observed_value", "details", "partial_unexpected_list", "partial_unexpected_counts",
    "partial_unexpected_index_list", "unexpected_list", "unexpected_index_list",
    "unexpected_index_query", "unexpected_rows",
)
_COLUMN_KWARGS = ("column", "column_A", "column_B")
# Expectations that look at a column's name only, never at its values.
PRESENCE_ONLY = frozenset({"expect_column_to_exist"})
# Timestamps outside the nanosecond range are clipped just inside it; both clip points are
# far outside any sane bound, so a value that fails before clipping still fails after.
_NS_FLOOR, _NS_CEILING = pd.Timestamp("1678-01-01"), pd.Timestamp("2262-01-01")


class SuiteError(ValueError):
    """A suite file is missing, is not valid JSON, or is not a valid Expectation Suite."""


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str        # e.g. "expect_column_values_to_be_unique"
    column: str | None
    rule: str               # plain-words rule from the suite (the expectation's description)
    unexpected_count: int | None
    sample: list            # a few unexpected values (never from personal-data columns)


@dataclass(frozen=True)
class BatchValidation:
    suite: str
    success: bool
    evaluated: int          # number of expectations evaluated
    failed: tuple[FailedExpectation, ...]
    result_json: str        # GX validation result as JSON, without personal-data values


@dataclass(frozen=True)
class _LoadedSuite:
    suite: Any                      # great_expectations.ExpectationSuite
    columns: tuple[str, ...]        # every column the suite names, in suite order
    value_columns: frozenset[str]   # columns whose values some expectation reads
    personal: frozenset[str]
    future_slack: timedelta


_lock = threading.Lock()
_gx_lock = threading.Lock()
_validate_lock = threading.Lock()
_gx_ready = False
_runtime: dict[str, Any] = {}       # entity -> GX batch definition, plus the context itself
_suites: dict[Path, tuple[tuple[int, int], _LoadedSuite]] = {}  # path -> (mtime_ns, size), suite


def validate_batch(entity: str, frame: pd.DataFrame, suites_dir: Path) -> BatchValidation:
    """Validate one ingest batch of ``entity`` against ``<suites_dir>/<entity>.json``."""
    loaded = _load(entity, Path(suites_dir))
    batch_definition, validator_class = _runtime_for(entity)
    view = _gx_view(frame, loaded.columns, loaded.value_columns)
    latest = datetime.now(timezone.utc).replace(tzinfo=None) + loaded.future_slack
    # What ValidationDefinition.run does, minus storing the result in the context. Batch.validate
    # would load (and fingerprint-hash) the whole frame a second time: about 0.5 s per 1M rows.
    # GX keys the loaded batch by asset, so two batches must not be validated at the same time.
    with _validate_lock:
        # Pass or fail first (2.5x faster: no counts, no samples); a failed batch (rare) is
        # validated again for the counts and samples its reason and stored result carry.
        for result_format in (PASS_FAIL_FORMAT, RESULT_FORMAT):
            validator = validator_class(batch_definition=batch_definition,
                                        batch_parameters={"dataframe": view},
                                        result_format=result_format)
            result = validator.validate_expectation_suite(loaded.suite,
                                                          {LATEST_PARAMETER: latest})
            if result.success:
                break
        del validator
        _release_batch(batch_definition)
        # GX leaves the frame in reference cycles, and a frame built from Arrow allocates too
        # few Python objects to start a collection: W100's ingest piled up batch after batch
        # (3 GiB each) until the machine ran out. The runtime was frozen out of the collector's
        # view when it was built, so this costs about a millisecond.
        gc.collect()
    return _summarise(result, loaded.personal)


def _release_batch(batch_definition) -> None:
    """Let go of the validated frame. GX's pandas data source keeps its execution engine, whose
    batch caches hold the last batch's DataFrame until the next batch: after the biggest file
    of a W100 ingest that was 3 GiB held through the rest of the run. The caches are emptied in
    place (a new engine per batch would leave the old one to the garbage collector)."""
    engine = getattr(batch_definition.data_asset.datasource, "_execution_engine", None)
    if engine is not None:
        engine.batch_manager.reset_batch_cache()
        engine.batch_manager.batch_data_cache.clear()


def columns_read(entity: str, suites_dir: Path) -> frozenset[str]:
    """The columns whose values the suite of ``entity`` reads (the others need only exist)."""
    return _load(entity, Path(suites_dir)).value_columns


def load_suite(entity: str, suites_dir: Path):
    """Return the GX ExpectationSuite of ``entity``; raise SuiteError naming a bad file."""
    return _load(entity, Path(suites_dir)).suite


def suite_path(entity: str, suites_dir: Path) -> Path:
    """Where the suite of ``entity`` lives."""
    if entity not in ENTITIES:
        raise ValueError(f"unknown entity {entity!r}; expected one of {', '.join(ENTITIES)}")
    return Path(suites_dir) / f"{entity}.json"


# -- suites -------------------------------------------------------------------------------------

def _load(entity: str, suites_dir: Path) -> _LoadedSuite:
    path = suite_path(entity, suites_dir)
    try:
        stat = path.stat()
    except OSError as exc:
        raise SuiteError(f"{path}: suite file not found or unreadable ({exc.strerror})") from exc
    stamp, cached = _suites.get(path.resolve(), (None, None))
    if cached is None or stamp != (stat.st_mtime_ns, stat.st_size):
        cached = _parse_suite(path, entity)
        _suites[path.resolve()] = ((stat.st_mtime_ns, stat.st_size), cached)
    return cached


def _read_json(path: Path) -> dict:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read suite file ({exc})") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("expectations"), list):
        raise SuiteError(f"{path}: not an Expectation Suite (needs an object with a "
                         "'name' and a list of 'expectations')")
    return raw


def _parse_suite(path: Path, entity: str) -> _LoadedSuite:
    raw = _read_json(path)
    if raw.get("name") != entity:
        raise SuiteError(f"{path}: suite name {raw.get('name')!r} must be {entity!r}")
    _ensure_gx()
    import great_expectations as gx

    expectations = [_build_expectation(path, i, item)
                    for i, item in enumerate(raw["expectations"], start=1)]
    meta = raw.get("meta") or {}
    try:
        suite = gx.ExpectationSuite(name=entity, expectations=expectations, meta=dict(meta),
                                    notes=raw.get("notes"))
        slack = timedelta(days=float(meta.get("future_slack_days", DEFAULT_FUTURE_SLACK_DAYS)))
    except (TypeError, ValueError) as exc:
        raise SuiteError(f"{path}: invalid suite ({exc})") from exc
    personal = PERSONAL_COLUMNS | frozenset(meta.get("personal_data_columns") or ())
    columns, value_columns = _suite_columns(raw["expectations"])
    return _LoadedSuite(suite, columns, value_columns, personal, slack)


def _build_expectation(path: Path, number: int, item: Any):
    """Build one GX Expectation; GX's own suite loader would log and silently drop a bad one."""
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    name = item.get("type") if isinstance(item, dict) else None
    try:
        expectation = ExpectationConfiguration(**item).to_domain_obj()
    except Exception as exc:  # GX raises several unrelated types (pydantic, registry, TypeError)
        message = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise SuiteError(f"{path}: expectation #{number} ({name}) is invalid: {message}") from exc
    for bound in ("min_value", "max_value"):
        value = getattr(expectation, bound, None)
        if isinstance(value, date) and not isinstance(value, datetime):
            raise SuiteError(f"{path}: expectation #{number} ({name}): {bound} {value} is a "
                             "bare date, which GX cannot compare to timestamps; write "
                             f"\"{value}T00:00:00\"")
    return expectation


def _suite_columns(expectations: list[dict]) -> tuple[tuple[str, ...], frozenset[str]]:
    """Every column the suite names, and those whose values an expectation reads."""
    names: dict[str, None] = {}
    read: set[str] = set()
    for item in expectations:
        columns = _columns_of(item.get("kwargs") or {})
        names.update(dict.fromkeys(columns))
        if item.get("type") not in PRESENCE_ONLY:
            read.update(columns)
    return tuple(names), frozenset(read)


def _columns_of(kwargs: dict) -> list[str]:
    columns = [kwargs[k] for k in _COLUMN_KWARGS if isinstance(kwargs.get(k), str)]
    return columns + [c for c in kwargs.get("column_list") or () if isinstance(c, str)]


# -- GX runtime ---------------------------------------------------------------------------------

def _runtime_for(entity: str) -> tuple[Any, type]:
    """The entity's batch definition and GX's validator class, built once per process."""
    with _lock:
        if not _runtime:
            _runtime.update(_build_runtime())
        return _runtime[entity], _runtime["validator_class"]


def _build_runtime() -> dict[str, Any]:
    _ensure_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.validator.v1_validator import Validator

    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every batch under HASH_THRESHOLD bytes (a full-frame hash, then md5) only
    # to label it in batch markers; that is a third of the validation time of a large batch.
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas(name="ingest_batches")
    runtime: dict[str, Any] = {"validator_class": Validator, "context": context}
    for entity in ENTITIES:
        asset = source.add_dataframe_asset(name=entity)
        runtime[entity] = asset.add_batch_definition_whole_dataframe("whole_batch")
    # GX's modules and this runtime live as long as the process: out of the collector's view,
    # a collection after each batch (validate_batch) scans only what the batch made
    gc.collect()
    gc.freeze()
    return runtime


def _ensure_gx() -> None:
    """Import GX once, quietly: no analytics, no INFO lines, no hijacked warnings."""
    global _gx_ready
    with _gx_lock:
        if _gx_ready:
            return
        os.environ["GX_ANALYTICS_ENABLED"] = "false"
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        showwarning = warnings.showwarning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # GX's own import-time deprecation warnings
            import great_expectations  # noqa: F401
        if warnings.showwarning is not showwarning:
            logging.captureWarnings(False)      # GX turns it on for the whole process
        for name, logger in list(logging.root.manager.loggerDict.items()):
            # Some GX modules pin their own logger to INFO at import time.
            if name.startswith("great_expectations.") and isinstance(logger, logging.Logger):
                logger.setLevel(logging.NOTSET)
        _gx_ready = True


# -- the batch handed to GX ---------------------------------------------------------------------

def _gx_view(frame: pd.DataFrame, columns: tuple[str, ...],
             value_columns: frozenset[str]) -> pd.DataFrame:
    """The suite's columns only: values where an expectation reads them, else a placeholder."""
    view = frame[[c for c in columns if c in frame.columns]]
    placeholder = np.zeros(len(view), dtype=np.int8)
    for name in view.columns:
        view[name] = _gx_dtype(view[name]) if name in value_columns else placeholder
    return view


def _gx_dtype(series: pd.Series) -> pd.Series:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        dtype = series.dtype
    if pd.api.types.is_datetime64_dtype(dtype):
        if dtype != "datetime64[ns]":
            series = series.clip(_NS_FLOOR, _NS_CEILING).astype("datetime64[ns]")
        return series
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    if numeric and dtype not in ("float64", "int64"):
        return series.astype("float64")
    return series


# -- results ------------------------------------------------------------------------------------

def _summarise(result, personal: frozenset[str]) -> BatchValidation:
    document = _scrub(result.to_json_dict(), personal)
    items = document.get("results") or []
    failed = tuple(_failure(item) for item in items if not item.get("success"))
    statistics = document.get("statistics") or {}
    return BatchValidation(
        suite=document.get("suite_name") or "",
        success=bool(document.get("success")),
        evaluated=int(statistics.get("evaluated_expectations", len(items))),
        failed=failed,
        result_json=json.dumps(document, default=str),
    )


def _scrub(document: dict, personal: frozenset[str]) -> dict:
    """Drop values of personal-data columns and GX tracebacks from a JSON result."""
    for item in document.get("results") or []:
        kwargs = (item.get("expectation_config") or {}).get("kwargs") or {}
        hide = bool(set(_columns_of(kwargs)) & personal)
        if hide and isinstance(item.get("result"), dict):
            removed = [item["result"].pop(key, None) for key in _VALUE_KEYS]
            if any(value is not None for value in removed):
                item["result"]["values_hidden"] = "personal data"
        item["exception_info"] = _scrub_exceptions(item.get("exception_info"), hide)
    return document


def _scrub_exceptions(info: Any, hide: bool) -> Any:
    if not isinstance(info, dict):
        return info
    if "raised_exception" not in info:     # {metric id: exception info, ...}
        return {key: _scrub_exceptions(value, hide) for key, value in info.items()}
    info = dict(info)
    info.pop("exception_traceback", None)
    if hide and info.get("exception_message"):
        info["exception_message"] = "hidden: the message may quote personal data"
    return info


def _failure(item: dict) -> FailedExpectation:
    config = item.get("expectation_config") or {}
    kwargs = config.get("kwargs") or {}
    result = item.get("result") or {}
    count = result.get("unexpected_count")
    return FailedExpectation(
        expectation=config.get("type", ""),
        column=", ".join(_columns_of(kwargs)) or None,
        rule=_rule(config),
        unexpected_count=int(count) if isinstance(count, (int, float)) else None,
        sample=_sample(result),
    )


def _rule(config: dict) -> str:
    notes = (config.get("meta") or {}).get("notes") or config.get("notes")
    if isinstance(notes, dict):
        notes = notes.get("content")
    if isinstance(notes, list):
        notes = " ".join(str(n) for n in notes)
    return config.get("description") or notes or config.get("type", "")


def _sample(result: dict) -> list:
    values = result.get("partial_unexpected_list")
    if values is None:
        observed = result.get("observed_value")
        values = [] if observed is None or isinstance(observed, (dict, list)) else [observed]
    distinct: list = []
    for value in values:
        if value is not None and value not in distinct:
            distinct.append(value)
        if len(distinct) == SAMPLE_SIZE:
            break
    return distinct
