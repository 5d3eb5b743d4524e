"""The benchmark report: medians over repeats, targets with pass/miss, JSON and Markdown.

Targets (issue #7, on a 2-core machine): the W10 full run under 60 s (data generation
excluded), the incremental W10 run under 10 s, peak memory under 4 GiB at W10 and under 12 GiB
at W100, the feature build at least 5x faster than the pandas peer, scoring at least 200,000
customers a second. A target of one size is shown at every size but judged only at its own.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

GIB = 1024 ** 3
W10_CUSTOMERS = 100_000
W100_CUSTOMERS = 1_000_000
SIZE_NAMES = {W10_CUSTOMERS: "W10", W100_CUSTOMERS: "W100"}


@dataclass(frozen=True)
class Target:
    key: str            # figure in BenchReport.figures
    label: str
    op: str             # "<" or ">="
    bound: float
    unit: str
    size: int | None    # judged only at this many customers (None: at every size)


TARGETS = (
    Target("full_run_seconds", "Full run (ingest to publish)", "<", 60.0, "s", W10_CUSTOMERS),
    Target("incremental_seconds", "Incremental run (1% new events)", "<", 10.0, "s", W10_CUSTOMERS),
    Target("peak_rss_gib", "Peak memory of the full run", "<", 4.0, "GiB", W10_CUSTOMERS),
    Target("peak_rss_gib", "Peak memory of the full run", "<", 12.0, "GiB", W100_CUSTOMERS),
    Target("feature_speedup", "Feature build vs pandas peer", ">=", 5.0, "x", None),
    Target("scoring_customers_per_second", "Scoring", ">=", 200_000.0, "customers/s", None),
)


@dataclass
class BenchReport:
    workload: dict
    repeat: int
    figures: dict                       # medians (see FIGURES in the Markdown)
    stages: dict                        # median seconds per stage of the full run
    incremental_stages: dict
    peers: dict
    targets: list[dict]
    runs: list[dict] = field(default_factory=list)
    machine: dict = field(default_factory=dict)
    generation_seconds: float | None = None
    json_path: str | None = None
    markdown_path: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(statistics.median(values)) if values else None


def judge(figures: dict, customers: int) -> list[dict]:
    """Each target beside its figure: status pass, miss, n/a (not W10) or missing."""
    out = []
    for t in TARGETS:
        value = figures.get(t.key)
        if t.size is not None and customers != t.size:
            status = "n/a"
        elif value is None:
            status = "missing"
        else:
            ok = value < t.bound if t.op == "<" else value >= t.bound
            status = "pass" if ok else "miss"
        out.append({"key": t.key, "label": t.label, "target": f"{t.op} {t.bound:,g} {t.unit}",
                    "value": value, "unit": t.unit, "status": status,
                    "applies": SIZE_NAMES[t.size] if t.size else "every size"})
    return out


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 10:
        value = int(value)
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 10 else f"{value:,.1f}"
    else:
        text = f"{value:,}"
    return f"{text} {unit}".strip()


def markdown(report: BenchReport) -> str:
    w, f, p = report.workload, report.figures, report.peers
    lines = [
        f"# Benchmark {w['name']}: {w['customers']:,} customers, {w['events']:,} events "
        f"({w['months']} months, seed {w['seed']})",
        "",
        f"Medians of {report.repeat} run(s); data generation excluded. "
        f"Machine: {report.machine.get('cpus')} CPUs, load average before the runs "
        f"{report.machine.get('load_before')}, speed probe {report.machine.get('probe_seconds')} s "
        "(a fixed DuckDB aggregation and numpy sort, median of 3, timed before the runs: "
        "reports compare when their probes agree).",
        "",
        "## Targets",
        "",
        "| target | goal | figure | status |",
        "|---|---|---|---|",
    ]
    for t in report.targets:
        lines.append(f"| {t['label']} | {t['target']} ({t['applies']}) | {_fmt(t['value'], t['unit'])} "
                     f"| {t['status']} |")
    lines += ["", "## Full run, per stage", "", "| stage | seconds |", "|---|---|"]
    for stage, secs in report.stages.items():
        lines.append(f"| {stage} | {_fmt(secs)} |")
    lines += [
        f"| **total** | **{_fmt(f.get('full_run_seconds'))}** |",
        "",
        f"Events ingested {_fmt(f.get('events_ingested'))}; {_fmt(f.get('events_per_second'))} "
        f"events/s over the whole run; peak RSS {_fmt(f.get('peak_rss_gib'), 'GiB')}; "
        f"{_fmt(f.get('customers_scored'))} customers scored "
        f"({_fmt(f.get('scoring_customers_per_second'))} customers/s for the scoring stage, "
        f"{_fmt(f.get('predict_customers_per_second'))} customers/s in the model's predict + explain).",
        _peaks_line(report.runs[-1]["full"].get("peak_rss_bytes_by_stage") if report.runs else None),
        "",
        "## Incremental run (1% new events, live model, no retraining)",
        "",
        "| stage | seconds |", "|---|---|",
    ]
    for stage, secs in report.incremental_stages.items():
        lines.append(f"| {stage} | {_fmt(secs)} |")
    lines += [f"| **total** | **{_fmt(f.get('incremental_seconds'))}** |", "",
              f"New events loaded: {_fmt(f.get('incremental_events'))}.", ""]
    pd_, bg = p.get("pandas", {}), p.get("bgnbd", {})
    agreement = pd_.get("agreement") or {}
    compared = len(agreement.get("features") or pd_.get("features", []))
    mart_features = agreement.get("mart_features", compared)
    peer_share = f"the same {compared}" if compared == mart_features else f"{compared} of the {mart_features}"
    lines += [
        "## Peers (same run, same data)",
        "",
        "| | ours | peer | ratio |",
        "|---|---|---|---|",
        f"| feature build (s) | {_fmt(f.get('features_seconds'))} (dbt stage: "
        f"{f'{mart_features} ' if mart_features else ''}features, labels, tests) "
        f"| {_fmt(pd_.get('compute_seconds'))} "
        f"({'left out' if pd_.get('skipped') else f'pandas: {peer_share} features'}) "
        f"| {_fmt(f.get('feature_speedup'), 'x')} |",
        f"| churn model fit (s) | {_fmt(f.get('training_seconds'))} (LightGBM + calibration + backtest) "
        f"| {_fmt(bg.get('fit_seconds'))} (BG/NBD) | |",
        f"| ROC AUC vs ground truth | {_fmt(f.get('model_auc'))} | {_fmt(bg.get('auc'))} (1 - P(alive)) "
        f"| oracle {_fmt(f.get('oracle_auc'))} |",
        "",
        _pandas_paragraph(pd_, agreement, compared, peer_share),
        f"BG/NBD: lifetimes BetaGeoFitter on {_fmt(bg.get('transactions'))} payments "
        f"(purchases and subscription payments) before the scoring date.",
        "",
    ]
    return "\n".join(lines)


def _peaks_line(peaks: dict | None) -> str:
    if not peaks:
        return ""
    return ("Peak memory of the pipeline process so far at the end of each stage (last run): "
            + ", ".join(f"{stage} {_fmt(value / GIB, 'GiB')}" for stage, value in peaks.items()) + ".")


def _pandas_paragraph(pd_: dict, agreement: dict, compared: int, peer_share: str) -> str:
    if pd_.get("skipped"):
        return f"The pandas peer was {pd_['skipped']}."
    return (
        f"The pandas peer computes, the way a churn notebook does (filter the events before each "
        f"cutoff, group by customer), {peer_share} features the dbt stage builds into "
        f"fct_customer_features, on {_fmt(pd_.get('rows'))} customer x as-of rows "
        f"({pd_.get('as_of_dates')} as-of dates): {', '.join(pd_.get('features', []))}. "
        f"The dbt stage also builds the churn labels and runs dbt's tests; the peer does neither. "
        f"Reading the raw rows into pandas took a further {_fmt(pd_.get('load_seconds'))} s (not in the ratio). "
        f"Agreement with the mart on every as-of date: {pd_.get('mismatches', '-')} mismatching values "
        f"out of {_fmt(agreement.get('rows', 0) * compared or None)} compared.")


def write(report: BenchReport, out: Path) -> BenchReport:
    """Write ``<out>/bench-<name>.json`` and ``.md``; return the report with both paths."""
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"bench-{report.workload['name']}"
    report.json_path, report.markdown_path = str(stem.with_suffix(".json")), str(stem.with_suffix(".md"))
    Path(report.json_path).write_text(report.to_json() + "\n", encoding="utf-8")
    Path(report.markdown_path).write_text(markdown(report), encoding="utf-8")
    return report


def print_bench(console, report: BenchReport) -> None:
    """Print the targets table and where the files are, on a rich Console."""
    from rich.table import Table

    w = report.workload
    table = Table(title=f"Benchmark {w['name']}: {w['customers']:,} customers, {w['events']:,} events, "
                        f"median of {report.repeat}")
    for col in ("target", "goal", "figure", "status"):
        table.add_column(col)
    colours = {"pass": "green", "miss": "red", "n/a": "dim", "missing": "yellow"}
    for t in report.targets:
        table.add_row(t["label"], f"{t['target']} ({t['applies']})", _fmt(t["value"], t["unit"]),
                      f"[{colours[t['status']]}]{t['status']}[/]")
    console.print(table)
    stages = ", ".join(f"{k} {_fmt(v)}" for k, v in report.stages.items())
    console.print(f"stages (s): {stages}")
    console.print(f"report: {report.markdown_path}  figures: {report.json_path}")
