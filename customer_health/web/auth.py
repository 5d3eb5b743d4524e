"""Token authentication for every page and API endpoint.

One shared token, read from the environment variable named by ``serve.token_env`` (never from a
file). The API takes it as ``Authorization: Bearer <token>``; a browser exchanges it once on the
login page for an HttpOnly, SameSite=Strict session cookie that holds an HMAC keyed by the token
(so the cookie never contains the token, and changing the token ends every session). Every
comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request

from customer_health.config import ConfigError, Settings

COOKIE = "ch_session"
SESSION_SECONDS = 12 * 3600
_CONTEXT = b"customer-health web session v1|"
MIN_TOKEN_LENGTH = 16


class MissingToken(ConfigError):
    """The environment holds no usable token, so the app must not start."""


def read_token(settings: Settings) -> str:
    """The token from the environment variable ``serve.token_env``; a clear error without one."""
    name = settings.options.serve.token_env
    token = os.environ.get(name, "").strip()
    hint = 'e.g. export {0}="$(python3 -c \'import secrets; print(secrets.token_urlsafe(32))\')"'
    if not token:
        raise MissingToken(f"{name} is not set: every page and API call needs a token; "
                           + hint.format(name))
    if len(token) < MIN_TOKEN_LENGTH:
        raise MissingToken(f"{name} is too short ({len(token)} characters): use at least "
                           f"{MIN_TOKEN_LENGTH}, " + hint.format(name))
    return token


@dataclass(frozen=True)
class TokenAuth:
    """Checks bearer tokens and session cookies against one token."""

    token: str

    def bearer_ok(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode("utf-8"), self.token.encode("utf-8"))

    def token_ok(self, given: str | None) -> bool:
        return hmac.compare_digest((given or "").strip().encode("utf-8"), self.token.encode("utf-8"))

    def _mac(self, issued: int) -> str:
        return hmac.new(self.token.encode("utf-8"), _CONTEXT + str(issued).encode(),
                        hashlib.sha256).hexdigest()

    def new_session(self, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        return f"{issued}.{self._mac(issued)}"

    def session_ok(self, cookie: str | None, now: float | None = None) -> bool:
        if not cookie:
            return False
        issued_text, _, mac = cookie.partition(".")
        if not issued_text.isdigit() or len(issued_text) > 12:
            return False
        issued = int(issued_text)
        now = now if now is not None else time.time()
        if not (issued - 60 <= now <= issued + SESSION_SECONDS):
            return False
        return hmac.compare_digest(mac.encode("ascii", "replace"), self._mac(issued).encode())

    def request_ok(self, request: Request) -> bool:
        """A valid bearer token or session cookie."""
        return (self.bearer_ok(request.headers.get("authorization"))
                or self.session_ok(request.cookies.get(COOKIE)))


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 32 for c in target):
        return "/"
    return target


def login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(safe_next(here), safe="")
