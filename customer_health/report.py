"""What the CLI shows people: step progress, summaries and the at-risk list as rich tables."""

from __future__ import annotations

from collections import Counter

import pandas as pd
from rich.console import Console
from rich.table import Table

from customer_health import pipeline, reads
from customer_health.config import Settings
from customer_health.evaluate import Evaluation

BAND_STYLE = {"critical": "bold red", "at_risk": "red", "watch": "yellow", "healthy": "green"}
ENTITY_FEATURES = {
    "interactions": "engagement, support-experience and voice-of-customer features",
    "transactions": "purchase, spend, refund and cancellation features",
}


def _money(value: float) -> str:
    return f"{value:,.0f}" if pd.notna(value) else "-"


def _risk(value: float) -> str:
    """A probability for people: never a flat 100% or 0%."""
    if value >= 0.995:
        return ">99%"
    if value < 0.005:
        return "<1%"
    return f"{value:.0%}"


def print_ingest(console: Console, settings: Settings) -> None:
    seen = {"files": 0}

    def tick(_outcome) -> None:
        seen["files"] += 1
        status.update(f"Ingesting landing files ({seen['files']} checked)")

    with console.status("Ingesting landing files") as status:
        report = pipeline.ingest_step(settings, progress=tick)
    loaded, quarantined = report.total("loaded"), report.total("quarantined")
    by_status = Counter(o.status for o in report.outcomes)
    files = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items())) or "none new"
    console.print(f"[bold]Ingest[/]: files: {files}; {report.skipped} seen before; "
                  f"{loaded:,} rows loaded, {quarantined:,} quarantined")
    for outcome in report.failed:
        console.print(f"  [red]{outcome.status}[/] {outcome.path}: {outcome.reason}")
    for outcome in report.outcomes:
        if outcome.status == "partial":
            console.print(f"  [yellow]partial[/] {outcome.path}: {outcome.quarantined:,} of "
                          f"{outcome.rows_in:,} rows quarantined (see `customer-health status`)")
        if outcome.unknown_customers:
            console.print(f"  [yellow]note[/] {outcome.path}: {outcome.unknown_customers:,} rows of "
                          "customers not (yet) in the customers feed, loaded")
    _print_unusable(console, settings, report.missing_entities)


def _print_unusable(console: Console, settings: Settings, missing: list[str]) -> None:
    """Say which feature families a feed without rows leaves unusable."""
    counts = reads.entity_rows(settings)
    for entity, features in ENTITY_FEATURES.items():
        if counts[entity] == 0:
            why = "no folder" if entity in missing else "no rows loaded"
            console.print(f"  [yellow]note[/] no {entity} ({why} in {settings.landing}): "
                          f"{features} cannot be used")


def _print_lagging_feed(console: Console, settings: Settings) -> None:
    marks = pipeline.feed_watermarks(settings)
    if len(marks) > 1 and len(set(marks.values())) > 1:
        reach = ", ".join(f"{feed} reach {day}" for feed, day in sorted(marks.items()))
        console.print(f"  [yellow]note[/] the feeds end on different dates ({reach}): scores are "
                      f"as of {min(marks.values())}, the latest date all of them reached")


def print_features(console: Console, settings: Settings, as_of: str | None = None,
                   full_refresh: bool = False) -> None:
    if not as_of:
        _print_lagging_feed(console, settings)
    with console.status("Building features with dbt (staging -> intermediate -> marts)"):
        result = pipeline.features_step(settings, as_of=as_of, full_refresh=full_refresh)
    console.print(f"[bold]Features[/]: dbt build passed {result.passed} models and tests")


def beats_line(metrics: dict) -> str | None:
    """"model beats the rule-based scorecard by X ROC AUC ..." from a card's metrics (None for
    cards older than the baselines)."""
    base, beats = metrics.get("baselines") or {}, metrics.get("beats") or {}
    if not isinstance(beats.get("scorecard"), (int, float)):
        return None
    parts = []
    for name, label in (("scorecard", "the rule-based scorecard"), ("recency", "recency alone")):
        diff, auc = beats.get(name), (base.get(name) or {}).get("roc_auc")
        if isinstance(diff, (int, float)) and isinstance(auc, (int, float)):
            verb = "beats" if diff > 0 else "does not beat"
            parts.append(f"{verb} {label} by {diff:+.3f} ROC AUC ({auc:.3f})")
    return "model " + "; ".join(parts) if parts else None


