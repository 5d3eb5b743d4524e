"""`customer-health report`: the backtest of the live model as one self-contained HTML page.

Everything comes from the model folder (card.json and the last fold's risks and outcomes in
``backtest_last_fold.parquet``), so the report needs no retraining. Charts are inline SVG drawn
here (no scripts, no network at view time): ROC and calibration curves of the last fold, lift by
decile, the distribution of health scores by band and the churn rate by band (do red customers
really churn more?), then the per-fold metrics table and the baselines.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from customer_health.config import BandsConfig, Settings
from customer_health.errors import UsageError

BANDS = ("critical", "at_risk", "watch", "healthy")
BAND_COLOURS = {"critical": "#b2182b", "at_risk": "#ef8a62", "watch": "#f2c14e", "healthy": "#4daf4a"}
SERIES_COLOURS = {"model": "#2166ac", "scorecard": "#d6604d", "recency": "#7f7f7f"}
W, H, ML, MR, MT, MB = 460, 320, 56, 16, 16, 44  # chart size and margins (px)
TITLES = ("ROC curve", "Calibration curve", "Lift by decile", "Score distribution by health band",
          "Churn rate by health band", "Backtest metrics per fold", "Baselines")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------- data

def health_score(risk: np.ndarray) -> np.ndarray:
    """round(100 x (1 - risk)), halves away from zero like the warehouse's round()."""
    return np.floor(100.0 * (1.0 - np.asarray(risk, dtype="float64")) + 0.5)


def band_of(score: np.ndarray, thresholds: Mapping[str, float]) -> np.ndarray:
    """Band of each health score under the config thresholds (lower bounds of healthy/watch/at_risk)."""
    return np.select([score >= thresholds["healthy"], score >= thresholds["watch"], score >= thresholds["at_risk"]],
                     ["healthy", "watch", "at_risk"], default="critical")


def assign_bands(score: np.ndarray, segment: np.ndarray | None, bands: BandsConfig) -> np.ndarray:
    """Bands as the warehouse assigns them: the defaults, or a segment's own thresholds
    (``bands.by_segment``, segment names matched without regard to case)."""
    default = {"healthy": bands.healthy, "watch": bands.watch, "at_risk": bands.at_risk}
    out = band_of(score, default)
    if segment is not None and bands.by_segment:
        seg = pd.Series(segment, dtype=object).astype("string").str.lower().fillna("").to_numpy(dtype=object)
        for name in bands.by_segment:
            rows = seg == name.lower()
            if rows.any():
                out[rows] = band_of(score[rows], bands.segment_thresholds(name))
    return out


