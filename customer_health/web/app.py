"""The FastAPI application: routes, the token check in front of everything, errors, headers.

``create_app(settings)`` reads the token from the environment (``serve.token_env``) and refuses to
build without one. A middleware checks the token before any route runs, so a request without it
learns nothing, not even whether its parameters or its path are valid: the API answers 401 JSON,
pages redirect to the login page, which is the only page open without the token. Swagger UI and
ReDoc (which load scripts from a CDN) are off; the OpenAPI document is at /api/v1/openapi.json.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response

from customer_health.config import Settings
from customer_health.web import api, pages
from customer_health.web.auth import TokenAuth, login_url, read_token
from customer_health.web.context import WebContext
from customer_health.web.overrides import OverrideStore, utc_now
from customer_health.web.params import ParamError
from customer_health.web.queries import NothingPublished

OPEN_PATHS = {"/login"}
OPENAPI_PATH = "/api/v1/openapi.json"
SECURITY_HEADERS = {
    # no script at all, styles only inline, images only inline SVG/data: nothing from elsewhere
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(status: int, error: str, message: str, errors: list[dict] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, "errors": errors or []},
                        status_code=status, headers=headers)


def _validation_items(exc: RequestValidationError) -> list[dict[str, str]]:
    items = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if isinstance(p, str) and p not in ("query", "path", "body")]
        items.append({"parameter": ".".join(loc) or "request", "message": str(err.get("msg", ""))})
    return items


def _same_origin(request: Request) -> bool:
    """A form post from another site is refused (the SameSite cookie already keeps it out)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")


def create_app(settings: Settings, *, token: str | None = None,
               clock: Callable[[], datetime] = utc_now) -> FastAPI:
    """The web app and API for one dataset (``settings``); ``token`` defaults to the environment
    variable ``serve.token_env`` and ``clock`` (UTC now) decides which overrides have expired."""
    auth = TokenAuth(token if token is not None else read_token(settings))
    app = FastAPI(title="customer-health API", version="1",
                  description="The at-risk list, customers and health alerts of one dataset. "
                              "Every endpoint needs `Authorization: Bearer <token>` (the value "
                              f"of the environment variable `{settings.options.serve.token_env}` "
                              "on the server).",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = WebContext(settings=settings, auth=auth,
                               overrides=OverrideStore(settings.app_db, clock=clock))
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.middleware("http")
    async def guard(request: Request, call_next):
        path = request.url.path
        if path not in OPEN_PATHS and not auth.request_ok(request):
            if _is_api(request):
                response: Response = _error(401, "unauthorized",
                                            "send the token as `Authorization: Bearer <token>`",
                                            headers={"WWW-Authenticate": "Bearer"})
            elif request.method in ("GET", "HEAD"):
                response = RedirectResponse(login_url(request), status_code=303)
            else:
                response = Response("Log in first.", status_code=401, media_type="text/plain")
        elif request.method == "POST" and not _same_origin(request):
            response = Response("Cross-site form posts are refused.", status_code=403,
                                media_type="text/plain")
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        items = _validation_items(exc)
        message = "; ".join(f"{i['parameter']}: {i['message']}" for i in items)
        if _is_api(request):
            return _error(422, "invalid_parameter", message, items)
        return pages.error_page(request, 422, "Invalid filter", message)

    @app.exception_handler(ParamError)
    async def bad_param(request: Request, exc: ParamError) -> Response:
        if _is_api(request):
            return _error(422, "invalid_parameter", str(exc),
                          [{"parameter": exc.parameter, "message": exc.message}])
        return pages.error_page(request, 422, "Invalid filter", str(exc))

    @app.exception_handler(api.NotFound)
    async def not_found(request: Request, exc: api.NotFound) -> Response:
        message = (f"customer {str(exc)[:200]!r} is not in the current scores (unknown, or not "
                   "active on the scoring date)")
        if _is_api(request):
            return _error(404, "not_found", message)
        return pages.error_page(request, 404, "Customer not found", message)

    @app.exception_handler(NothingPublished)
    async def unpublished(request: Request, exc: NothingPublished) -> Response:
        if _is_api(request):
            return _error(503, "not_published", str(exc))
        return pages.error_page(request, 503, "Nothing published yet", str(exc))

    @app.exception_handler(404)
    async def no_route(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return _error(404, "not_found", f"no endpoint {request.url.path}; see {OPENAPI_PATH}")
        return pages.error_page(request, 404, "Page not found", "There is no such page.")

    return app