def _print_cold_start(console: Console, reasons: list[str], calibration: str | None,
                      indent: str = "  ") -> None:
    console.print(f"{indent}[yellow]note[/] Scores come from the rule-based scorecard because: "
                  f"{'; '.join(reasons) or 'no model could be trained'}. Churn risk "
                  f"{calibration or 'not calibrated'}. A model is trained as soon as the history "
                  "reaches the bounds (model.min_labelled_rows, min_positives, min_cutoffs).")


def print_score(console: Console, settings: Settings) -> None:
    with console.status("Scoring customers (the first run trains the churn model)"):
        summary = pipeline.score_step(settings)
    print_score_summary(console, settings, summary)


def print_score_summary(console: Console, settings: Settings, summary: pipeline.ScoreSummary,
                        drift: bool = True) -> None:
    if summary.score_source == "scorecard":
        console.print(f"[bold]Score[/]: rule-based scorecard (no model yet); "
                      f"{summary.customers_scored:,} customers scored as of {summary.as_of}")
        _print_cold_start(console, summary.cold_start_reasons, summary.scorecard_calibration)
        return
    how = "reused" if summary.model_reused else "trained"
    m = summary.metrics
    console.print(
        f"[bold]Score[/]: model {summary.model_version} {how} "
        f"(validation ROC AUC {m.get('roc_auc', float('nan')):.3f}, "
        f"PR AUC {m.get('pr_auc', float('nan')):.3f}, Brier {m.get('brier', float('nan')):.3f}, "
        f"top-10% lift {m.get('lift_top10') or float('nan'):.1f}); "
        f"{summary.customers_scored:,} customers scored as of {summary.as_of}")
    beats = beats_line(m)
    if beats:
        console.print(f"  {beats} on the validation fold")
    _print_backtest_and_guard(console, summary)
    if drift:
        _print_drift(console, settings, summary.model_version, table=False)
    if summary.unused_features:
        console.print(f"  [yellow]note[/] features without data, not used: "
                      f"{', '.join(summary.unused_features)}")


def print_publish(console: Console, settings: Settings) -> None:
    with console.status("Publishing customer_health, history and the at-risk list"):
        summary = pipeline.publish_step(settings)
    bands = ", ".join(f"{summary.bands.get(b, 0):,} {b}" for b in BAND_STYLE)
    console.print(f"[bold]Publish[/]: {summary.customers:,} customers ({bands}); "
                  f"{summary.alerts:,} new alerts; Parquet exports in {settings.exports_dir}; "
                  f"serving copy for BI and the web app: {settings.serving_file}")
    if summary.postgres is not None:
        pg = summary.postgres
        console.print(f"  PostgreSQL copy: {len(pg.tables)} tables, {pg.rows:,} rows in schema "
                      f"{pg.schema} on {pg.target} ({pg.seconds:.1f}s)")
    from customer_health.alert_delivery import deliver_new_alerts, print_delivery

    delivered = deliver_new_alerts(settings)
    if delivered is not None:
        print_delivery(console, delivered)


def print_train(console: Console, settings: Settings) -> None:
    """Retrain now: features of the latest date, a new model past the promotion guard, scores."""
    with console.status("Rebuilding the features, training and backtesting a new model"):
        summary = pipeline.retrain_step(settings)
    print_score_summary(console, settings, summary)
    print_publish(console, settings)


