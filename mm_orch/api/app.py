"""create_app(): the FastAPI application, its lifespan (store + scheduler) and error bodies."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from mm_orch import __version__
from mm_orch.api.auth import TOKEN_ENV, require_token
from mm_orch.api.dashboard import dashboard
from mm_orch.api.faults import CatchAll
from mm_orch.api.limits import BodySizeLimit
from mm_orch.api.routes import Service, jobs, public
from mm_orch.api.scheduler import Scheduler
from mm_orch.api.schemas import ErrorBody, safe_text
from mm_orch.config import Config
from mm_orch.errors import ConfigError
from mm_orch.executors.ray_service import RayExecutor
from mm_orch.jobs.store import JobStore
from mm_orch.models.registry import BUILTIN

log = logging.getLogger(__name__)

DESCRIPTION = """Benchmark jobs for LLM inference (latency, memory, throughput).

POST /api/benchmark queues a job and answers 202 with its id; poll GET /api/benchmark/{job_id} until the
status is succeeded (the report is in `result`), failed or cancelled. Jobs run in worker slots (api.slots:
one per GPU by default), each in its own process pinned to its GPUs (or as a Ray task).
When the server has MM_ORCH_API_TOKEN set, send `Authorization: Bearer <token>`.
"""


def _loc(loc: tuple | list) -> str:
    return ".".join(str(p) for p in loc) or "<body>"


def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for e in exc.errors():
        msg = "unknown field" if e.get("type") == "extra_forbidden" else str(e.get("msg", "invalid"))
        msg = safe_text(msg.removeprefix("Value error, "))  # a message may quote the input: no lone surrogates out
        loc = [safe_text(str(p)) for p in e.get("loc", ())]
        errors.append({"loc": loc, "msg": msg, "type": str(e.get("type", ""))})
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return JSONResponse({"detail": f"{_loc(first['loc'])}: {first['msg']}{more}", "errors": errors}, status_code=422)


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = safe_text(str(exc.detail))
    if exc.status_code == 400 and exc.__cause__ is not None:  # FastAPI could not decode the body
        cause = str(exc.__cause__).splitlines()[0][:160] if str(exc.__cause__) else ""
        detail = f"body: cannot be parsed as JSON ({type(exc.__cause__).__name__}{': ' + cause if cause else ''})"
    headers = _allowed(request, exc) if exc.status_code == 405 else exc.headers
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)


def _allowed(request: Request, exc: StarletteHTTPException) -> dict[str, str] | None:
    """405: list every method of every route on this path (Starlette names only the first route's)."""
    methods = {m for r in (*public.routes, *jobs.routes)
               if isinstance(r, APIRoute) and r.path_regex.match(request.url.path) for m in r.methods}
    return {**(exc.headers or {}), "Allow": ", ".join(sorted(methods))} if methods else exc.headers


def _openapi_with_models(app: FastAPI, config: Config) -> Callable[[], dict]:
    """The schema names this server's model aliases, so clients (and fuzzers) see the valid values."""
    build = app.openapi

    def openapi() -> dict:
        schema = build()
        field = schema["components"]["schemas"]["BenchmarkRequest"]["properties"]["model_name"]
        field["enum"] = sorted({*BUILTIN, *config.models})
        return schema

    return openapi


def create_app(config: Config, data_dir: str | Path, api_token: str | None = None, ray: Any = None) -> FastAPI:
    """The app; jobs live in data_dir. With api_token set every endpoint but /api/health needs it, the docs too.
    With ray (a connected RayCluster) jobs run as Ray tasks, else in local child processes."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = JobStore(data_dir)
        scheduler = Scheduler(store, config.api.job_timeout_seconds, config.api.slots,
                              RayExecutor(store, ray) if ray is not None else None)
        scheduler.start()
        app.state.service = Service(config, store, scheduler)
        log.info("job service ready: data in %s, auth %s", store.data_dir, "on" if api_token else "off")
        try:
            yield
        finally:
            scheduler.stop()
            store.close()

    if api_token is not None and not api_token.strip():
        raise ConfigError(f"{TOKEN_ENV} is set but empty: set a token, or unset it to serve without auth")
    docs = {} if api_token is None else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title="mm_orch benchmark API", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  **docs)
    app.state.api_token = api_token
    app.include_router(public)
    app.include_router(jobs, dependencies=[Depends(require_token)] if api_token else None,
                       responses={401: {"model": ErrorBody}} if api_token else None)
    app.include_router(dashboard)  # pages for people (not in the schema); its own session cookie and CSRF checks
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.openapi = _openapi_with_models(app, config)
    if api_token is not None:
        _guarded_docs(app)
    app.add_middleware(BodySizeLimit, max_bytes=config.api.max_body_bytes)
    app.add_middleware(CatchAll)  # added last: outermost of ours, so it sees every route's exception
    return app


def _guarded_docs(app: FastAPI) -> None:
    """With a token, the schema and the docs pages need it too: they list every endpoint and model alias."""
    guard = [Depends(require_token)]
    title = f"{app.title} - docs"

    @app.get("/openapi.json", include_in_schema=False, dependencies=guard)
    def openapi_json() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=title)

    @app.get("/redoc", include_in_schema=False, dependencies=guard)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=title)
