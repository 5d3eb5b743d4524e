"""The CSV export is exactly the table on the screen: same filters, sort, rows and columns."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

from customer_health.web import table
from tests.web.conftest import AUTH, login


class TableCells(HTMLParser):
    """Headers (data-label) and each row's data-value cells of the table with id at-risk."""

    def __init__(self) -> None:
        super().__init__()
        self.inside, self.headers, self.rows = False, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.inside = attrs.get("id") == "at-risk"
        elif self.inside and tag == "th":
            self.headers.append(attrs["data-label"])
        elif self.inside and tag == "tr" and self.headers:
            self.rows.append([])
        elif self.inside and tag == "td" and "data-value" in attrs:
            self.rows[-1].append(attrs["data-value"])

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False


def _parse(html: str) -> TableCells:
    parser = TableCells()
    parser.feed(html)
    parser.rows = [r for r in parser.rows if r]
    return parser


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_of_the_page_equals_the_table_shown(client):
    login(client)
    params = {"sort": "health_score", "order": "asc", "limit": 10, "page": 2,
              "band": ["critical", "at_risk", "watch"]}
    shown = _parse(client.get("/at-risk", params=params).text)
    assert shown.headers == [c.label for c in table.COLUMNS] and len(shown.rows) == 10
    response = client.get("/at-risk.csv", params={**params, "scope": "page"})
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = _csv(response.text)
    assert rows[0] == shown.headers
    assert rows[1:] == shown.rows
    api = client.get("/api/v1/at-risk", params=params, headers=AUTH).json()["items"]
    assert [r[1] for r in rows[1:]] == [i["customer_id"] for i in api]


def test_csv_of_all_matching_rows(client):
    login(client)
    page = client.get("/at-risk", params={"segment": "smb", "limit": 5})
    assert "all " in page.text and 'id="csv-all"' in page.text
    total = client.get("/api/v1/at-risk", params={"segment": "smb"}, headers=AUTH).json()["total"]
    rows = _csv(client.get("/at-risk.csv", params={"segment": "smb", "limit": 5, "scope": "all"}).text)
    assert len(rows) - 1 == total > 5
    assert {r[9] for r in rows[1:]} == {"smb"}  # the Segment column


def test_the_page_links_its_csv_with_its_filters(client):
    login(client)
    html = client.get("/at-risk", params={"segment": "smb", "owner": "", "sort": "revenue_12m",
                                          "order": "asc", "limit": 25, "page": 2}).text
    link = html.split('id="csv-page" href="')[1].split('"')[0].replace("&amp;", "&")
    assert "segment=smb" in link and "sort=revenue_12m" in link and "order=asc" in link
    assert "offset=25" in link and "limit=25" in link and "scope=page" in link


def test_text_that_a_spreadsheet_would_run_is_defused():
    row = {c.key: None for c in table.COLUMNS} | {"customer_id": "=HYPERLINK(\"x\")", "segment": "@sum",
                                                  "score_delta": -5, "churn_risk": 0.51234}
    [header, values] = _csv(table.csv_text([row]))
    cells = dict(zip(header, values))
    assert cells["Customer"] == "'=HYPERLINK(\"x\")" and cells["Segment"] == "'@sum"
    assert cells["Change"] == "-5" and cells["Churn risk"] == "0.5123"
