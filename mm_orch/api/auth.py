"""Bearer-token check (MM_ORCH_API_TOKEN), constant-time; a FastAPI dependency."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

TOKEN_ENV = "MM_ORCH_API_TOKEN"

_bearer = HTTPBearer(auto_error=False, description=f"Required when the server has {TOKEN_ENV} set.")


def token_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def require_token(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    expected: str | None = request.app.state.api_token
    if expected is None:
        return
    if credentials is None or not token_matches(expected, credentials.credentials):
        raise HTTPException(401, "missing or wrong bearer token (Authorization: Bearer <MM_ORCH_API_TOKEN>)",
                            headers={"WWW-Authenticate": "Bearer"})
