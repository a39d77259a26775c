"""CatchAll: an exception in a route becomes a JSON 500 and the connection stays open.

Starlette's own handler for Exception answers 500 and then re-raises, and uvicorn closes the connection on
any exception that leaves the app: the next request of a keep-alive client then fails with a reset.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger(__name__)

BODY = json.dumps({"detail": "internal error; the server log has the details"}).encode()


class CatchAll:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            log.error("unhandled error on %s %s: %s: %s", scope.get("method"), scope.get("path"),
                      type(exc).__name__, exc, exc_info=exc)
            if started:  # half a response is out: only closing the connection can tell the client
                raise
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(BODY)).encode())]})
            await send({"type": "http.response.body", "body": BODY})
