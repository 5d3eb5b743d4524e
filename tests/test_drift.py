"""Population stability index: stable data reads stable, a moved population reads drift."""

from __future__ import annotations

import numpy as np
import pytest
import pandas as pd

from customer_health.drift import psi


def test_same_population_is_stable():
    rng = np.random.default_rng(1)
    reference = pd.Series(rng.gamma(2.0, 5.0, 20000))
    assert psi(reference, pd.Series(rng.gamma(2.0, 5.0, 5000))) < 0.02


def test_a_moved_population_drifts():
    rng = np.random.default_rng(2)
    reference = pd.Series(rng.normal(0, 1, 20000))
    assert 0.1 < psi(reference, pd.Series(rng.normal(0.5, 1, 5000))) < 0.5
    assert psi(reference, pd.Series(rng.normal(1.5, 1, 5000))) > 1.0


def test_missing_values_and_categories_count():
    rng = np.random.default_rng(3)
    reference = pd.Series(rng.normal(0, 1, 10000))
    half_missing = pd.Series(np.where(rng.random(10000) < 0.5, np.nan, rng.normal(0, 1, 10000)))
    assert psi(reference, half_missing) > 0.5  # a feed that stopped sending is drift
    plans = pd.Series(["basic"] * 600 + ["pro"] * 300 + ["premium"] * 100, dtype=object)
    assert psi(plans, plans.sample(frac=1.0, random_state=0)) < 1e-9
    moved = pd.Series(["basic"] * 200 + ["pro"] * 300 + ["premium"] * 500, dtype=object)
    assert psi(plans, moved) > 0.5


def test_drift_from_the_saved_training_profile_equals_rereading_the_training_rows(scored, demo,
                                                                                  monkeypatch):
    """The profile saved with the model stands in for its training rows: same PSI per feature
    and for the risk as re-reading and re-scoring those rows from the feature mart."""
    from customer_health import drift
    from customer_health.config import load_settings
    from ml import registry

    settings = load_settings(str(demo["config"]), home=scored["home"], landing=demo["landing"])
    live = registry.live_version(settings.models_dir, registry.read_card(
        settings.models_dir, registry.list_versions(settings.models_dir)[-1])["dataset_id"])
    assert (settings.models_dir / live / registry.REFERENCE_FILE).is_file()
    profiled = drift.compute_drift(settings, live)

    load = registry.load

    def without_profile(*args, **kwargs):
        model = load(*args, **kwargs)
        model.reference = None
        return model

    monkeypatch.setattr(registry, "load", without_profile)
    reread = drift.compute_drift(settings, live)
    assert profiled is not None and reread is not None
    assert list(profiled.table["what"]) == list(reread.table["what"])
    assert profiled.table["psi"].tolist() == pytest.approx(reread.table["psi"].tolist(), abs=0.002)
