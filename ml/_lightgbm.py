"""The one place that imports LightGBM, after choosing a passive OpenMP wait policy.

With OpenMP's default busy-waiting, LightGBM's threads slow down about tenfold when other processes
share the cores (measured: 50 boosting rounds on 100k rows took 9 s instead of 0.6 s on a busy
2-core machine), which is the normal case under Airflow and dbt. The policy is read when OpenMP
loads, so it is set here, before the import, unless the environment already chose one.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import lightgbm as lgb  # noqa: E402

__all__ = ["lgb"]