def roc_points(y: np.ndarray, p: np.ndarray, max_points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    if len(fpr) > max_points:
        keep = np.unique(np.r_[np.linspace(0, len(fpr) - 1, max_points).astype(int), len(fpr) - 1])
        fpr, tpr = fpr[keep], tpr[keep]
    return fpr, tpr


def lift_by_decile(y: np.ndarray, p: np.ndarray) -> list[float]:
    """Churn rate of each risk decile (1 = riskiest) over the overall churn rate."""
    order = np.argsort(-np.asarray(p, dtype="float64"), kind="stable")
    base = float(np.mean(y)) or float("nan")
    return [float(np.mean(y[idx])) / base for idx in np.array_split(order, 10)]


# ---------------------------------------------------------------- SVG

def _frame(x_label: str, y_label: str, x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[tuple[float, str]],
           sx, sy) -> list[str]:
    out = [f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{H - MT - MB}" fill="none" stroke="#999"/>']
    for v, label in x_ticks:
        out.append(f'<text x="{sx(v):.1f}" y="{H - MB + 16}" text-anchor="middle">{_e(label)}</text>')
    for v, label in y_ticks:
        out.append(f'<line x1="{ML}" x2="{W - MR}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{ML - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{_e(label)}</text>')
    out.append(f'<text x="{(ML + W - MR) / 2}" y="{H - 8}" text-anchor="middle">{_e(x_label)}</text>')
    out.append(f'<text transform="translate(14 {(MT + H - MB) / 2}) rotate(-90)" text-anchor="middle">'
               f'{_e(y_label)}</text>')
    return out


def _svg(title: str, body: list[str], legend: Sequence[tuple[str, str]] = ()) -> str:
    items = [f'<rect x="{ML + 10}" y="{MT + 8 + 16 * i}" width="10" height="10" fill="{c}"/>'
             f'<text x="{ML + 26}" y="{MT + 17 + 16 * i}">{_e(label)}</text>' for i, (label, c) in enumerate(legend)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
            f'role="img" aria-label="{_e(title)}"><title>{_e(title)}</title>' + "".join(body + items) + "</svg>")


def _unit_scales(x_max: float = 1.0, y_max: float = 1.0):
    return (lambda v: ML + (W - ML - MR) * v / x_max), (lambda v: H - MB - (H - MT - MB) * v / y_max)


def line_chart(title: str, series: Sequence[tuple[str, np.ndarray, np.ndarray, str]], x_label: str, y_label: str,
               *, limit: float = 1.0, markers: bool = False) -> str:
    """Lines on a square [0, limit] x [0, limit] plot with the diagonal (chance / perfect calibration)."""
    sx, sy = _unit_scales(limit, limit)
    ticks = [(v, f"{v:.1f}") for v in np.linspace(0, limit, 6)]
    body = _frame(x_label, y_label, ticks, ticks, sx, sy)
    body.append(f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(limit)}" y2="{sy(limit)}" stroke="#aaa" '
                'stroke-dasharray="4 4"/>')
    for _, xs, ys, colour in series:
        pts = " ".join(f"{sx(min(x, limit)):.1f},{sy(min(y, limit)):.1f}" for x, y in zip(xs, ys))
        body.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if markers:
            body += [f'<circle cx="{sx(min(x, limit)):.1f}" cy="{sy(min(y, limit)):.1f}" r="3" fill="{colour}"/>'
                     for x, y in zip(xs, ys)]
    return _svg(title, body, [(label, colour) for label, _, _, colour in series])


def nice_ticks(top: float, most: int = 6) -> list[float]:
    """Round tick values from 0 to at least ``top`` (steps of 1, 2, 2.5 or 5 x 10^k), at most ``most``."""
    top = max(float(top), 1e-9)
    for step in (m * 10.0 ** k for k in range(-3, 9) for m in (1, 2, 2.5, 5)):
        if top / step <= most - 1:
            return [i * step for i in range(int(np.ceil(top / step - 1e-9)) + 1)]
    return [0.0, top]


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], colours: Sequence[str], x_label: str,
              y_label: str, *, value_format: str = "{:.2f}", reference: float | None = None,
              captions: Sequence[str] | None = None, y_max: float | None = None) -> str:
    """Vertical bars with their value (or ``captions``) on top, optional dashed reference line;
    the axis ends at ``y_max`` when given (1.0 for rates), else just above the tallest bar."""
    ticks = nice_ticks(y_max or max([v for v in values if np.isfinite(v)] + [reference or 0.0]) * 1.1)
    top = ticks[-1]
    sx, sy = _unit_scales(len(labels), top)
    y_ticks = [(v, value_format.format(v)) for v in ticks]
    body = _frame(x_label, y_label, [(i + 0.5, lab) for i, lab in enumerate(labels)], y_ticks, sx, sy)
    width = (W - ML - MR) / len(labels) * 0.7
    for i, (v, colour) in enumerate(zip(values, colours)):
        v = v if np.isfinite(v) else 0.0
        x = sx(i + 0.5) - width / 2
        body.append(f'<rect x="{x:.1f}" y="{sy(v):.1f}" width="{width:.1f}" height="{sy(0) - sy(v):.1f}" '
                    f'fill="{colour}"><title>{_e(labels[i])}: {_e(value_format.format(v))}</title></rect>')
        caption = captions[i] if captions else value_format.format(v)
        body.append(f'<text x="{sx(i + 0.5):.1f}" y="{sy(v) - 4:.1f}" text-anchor="middle">{_e(caption)}</text>')
    if reference is not None:
        body.append(f'<line x1="{ML}" x2="{W - MR}" y1="{sy(reference):.1f}" y2="{sy(reference):.1f}" '
                    'stroke="#333" stroke-dasharray="4 4"/>')
    return _svg(title, body)


