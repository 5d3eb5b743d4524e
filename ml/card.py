"""Render a model card (card.json content) as Markdown a person can read (card.md)."""

from __future__ import annotations

from typing import Any, Mapping


def _num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _diff(a: Any, b: Any, digits: int = 3) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return "n/a"
    return f"{a - b:+.{digits}f}"


def _baselines(m: Mapping[str, Any]) -> list[str]:
    """The "Baselines" section: the model against the rule-based scorecard and recency alone."""
    base = m.get("baselines") or {}
    if not base:
        return []
    names = [("scorecard", "rule-based scorecard"), ("recency", "recency alone")]
    names = [(k, label) for k, label in names if k in base]
    rows = [("ROC AUC", "roc_auc", 3), ("PR AUC", "pr_auc", 3), ("Lift in the top 10%", "lift_top10", 2)]
    lines = [
        "## Baselines",
        "",
        "The model against what a team would use without it, on the same validation fold and calibrated "
        "the same way: the rule-based scorecard of the configuration (weighted measures, the way "
        "commercial customer-success suites score) and the days since the last payment or inbound "
        "contact alone.",
        "",
        "| metric | model | " + " | ".join(f"{label} | model - {k}" for k, label in names) + " |",
        "|---|---:|" + "---:|---:|" * len(names),
    ]
    for title, key, digits in rows:
        cells = [_num(m.get(key), digits)]
        for k, _ in names:
            cells += [_num(base[k].get(key), digits), _diff(m.get(key), base[k].get(key), digits)]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    lines.append("")
    beats = (m.get("beats") or {}).get("scorecard")
    if isinstance(beats, (int, float)):
        verdict = "beats" if beats > 0 else "does not beat"
        lines += [f"The model {verdict} the rule-based scorecard by {beats:+.3f} ROC AUC.", ""]
    definition = (base.get("scorecard") or {}).get("definition") or {}
    measures = definition.get("measures") or []
    if measures:
        lines += [f"Scorecard measures (missing values: {definition.get('missing', 'half')}): " + ", ".join(
            f"{x['feature']} {float(x['weight']):g} points (full at {float(x['good']):g}, none at "
            f"{float(x['bad']):g})" for x in measures) + ".", ""]
    return lines


_BACKTEST_COLUMNS = (("ROC AUC", "roc_auc", 3), ("PR AUC", "pr_auc", 3), ("Brier", "brier", 4), ("ECE", "ece", 3),
                     ("lift 10%", "lift_top10", 2), ("lift 20%", "lift_top20", 2),
                     ("capture 10%", "capture_top10", 2), ("capture 20%", "capture_top20", 2))


