"""The ml package stands alone: no Airflow, no pipeline package, nothing printed on import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ml_imports_neither_airflow_nor_the_pipeline_package():
    code = (
        "import sys\n"
        "import ml, ml.catalogue, ml.dataset, ml.train, ml.calibration, ml.metrics, ml.explain, ml.registry, "
        "ml.predict, ml.model, ml.card, ml.errors\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'customer_health', 'dags'))\n"
        "print(','.join(bad))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"ml imported: {res.stdout.strip()}"
    assert res.stderr.strip() == ""


def test_ml_sources_do_not_mention_forbidden_imports():
    for path in (REPO / "ml").glob("*.py"):
        text = path.read_text()
        assert "import airflow" not in text and "from airflow" not in text, path
        assert "customer_health" not in text, path
