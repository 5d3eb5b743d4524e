"""`customer-health model list|promote|rollback` and `customer-health report` end to end."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from customer_health.backtest_report import TITLES
from customer_health.cli import main
from tests.e2e.conftest import cli


def live(home: Path) -> str:
    state = json.loads((home / "models" / "LIVE").read_text())
    (version,) = state["live"].values()
    return version


@pytest.fixture(scope="module")
def two_models(demo, tmp_path_factory):
    """A run (v0001, live; its history is too short for a backtest fold), then a retrain with other
    parameters, lower training bounds and a generous tolerance (v0002, backtested, live)."""
    home = tmp_path_factory.mktemp("models_cli")
    flags = ["--config", str(demo["config"]), "--home", str(home), "--landing", str(demo["landing"])]
    assert main(["run", *flags]) == 0
    config = yaml.safe_load(Path(demo["config"]).read_text())
    config["model"]["params"]["num_leaves"] = 4
    config["model"]["promotion_tolerance"] = 1.0
    config["model"]["min_cutoffs"] = 2  # 14 months leave few as-of dates known two horizons before a fold
    other = home / "other.yml"
    other.write_text(yaml.safe_dump(config))
    other_flags = ["--config", str(other), "--home", str(home), "--landing", str(demo["landing"])]
    assert main(["train", *other_flags]) == 0
    return {"home": home, "flags": flags, "other_flags": other_flags}


def test_list_promote_and_rollback(two_models, capsys):
    home, flags = two_models["home"], two_models["flags"]
    assert live(home) == "v0002"
    out = cli(capsys, "model", "list", *flags)
    assert "v0001" in out and "v0002" in out and "live" in out and "backtest AUC" in out

    out = cli(capsys, "model", "rollback", *flags)
    assert "Rolled back from model v0002 to v0001" in out and live(home) == "v0001"
    # the score step keeps the live model, although v0002 matches its data, and says so
    out = cli(capsys, "score", *two_models["other_flags"])
    assert "model v0001 reused" in out and "newest model v0002 is not live" in out

    out = cli(capsys, "model", "promote", "v0002", *flags)
    assert "Model v0002 is live now (was v0001)" in out and live(home) == "v0002"
    assert "already live" in cli(capsys, "model", "promote", "v0002", *flags)
    assert "to v0001" in cli(capsys, "model", "rollback", *flags)
    err = cli(capsys, "model", "rollback", *flags, code=2)
    assert "no earlier live model" in err and live(home) == "v0001"


def test_promote_refuses_another_datasets_model(two_models, capsys):
    models = two_models["home"] / "models"
    shutil.copytree(models / "v0001", models / "v0009")
    card = json.loads((models / "v0009" / "card.json").read_text())
    card["dataset_id"] = "someone-else"
    (models / "v0009" / "card.json").write_text(json.dumps(card))
    try:
        err = cli(capsys, "model", "promote", "v0009", *two_models["flags"], code=2)
        assert "trained on dataset 'someone-else'" in err
        assert "bogus" in cli(capsys, "model", "promote", "bogus", *two_models["flags"], code=2)
    finally:
        shutil.rmtree(models / "v0009")


class _Headings(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self.svg_titles: list[str] = []
        self.tags: set[str] = set()
        self._in: str | None = None
        self._stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self._stack.append(tag)
        self._in = tag

    def handle_endtag(self, tag):
        if self._stack:
            self._stack.pop()
        self._in = None

    def handle_data(self, data):
        if self._in == "h2":
            self.h2.append(data.strip())
        elif self._in == "title" and "svg" in self._stack:
            self.svg_titles.append(data.strip())


def test_report_writes_a_self_contained_page_with_every_chart(two_models, capsys):
    flags = two_models["flags"]
    if live(two_models["home"]) != "v0002":
        err = cli(capsys, "report", *flags, code=2)  # the live v0001 has no evaluated backtest fold
        assert "model v0001 has no backtest" in err
    out = cli(capsys, "report", "--version", "v0002", *flags)
    page = two_models["home"] / "reports" / "backtest.html"
    assert str(page) in out.replace("\n", "")
    text = page.read_text()
    parsed = _Headings()
    parsed.feed(text)
    assert parsed.h2 == list(TITLES)
    charts = TITLES[:5]
    assert [t for t in parsed.svg_titles if t in charts] == list(charts)  # one SVG per chart
    assert "script" not in parsed.tags and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text
    assert "Backtest of churn model v0002" in text
    for band in ("critical", "at_risk", "watch", "healthy"):
        assert band in text
    assert "mean of" in text  # the per-fold table ends with the mean


def test_report_bands_follow_the_warehouse_rules():
    import numpy as np

    from customer_health.backtest_report import assign_bands, health_score
    from customer_health.config import BandsConfig

    assert health_score(np.array([0.005, 0.015, 0.5])).tolist() == [100.0, 99.0, 50.0]  # halves round up
    bands = BandsConfig.model_validate({"by_segment": {"Enterprise": {"healthy": 90}}})
    score = np.array([85.0, 85.0, 60.0, 59.0, 39.0])
    segment = np.array(["enterprise", "smb", None, "smb", "smb"], dtype=object)
    assert assign_bands(score, segment, bands).tolist() == ["watch", "healthy", "watch", "at_risk", "critical"]
