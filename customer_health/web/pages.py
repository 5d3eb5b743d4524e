"""The HTML pages: login, the at-risk list and its CSV export, a customer, the portfolio.

Server-rendered with Jinja2 (autoescape on), charts as inline SVG, no JavaScript. The list, its
CSV export and the API share the same parameter model and query, so a filter means the same
everywhere. Overrides are posted as forms; the token check and the same-origin check of posts
happen in the app's middleware before any of these handlers run.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta, timezone
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from customer_health.backtest_report import BAND_COLOURS, bar_chart
from customer_health.serving import TIMELINE_DAYS
from customer_health.web import backtest_panel, charts, queries, table
from customer_health.web.auth import COOKIE, SESSION_SECONDS, safe_next
from customer_health.web.context import WebContext, context
from customer_health.web.overrides import MAX_DAYS, OverrideError
from customer_health.web.params import (BANDS, DEFAULT_ORDER, AtRiskParams, CsvParams, Paging,
                                        paging)

router = APIRouter(include_in_schema=False)
TEMPLATES = FilePath(__file__).parent / "templates"
PAGE_SIZES = (25, 50, 100, 200, 500)
RECENT_ROWS = 25


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=table.money, risk=table.risk, delta=table.delta, band=table.band,
                       svg=Markup, when=_when, number=lambda v, d=0: "–" if v is None else f"{v:,.{d}f}")
    env.globals.update(band_colours=BAND_COLOURS, bands=BANDS)
    return env


def _when(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    web: WebContext = request.app.state.web
    values.setdefault("token_env", web.settings.options.serve.token_env)
    values.setdefault("nav", None)
    values.setdefault("run", None)
    html = _env().get_template(name).render(request=request, **values)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", status=status, nav="error", title=title, message=message)


# ---------------------------------------------------------------- login

@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:  # noqa: A002 (the parameter's name)
    web: WebContext = request.app.state.web
    if web.auth.request_ok(request):
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), error=None)


@router.post("/login")
def login(request: Request, token: Annotated[str, Form(max_length=4096)] = "",
          next: Annotated[str, Form(max_length=2048)] = "/") -> Response:  # noqa: A002
    web: WebContext = request.app.state.web
    if not web.auth.token_ok(token):
        return render(request, "login.html", status=401, next=safe_next(next),
                      error="That token is not the one this server was started with.")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(COOKIE, web.auth.new_session(), max_age=SESSION_SECONDS, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/")
def home() -> Response:
    return RedirectResponse("/at-risk", status_code=303)


# ---------------------------------------------------------------- at-risk list

def _query(params: AtRiskParams, **changes: Any) -> str:
    """The list's query string for ``params`` with ``changes`` (None drops a parameter)."""
    values = {k: v for k, v in params.model_dump().items() if k != "scope"}
    values.update(changes)
    pairs = []
    for key, value in values.items():
        if value is None or value == [] or (key == "sort" and value == "rank" and "order" not in changes):
            continue
        pairs += [(key, v) for v in value] if isinstance(value, list) else [(key, value)]
    return urlencode(pairs)