def print_backfill(console: Console, settings: Settings, start: str, end: str,
                   every_days: int) -> None:
    """Rescore past dates into the history, publish it, and leave the latest features."""
    dates = pipeline.backfill_dates(start, end, every_days)
    for number, as_of in enumerate(dates, 1):
        with console.status(f"Backfill {number}/{len(dates)}: features and scores as of {as_of}"):
            summary = pipeline.rescore_step(settings, as_of)
        source = ("rule-based scorecard (too little history then)"
                  if summary.score_source == "scorecard" else f"model {summary.model_version}")
        console.print(f"[bold]Backfill[/] {as_of}: {summary.customers_scored:,} customers scored "
                      f"by {source}")
    print_publish(console, settings)
    with console.status("Rebuilding the features of the latest date"):
        pipeline.features_step(settings, spine="full")
    console.print(f"Backfilled {len(dates)} date(s) into customer_health_history; "
                  "customer_health still shows the latest date")


def print_run(console: Console, settings: Settings, as_of: str | None = None,
              full_refresh: bool = False) -> None:
    console.print(f"Dataset home: {settings.home}")
    print_ingest(console, settings)
    print_features(console, settings, as_of=as_of, full_refresh=full_refresh)
    print_score(console, settings)
    print_publish(console, settings)


def at_risk_table(frame: pd.DataFrame, flt: reads.AtRiskFilter) -> Table:
    as_of = frame["as_of"].iloc[0] if not frame.empty else None
    title = f"At-risk customers ({', '.join(flt.bands)}), ranked by revenue at risk"
    if as_of is not None:
        title += f", as of {pd.Timestamp(as_of).date()}"
    table = Table(title=title, show_lines=False, expand=False)
    for name, kw in (("#", {"justify": "right"}), ("customer", {}), ("band", {}),
                     ("health", {"justify": "right"}), ("risk", {"justify": "right"}),
                     ("revenue at risk", {"justify": "right"}), ("why", {"max_width": 60}),
                     ("recommended action", {"max_width": 40}), ("segment", {}), ("owner", {})):
        table.add_column(name, **kw)
    for row in frame.itertuples(index=False):
        table.add_row(str(row.rank), row.customer_id,
                      f"[{BAND_STYLE.get(row.health_band, '')}]{row.health_band}[/]",
                      str(row.health_score), _risk(row.churn_risk), _money(row.revenue_at_risk),
                      row.reasons or "", row.recommended_action or "", row.segment or "",
                      row.account_owner or "")
    if frame.empty:
        table.caption = "No customer matches these filters."
    return table


def alerts_table(frame: pd.DataFrame, since: str | None) -> Table:
    title = "Health alerts" + (f" since {since}" if since else "") + ", newest first"
    table = Table(title=title, expand=False)
    for name, kw in (("as of", {}), ("rule", {}), ("customer", {}), ("band", {}),
                     ("health", {"justify": "right"}), ("what happened", {"max_width": 70}),
                     ("segment", {}), ("owner", {})):
        table.add_column(name, **kw)
    for row in frame.itertuples(index=False):
        table.add_row(str(pd.Timestamp(row.as_of).date()), row.rule, row.customer_id,
                      f"[{BAND_STYLE.get(row.health_band, '')}]{row.health_band}[/]",
                      str(row.health_score), row.message or "", row.segment or "",
                      row.account_owner or "")
    if frame.empty:
        table.caption = "No alerts in this period."
    return table


def _cell(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and pd.notna(value):
        return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:.3f}"
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _frame_table(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title)
    for col in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[col])
        table.add_column(str(col).replace("_", " "), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*[_cell(v.item() if hasattr(v, "item") else v) for v in row])
    return table


