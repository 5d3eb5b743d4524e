"""The inline SVG charts: well-formed, labels escaped, and sensible with little or no data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime

from customer_health.web import charts

THRESHOLDS = {"healthy": 80, "watch": 60, "at_risk": 40}
HOSTILE = "<script>alert('x')</script> & \"quotes\""


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed


def texts(svg: str) -> list[str]:
    return ["".join(t.itertext()) for t in parse(svg).iter("{http://www.w3.org/2000/svg}text")]


def test_score_history_with_one_point_none_and_many():
    one = charts.score_history([{"as_of": date(2026, 2, 28), "health_score": 8, "health_band": "critical"}],
                               THRESHOLDS)
    assert "8" in texts(one) and len(parse(one).findall(".//{http://www.w3.org/2000/svg}circle")) == 1
    parse(charts.score_history([], THRESHOLDS))
    many = charts.score_history([{"as_of": date(2026, m, 1), "health_score": 90 - 10 * m,
                                  "health_band": "watch"} for m in range(1, 7)], THRESHOLDS)
    assert parse(many).find(".//{http://www.w3.org/2000/svg}polyline") is not None


def test_labels_are_escaped():
    svg = charts.hbars(HOSTILE, [(HOSTILE, [(3, "#000", HOSTILE)], HOSTILE)], legend=[(HOSTILE, "#111")])
    assert "<script>" not in svg
    assert HOSTILE[:31] + "…" in texts(svg) or HOSTILE in texts(svg)
    timeline = charts.timeline(
        [{"occurred_at": datetime(2026, 1, 5, 10), "channel": HOSTILE, "interaction_type": "complaint",
          "direction": "inbound", "topic": HOSTILE, "csat": 1.0, "sentiment": -0.8}],
        [{"occurred_at": datetime(2026, 1, 6), "transaction_type": "refund", "amount": -12.5,
          "currency": HOSTILE}], date(2025, 12, 1), date(2026, 2, 1))
    assert "<script>" not in timeline
    parse(timeline)


def test_axis_ticks_cover_the_longest_bar():
    svg = charts.hbars("t", [("a", [(116, "#000", "x")], "116")])
    ticks = [int(t) for t in texts(svg) if t.isdigit()][:-1]
    assert ticks == [0, 50, 100, 150]


def test_empty_timeline_and_dimensions_without_values():
    parse(charts.timeline([], [], date(2025, 9, 1), date(2026, 2, 28)))
    svg = charts.dimension_bars({"engagement_score": None, "value_score": 72.0},
                                {"engagement": "Engagement", "value": "Value"})
    assert "n/a" in texts(svg) and "72" in texts(svg)
