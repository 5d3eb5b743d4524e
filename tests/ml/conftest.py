"""Fixtures for the ml tests: a synthetic feature frame with a known signal and a model trained once."""

from __future__ import annotations

import pandas as pd
import pytest

from ml_synthetic import make_frame


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    return make_frame(n_customers=1500, n_dates=5, seed=0)


@pytest.fixture(scope="session")
def model(frame):
    from ml.train import train

    return train(frame, dataset_id="acme")


@pytest.fixture(scope="session")
def score_rows(frame) -> pd.DataFrame:
    from ml.dataset import rows_to_score

    return rows_to_score(frame)