def _backtest(bt: Mapping[str, Any] | None) -> list[str]:
    """The "Backtest" section: one row per fold and the mean, then the baselines' means."""
    if not bt:
        return []
    s = bt.get("settings") or {}
    lines = [
        "## Backtest",
        "",
        f"Rolling backtest over the last {s.get('folds')} labelled as-of dates: each fold's model is trained "
        f"the same way as this one, but only on outcomes already known at the fold date (as-of at least "
        f"{s.get('label_delay_days')} days earlier), then scores the customers active at the fold date. "
        f"ECE: expected calibration error over {s.get('ece_bins', '10 bins')}; capture: share of all "
        "churners in the top 10% / 20% of risk.",
        "",
        "| fold as-of | trained on as-of | rows | churners | " + " | ".join(c[0] for c in _BACKTEST_COLUMNS) + " |",
        "|---|---|---:|---:|" + "---:|" * len(_BACKTEST_COLUMNS),
    ]
    for f in bt.get("folds") or []:
        if f.get("skipped"):
            lines.append(f"| {f.get('as_of')} | skipped: {f['skipped']} |" + " |" * (len(_BACKTEST_COLUMNS) + 2))
            continue
        cells = [_num(f.get(k), d) for _, k, d in _BACKTEST_COLUMNS]
        lines.append(f"| {f.get('as_of')} | {f.get('train_as_of_min')} to {f.get('calibration_as_of')} "
                     f"| {_num(f.get('rows'))} | {_num(f.get('positives'))} | " + " | ".join(cells) + " |")
    mean = bt.get("mean") or {}
    if mean:
        lines.append(f"| **mean of {bt.get('folds_evaluated')}** | | | | "
                     + " | ".join(_num(mean.get(k), d) for _, k, d in _BACKTEST_COLUMNS) + " |")
    lines.append("")
    base = bt.get("baseline_mean") or {}
    if base and mean:
        names = sorted(base)
        lines += ["Baselines on the same folds (mean; each calibrated on the outcomes known at the fold date):", "",
                  "| metric | model | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
        for title, key, digits in _BACKTEST_COLUMNS:
            lines.append(f"| {title} | {_num(mean.get(key), digits)} | "
                         + " | ".join(_num(base[n].get(key), digits) for n in names) + " |")
        lines.append("")
    return lines


def render_markdown(card: Mapping[str, Any], top_features: int = 10) -> str:
    """Markdown model card: what it predicts, data, metrics, top features by gain, limitations."""
    m = card.get("metrics", {})
    t = card.get("training", {})
    cal = card.get("calibration", {})
    specs = card.get("catalogue", {})
    lines = [
        f"# Churn model {card.get('version') or '(unsaved)'}",
        "",
        f"Trained {card.get('created_at')} on dataset `{card.get('dataset_id')}` "
        f"(data fingerprint `{card.get('data_fingerprint')}`), LightGBM {card.get('lightgbm_version')}.",
        "",
        "## What it predicts",
        "",
        "The calibrated probability that an active customer churns within the churn horizon after the "
        "as-of date (churn: cancels, or makes no purchase and no inbound contact for the horizon). "
        "Each score comes with the features that push the risk up (LightGBM SHAP contributions) and "
        "engagement, experience, voice-of-customer and value scores (0 to 100, higher is healthier).",
        "",
        "## Data",
        "",
        "| part | as-of dates | rows | churners |",
        "|---|---|---:|---:|",
        f"| training | {t.get('train_as_of_min')} to {t.get('train_as_of_max')} ({t.get('train_as_of_count')} dates) "
        f"| {_num(t.get('train_rows'))} | {_num(t.get('train_positives'))} |",
        f"| validation / calibration | {t.get('valid_as_of')} | {_num(t.get('valid_rows'))} "
        f"| {_num(t.get('valid_positives'))} |",
        "",
        f"Early stopping on {t.get('early_stopping_on')}: {t.get('best_iteration')} of at most "
        f"{t.get('max_rounds')} boosting rounds. Calibration: {cal.get('method')} on the validation fold.",
        "",
        f"Features used ({len(card.get('features', []))}): {', '.join(card.get('features', [])) or 'none'}.",
        "",
    ]
    categories = card.get("categories") or {}
    if categories:
        lines += ["Categorical features and the categories seen in training (any other value scores as missing):", ""]
        lines += [f"- {f}: {', '.join(v[:12])}{f' and {len(v) - 12} more' if len(v) > 12 else ''}"
                  for f, v in categories.items()]
        lines.append("")
    unused = card.get("unused_feature_reasons") or {}
    if unused:
        by_reason: dict[str, list[str]] = {}
        for f, why in unused.items():
            by_reason.setdefault(why, []).append(f)
        lines += ["Features the model could not use:", ""]
        lines += [f"- {why}: {', '.join(names)}" for why, names in by_reason.items()]
        lines.append("")
    lines += [
        "## Metrics",
        "",
        f"Measured on the validation fold ({m.get('evaluated_on', 'latest labelled as-of date')}).",
        "",
        "| metric | value |",
        "|---|---:|",
        f"| ROC AUC | {_num(m.get('roc_auc'))} |",
        f"| PR AUC (average precision) | {_num(m.get('pr_auc'))} |",
        f"| Brier score | {_num(m.get('brier'), 4)} |",
        f"| Brier score of predicting the base rate | {_num(m.get('brier_base_rate'), 4)} |",
        f"| Lift in the top 10% | {_num(m.get('lift_top10'), 2)} |",
        f"| Lift in the top 20% | {_num(m.get('lift_top20'), 2)} |",
        f"| Expected calibration error (10 equal-frequency bins) | {_num(m.get('ece'))} |",
        f"| Base rate (churn share) | {_num(m.get('base_rate'))} |",
        f"| Mean predicted risk | {_num(m.get('mean_predicted'))} |",
        f"| Rows / churners | {_num(m.get('rows'))} / {_num(m.get('positives'))} |",
        "",
        *_baselines(m),
        *_backtest(card.get("backtest")),
        "## Top features by gain",
        "",
        "| feature | dimension | share of gain |",
        "|---|---|---:|",
    ]
    gain = card.get("feature_importance_gain") or {}
    total = sum(gain.values()) or 1.0
    for f, g in list(gain.items())[:top_features]:
        dim = (specs.get(f) or {}).get("dimension", "")
        lines.append(f"| {(specs.get(f) or {}).get('label', f)} (`{f}`) | {dim} | {100 * g / total:.1f}% |")
    lines += [
        "",
        "## Limitations",
        "",
        "- Trained on one company's history: it must only score the dataset it was trained on.",
        ("- Validation metrics come from a single as-of date; the backtest above shows their stability "
         "over several dates." if card.get("backtest") else
         "- Validated on a single as-of date; stability over several dates is not measured (backtest off)."),
        "- Training rows whose churn horizon overlaps the validation period share some outcomes with it, "
        "so validation metrics can be slightly optimistic unless an embargo of the horizon was used "
        f"(embargo used: {t.get('bounds', {}).get('embargo_days', 0)} days).",
        "- Drivers are associations the model learned, not proven causes; a driver pushing risk up says "
        "the customer looks like past churners on that feature.",
        "- Features never observed in this data (see above) cannot influence the score; dimensions "
        "without any used feature show a neutral score.",
        "- Probabilities are calibrated on the latest labelled period; retrain when behaviour drifts.",
        "",
    ]
    return "\n".join(lines)
