"""Shared fixtures: small landing folders, and the demo dataset with one scored run that the
end-to-end and web tests share (built once per session)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parent.parent


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The latencies the real-scheduler tests measured (orchestration_latency.json files of this
    session's base temporary folder, one per xdist worker)."""
    files = sorted(config._tmp_path_factory.getbasetemp().rglob("orchestration_latency.json"))
    measured = [entry for path in files for entry in json.loads(path.read_text(encoding="utf-8"))]
    if not measured:
        return
    terminalreporter.section("customer-health on a real Airflow scheduler")
    for entry in measured:
        details = ", ".join(f"{k} {v}" for k, v in entry.items() if k not in ("what", "seconds"))
        terminalreporter.write_line(f"{entry['what']}: {entry['seconds']:.1f} s ({details})")
    terminalreporter.write_line(f"(also in {', '.join(str(f) for f in files)})")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    for entity in ("customers", "transactions", "interactions"):
        (root / entity).mkdir(parents=True)
    return root


def small_config(folder: Path) -> Path:
    from customer_health.config import DEFAULT_CONFIG

    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["model"].update(min_labelled_rows=200, min_positives=30, min_cutoffs=3)
    config["paths"] = {"home": str(folder / "home"), "landing": str(folder / "landing")}
    path = folder / "customer_health.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> dict[str, Path]:
    """800 simulated customers over 14 months: landing files, ground truth and a config."""
    from customer_health.demo import generate_demo_data

    root = tmp_path_factory.mktemp("demo")
    summary = generate_demo_data(root / "landing", root / "truth", customers=800, months=14, seed=11)
    return {"root": root, "landing": root / "landing", "truth": root / "truth",
            "config": small_config(root), "cutoff": summary.cutoff}


@pytest.fixture(scope="session")
def scored(demo, tmp_path_factory):
    """One full run of the pipeline on the demo data, in its own home (copy it to change it)."""
    home = tmp_path_factory.mktemp("scored")
    flags = ["--config", str(demo["config"]), "--home", str(home), "--landing", str(demo["landing"])]
    from customer_health.cli import main

    assert main(["run", *flags]) == 0
    return {"home": home, "flags": flags, "warehouse": home / "warehouse.duckdb"}
