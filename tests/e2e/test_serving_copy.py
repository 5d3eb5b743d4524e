"""The serving copy: BI tools and the web app read a copy of the output tables that each publish
swaps in atomically, so a reader holding it open never blocks or breaks a pipeline run."""

from __future__ import annotations

import shutil
import subprocess
import sys

import yaml

from customer_health.config import load_settings
from customer_health.serving import SERVING_TABLES, open_serving_copy
from tests.e2e.conftest import cli

# A BI tool in another process: opens the serving copy, answers "count" and "run" on request,
# and keeps the same connection open all the time.
READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
for line in sys.stdin:
    row = con.execute("select count(*), min(run_id) from customer_health").fetchone()
    print(row[0], row[1], flush=True)
"""


def _ask(reader) -> tuple[int, str]:
    reader.stdin.write("?\n")
    reader.stdin.flush()
    count, run = reader.stdout.readline().split()
    return int(count), run


def test_a_reader_holding_the_serving_copy_open_never_blocks_a_run(scored, demo, tmp_path, capsys):
    home = tmp_path / "home"
    shutil.copytree(scored["home"], home)
    settings = load_settings(demo["config"], home=home, landing=demo["landing"])
    with open_serving_copy(settings) as con:
        tables = {name for (name,) in con.execute("show tables").fetchall()}
        before = con.execute("select count(*), min(run_id) from customer_health").fetchone()
    assert tables == set(SERVING_TABLES)

    reader = subprocess.Popen([sys.executable, "-c", READER, str(settings.serving_file)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert _ask(reader) == before
        # a new run (stricter bands) scores and publishes while the reader holds the copy open
        config = yaml.safe_load(demo["config"].read_text())
        config["bands"]["healthy"] = 90
        strict = tmp_path / "strict.yml"
        strict.write_text(yaml.safe_dump(config))
        flags = ["--config", str(strict), "--home", str(home), "--landing", str(demo["landing"])]
        cli(capsys, "score", *flags)
        cli(capsys, "publish", *flags)
        # the open reader still sees the copy it opened, whole and unchanged
        assert _ask(reader) == before
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    assert reader.returncode == 0
    with open_serving_copy(settings) as con:  # a new reader gets the new run
        after = con.execute("select count(*), min(run_id) from customer_health").fetchone()
    assert after[0] == before[0] and after[1] != before[1]
    assert not [p.name for p in settings.serving_file.parent.iterdir()
                if p.name != settings.serving_file.name]  # no staging leftovers
