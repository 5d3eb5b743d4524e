"""dbt's unit tests (fixed input rows, expected output rows) pass, every one of them.

Pipeline builds skip them (they check the SQL, not the data); this is where they run, on a copy
of the scored demo warehouse so that every model they test exists.
"""

from __future__ import annotations

import shutil

import yaml

from customer_health.config import DBT_PROJECT_DIR, load_settings
from customer_health.dbt_runner import run_dbt


def declared_unit_tests() -> set[str]:
    names = set()
    for path in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests") or []:
            names.add(test["name"])
    return names


def test_every_dbt_unit_test_passes(scored, demo, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(scored["warehouse"], warehouse)
    settings = load_settings(str(demo["config"]), home=tmp_path / "home", warehouse=warehouse)
    result = run_dbt(settings, "test", select="test_type:unit")
    declared = declared_unit_tests()
    assert len(declared) >= 14
    assert not result.failed
    assert result.passed == len(declared)


def test_pipeline_builds_leave_unit_tests_out(scored):
    """The scored run's dbt builds ran models and data tests only."""
    import json

    results = json.loads((scored["home"] / "dbt" / "target" / "run_results.json").read_text())
    kinds = {r["unique_id"].split(".")[0] for r in results["results"]}
    assert "unit_test" not in kinds and "model" in kinds
