"""The dashboard's session cookie and its CSRF defences.

The API token (MM_ORCH_API_TOKEN) is typed once on the login page; the server answers with a session cookie
that never holds the token: `<issued>.<nonce>.<hmac>`, the HMAC-SHA256 of the issue time and a random nonce
keyed by the token. The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends
it), Path=/, Secure when the request came over https, and lasts SESSION_SECONDS; changing the token ends every
session. No page ever carries the token: a page carries only its CSRF token, the HMAC of the session's nonce.

Every state-changing dashboard request (POST: log in, log out, submit, cancel) must come from this origin
(Origin, else Referer, equal to the request's own scheme://host) and, once logged in, carry the session's CSRF
token (X-CSRF-Token header, or a csrf form field). Without a server token (--allow-no-auth) there is no login,
and the same-origin check still applies.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from starlette.responses import Response

from mm_orch.api.auth import token_matches

COOKIE = "mm_orch_session"
SESSION_SECONDS = 12 * 3600
CSRF_HEADER = "X-CSRF-Token"


def _sign(token: str, purpose: str, *parts: str) -> str:
    msg = ":".join((purpose, *parts)).encode()
    return hmac.new(token.encode(), msg, hashlib.sha256).hexdigest()


def new_session(token: str, now: float | None = None) -> str:
    issued = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(16)
    return f"{issued}.{nonce}.{_sign(token, 'session', issued, nonce)}"


def session_nonce(token: str, cookie: str | None, now: float | None = None) -> str | None:
    """The nonce of a valid, unexpired session cookie; None for anything else."""
    if not cookie or cookie.count(".") != 2 or len(cookie) > 200:
        return None
    issued, nonce, sig = cookie.split(".")
    if not issued.isdigit() or not token_matches(_sign(token, "session", issued, nonce), sig):
        return None
    age = (now if now is not None else time.time()) - int(issued)
    return nonce if -60 <= age <= SESSION_SECONDS else None


def csrf_token(token: str, nonce: str) -> str:
    return _sign(token, "csrf", nonce)


def auth_on(request: Request) -> bool:
    return request.app.state.api_token is not None


def logged_in(request: Request) -> str | None:
    """The session's nonce ('' without a server token: everyone is in), or None when not logged in."""
    token = request.app.state.api_token
    if token is None:
        return ""
    return session_nonce(token, request.cookies.get(COOKIE))


def page_csrf(request: Request, nonce: str) -> str:
    token = request.app.state.api_token
    return csrf_token(token, nonce) if token is not None else ""


def login(request: Request, response: Response, given: str) -> bool:
    """Set the session cookie when `given` is the server's token."""
    token = request.app.state.api_token
    if token is None or not given or not token_matches(token, given):
        return False
    response.set_cookie(COOKIE, new_session(token), max_age=SESSION_SECONDS, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return True


def logout(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


def same_origin(request: Request) -> bool:
    """Origin (else Referer) names this server's own scheme://host[:port]; a request with neither is refused."""
    own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() == own
    referer = request.headers.get("referer")
    if not referer:
        return False
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}".lower() == own


def check_post(request: Request, form_csrf: str | None = None) -> str:
    """A state-changing request: same origin, logged in, the session's CSRF token; returns the nonce.
    403 otherwise (401 when not logged in)."""
    if not same_origin(request):
        raise HTTPException(403, "cross-origin request refused (Origin/Referer is not this server)")
    nonce = logged_in(request)
    if nonce is None:
        raise HTTPException(401, "log in first: the dashboard session cookie is missing or expired")
    if auth_on(request):
        given = request.headers.get(CSRF_HEADER) or form_csrf or ""
        if not token_matches(page_csrf(request, nonce), given):
            raise HTTPException(403, f"missing or wrong CSRF token ({CSRF_HEADER})")
    return nonce
