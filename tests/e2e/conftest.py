"""A small simulated dataset and a config that lets it train, shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from customer_health.cli import main
from customer_health.config import DEFAULT_CONFIG
from customer_health.demo import generate_demo_data


def cli(capsys, *args: str, code: int = 0) -> str:
    """Run the CLI in-process; assert its exit code and return what it printed (out and err)."""
    capsys.readouterr()
    got = main(list(args))
    out = capsys.readouterr()
    assert got == code, out.err
    return out.out + out.err


def small_config(folder: Path) -> Path:
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["model"].update(min_labelled_rows=200, min_positives=30, min_cutoffs=3)
    config["paths"] = {"home": str(folder / "home"), "landing": str(folder / "landing")}
    path = folder / "customer_health.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> dict[str, Path]:
    """800 simulated customers over 14 months: landing files, ground truth and a config."""
    root = tmp_path_factory.mktemp("demo")
    summary = generate_demo_data(root / "landing", root / "truth", customers=800, months=14, seed=11)
    return {"root": root, "landing": root / "landing", "truth": root / "truth",
            "config": small_config(root), "cutoff": summary.cutoff}


@pytest.fixture(scope="session")
def scored(demo, tmp_path_factory):
    """One full run of the pipeline on the demo data, in its own home (copy it to change it)."""
    home = tmp_path_factory.mktemp("scored")
    flags = ["--config", str(demo["config"]), "--home", str(home), "--landing", str(demo["landing"])]
    assert main(["run", *flags]) == 0
    return {"home": home, "flags": flags, "warehouse": home / "warehouse.duckdb"}