def _print_model_card(console: Console, settings: Settings, version: str) -> None:
    from ml.registry import list_versions, read_card

    card = read_card(settings.models_dir, version)
    metrics = {k: v for k, v in card.get("metrics", {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    title = (f"Model {version} (of {len(list_versions(settings.models_dir))} "
             f"in {settings.models_dir}), validation metrics")
    console.print(_frame_table(title, pd.DataFrame(
        {"metric": list(metrics), "value": list(metrics.values())})))
    beats = beats_line(card.get("metrics", {}))
    if beats:
        console.print(f"{beats[0].upper()}{beats[1:]} on the validation fold")
    if card.get("unused_features"):
        console.print(f"[yellow]note[/] features without data: {', '.join(card['unused_features'])}")


def _print_drift(console: Console, settings: Settings, version: str, *, table: bool) -> None:
    from customer_health.drift import compute_drift

    report = compute_drift(settings, version)
    if report is None:
        return
    if table:
        console.print(_frame_table(f"Drift of model {version}'s inputs and scores: PSI, today "
                                   f"against its {report.reference}", report.table))
    if report.drifted:
        console.print(f"[yellow]warning[/] population drift (PSI above {report.threshold:g}) in "
                      f"{', '.join(report.drifted)}: the customers scored today differ from those "
                      "the model learned from; retrain when new outcomes are known")


def print_status(console: Console, settings: Settings) -> None:
    console.print(f"Dataset home: {settings.home}\nWarehouse: {settings.warehouse}")
    run = reads.current_run(settings)
    pending = reads.unpublished_run(settings)
    if pending:
        console.print(f"[yellow]note[/] run {pending['run_id']} (as of "
                      f"{pd.Timestamp(pending['as_of']).date()}) was scored but not published; "
                      "run `customer-health publish`")
    if run:
        console.print(f"Current scores: run {run['run_id']} at {run['scored_at']:%Y-%m-%d %H:%M} UTC: "
                      f"{run['customers_scored']:,} customers as of {pd.Timestamp(run['as_of']).date()}, "
                      f"model {run['model_version']}")
    else:
        console.print("No scoring run yet.")
    console.print(_frame_table("Ingest ledger", reads.ledger_summary(settings)))
    quarantine = reads.quarantine_summary(settings)
    if not quarantine.empty:
        console.print(_frame_table("Quarantined rows by rule", quarantine))
    failed = reads.files_not_loaded(settings)
    if not failed.empty:
        console.print(_frame_table("Files not loaded", failed))
    if not quarantine.empty:
        console.print(_frame_table("Latest quarantined rows (all of them: table raw.quarantine)",
                                   reads.quarantine_sample(settings)))
    _print_lagging_feed(console, settings)
    _print_unusable(console, settings, missing=[])
    if run:
        outside = reads.customers_outside_feed(settings)
        if outside:
            console.print(f"[yellow]note[/] {outside:,} customer(s) appear in events but not in "
                          "the customers feed: scored without segment or owner")
        console.print(_frame_table("Customers by band", reads.band_counts(settings)))
        raised = reads.current_run_alerts(settings)
        console.print(f"Alerts raised by this run: {int(raised['alerts'].sum()):,}"
                      + (f" ({', '.join(f'{n:,} {r}' for r, n in zip(raised['rule'], raised['alerts']))})"
                         if len(raised) else "") + " (`customer-health alerts` lists them)")
        source, note = reads.run_source(settings, run["run_id"])
        if source == "scorecard":
            _print_cold_start(console, note.get("reasons") or [], note.get("calibration"), indent="")
        else:
            _print_model_card(console, settings, run["model_version"])
            _print_drift(console, settings, run["model_version"], table=True)


def print_evaluation(console: Console, result: Evaluation) -> None:
    table = Table(title="Scores against the demo ground truth")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("customers compared", f"{result.customers:,}")
    table.add_row("churn rate within the horizon", f"{result.churn_rate:.1%}")
    table.add_row("model ROC AUC (churn_risk)", f"{result.model_auc:.3f}")
    table.add_row("oracle ROC AUC (true probability)", f"{result.oracle_auc:.3f}")
    table.add_row("gap to the oracle", f"{result.gap:.3f}")
    console.print(table)


def _print_backtest_and_guard(console: Console, summary: pipeline.ScoreSummary) -> None:
    """The live model's backtest means, and a note when the promotion guard kept an older model."""
    b = summary.backtest
    if b.get("roc_auc") is not None:
        console.print(f"  backtest mean: ROC AUC {b['roc_auc']:.3f}, ECE {b.get('ece') or float('nan'):.3f}, "
                      f"top-10% lift {b.get('lift_top10') or float('nan'):.2f} "
                      "(`customer-health report` draws it)")
    if summary.model_note:
        console.print(f"  [yellow]note[/] {summary.model_note}")