def _list_links(params: AtRiskParams, page: Paging, total: int) -> dict[str, Any]:
    base = dict(page=None, offset=None, limit=page.limit)
    sort_links = {}
    for column in table.COLUMNS:
        if params.sort == column.key:
            order = "desc" if params.direction() == "asc" else "asc"
        else:
            order = DEFAULT_ORDER[column.key]
        sort_links[column.key] = "/at-risk?" + _query(params, **base, sort=column.key, order=order)
    pages = max(1, -(-total // page.limit))
    at = lambda n: "/at-risk?" + _query(params, **{**base, "page": n})  # noqa: E731
    return {
        "sort": sort_links,
        "pages": pages,
        "previous": at(page.page - 1) if page.offset > 0 else None,
        "next": at(page.page + 1) if page.offset + page.limit < total else None,
        "first": at(1), "last": at(pages),
        "csv_page": "/at-risk.csv?" + _query(params, page=None, offset=page.offset,
                                              limit=page.limit, scope="page"),
        "csv_all": "/at-risk.csv?" + _query(params, page=None, offset=None, limit=None, scope="all"),
        "reset": "/at-risk",
    }


@router.get("/at-risk")
def at_risk_list(request: Request, params: Annotated[AtRiskParams, Query()],
                 web: WebContext = Depends(context)) -> Response:
    page = paging(params, web.settings.options.serve)
    bands = params.bands(web.default_bands)
    with queries.serving_connection(web.settings) as con:
        rows, totals = queries.at_risk_page(con, params, bands, web.overrides.active_bands(), page)
        options = queries.filter_options(con)
        run = queries.overview(con, bands)
    first = page.offset + 1 if rows else 0
    return render(request, "list.html", nav="list", run=run, params=params, rows=rows,
                  totals=totals, page=page, bands=bands, options=options, columns=web.columns,
                  links=_list_links(params, page, totals["total"]), first=first,
                  last=page.offset + len(rows), default_bands=web.default_bands,
                  page_sizes=sorted({s for s in PAGE_SIZES if s <= web.settings.options.serve.max_page_size}
                                    | {page.limit}))


@router.get("/at-risk.csv")
def at_risk_csv(params: Annotated[CsvParams, Query()],
                web: WebContext = Depends(context)) -> Response:
    """The list as CSV: the page shown (scope=page) or every matching row (scope=all), with the
    same filters, sort and columns as the table."""
    page = paging(params, web.settings.options.serve) if params.scope == "page" else None
    bands = params.bands(web.default_bands)
    with queries.serving_connection(web.settings) as con:
        rows, _ = queries.at_risk_page(con, params, bands, web.overrides.active_bands(), page)
    as_of = rows[0]["as_of"] if rows else date.today()
    name = f"at-risk-{as_of}-{'page-' + str(page.page) if page else 'all'}.csv"
    return Response(table.csv_text(rows, web.columns), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---------------------------------------------------------------- one customer

def _thresholds(web: WebContext, segment: str | None) -> dict[str, float]:
    bands = web.settings.options.bands
    for name in bands.by_segment:
        if segment and name.lower() == segment.lower():
            return bands.segment_thresholds(name)
    return {"healthy": bands.healthy, "watch": bands.watch, "at_risk": bands.at_risk}


@functools.lru_cache(maxsize=1)
def _dimension_labels() -> dict[str, str]:
    from ml.catalogue import load_catalogue

    return dict(load_catalogue().dimension_labels)


def _customer_page(request: Request, web: WebContext, customer_id: str, *, status: int = 200,
                   form: dict[str, str] | None = None, error: str | None = None) -> Response:
    with queries.serving_connection(web.settings) as con:
        row = queries.customer(con, customer_id)
        if row is None:
            from customer_health.web.api import NotFound

            raise NotFound(customer_id)
        history = queries.history(con, customer_id)
        interactions = queries.interactions(con, customer_id, 5000)
        transactions = queries.transactions(con, customer_id, 2000)
        alerts = queries.customer_alerts(con, customer_id)
    as_of = row["as_of"]
    start = as_of - timedelta(days=TIMELINE_DAYS)
    today = web.overrides.today()
    labels = _dimension_labels()
    return render(
        request, "customer.html", status=status, nav="customer", c=row, history=history,
        run={"as_of": row["as_of"], "model_version": row["model_version"]},
        interactions=interactions[:RECENT_ROWS], transactions=transactions[:RECENT_ROWS],
        interaction_count=len(interactions), transaction_count=len(transactions), alerts=alerts,
        current=web.overrides.current(customer_id), trail=web.overrides.audit(customer_id),
        overrides=web.overrides.for_customer(customer_id), error=error,
        form=form or {"band": "", "reason": "", "author": "",
                      "expires_at": (today + timedelta(days=30)).isoformat()},
        today=today.isoformat(), max_expiry=(today + timedelta(days=MAX_DAYS)).isoformat(),
        timeline_days=TIMELINE_DAYS, dimension_labels=labels,
        history_svg=charts.score_history(history, _thresholds(web, row.get("segment"))),
        dimensions_svg=charts.dimension_bars(row, labels),
        timeline_svg=charts.timeline(interactions, transactions, start, as_of),
        quoted_id=quote(customer_id, safe=""))


@router.get("/customers/{customer_id}")
def customer_page(request: Request, customer_id: Annotated[str, Path(max_length=200)],
                  web: WebContext = Depends(context)) -> Response:
    return _customer_page(request, web, customer_id)


@router.post("/customers/{customer_id}/overrides")
def record_override(request: Request, customer_id: Annotated[str, Path(max_length=200)],
                    band: Annotated[str, Form(max_length=20)] = "",
                    reason: Annotated[str, Form(max_length=4000)] = "",
                    author: Annotated[str, Form(max_length=400)] = "",
                    expires_at: Annotated[str, Form(max_length=40)] = "",
                    web: WebContext = Depends(context)) -> Response:
    """Record a CSM's band for the customer; the model's score stays as it is."""
    form = {"band": band, "reason": reason, "author": author, "expires_at": expires_at}
    with queries.serving_connection(web.settings) as con:
        row = queries.customer(con, customer_id)
    if row is None:
        from customer_health.web.api import NotFound

        raise NotFound(customer_id)
    try:
        web.overrides.create(customer_id, band, reason, author, expires_at, model=row)
    except OverrideError as exc:
        return _customer_page(request, web, customer_id, status=422, form=form,
                              error=f"Not recorded: {exc}")
    return RedirectResponse(f"/customers/{quote(customer_id, safe='')}#override", status_code=303)


@router.post("/customers/{customer_id}/overrides/{override_id}/remove")
def remove_override(request: Request, customer_id: Annotated[str, Path(max_length=200)],
                    override_id: Annotated[int, Path(ge=1, le=2**62)],
                    author: Annotated[str, Form(max_length=400)] = "",
                    reason: Annotated[str, Form(max_length=4000)] = "",
                    web: WebContext = Depends(context)) -> Response:
    try:
        web.overrides.remove(customer_id, override_id, author, reason)
    except OverrideError as exc:
        return _customer_page(request, web, customer_id, status=422, error=f"Not removed: {exc}")
    return RedirectResponse(f"/customers/{quote(customer_id, safe='')}#override", status_code=303)


# ---------------------------------------------------------------- portfolio

def _band_bars(rows: list[dict[str, Any]], measure: str, title: str, y_label: str) -> str:
    values = {r["health_band"]: float(r[measure] or 0) for r in rows}
    total = sum(values.values()) or 1.0
    data = [values.get(b, 0.0) for b in BANDS]
    # the chart's axis has room for about six characters: large sums in thousands or millions
    scale, unit = next(((s, u) for s, u in ((1e6, "millions"), (1e3, "thousands"))
                        if max(data) >= 10 * s), (1.0, ""))
    return bar_chart(title, [table.band(b) for b in BANDS], [v / scale for v in data],
                     [BAND_COLOURS[b] for b in BANDS], "health band",
                     f"{y_label} ({unit})" if unit else y_label, value_format="{:,.0f}",
                     captions=[f"{v:,.0f} ({v / total:.0%})" for v in data])


@router.get("/portfolio")
def portfolio(request: Request, web: WebContext = Depends(context)) -> Response:
    bands = web.default_bands
    with queries.serving_connection(web.settings) as con:
        run = queries.overview(con, bands)
        band_rows = queries.by_band(con)
        segment_rows = queries.by_segment_band(con)
        movers = queries.movers(con, 10)
        drivers = queries.common_drivers(con, bands, 10)
        channels = queries.channel_pain(con, bands, 90)
    labels = _dimension_labels()
    dimension_colours = {"engagement": "#4292c6", "experience": "#ef8a62", "voice": "#984ea3",
                         "value": "#1a9850"}
    driver_svg = charts.hbars(
        "Most common reasons among at-risk customers",
        [(d["label"], [(d["customers"], dimension_colours.get(d["dimension"], "#888"),
                        f"{d['label']}: {d['customers']} customers, {d['revenue_at_risk']:,.0f} at risk")],
          f"{d['customers']}") for d in drivers],
        label_width=230, width=620,
        legend=[(labels.get(k, k), c) for k, c in dimension_colours.items()]) if drivers else None
    channel_svg = charts.hbars(
        "Pain signals by channel, last 90 days",
        [(c["channel"].replace("_", "-"),
          [(c["from_at_risk"], BAND_COLOURS["critical"], f"{c['from_at_risk']} from at-risk customers"),
           (c["contacts"] - c["from_at_risk"], "#bdbdbd", f"{c['contacts'] - c['from_at_risk']} from others")],
          f"{c['contacts']}") for c in channels],
        width=620, legend=[("from at-risk customers", BAND_COLOURS["critical"]),
                           ("from the others", "#bdbdbd")]) if channels else None
    segments: dict[str, dict[str, Any]] = {}
    for r in segment_rows:
        s = segments.setdefault(r["segment"], {"segment": r["segment"], "customers": 0, "at_risk": 0,
                                               "revenue_12m": 0.0, "revenue_at_risk": 0.0})
        s["customers"] += r["customers"]
        s["revenue_12m"] += r["revenue_12m"]
        s["revenue_at_risk"] += r["revenue_at_risk"]
        if r["health_band"] in bands:
            s["at_risk"] += r["customers"]
    return render(
        request, "portfolio.html", nav="portfolio", run=run, bands=bands, band_rows=band_rows,
        segments=sorted(segments.values(), key=lambda s: -s["revenue_at_risk"]),
        movers=movers, drivers=drivers, channels=channels,
        customers_svg=_band_bars(band_rows, "customers", "Customers by band", "customers"),
        revenue_svg=_band_bars(band_rows, "revenue_at_risk", "Revenue at risk by band", "revenue at risk"),
        segment_customers_svg=charts.segment_bands(segment_rows, "customers", "{:,.0f}"),
        segment_revenue_svg=charts.segment_bands(segment_rows, "revenue_12m", "{:,.0f}"),
        driver_svg=driver_svg, channel_svg=channel_svg,
        backtest=backtest_panel.build(web.settings, run.get("model_version")),
        generated=datetime.now(timezone.utc))
