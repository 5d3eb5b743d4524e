"""The pipeline's steps, each one function a DAG task or the CLI can call: ingest, features,
score, publish. Every step is idempotent: running it twice leaves the state of one run."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa

from customer_health.config import EXPECTATIONS_DIR, Settings
from customer_health.dbt_runner import DbtError, DbtResult, dbt_vars, run_dbt
from customer_health.ingest import FileOutcome, IngestReport, ingest_landing, return_freed_memory
from customer_health.locking import exclusive
from customer_health.parquet_export import export_parquet
from customer_health.pause_points import pause_point
from customer_health.postgres_export import PostgresExport, export_to_postgres
from customer_health.serving import publish_serving_copy
from customer_health.warehouse import (
    WRITER_WAIT_SECONDS, connect, dataset_id, is_lock_conflict,
)

log = logging.getLogger(__name__)

SCORE_COLUMNS = [
    "run_id", "scored_at", "as_of", "customer_id", "churn_risk", "revenue_12m", "score_source",
    "model_version", "top_drivers", "reasons", "primary_dimension", "engagement_score",
    "experience_score", "voice_score", "value_score", "primary_feature",
]


class NoDataError(RuntimeError):
    """The warehouse holds nothing to build features or scores from."""


@dataclass
class ScoreSummary:
    run_id: str
    as_of: str
    model_version: str
    model_reused: bool
    customers_scored: int
    metrics: dict = field(default_factory=dict)
    unused_features: list[str] = field(default_factory=list)
    # "scorecard" when the dataset has too little history for a model (cold start)
    score_source: str = "model"
    # why there is no model (the unmet bounds), and how the scorecard's risk was calibrated
    cold_start_reasons: list[str] = field(default_factory=list)
    scorecard_calibration: str | None = None
    # the live model's backtest means, and why the newest model is not live (promotion guard)
    backtest: dict = field(default_factory=dict)
    model_note: str = ""


@dataclass
class PublishSummary:
    dbt: DbtResult
    exported: list[str]
    customers: int
    bands: dict[str, int]
    alerts: int = 0  # health_alerts written by this publish (a rerun writes none)
    postgres: "PostgresExport | None" = None  # the copy in PostgreSQL, when exports.postgres is set


@exclusive
def ingest_step(settings: Settings,
                progress: Callable[[FileOutcome | None], None] | None = None) -> IngestReport:
    """Load the new landing files of the dataset, each batch gated by its GX suite."""
    from customer_health.validation import columns_read, validate_batch

    if not settings.landing.is_dir():
        raise FileNotFoundError(f"{settings.landing}: landing folder not found")
    def validator(entity: str, frame: pd.DataFrame):
        result = validate_batch(entity, frame, suites_dir=EXPECTATIONS_DIR)
        pause_point("ingest-validated")
        return result
    validator.reads = functools.partial(columns_read, suites_dir=EXPECTATIONS_DIR)

    def committed(outcome: FileOutcome | None) -> None:
        if progress:
            progress(outcome)
        if outcome is not None:
            pause_point("ingest-committed")

    try:
        with connect(settings.warehouse) as con:
            limit = settings.options.warehouse.ingest_memory_limit.strip()   # validated on load
            con.execute(f"set memory_limit = '{limit}'")
            dataset_id(con)
            return ingest_landing(con, settings.landing, validator=validator, progress=committed)
    finally:
        return_freed_memory()


# A pipeline build runs the models and their data tests. dbt's unit tests check the SQL logic
# on fixed rows, whatever the data: `make test` runs them (tests/e2e/test_dbt_unit_tests.py).
PIPELINE_BUILD_ARGS = ("--exclude-resource-type", "unit_test")


def _dbt(settings: Settings, command: str, **kwargs) -> DbtResult:
    """``run_dbt`` of a pipeline build, retried while another process (a brief reader) holds the
    warehouse file: dbt opens it itself, so ``connect``'s wait does not cover it. A refused open
    ran nothing."""
    kwargs["extra_args"] = PIPELINE_BUILD_ARGS + tuple(kwargs.get("extra_args", ()))
    deadline = time.monotonic() + WRITER_WAIT_SECONDS
    while True:
        try:
            return run_dbt(settings, command, **kwargs)
        except DbtError as exc:
            if not is_lock_conflict(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def feed_watermarks(settings: Settings) -> dict[str, date]:
    """The date of the latest event each event feed has delivered (feeds without rows omitted)."""
    with connect(settings.warehouse, read_only=True) as con:
        rows = con.execute(
            "select 'transactions', cast(max(occurred_at) as date) from raw.transactions "
            "union all select 'interactions', cast(max(occurred_at) as date) "
            "from raw.interactions").fetchall()
    return {feed: day for feed, day in rows if day is not None}


def _check_as_of(as_of: str, watermarks: dict[str, date]) -> None:
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        raise NoDataError(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None
    common = min(watermarks.values())
    if day > common:
        raise NoDataError(f"--as-of {day} is after the data every feed has reached ({common}); "
                          "scores for it would read missing data as silent customers")


def _feature_spine(settings: Settings, as_of: str | None, full_refresh: bool) -> str:
    """"scoring" when the next score step reuses the live model for the latest date and the
    feature mart already holds training rows; else "full" (training needs every as-of date)."""
    from ml.registry import live_version

    if as_of or full_refresh or settings.options.model.retrain != "scheduled":
        return "full"
    with connect(settings.warehouse, read_only=True) as con:
        built = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'main' and table_name = 'fct_customer_features'").fetchone()[0]
        if not built or not con.execute("select count(*) from main.fct_customer_features "
                                        "where not is_scoring_date").fetchone()[0]:
            return "full"
        ds = dataset_id(con)
    return "scoring" if live_version(settings.models_dir, ds) else "full"


@exclusive
def features_step(settings: Settings, as_of: str | None = None,
                  full_refresh: bool = False, spine: str | None = None) -> DbtResult:
    """Build staging, intermediate and feature marts with dbt (tests included).

    The scoring date defaults to the latest date every feed has reached. The event models are
    incremental; ``full_refresh`` rebuilds them from all raw events (after a change of their logic).
    ``spine`` None chooses: a refresh that the live model will score builds the scoring date
    only ("scoring"), anything that may train builds every as-of date ("full"). A live model
    missing a feature the mart has since gained trains on the training rows of the last full build.
    """
    watermarks = feed_watermarks(settings)
    if not watermarks:
        raise NoDataError(
            f"{settings.warehouse}: no transactions and no interactions loaded yet; put files "
            f"under {settings.landing}/transactions or /interactions and run ingest"
        )
    if as_of:
        _check_as_of(as_of, watermarks)
    spine = spine or _feature_spine(settings, as_of, full_refresh)
    # The scoring date has no label yet: its build keeps the lapses of the last full build,
    # which the training rows it keeps were labelled with.
    exclude = "tag:scores" if spine == "full" else "tag:scores tag:training_labels"
    return _dbt(settings, "build", exclude=exclude, as_of=as_of, spine=spine,
                extra_args=("--full-refresh",) if full_refresh else ())


def _ledger_fingerprint(con) -> str:
    rows = con.execute(
        "select file_id from raw.ingest_ledger where status in ('loaded', 'partial') order by 1"
    ).fetchall()
    return hashlib.sha256("\n".join(r[0] for r in rows).encode()).hexdigest()


def _read_features(con, scoring_date_only: bool = False, labelled_only: bool = False) -> pd.DataFrame:
    where = (" where is_scoring_date" if scoring_date_only
             else " where is_eligible and churned is not null" if labelled_only else "")
    frame = con.execute(
        f"select * from main.fct_customer_features{where} order by customer_id, as_of").df()
    return frame.rename(columns={"is_eligible": "eligible"})


def _feature_history(settings: Settings) -> Callable[[], pd.DataFrame]:
    """The labelled rows of the feature mart (eligible customers with a known outcome, every
    as-of date), read on first call only: scoring with the live model needs the scoring date
    alone; training, the backtest and the scorecard's calibration use nothing but these rows
    (at W100 all of the mart's 5.7M rows took 12 GiB to read)."""
    @functools.cache
    def read() -> pd.DataFrame:
        with connect(settings.warehouse, read_only=True) as con:
            return _read_features(con, labelled_only=True)
    return read


def _scorecard_table(scored: pd.DataFrame) -> pa.Table:
    """The scorecard's scores (``ml.scorecard.score``) in the columns of ``ml.predict.score_table``."""
    import msgspec

    encode = msgspec.json.Encoder(enc_hook=float).encode
    drivers = scored["top_drivers"]
    columns = {name: pa.array(scored[name].to_numpy(), from_pandas=True)
               for name in ("customer_id", "as_of", "churn_risk", "engagement_score", "experience_score",
                            "voice_score", "value_score", "reasons", "model_version")}
    columns.update(top_drivers=pa.array([encode(d).decode() for d in drivers], pa.string()),
                   primary_dimension=pa.array([d[0]["dimension"] if d else None for d in drivers], pa.string()),
                   primary_feature=pa.array([d[0].get("feature") if d else None for d in drivers], pa.string()))
    return pa.table(columns)


def _score_rows(scored: pa.Table, revenue: pd.Series, run_id: str,
                scored_at: datetime, source: str = "model") -> pa.Table:
    """The rows of scoring.churn_scores: the scored columns plus the run's identity and, as of the
    scored date, each customer's revenue (a run's revenue at risk never changes afterwards)."""
    import pyarrow.compute as pc

    n = scored.num_rows
    columns = {
        "run_id": pa.array([run_id] * n, pa.string()),
        "scored_at": pa.array([scored_at] * n, pa.timestamp("us")),
        "as_of": pc.cast(scored["as_of"], pa.date32()),
        "revenue_12m": pa.array(revenue.to_numpy(dtype="float64", na_value=float("nan")),
                                from_pandas=True),
        "score_source": pa.array([source] * n, pa.string()),
    }
    return pa.table({name: columns[name] if name in columns else scored[name] for name in SCORE_COLUMNS})


def _model_or_none(settings: Settings, history: Callable[[], pd.DataFrame], columns: pd.Index,
                   ds: str, *, backfill: bool, retrain: bool):
    """(model, reused, unmet bounds): the model to score with, or None and why there is none.

    The live model scores new data as it is (``model.retrain: scheduled``) unless ``retrain``
    asks for a new one, the policy is ``every_run`` or the live model needs a feature the mart no
    longer has. A backfill scores with a model trained only on what was known on its date (never
    made live). Below the training bounds, an earlier model of this dataset still scores (reused);
    a dataset that never had one, and a backfill too early for one, fall back to the scorecard.
    """
    from ml.errors import InsufficientData, ModelNotFound
    from ml.registry import ensure_model, latest, live_version, load

    m = settings.options.model
    live = live_version(settings.models_dir, ds)
    if live and not (backfill or retrain) and m.retrain == "scheduled":
        model = load(settings.models_dir, live, dataset_id=ds)
        missing = [f for f in model.features if f not in columns]
        if not missing:
            return model, True, []
        log.warning("live model %s needs features the mart no longer has (%s); training a new one",
                    live, ", ".join(missing))
    try:
        model, reused = ensure_model(
            settings.models_dir, history(), dataset_id=ds,
            params={"seed": m.seed, **m.params.given()}, num_threads=m.num_threads,
            min_rows=m.min_labelled_rows, min_positives=m.min_positives, min_cutoffs=m.min_cutoffs,
            scorecard=settings.options.scorecard.definition(),
            backtest_folds=m.backtest_folds, promotion_tolerance=m.promotion_tolerance,
            label_delay_days=2 * settings.options.churn.horizon_days,  # a label needs two horizons
            go_live=not backfill,
        )
        return model, reused, []
    except InsufficientData as exc:
        if backfill:
            return None, False, list(exc.problems)
        try:
            version = live or latest(settings.models_dir, ds)
        except ModelNotFound:
            return None, False, list(exc.problems)
        log.warning("%s; scoring with the earlier model %s", exc, version)
        return load(settings.models_dir, version, dataset_id=ds), True, []


def _scorecard_scores(settings: Settings, frame: pd.DataFrame,
                      current: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Cold start: score ``current`` with the configured scorecard. Its risk is calibrated on the
    latest labelled as-of date when that holds enough churners and non-churners; otherwise
    churn_risk is 1 - health/100 and the returned note says so."""
    from ml import scorecard as sc

    card = sc.Scorecard.from_config(settings.options.scorecard.definition())
    rows = frame[frame["eligible"] & frame["churned"].notna()]
    calibrator, how = None, "not calibrated (no labelled outcomes yet): churn_risk is 1 - health/100"
    if not rows.empty:
        fold = rows[rows["as_of"] == rows["as_of"].max()]
        calibrator = sc.calibrate(sc.evaluate(card, fold).risk, fold["churned"].to_numpy(dtype="float64"))
        if calibrator is not None:
            how = (f"calibrated on the outcomes of {pd.Timestamp(fold['as_of'].iloc[0]).date()} "
                   f"({len(fold):,} customers)")
        else:
            how = "not calibrated (too few labelled churners): churn_risk is 1 - health/100"
    return sc.score(current, card, calibrator=calibrator), how


@exclusive
def score_step(settings: Settings, retrain: bool = False) -> ScoreSummary:
    """Score the customers active at as-of with the live churn model of this dataset.

    The first run trains the model; later ones reuse it until a retrain (``retrain=True``, the
    retrain DAG, ``model.retrain: every_run``), whose model goes live past the promotion guard.
    A past date (a backfill) is scored by a model that learnt only from outcomes known on that
    date, a true point-in-time score. A dataset with too little history for a model
    (``model.min_*`` bounds) and no earlier model is scored with the rule-based scorecard
    (score_source 'scorecard'); ``scoring.runs.score_note`` keeps why.
    """
    from ml.predict import score_table

    with connect(settings.warehouse) as con:
        ds = dataset_id(con)
        scoring_rows = _read_features(con, scoring_date_only=True)
        ledger = _ledger_fingerprint(con)
    if scoring_rows.empty:
        raise NoDataError("the feature mart is empty; run the features step first")
    current = scoring_rows[scoring_rows["eligible"]]
    as_of = pd.Timestamp(scoring_rows["as_of"].iloc[0]).date().isoformat()
    backfill = date.fromisoformat(as_of) < min(feed_watermarks(settings).values())
    history = _feature_history(settings)
    model, reused, cold_start = _model_or_none(settings, history, scoring_rows.columns, ds,
                                               backfill=backfill, retrain=retrain)
    note = None
    if model is not None:
        scored = score_table(model, current)
        source, version, fingerprint = "model", model.version, model.data_fingerprint
        identity = version
    else:
        frame, calibration = _scorecard_scores(settings, history(), current)
        scored = _scorecard_table(frame)
        source = version = "scorecard"
        fingerprint = None
        note = json.dumps({"reasons": cold_start, "calibration": calibration})
        identity = "scorecard " + json.dumps(settings.options.scorecard.definition(), sort_keys=True)
    # Same model, date, data and publishing settings (bands, playbook): same run. A change of
    # any of them is a new run, so the history always holds what customer_health showed.
    # Alert rules only decide which alerts a run raises, not what it publishes.
    publishing = json.dumps({k: v for k, v in dbt_vars(settings, None).items() if k != "alerts"},
                            sort_keys=True)
    run_id = hashlib.sha256(
        f"{identity}|{as_of}|{ledger}|{publishing}".encode()).hexdigest()[:16]

    with connect(settings.warehouse) as con:
        con.begin()
        earlier = con.execute("select scored_at from scoring.runs where run_id = ?",
                              [run_id]).fetchall()
        scored_at = earlier[0][0] if earlier else datetime.now(timezone.utc).replace(tzinfo=None)
        rows = _score_rows(scored, current["revenue_12m"], run_id, scored_at, source)
        # every run is kept (history and backfills); rerunning the same run rewrites its rows
        con.execute("delete from scoring.churn_scores where run_id = ?", [run_id])
        con.register("_scores", rows)
        con.execute("insert into scoring.churn_scores by name select * from _scores")
        con.unregister("_scores")
        con.execute("delete from scoring.runs where run_id = ?", [run_id])
        con.execute("insert into scoring.runs (run_id, scored_at, as_of, model_version, "
                    "customers_scored, data_fingerprint, score_source, score_note) "
                    "values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, scored_at, as_of, version, rows.num_rows, fingerprint, source, note])
        pause_point("score-written")
        con.commit()
    if model is None:
        return ScoreSummary(run_id, as_of, version, False, rows.num_rows, score_source=source,
                            cold_start_reasons=cold_start, scorecard_calibration=calibration)
    from ml.registry import guard_note

    return ScoreSummary(run_id, as_of, version, reused, rows.num_rows, dict(model.metrics),
                        list(model.unused_features), backtest=dict((model.backtest or {}).get("mean") or {}),
                        model_note=guard_note(settings.models_dir, ds))


@exclusive
def retrain_step(settings: Settings) -> ScoreSummary:
    """Train a new model on the latest data and score with the live one.

    The features are rebuilt for the latest date and every training date first (a backfill may
    have left an earlier one). The new model goes live only when the promotion guard lets it; the
    summary says which scores.
    """
    features_step(settings, spine="full")
    return score_step(settings, retrain=True)


MAX_BACKFILL_DATES = 366


def backfill_dates(start: str, end: str, every_days: int = 7) -> list[str]:
    """The as-of dates of a backfill: ``start``, every ``every_days`` days, up to ``end``."""
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        raise NoDataError(f"backfill dates must be YYYY-MM-DD, not {start!r} / {end!r}") from None
    if first > last:
        raise NoDataError(f"backfill from {first} to {last}: the start is after the end")
    if every_days < 1:
        raise NoDataError(f"backfill every {every_days} days: must be at least 1")
    count = (last - first).days // every_days + 1
    if count > MAX_BACKFILL_DATES:
        raise NoDataError(f"backfill from {first} to {last} every {every_days} days is {count} "
                          f"dates; at most {MAX_BACKFILL_DATES} in one go")
    return [date.fromordinal(first.toordinal() + i * every_days).isoformat() for i in range(count)]


@exclusive
def rescore_step(settings: Settings, as_of: str) -> ScoreSummary:
    """Score one past date into the history: point-in-time features, then a point-in-time model."""
    features_step(settings, as_of=as_of)
    return score_step(settings)


@exclusive
def docs_step(settings: Settings) -> Path:
    """Generate the dbt documentation site (models, columns, lineage, exposures) of this dataset."""
    run_dbt(settings, "docs generate")
    return settings.dbt_target_dir / "index.html"


@exclusive
def publish_step(settings: Settings) -> PublishSummary:
    """Build the marts users read (customer_health, history, at-risk list), export Parquet, swap in
    the serving copy the web app and BI tools read, and copy to PostgreSQL when configured."""
    with connect(settings.warehouse) as con:
        alerts_before = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'main' and table_name = 'health_alerts'").fetchone()[0]
        if alerts_before:
            alerts_before = con.execute("select count(*) from main.health_alerts").fetchone()[0]
    result = _dbt(settings, "build", select="tag:scores")
    with connect(settings.warehouse) as con:
        exported = export_parquet(con, settings.exports_dir)
        bands = dict(con.execute(
            "select health_band, count(*) from main.customer_health group by 1").fetchall())
        alerts = con.execute("select count(*) from main.health_alerts").fetchone()[0]
        publish_serving_copy(settings, con)
        postgres = export_to_postgres(settings, con=con)
    return PublishSummary(result, exported, sum(bands.values()), bands, alerts - alerts_before,
                          postgres)