def stacked_histogram(title: str, score: np.ndarray, band: np.ndarray, x_label: str, y_label: str,
                      bin_width: int = 5) -> str:
    """Customers per health-score bin (0-100), each bar split by band."""
    edges = np.arange(0, 100 + bin_width, bin_width)
    idx = np.clip((score // bin_width).astype(int), 0, len(edges) - 2)
    counts = {b: np.bincount(idx[band == b], minlength=len(edges) - 1) for b in BANDS}
    ticks = nice_ticks(max(1, int(sum(counts.values()).max())) * 1.05)
    sx, sy = _unit_scales(100.0, ticks[-1])
    y_ticks = [(v, f"{v:,.0f}") for v in ticks]
    body = _frame(x_label, y_label, [(v, str(v)) for v in range(0, 101, 20)], y_ticks, sx, sy)
    for j in range(len(edges) - 1):
        base = 0.0
        for b in BANDS:
            n = counts[b][j]
            if n:
                body.append(f'<rect x="{sx(edges[j]) + 1:.1f}" y="{sy(base + n):.1f}" '
                            f'width="{sx(bin_width) - sx(0) - 2:.1f}" height="{sy(base) - sy(base + n):.1f}" '
                            f'fill="{BAND_COLOURS[b]}"><title>{edges[j]}-{edges[j + 1]}: {n:,} {b}</title></rect>')
                base += n
    return _svg(title, body, [(b, BAND_COLOURS[b]) for b in BANDS])


# ---------------------------------------------------------------- page

def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return f"{v:.{digits}f}" if isinstance(v, float) else _e(v)


_METRICS = (("ROC AUC", "roc_auc", 3), ("PR AUC", "pr_auc", 3), ("Brier", "brier", 4), ("ECE", "ece", 3),
            ("lift 10%", "lift_top10", 2), ("lift 20%", "lift_top20", 2), ("capture 10%", "capture_top10", 2),
            ("capture 20%", "capture_top20", 2))


def _fold_table(bt: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{t}</th>" for t in ("fold as-of", "trained on as-of", "rows", "churners",
                                              *(m[0] for m in _METRICS)))
    rows = []
    for f in bt.get("folds") or []:
        if f.get("skipped"):
            rows.append(f"<tr><td>{_e(f['as_of'])}</td><td colspan='{len(_METRICS) + 3}'>skipped: "
                        f"{_e(f['skipped'])}</td></tr>")
            continue
        rows.append(f"<tr><td>{_e(f['as_of'])}</td><td>{_e(f.get('train_as_of_min'))} to "
                    f"{_e(f.get('calibration_as_of'))}</td><td>{_fmt(f.get('rows'))}</td>"
                    f"<td>{_fmt(f.get('positives'))}</td>"
                    + "".join(f"<td>{_fmt(f.get(k), d)}</td>" for _, k, d in _METRICS) + "</tr>")
    mean = bt.get("mean") or {}
    if mean:
        rows.append(f"<tr class='mean'><td>mean of {bt.get('folds_evaluated')}</td><td></td><td></td><td></td>"
                    + "".join(f"<td>{_fmt(mean.get(k), d)}</td>" for _, k, d in _METRICS) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _baseline_table(bt: Mapping[str, Any]) -> str:
    base = bt.get("baseline_mean") or {}
    if not base:
        return ("<p>No baselines in this backtest (the rule-based scorecard module was not available when "
                "the model was trained).</p>")
    names = sorted(base)
    mean = bt.get("mean") or {}
    head = "<th>metric (mean over folds)</th><th>model</th>" + "".join(f"<th>{_e(n)}</th>" for n in names)
    rows = [f"<tr><td>{t}</td><td>{_fmt(mean.get(k), d)}</td>"
            + "".join(f"<td>{_fmt(base[n].get(k), d)}</td>" for n in names) + "</tr>" for t, k, d in _METRICS]
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;max-width:1000px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}p.lead{color:#555}
svg{font-size:11px;background:#fff}
.grid{display:flex;flex-wrap:wrap;gap:1.5rem}.grid>section{flex:0 0 auto}
table{border-collapse:collapse;font-size:.85rem}th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}tr.mean td{font-weight:600;border-top:2px solid #999}"""


def render_html(card: Mapping[str, Any], last_fold: pd.DataFrame, bands: BandsConfig) -> str:
    """The report page for one model card and its last backtest fold, banded with ``bands``."""
    bt = card.get("backtest") or {}
    y = last_fold["churned"].to_numpy(dtype="float64")
    p = last_fold["churn_risk"].to_numpy(dtype="float64")
    fold_as_of = pd.Timestamp(last_fold["as_of"].iloc[0]).date() if len(last_fold) else "?"
    others = [c[len("risk_"):] for c in last_fold.columns if c.startswith("risk_")]

    from sklearn.metrics import roc_auc_score

    from ml.metrics import calibration_bins, expected_calibration_error

    roc_series = []
    for name, risk in [("model", p)] + [(n, last_fold[f"risk_{n}"].to_numpy(dtype="float64")) for n in others]:
        fpr, tpr = roc_points(y, risk)
        roc_series.append((f"{name} (AUC {roc_auc_score(y, risk):.3f})", fpr, tpr,
                           SERIES_COLOURS.get(name, "#984ea3")))
    cal = calibration_bins(y, p, 10)
    calibration_svg = line_chart(
        "Calibration curve", [(f"model (ECE {expected_calibration_error(y, p):.3f})",
                               np.array([b["mean_predicted"] for b in cal]),
                               np.array([b["observed_rate"] for b in cal]), SERIES_COLOURS["model"])],
        "mean predicted churn risk (10 equal-frequency bins)", "observed churn rate", markers=True)
    lifts = lift_by_decile(y, p)
    score = health_score(p)
    band = assign_bands(score, last_fold["segment"].to_numpy() if "segment" in last_fold else None, bands)
    own = f" ({', '.join(sorted(bands.by_segment))} with thresholds of their own)" if bands.by_segment else ""
    rates = [float(y[band == b].mean()) if (band == b).any() else float("nan") for b in BANDS]
    counts = [int((band == b).sum()) for b in BANDS]

    charts = [
        ("ROC curve", "How well the risk ranks churners above the others (diagonal: chance).",
         line_chart("ROC curve", roc_series, "false positive rate", "true positive rate")),
        ("Calibration curve", "Predicted risk against the churn that happened (diagonal: perfect).",
         calibration_svg),
        ("Lift by decile", "Churn rate of each risk decile (1 = riskiest 10%) over the overall rate.",
         bar_chart("Lift by decile", [str(i) for i in range(1, 11)], lifts, [SERIES_COLOURS["model"]] * 10,
                   "risk decile", "lift", reference=1.0)),
        ("Score distribution by health band",
         f"Customers by health score (round(100 x (1 - risk))); bands from config: healthy >= "
         f"{bands.healthy:g}, watch >= {bands.watch:g}, at risk >= {bands.at_risk:g}{own}.",
         stacked_histogram("Score distribution by health band", score, band, "health score", "customers")),
        ("Churn rate by health band", "Share of each band's customers who churned: red customers really churn more.",
         bar_chart("Churn rate by health band", list(BANDS), rates, [BAND_COLOURS[b] for b in BANDS], "health band",
                   "churn rate", value_format="{:.0%}", y_max=1.0,
                   captions=[f"{r:.0%} of {n:,}" if n else "none" for r, n in zip(rates, counts)])),
    ]
    s = bt.get("settings") or {}
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Backtest of churn model {_e(card.get('version'))}</title><style>{CSS}</style></head><body>",
        f"<h1>Backtest of churn model {_e(card.get('version'))}</h1>",
        f"<p class='lead'>Dataset <code>{_e(card.get('dataset_id'))}</code>, trained {_e(card.get('created_at'))}. "
        f"Each of the last {_e(s.get('folds'))} labelled as-of dates was predicted by a model trained the same way "
        f"but only on outcomes known by then (as-of at least {_e(s.get('label_delay_days'))} days earlier). "
        f"The charts show the last fold, {fold_as_of}: {len(y):,} customers active that day, "
        f"{int(y.sum()):,} of whom churned within the horizon.</p>",
        "<div class='grid'>",
    ]
    parts += [f"<section><h2>{_e(t)}</h2><p>{_e(text)}</p>{svg}</section>" for t, text, svg in charts]
    parts += ["</div>", "<h2>Backtest metrics per fold</h2>",
              "<p>ECE: expected calibration error (10 equal-frequency bins); capture: share of all churners "
              "in the top 10% / 20% of risk.</p>", _fold_table(bt),
              "<h2>Baselines</h2>", "<p>The rule-based scorecard and recency alone on the same folds, each "
              "calibrated on the outcomes known at the fold date.</p>", _baseline_table(bt), "</body></html>"]
    return "\n".join(parts)


def write_report(settings: Settings, version: str | None = None) -> Path:
    """Write ``<home>/reports/backtest.html`` for ``version`` (default: the live model)."""
    from ml import registry
    from customer_health.model_admin import warehouse_dataset

    ds = warehouse_dataset(settings)
    version = version or registry.live_version(settings.models_dir, ds) or registry.latest(settings.models_dir, ds)
    try:
        card = registry.read_card(settings.models_dir, version)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if card.get("dataset_id") != ds:
        raise UsageError(f"model {version} belongs to another dataset ({card.get('dataset_id')})")
    pairs = settings.models_dir / version / registry.LAST_FOLD_FILE
    if not card.get("backtest") or not pairs.is_file():
        raise UsageError(f"model {version} has no backtest (model.backtest_folds is 0, the history is too short, "
                         "or it was trained before backtests); the next training run adds one")
    page = render_html(card, pd.read_parquet(pairs), settings.options.bands)
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    target = settings.reports_dir / "backtest.html"
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target
