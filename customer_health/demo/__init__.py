"""Demo data generator: a simulated customer base behind a realistic landing zone.

``generate_demo_data`` simulates customers whose latent satisfaction drives their
support experience, voice of customer, engagement, spending and churn, then writes
the three landing entities in mixed file formats plus a ground-truth folder used to
prove the pipeline's churn model against the oracle.
"""

from .generate import DemoSummary, generate_demo_data, roc_auc
from .params import SimParams

__all__ = ["DemoSummary", "SimParams", "generate_demo_data", "roc_auc"]
