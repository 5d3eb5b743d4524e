"""Inline SVG charts for the pages, drawn on the server (no scripts, nothing loaded from anywhere).

Bar and line charts of fixed shape come from ``customer_health.backtest_report`` (the backtest
report's own charts); this module adds what the pages need besides: a customer's score history
over the band zones, horizontal (stacked) bars for dimensions, segments, drivers and channels, and
a timeline of a customer's interactions and transactions on every channel. Every label is escaped.
"""

from __future__ import annotations

import html
from datetime import date, datetime, timedelta
from typing import Any, Mapping, Sequence

from customer_health.backtest_report import BAND_COLOURS, BANDS, nice_ticks

BAND_LABELS = {"critical": "critical", "at_risk": "at risk", "watch": "watch", "healthy": "healthy"}
BAND_TINTS = {"critical": "#f6d5d7", "at_risk": "#fbe3d6", "watch": "#fcf1cf", "healthy": "#dcefd9"}
CHANNELS = ("email", "chat", "phone", "social", "in_app", "web", "store", "survey", "other")
INTERACTION_COLOURS = {
    "complaint": "#b2182b", "support_ticket": "#ef8a62", "ticket_resolved": "#4daf4a",
    "survey_response": "#984ea3", "login": "#9ecae1", "feature_use": "#4292c6",
    "marketing": "#c7c7c7", "other": "#8c8c8c",
}
TRANSACTION_COLOURS = {"purchase": "#1a9850", "subscription_payment": "#66bd63",
                       "refund": "#f46d43", "cancellation": "#222222", "other": "#8c8c8c"}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _svg(title: str, width: float, height: float, body: Sequence[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="{_e(title)}" '
            f'class="chart"><title>{_e(title)}</title>{"".join(body)}</svg>')


def _day(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _date_ticks(start: date, end: date, most: int = 7) -> list[date]:
    """First days of months between start and end (every k-th so at most ``most``)."""
    months = []
    d = date(start.year, start.month, 1)
    while d <= end:
        if d >= start:
            months.append(d)
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    step = max(1, -(-len(months) // most))
    return months[::step] or [start]


# ---------------------------------------------------------------- score history

def score_history(points: Sequence[Mapping[str, Any]], thresholds: Mapping[str, float],
                  width: int = 640, height: int = 250) -> str:
    """Health score per scoring date over the band zones of ``thresholds`` (the customer's)."""
    ml, mr, mt, mb = 40, 16, 12, 30
    points = [p for p in points if p.get("health_score") is not None and p.get("as_of") is not None]
    days = [_day(p["as_of"]) for p in points]
    start, end = (min(days), max(days)) if days else (date.today(), date.today())
    if (end - start).days < 30:
        start, end = start - timedelta(days=15), end + timedelta(days=15)
    span = max((end - start).days, 1)

    def sx(d: date) -> float:
        return ml + (width - ml - mr) * (d - start).days / span

    def sy(v: float) -> float:
        return height - mb - (height - mt - mb) * v / 100

    body = []
    bounds = [("healthy", thresholds["healthy"], 100), ("watch", thresholds["watch"], thresholds["healthy"]),
              ("at_risk", thresholds["at_risk"], thresholds["watch"]), ("critical", 0, thresholds["at_risk"])]
    for band, low, high in bounds:
        body.append(f'<rect x="{ml}" y="{sy(high):.1f}" width="{width - ml - mr}" '
                    f'height="{sy(low) - sy(high):.1f}" fill="{BAND_TINTS[band]}"/>')
        body.append(f'<text x="{width - mr - 4}" y="{sy(high) + 12:.1f}" text-anchor="end" '
                    f'fill="#666">{_e(BAND_LABELS[band])}</text>')
    for v in (0, 20, 40, 60, 80, 100):
        body.append(f'<text x="{ml - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{v}</text>')
    for d in _date_ticks(start, end):
        body.append(f'<line x1="{sx(d):.1f}" x2="{sx(d):.1f}" y1="{mt}" y2="{height - mb}" '
                    'stroke="#fff" stroke-width="1"/>')
        body.append(f'<text x="{sx(d):.1f}" y="{height - mb + 16}" text-anchor="middle">'
                    f'{d:%b %Y}</text>')
    body.append(f'<rect x="{ml}" y="{mt}" width="{width - ml - mr}" height="{height - mt - mb}" '
                'fill="none" stroke="#bbb"/>')
    if len(points) > 1:
        pts = " ".join(f"{sx(d):.1f},{sy(p['health_score']):.1f}" for d, p in zip(days, points))
        body.append(f'<polyline points="{pts}" fill="none" stroke="#333" stroke-width="2"/>')
    for d, p in zip(days, points):
        band = p.get("health_band") or "watch"
        body.append(f'<circle cx="{sx(d):.1f}" cy="{sy(p["health_score"]):.1f}" r="5" '
                    f'fill="{BAND_COLOURS.get(band, "#777")}" stroke="#fff" stroke-width="1.5">'
                    f'<title>{d}: health score {p["health_score"]} ({_e(BAND_LABELS.get(band, band))})'
                    f'</title></circle>')
    if points:
        last = points[-1]
        body.append(f'<text x="{sx(days[-1]) - 8:.1f}" y="{sy(last["health_score"]) - 9:.1f}" '
                    f'text-anchor="end" font-weight="600">{last["health_score"]}</text>')
    return _svg("Health score history", width, height, body)


# ---------------------------------------------------------------- horizontal bars

def hbars(title: str, rows: Sequence[tuple[str, Sequence[tuple[float, str, str]], str]], *,
          x_max: float | None = None, reference: float | None = None, label_width: int = 150,
          width: int = 560, row_height: int = 24, value_format: str = "{:,.0f}",
          legend: Sequence[tuple[str, str]] = ()) -> str:
    """Horizontal bars, one row per (label, [(value, colour, tooltip), ...], caption); the parts
    of a row are stacked. ``reference`` draws a dashed line (e.g. 50 for dimension scores)."""
    mt, mb, caption_width = 8, 22 + (18 if legend else 0), 90
    plot = width - label_width - caption_width
    height = mt + mb + row_height * max(len(rows), 1)
    ticks = nice_ticks(x_max or max([sum(v for v, _, _ in parts) for _, parts, _ in rows] + [1]), 5)
    top = x_max or ticks[-1]

    def sx(v: float) -> float:
        return label_width + plot * min(max(v, 0), top) / top

    body = []
    for v in ticks:
        body.append(f'<line x1="{sx(v):.1f}" x2="{sx(v):.1f}" y1="{mt}" '
                    f'y2="{height - mb}" stroke="#eee"/>')
        body.append(f'<text x="{sx(v):.1f}" y="{height - mb + 14}" text-anchor="middle" '
                    f'fill="#666">{_e(value_format.format(v))}</text>')
    for i, (label, parts, caption) in enumerate(rows):
        y = mt + i * row_height
        short = label if len(label) <= 32 else label[:31] + "…"
        body.append(f'<text x="{label_width - 6}" y="{y + row_height / 2 + 4:.1f}" '
                    f'text-anchor="end"><title>{_e(label)}</title>{_e(short)}</text>')
        left = 0.0
        for value, colour, tip in parts:
            if value <= 0:
                continue
            body.append(f'<rect x="{sx(left):.1f}" y="{y + 4}" width="{sx(left + value) - sx(left):.1f}" '
                        f'height="{row_height - 8}" fill="{colour}"><title>{_e(tip)}</title></rect>')
            left += value
        body.append(f'<text x="{sx(left) + 5:.1f}" y="{y + row_height / 2 + 4:.1f}">{_e(caption)}</text>')
    if reference is not None:
        body.append(f'<line x1="{sx(reference):.1f}" x2="{sx(reference):.1f}" y1="{mt}" '
                    f'y2="{height - mb}" stroke="#555" stroke-dasharray="4 3"/>')
    x = label_width
    for name, colour in legend:
        body.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{colour}"/>'
                    f'<text x="{x + 14}" y="{height - 5}">{_e(name)}</text>')
        x += 24 + 7 * len(name)
    return _svg(title, width, height, body)


def dimension_bars(row: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """The four dimension scores (0-100; above 50 the dimension lowers the risk)."""
    rows = []
    for key, label in labels.items():
        value = row.get(f"{key}_score")
        if value is None:
            rows.append((label, [], "n/a"))
            continue
        colour = "#4daf4a" if value >= 60 else "#f2c14e" if value >= 40 else "#b2182b"
        rows.append((label, [(float(value), colour, f"{label}: {value:.0f} of 100")], f"{value:.0f}"))
    return hbars("Dimension scores", rows, x_max=100, reference=50, width=520)


def segment_bands(rows: Sequence[Mapping[str, Any]], measure: str, value_format: str) -> str:
    """Per segment, ``measure`` (customers or revenue) stacked by band, worst band first."""
    segments: dict[str, dict[str, float]] = {}
    for r in rows:
        segments.setdefault(r["segment"], {})[r["health_band"]] = float(r[measure] or 0)
    out = []
    for segment, values in segments.items():
        parts = [(values.get(b, 0.0), BAND_COLOURS[b],
                  f"{segment}, {BAND_LABELS[b]}: {value_format.format(values.get(b, 0.0))}")
                 for b in BANDS]
        out.append((segment, parts, value_format.format(sum(values.values()))))
    title = "Customers by segment and band" if measure == "customers" else \
        "Revenue by segment and band"
    return hbars(title, out, value_format=value_format,
                 legend=[(BAND_LABELS[b], BAND_COLOURS[b]) for b in BANDS], width=600)


# ---------------------------------------------------------------- timeline

def timeline(interactions: Sequence[Mapping[str, Any]], transactions: Sequence[Mapping[str, Any]],
             start: date, end: date, width: int = 1200) -> str:
    """Every interaction (one row per channel) and transaction between start and end."""
    ml, mr, mt, row_h = 90, 16, 8, 22
    channels = [c for c in CHANNELS if any(i["channel"] == c for i in interactions)]
    channels += sorted({i["channel"] or "other" for i in interactions} - set(channels))
    rows = channels + ["payments"]
    legend_h = 40
    height = mt + row_h * len(rows) + 22 + legend_h
    span = max((end - start).days, 1)

    def sx(t: Any) -> float:
        d = t if isinstance(t, datetime) else datetime.combine(t, datetime.min.time())
        days = (d - datetime.combine(start, datetime.min.time())).total_seconds() / 86400
        return ml + (width - ml - mr) * min(max(days / span, 0), 1)

    body = []
    for i, name in enumerate(rows):
        y = mt + i * row_h
        if i % 2 == 0:
            body.append(f'<rect x="{ml}" y="{y}" width="{width - ml - mr}" height="{row_h}" fill="#f6f6f6"/>')
        body.append(f'<text x="{ml - 8}" y="{y + row_h / 2 + 4}" text-anchor="end">'
                    f'{_e(name.replace("_", "-"))}</text>')
    axis_y = mt + row_h * len(rows)
    for d in _date_ticks(start, end, 8):
        body.append(f'<line x1="{sx(d):.1f}" x2="{sx(d):.1f}" y1="{mt}" y2="{axis_y}" stroke="#ddd"/>')
        body.append(f'<text x="{sx(d):.1f}" y="{axis_y + 15}" text-anchor="middle" fill="#555">'
                    f'{d:%b %Y}</text>')
    for item in sorted(interactions, key=lambda r: INTERACTION_COLOURS.get(r["interaction_type"], "") == "#c7c7c7",
                       reverse=True):  # marketing underneath, what the customer did on top
        y = mt + rows.index(item["channel"] or "other") * row_h + row_h / 2
        kind = item["interaction_type"] or "other"
        colour = INTERACTION_COLOURS.get(kind, INTERACTION_COLOURS["other"])
        r = 4.5 if kind in ("complaint", "support_ticket", "survey_response") else 3
        extra = []
        if item.get("topic"):
            extra.append(f"topic {item['topic']}")
        if item.get("csat") is not None:
            extra.append(f"CSAT {item['csat']:.0f}/5")
        if item.get("sentiment") is not None:
            extra.append(f"sentiment {item['sentiment']:+.2f}")
        tip = (f"{item['occurred_at']:%Y-%m-%d %H:%M} {item['channel']} {kind.replace('_', ' ')}"
               f" ({item.get('direction') or 'n/a'})" + (": " + ", ".join(extra) if extra else ""))
        body.append(f'<circle cx="{sx(item["occurred_at"]):.1f}" cy="{y:.1f}" r="{r}" '
                    f'fill="{colour}" fill-opacity="0.85"><title>{_e(tip)}</title></circle>')
    y = mt + (len(rows) - 1) * row_h + row_h / 2
    for t in transactions:
        kind = t["transaction_type"] or "other"
        colour = TRANSACTION_COLOURS.get(kind, TRANSACTION_COLOURS["other"])
        x = sx(t["occurred_at"])
        amount = t.get("amount")
        tip = (f"{t['occurred_at']:%Y-%m-%d} {kind.replace('_', ' ')} "
               f"{'' if amount is None else f'{amount:,.2f}'} {t.get('currency') or ''}".strip())
        body.append(f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}" '
                    f'transform="rotate(45 {x:.1f} {y:.1f})"><title>{_e(tip)}</title></rect>')
    legend = [(k.replace("_", " "), c) for k, c in INTERACTION_COLOURS.items()]
    legend += [(f"{k.replace('_', ' ')} (payments row)", c) for k, c in TRANSACTION_COLOURS.items()
               if k != "other"]
    x, ly = ml, axis_y + 30
    for name, colour in legend:
        w = 18 + 6.2 * len(name)
        if x + w > width - mr:
            x, ly = ml, ly + 16
        body.append(f'<circle cx="{x + 4}" cy="{ly - 4}" r="4" fill="{colour}"/>'
                    f'<text x="{x + 12}" y="{ly}">{_e(name)}</text>')
        x += w + 8
    height = max(height, ly + 8)
    return _svg("Interactions and transactions timeline", width, height, body)
