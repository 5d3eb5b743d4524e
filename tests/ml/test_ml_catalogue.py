"""The feature catalogue lists every mart feature with a dimension, label and working templates."""

from __future__ import annotations

import math

import pytest

from ml.catalogue import DIMENSIONS, load_catalogue
from ml.errors import CatalogueError

MART_FEATURES = """tenure_days days_since_last_purchase purchases_30d purchases_90d spend_30d spend_90d spend_prev_90d
spend_change_90d refunds_90d refund_amount_90d revenue_12m subscription_payments_90d has_cancelled logins_30d
logins_90d logins_per_week_365d active_days_30d inbound_90d days_since_last_inbound tickets_opened_90d
contacts_per_ticket_90d repeat_contacts_90d channel_hops_90d avg_handle_minutes_90d open_tickets complaints_90d
avg_csat_90d last_csat last_nps avg_sentiment_90d negative_feedback_90d chat_contacts_90d phone_contacts_90d
email_contacts_90d social_contacts_90d segment plan region lifecycle_stage nps_category""".split()


def test_catalogue_covers_the_mart_features():
    cat = load_catalogue()
    assert set(MART_FEATURES) <= set(cat.names())
    for name in cat.names():
        spec = cat[name]
        assert spec.dimension in DIMENSIONS
        assert spec.label and spec.missing
    assert {cat[n].dimension for n in cat.names()} == set(DIMENSIONS)


def test_sentences_contain_the_value_and_typical():
    spec = load_catalogue()["days_since_last_purchase"]
    assert spec.sentence(74.0, 12.0) == "74 days since the last payment (purchase or subscription) (typical 12)"
    assert spec.sentence(1.0, 12.0).startswith("Days since last payment: 1")  # not the risky side: neutral
    assert load_catalogue()["purchases_30d"].sentence(1.0, 3.0) == "Only 1 one-off purchase in the last 30 days (typical 3)"
    assert load_catalogue()["spend_change_90d"].sentence(0.4, 1.0).startswith("Spending at 40% of")


def test_missing_values_get_their_own_sentence():
    cat = load_catalogue()
    assert cat["avg_csat_90d"].sentence(float("nan"), 4.0) == "No CSAT survey answered in 90 days"
    assert cat["avg_csat_90d"].sentence(None, None) == "No CSAT survey answered in 90 days"
    assert "nan" not in cat["last_nps"].sentence(3.0, math.nan)


def test_bad_catalogue_is_refused(tmp_path):
    bad = tmp_path / "features.yml"
    bad.write_text("features:\n  x:\n    dimension: mood\n    label: X\n    fmt: '.0f'\n    risk_when: high\n"
                   "    template: '{value}'\n    missing: none\n")
    with pytest.raises(CatalogueError, match="dimension 'mood'"):
        load_catalogue(bad)
    bad.write_text("features:\n  x:\n    dimension: value\n    label: X\n    fmt: '.0f'\n    risk_when: high\n"
                   "    template: '{nope}'\n    missing: none\n")
    with pytest.raises(CatalogueError, match="does not format"):
        load_catalogue(bad)


def test_sentence_each_says_what_sentence_says_value_by_value():
    catalogue = load_catalogue()
    values = [None, float("nan"), 0.0, -0.0, -0.001, 0.001, 1.0, -1.0, 2.5, 12345.678, -3.0, 1e9]
    for spec in catalogue.features.values():
        if spec.is_categorical:
            continue
        for typical in (None, float("nan"), 0.0, 1.0, 250.0):
            assert spec.sentence_each(values, typical) == [spec.sentence(v, typical) for v in values], spec.name
