"""The `customer-health` command: run the pipeline, read the at-risk list, check status, evaluate."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from customer_health.config import Settings, load_settings

QUIET_LOGGERS = ("great_expectations", "dbt", "lightgbm", "airflow", "py4j", "urllib3", "filelock")


def _configure_logging(verbose: bool) -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("customer_health").setLevel(logging.INFO if verbose else logging.WARNING)


def _console():
    from rich.console import Console
    # Piped output (CI logs, files) gets a wide page instead of rich's 80 columns.
    width = None if sys.stdout.isatty() else 160
    return Console(highlight=False, width=width)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, home=args.home, landing=args.landing,
                         warehouse=args.warehouse)


# ---------------------------------------------------------------- commands

def cmd_demo_data(args: argparse.Namespace) -> int:
    from customer_health.demo import generate_demo_data

    out, truth = Path(args.out), Path(args.truth)
    from customer_health.errors import UsageError

    console = _console()
    with console.status(f"Simulating {args.customers:,} customers over {args.months} months"):
        started = time.perf_counter()
        try:
            summary = generate_demo_data(out, truth, customers=args.customers,
                                         months=args.months, seed=args.seed)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    console.print(
        f"Wrote {sum(summary.files.values())} landing files to {out} "
        f"({', '.join(f'{v:,} {k}' for k, v in summary.rows.items())}) "
        f"in {time.perf_counter() - started:.1f}s")
    console.print(
        f"Ground truth for {summary.cutoff}: {summary.active_at_cutoff:,} active customers, "
        f"{summary.churn_rate:.1%} churn within the horizon, oracle AUC {summary.oracle_auc:.3f} "
        f"-> {truth} (the pipeline never reads it)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from customer_health.locking import dataset_lock
    from customer_health.report import print_run

    settings = _settings(args)
    console = _console()
    # one lock for the whole run: a second run waits for all of this one, not step by step
    with dataset_lock(settings.home, settings.options.paths.lock_wait_seconds, purpose="run"):
        print_run(console, settings, as_of=args.as_of, full_refresh=args.full_refresh)
        _print_at_risk(console, settings, _filter_from(args, settings))
    return 0


def cmd_step(args: argparse.Namespace) -> int:
    from customer_health import report

    settings = _settings(args)
    getattr(report, f"print_{args.command}")(_console(), settings, **(
        {"as_of": args.as_of, "full_refresh": args.full_refresh}
        if args.command == "features" else {}))
    return 0


def _filter_from(args: argparse.Namespace, settings: Settings):
    from customer_health.reads import AtRiskFilter

    bands = tuple(getattr(args, "band", None) or settings.options.at_risk.bands)
    return AtRiskFilter(bands=bands, segment=getattr(args, "segment", None),
                        owner=getattr(args, "owner", None),
                        top=getattr(args, "top", None) or settings.options.at_risk.top)


def _print_at_risk(console, settings: Settings, flt) -> None:
    from customer_health.reads import at_risk, distinct_values
    from customer_health.report import at_risk_table

    frame = at_risk(settings, flt)
    console.print(at_risk_table(frame, flt))
    if frame.empty:
        for given, column in ((flt.segment, "segment"), (flt.owner, "account_owner")):
            if given:
                console.print(f"Known {column.replace('_', ' ')}s: "
                              f"{', '.join(distinct_values(settings, column))}")


def cmd_at_risk(args: argparse.Namespace) -> int:
    from customer_health.reads import at_risk

    settings = _settings(args)
    flt = _filter_from(args, settings)
    if args.format == "table":
        _print_at_risk(_console(), settings, flt)
        return 0
    frame = at_risk(settings, flt)
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    else:
        frame["as_of"] = frame["as_of"].astype(str)
        json.dump(frame.to_dict(orient="records"), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    from customer_health.reads import alerts
    from customer_health.report import alerts_table

    frame, since = alerts(_settings(args), args.since)
    if args.format == "table":
        _console().print(alerts_table(frame, since))
    elif args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    else:
        json.dump(frame.to_dict(orient="records"), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    return 0


def _date(text: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def cmd_docs(args: argparse.Namespace) -> int:
    from customer_health.pipeline import docs_step

    settings = _settings(args)
    index = docs_step(settings)
    _console().print(f"Documentation of every model and column: {index}\n"
                     f"Serve it with: .venv/bin/dbt docs serve --project-dir dbt_project "
                     f"--profiles-dir dbt_project --target-path {index.parent}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from customer_health.report import print_status

    print_status(_console(), _settings(args))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from customer_health.evaluate import evaluate_against_truth
    from customer_health.report import print_evaluation

    settings = _settings(args)
    result = evaluate_against_truth(settings, Path(args.truth))
    print_evaluation(_console(), result)
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from customer_health import model_admin

    settings = _settings(args)
    console = _console()
    if args.model_command == "list":
        model_admin.print_model_list(console, settings)
    elif args.model_command == "promote":
        model_admin.print_promote(console, settings, args.version)
    else:
        model_admin.print_rollback(console, settings)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from customer_health.report import print_train

    print_train(_console(), _settings(args))
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from customer_health.report import print_backfill

    print_backfill(_console(), _settings(args), args.start, args.end, args.every_days)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from customer_health.web.server import serve

    serve(_settings(args), host=args.host, port=args.port)
    return 0


def cmd_deliver_alerts(args: argparse.Namespace) -> int:
    from customer_health.alert_delivery import deliver_new_alerts, print_delivery

    print_delivery(_console(), deliver_new_alerts(_settings(args)))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from customer_health.bench import print_bench, run_bench

    report = run_bench(args.customers, args.events, args.repeat, Path(args.out), seed=args.seed,
                       config=args.config)
    print_bench(_console(), report)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from customer_health.doctor import diagnose, print_diagnosis

    diagnosis = diagnose(args.config, home=args.home, landing=args.landing,
                         warehouse=args.warehouse, airflow_url=args.airflow_url,
                         serving=args.serving)
    if args.json:
        json.dump(diagnosis.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_diagnosis(_console(), diagnosis)
    return 0 if diagnosis.healthy else 1


def cmd_report(args: argparse.Namespace) -> int:
    from customer_health.backtest_report import write_report

    path = write_report(_settings(args), version=args.version)
    _console().print(f"Backtest report: {path}")
    return 0


# ---------------------------------------------------------------- parser

def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _dataset_flags() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("dataset")
    g.add_argument("--config", help="configuration YAML (default: customer_health.yml)")
    g.add_argument("--home", help="folder holding everything of one dataset")
    g.add_argument("--landing", help="landing folder with customers/, transactions/, interactions/")
    g.add_argument("--warehouse", help="DuckDB warehouse file (its folder becomes the home)")
    g.add_argument("-v", "--verbose", action="store_true", help="log each step's details")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _dataset_flags()
    parser = argparse.ArgumentParser(
        prog="customer-health",
        description="Churn-risk and health scores from customer interactions and transactions.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo-data", parents=[common], help="write simulated landing files")
    p.add_argument("--customers", type=_positive, default=5000)
    p.add_argument("--months", type=_positive, default=18)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", required=True,
                   help="landing folder to write (empty, or written by demo-data before)")
    p.add_argument("--truth", required=True,
                   help="folder for the ground truth (kept apart: the pipeline never reads it)")
    p.set_defaults(func=cmd_demo_data)

    def full_refresh_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--full-refresh", action="store_true",
                       help="rebuild the incremental event models from all raw events "
                            "(after a change of their logic); the score history is kept")

    def at_risk_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--top", type=_positive, help="how many customers (default from config)")
        p.add_argument("--segment", help="only this segment")
        p.add_argument("--owner", help="only this account owner")
        p.add_argument("--band", action="append",
                       choices=["critical", "at_risk", "watch", "healthy"],
                       help="bands to list (repeatable; default critical and at_risk)")

    p = sub.add_parser("run", parents=[common], help="ingest, build features, score, publish")
    p.add_argument("--as-of", help="score as of this date (default: date of the latest event)")
    full_refresh_flag(p)
    at_risk_flags(p)
    p.set_defaults(func=cmd_run)

    for name, text in (("ingest", "load new landing files"),
                       ("features", "build the dbt feature marts"),
                       ("score", "score with the live model (the first run trains it)"),
                       ("publish", "build the marts users read and export Parquet")):
        p = sub.add_parser(name, parents=[common], help=text)
        if name == "features":
            p.add_argument("--as-of", help="score as of this date")
            full_refresh_flag(p)
        p.set_defaults(func=cmd_step)

    p = sub.add_parser("train", parents=[common],
                       help="train a new model now; it goes live past the promotion guard")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("backfill", parents=[common],
                       help="rescore past as-of dates into the history (point in time)")
    p.add_argument("--from", dest="start", required=True, type=_date, help="first as-of date")
    p.add_argument("--to", dest="end", required=True, type=_date, help="last as-of date")
    p.add_argument("--every-days", type=_positive, default=7, help="days between dates (7)")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("at-risk", parents=[common], help="the ranked at-risk list")
    at_risk_flags(p)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_at_risk)

    p = sub.add_parser("alerts", parents=[common], help="recent health alerts, newest first")
    p.add_argument("--since", type=_date,
                   help="scoring dates from this day on (default: the 30 days up to the current one)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("serve", parents=[common],
                       help="the web app and REST API (token from serve.token_env)")
    p.add_argument("--host", help="address to listen on (default from config: 127.0.0.1)")
    p.add_argument("--port", type=_positive, help="port (default from config: 8765)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("deliver-alerts", parents=[common],
                       help="send new health alerts to the configured webhook and email (once each)")
    p.set_defaults(func=cmd_deliver_alerts)

    p = sub.add_parser("bench", help="benchmark the pipeline stage by stage against its peers")
    p.add_argument("--customers", type=_positive, default=10_000)
    p.add_argument("--events", type=_positive,
                   help="about how many events (default: about 100 per customer)")
    p.add_argument("--repeat", type=_positive, default=3, help="runs to take the median of (3)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="state/bench/reports", help="folder of the JSON and Markdown reports")
    p.add_argument("--config", help="configuration YAML (default: customer_health.yml)")
    p.add_argument("-v", "--verbose", action="store_true", help="log each step's details")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("docs", parents=[common],
                       help="generate the dbt documentation (every table and column, lineage)")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("status", parents=[common], help="last run, ledger, quarantine, model")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("doctor", parents=[common],
                       help="check the deployment and say what to fix (exit 1 when a check fails)")
    p.add_argument("--airflow-url",
                   help="Airflow API server to check (default: AIRFLOW__API__BASE_URL; none: skipped)")
    p.add_argument("--serving", action="store_true",
                   help="this deployment runs `customer-health serve`: a missing token fails")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("evaluate", parents=[common],
                       help="AUC of the scores against a demo ground truth")
    p.add_argument("--truth", required=True, help="folder written by demo-data --truth")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("model", help="the dataset's models: list, promote, rollback")
    msub = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    msub.add_parser("list", parents=[common], help="every version, its backtest and which one is live")
    mp = msub.add_parser("promote", parents=[common],
                         help="make a version live (overrides the promotion guard)")
    mp.add_argument("version", help="model version, e.g. v0003")
    msub.add_parser("rollback", parents=[common], help="make the previously live version live again")
    p.set_defaults(func=cmd_model)

    p = sub.add_parser("report", parents=[common],
                       help="HTML backtest report of the live model (<home>/reports/backtest.html)")
    p.add_argument("--version", help="model version (default: the live one)")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    from customer_health.errors import USER_ERRORS

    try:
        return args.func(args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
