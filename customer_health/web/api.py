"""The REST API under /api/v1 for CRMs and reverse-ETL: the at-risk list, one customer, alerts.

Read-only, paged (page or offset with limit; every page says the total and links the next), the
same filters as the web app's list. Authentication (bearer token) is checked before any route,
in the app's middleware; the security scheme declared here documents it in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPBearer

from customer_health.web import queries
from customer_health.web.context import WebContext, context
from customer_health.web.params import AlertParams, AtRiskParams, Paging, paging
from customer_health.web.schemas import (AlertPage, AtRiskPage, CustomerOut, ErrorResponse,
                                         OverrideOut)

# Declared for the OpenAPI document only; the middleware enforces the token on every request.
bearer = HTTPBearer(auto_error=False, description="the token of serve.token_env")

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "no token or a wrong one"},
    422: {"model": ErrorResponse, "description": "a parameter is invalid; the message says which"},
    503: {"model": ErrorResponse, "description": "nothing published yet"},
}

router = APIRouter(prefix="/api/v1", tags=["customer health"], dependencies=[Depends(bearer)],
                   responses=ERRORS)


class NotFound(LookupError):
    """An unknown customer (404)."""


def _links(request: Request, page: Paging, total: int, by_offset: bool) -> dict[str, Any]:
    def at(offset: int) -> str:
        if by_offset:
            return str(request.url.include_query_params(offset=offset, limit=page.limit))
        return str(request.url.include_query_params(page=offset // page.limit + 1,
                                                    limit=page.limit))

    has_next = page.offset + page.limit < total
    return {"total": total, "offset": page.offset, "limit": page.limit, "page": page.page,
            "next": at(page.offset + page.limit) if has_next else None,
            "previous": at(max(page.offset - page.limit, 0)) if page.offset > 0 else None}


@router.get("/at-risk", response_model=AtRiskPage, summary="The at-risk list, ranked by revenue at risk")
def at_risk(request: Request, params: Annotated[AtRiskParams, Query()],
            web: WebContext = Depends(context)) -> dict[str, Any]:
    """Customers in the chosen bands (default: the configured at-risk bands), filtered and sorted
    like the web app's list; each row carries the CSM override band that applies today."""
    page = paging(params, web.settings.options.serve)
    bands = params.bands(web.default_bands)
    with queries.serving_connection(web.settings) as con:
        rows, totals = queries.at_risk_page(con, params, bands, web.overrides.active_bands(), page)
    for row in rows:
        row["url"] = str(request.url_for("api_customer", customer_id=row["customer_id"]))
    return {**_links(request, page, totals["total"], params.offset is not None),
            "bands": bands, "sort": params.sort, "order": params.direction(),
            "revenue_at_risk": totals["revenue_at_risk"], "items": rows}


@router.get("/customers/{customer_id}", response_model=CustomerOut, name="api_customer",
            summary="One customer: scores, drivers, history, override",
            responses={404: {"model": ErrorResponse, "description": "customer not scored"}})
def customer(customer_id: Annotated[str, Path(max_length=200)],
             web: WebContext = Depends(context)) -> dict[str, Any]:
    with queries.serving_connection(web.settings) as con:
        row = queries.customer(con, customer_id)
        if row is None:
            raise NotFound(customer_id)
        row["history"] = queries.history(con, customer_id)
        row["alerts"] = queries.customer_alerts(con, customer_id)
    trail = web.overrides.for_customer(customer_id)
    current = web.overrides.current(customer_id)
    row["override"] = OverrideOut(**current.as_dict(), applies=current.applies) if current else None
    row["override_history"] = [OverrideOut(**o.as_dict(), applies=o.applies) for o in trail]
    return row


@router.get("/alerts", response_model=AlertPage, summary="Health alerts, newest first")
def alerts(request: Request, params: Annotated[AlertParams, Query()],
           web: WebContext = Depends(context)) -> dict[str, Any]:
    """Alerts (band entered, score drop, critical streak) of every run, newest first."""
    page = paging(params, web.settings.options.serve)
    with queries.serving_connection(web.settings) as con:
        rows, total = queries.alerts_page(con, params, page)
    return {**_links(request, page, total, params.offset is not None), "items": rows}
