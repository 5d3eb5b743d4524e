"""The web app in a real browser: the distribution's headless Chromium, driven by Playwright,
against the real server (`serve` in a subprocess). Logs in, loads and filters the list, downloads
the CSV and compares it with the table, opens a customer, records an override and sees it beside
the model's score, looks at the portfolio; a screenshot of each page is kept for people to see
(under the test's tmp dir and under state/screenshots/)."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.web.conftest import TOKEN

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]
SERVER = """
import sys
from pathlib import Path
from customer_health.config import load_settings
from customer_health.web.server import serve
settings = load_settings(Path(sys.argv[1]), home=Path(sys.argv[2]), landing=Path(sys.argv[3]))
serve(settings, host="127.0.0.1", port=0)
"""

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"{CHROMIUM} is missing: install the distribution's chromium "
                                       "(make test does) to run the browser tests")


@pytest.fixture
def server(settings):
    """The real server on a free port; yields its base URL."""
    env = {**os.environ, settings.options.serve.token_env: TOKEN}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(settings.config_file), str(settings.home),
                             str(settings.landing)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        assert found, f"serve printed {line!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        base = found.group(1)
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/login", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"{base} did not answer within 10 s")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def browser_page(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        page = context.new_page()
        yield page
        context.close()
        browser.close()


def shoot(page, name: str, folders: list[Path]) -> None:
    folders[0].mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folders[0] / name), full_page=True)
    for other in folders[1:]:
        other.mkdir(parents=True, exist_ok=True)
        shutil.copy(folders[0] / name, other / name)


def shown_table(page) -> tuple[list[str], list[list[str]], list[str]]:
    """The list's headers, each row's cell values (data-value) and the visible customer ids."""
    headers = page.locator("#at-risk thead th").evaluate_all("ths => ths.map(th => th.dataset.label)")
    rows = page.locator("#at-risk tbody tr").evaluate_all(
        "trs => trs.map(tr => [...tr.querySelectorAll('td[data-value]')].map(td => td.dataset.value))")
    ids = page.locator("#at-risk tbody tr td:nth-child(2)").all_inner_texts()
    return headers, [r for r in rows if r], [i.strip() for i in ids]


def test_log_in_filter_download_open_a_customer_and_override(server, browser_page, con, tmp_path):
    page, base = browser_page, server
    folders = [tmp_path / "screenshots", REPO / "state" / "screenshots"]
    requests, problems = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    # every page needs the token: the list sends a stranger to the login page
    page.goto(base + "/at-risk")
    assert "/login" in page.url
    shoot(page, "01-login.png", folders)
    page.fill("#token", "not the token")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text().startswith("That token is not")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/at-risk")
    problems.clear()  # the refused token above answered 401, as it should

    # the list, ranked by revenue at risk
    total = con.execute("select count(*) from customer_health where health_band in "
                        "('critical', 'at_risk')").fetchone()[0]
    assert page.locator("#summary").inner_text().startswith(f"{total:,} customers match")
    headers, rows, _ = shown_table(page)
    assert rows and [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    shoot(page, "02-at-risk-list.png", folders)

    # filter by segment, as a person would: pick it, apply
    segment = con.execute("select segment from customer_health where health_band in ('critical', "
                          "'at_risk') group by 1 order by count(*) desc limit 1").fetchone()[0]
    page.select_option("#segment", segment)
    page.click("text=Apply filters")
    page.wait_for_url(re.compile(rf".*segment={segment}.*"))
    expected = con.execute("select count(*) from customer_health where health_band in ('critical', "
                           "'at_risk') and segment = ?", [segment]).fetchone()[0]
    assert page.locator("#summary").inner_text().startswith(f"{expected:,} customer")
    headers, rows, ids = shown_table(page)
    assert {r[headers.index("Segment")] for r in rows} == {segment}
    shoot(page, "03-at-risk-list-filtered.png", folders)

    # the CSV of this page is the table shown, row for row and column for column
    with page.expect_download() as info:
        page.click("#csv-page")
    download = info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with open(saved, newline="", encoding="utf-8") as handle:
        exported = list(csv.reader(handle))
    assert exported[0] == headers
    assert exported[1:] == rows
    assert [r[1] for r in exported[1:]] == ids

    # open the first customer
    customer_id, score, band = rows[0][1], rows[0][headers.index("Score")], rows[0][headers.index("Band")]
    page.click(f"#at-risk tbody tr >> nth=0 >> a:text-is('{customer_id}')")
    page.wait_for_url(f"{base}/customers/{customer_id}")
    assert page.locator("h1").inner_text() == f"Customer {customer_id}"
    assert page.get_by_test_id("health-score").inner_text() == score
    assert page.get_by_test_id("recommended-action").inner_text().strip()
    assert page.locator("svg[aria-label='Health score history']").count() == 1
    assert page.locator("svg[aria-label='Interactions and transactions timeline']").count() == 1
    shoot(page, "04-customer.png", folders)

    # record an override: it shows beside the model's score, which stays as it was
    new_band = "watch" if band != "watch" else "healthy"
    until = (date.today() + timedelta(days=21)).isoformat()
    page.select_option("#band", new_band)
    page.fill("#reason", "Signed a two-year renewal with the CFO on Monday")
    page.fill("#author", "Ann Lee")
    page.fill("#expires_at", until)
    page.click("text=Record override")
    page.wait_for_url(f"{base}/customers/{customer_id}#override")
    assert page.get_by_test_id("override-band").inner_text() == new_band.replace("_", " ")
    assert page.get_by_test_id("override-status").inner_text() == "active"
    assert page.get_by_test_id("health-score").inner_text() == score
    assert page.get_by_test_id("model-band").inner_text() == band
    override_card = page.locator("#override").inner_text()
    assert "Signed a two-year renewal" in override_card and "Ann Lee" in override_card and until in override_card
    assert page.locator("#override-trail tbody tr").count() == 1
    shoot(page, "05-customer-with-override.png", folders)

    # the list shows the CSM band beside the model's band
    page.goto(f"{base}/at-risk?q={customer_id}")
    headers, rows, _ = shown_table(page)
    assert [(r[1], r[headers.index("Band")], r[headers.index("CSM band")]) for r in rows] == \
        [(customer_id, band, new_band)]

    # the portfolio
    page.goto(base + "/portfolio")
    for heading in ("Customers by band", "By segment", "Biggest movers since the last run",
                    "Most common reasons (pain points to fix at the root)",
                    "Is the score trustworthy? Backtest"):
        assert page.get_by_role("heading", name=heading).is_visible()
    assert page.locator("svg").count() >= 5
    shoot(page, "06-portfolio.png", folders)

    assert all(u.startswith(base) for u in requests), [u for u in requests if not u.startswith(base)]
    assert problems == []
