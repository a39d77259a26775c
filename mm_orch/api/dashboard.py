"""The dashboard on --serve: pages for people beside the JSON API (not in the OpenAPI schema).

    GET  /login, POST /login, POST /logout    the token asked for once; a session cookie (dashboard_auth.py)
    GET  /                                    jobs with live status and progress (polls /ui/jobs every 2 s)
    GET  /jobs/{id}                           one job: phase, progress, rolling rate and ETA; its report when done
    GET  /jobs/{id}/report                    the job's HTML report (sandboxed: scripts run in an opaque origin)
    GET  /jobs/{id}/files/{name}              the job's own files (<id>.json, <id>.md, <id>_*.png, ...) only
    GET  /new                                 the new-job form
    GET  /ui/jobs, /ui/jobs/{id}              what the pages poll (JSON)
    POST /ui/jobs, /ui/jobs/{id}/cancel       submit and cancel: the same code as POST /api/benchmark and DELETE

A page asked for without a session gets the login page (303 to /login?next=...); the JSON routes answer 401.
Every POST needs this origin (Origin/Referer) and, with a token, the session's CSRF token. Pages carry no
secret: the token is never written into a page, the cookie is HttpOnly. Each page's inline style and script
carry a per-response nonce under a Content-Security-Policy that allows nothing else (no CDN, no other host).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
from functools import cache
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from mm_orch.api import dashboard_auth as auth
from mm_orch.api import routes
from mm_orch.api.schemas import BenchmarkRequest, JobProgress, JobStatus, JobSummary
from mm_orch.engines.base import engine_names
from mm_orch.errors import ConfigError
from mm_orch.io import json_loads
from mm_orch.models.registry import BUILTIN

PAGES = Path(__file__).with_name("pages")
JOB_ID = re.compile(r"[0-9a-f]{32}")
FILE_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json", ".md": "text/markdown; charset=utf-8",
              ".png": "image/png", ".csv": "text/csv; charset=utf-8", ".xml": "application/xml"}
TESTS = ("latency", "memory", "throughput", "load")
DEFAULT_TESTS = ("latency", "memory", "throughput")
REPORT_CSP = ("sandbox allow-scripts allow-downloads; default-src 'none'; script-src 'unsafe-inline'; "
              "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")

dashboard = APIRouter(include_in_schema=False)


@cache
def _asset(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def _json_for_script(obj: Any) -> str:
    text = json.dumps(obj, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _page(request: Request, page: str, title: str, body: str, data: dict | None = None, status: int = 200,
          nav: bool = True) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    links = '<a href="/">Jobs</a><a href="/new">New job</a>' if nav else ""
    if nav and auth.auth_on(request):
        csrf = html.escape(auth.page_csrf(request, auth.logged_in(request) or ""))
        links += (f'<form method="post" action="/logout"><input type="hidden" name="csrf" value="{csrf}">'
                  '<button type="submit" id="logout">Log out</button></form>')
    text = Template(_asset("layout.html")).substitute(
        title=html.escape(title), nonce=nonce, css=_asset("dashboard.css"), page=page, nav=links, body=body,
        data=_json_for_script(data or {}), js=_asset("dashboard.js"))
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
           "img-src 'self' data:; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
    return HTMLResponse(text, status_code=status, headers={
        "Content-Security-Policy": csp, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin", "Cache-Control": "no-store"})


def _local(next_path: str | None) -> str:
    """Where to go after logging in: a path on this server only (no //host, no scheme)."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//") or "\\" in next_path:
        return "/"
    return next_path


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _session(request: Request) -> str | None:
    return auth.logged_in(request)


def _need_session_json(request: Request) -> None:
    if _session(request) is None:
        raise HTTPException(401, "log in first: the dashboard session cookie is missing or expired")


def _row(request: Request, job_id: str):
    if not JOB_ID.fullmatch(job_id):
        raise HTTPException(404, f"no job with id '{job_id[:64]}'")
    return routes._get(routes.service(request), job_id)


# ---------------------------------------------------------------- login


def _login_page(request: Request, next_path: str, error: str = "", status: int = 200) -> HTMLResponse:
    body = Template(_asset("login.html")).substitute(
        error=f'<p class="error" id="login-error">{html.escape(error)}</p>' if error else "",
        next=html.escape(_local(next_path)))
    return _page(request, "login", "Log in", body, status=status, nav=False)


@dashboard.get("/login")
def login_page(request: Request, next: str = "/") -> Response:  # noqa: A002 (the query parameter's name)
    if not auth.auth_on(request) or _session(request) is not None:
        return RedirectResponse(_local(next), status_code=303)
    return _login_page(request, next)


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (bounded by the body-size middleware)."""
    raw = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True, max_num_fields=10).items()}


@dashboard.post("/login")
async def login(request: Request) -> Response:
    if not auth.same_origin(request):
        raise HTTPException(403, "cross-origin request refused (Origin/Referer is not this server)")
    try:
        form = await _form(request)
    except ValueError:
        form = {}
    next_path = _local(form.get("next"))
    if not auth.auth_on(request):
        return RedirectResponse(next_path, status_code=303)
    response = RedirectResponse(next_path, status_code=303)
    if auth.login(request, response, form.get("token", "")):
        return response
    await asyncio.sleep(0.5)  # a guess costs time
    return _login_page(request, next_path, "Wrong token.", status=401)


@dashboard.post("/logout")
async def logout(request: Request) -> Response:
    try:
        form = await _form(request)
    except ValueError:
        form = {}
    auth.check_post(request, form.get("csrf"))
    response = RedirectResponse("/login", status_code=303)
    auth.logout(request, response)
    return response


# ---------------------------------------------------------------- pages


@dashboard.get("/")
def jobs_page(request: Request) -> Response:
    nonce = _session(request)
    if nonce is None:
        return _to_login(request)
    return _page(request, "jobs", "Jobs", _asset("jobs.html"), {"csrf": auth.page_csrf(request, nonce)})


@dashboard.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str) -> Response:
    nonce = _session(request)
    if nonce is None:
        return _to_login(request)
    row = _row(request, job_id)
    title = f"{row.model_name} on {row.engine}"
    body = Template(_asset("job.html")).substitute(title=html.escape(title), job_id=html.escape(row.id))
    return _page(request, "job", f"Job {row.id[:8]}", body, {"csrf": auth.page_csrf(request, nonce), "job_id": row.id})


@dashboard.get("/new")
def new_page(request: Request) -> Response:
    nonce = _session(request)
    if nonce is None:
        return _to_login(request)
    cfg = routes.service(request).config
    models = "".join(f'<option value="{html.escape(m)}">{html.escape(m)}</option>'
                     for m in sorted({*BUILTIN, *cfg.models}, key=lambda m: (m != "tiny-qwen2", m)))
    engines = "".join(f'<option value="{html.escape(e)}">{html.escape(e)}</option>' for e in engine_names())
    tests = "".join(f'<label><input type="checkbox" name="test_types" value="{t}"'
                    f'{" checked" if t in DEFAULT_TESTS else ""}> {t}</label>' for t in TESTS)
    body = Template(_asset("new.html")).substitute(models=models, engines=engines, tests=tests)
    return _page(request, "new", "New job", body, {"csrf": auth.page_csrf(request, nonce)})


# ---------------------------------------------------------------- the job's files


def job_files(data_dir: str | Path, job_id: str) -> list[Path]:
    """The files a job wrote: <id>.<ext> and <id>_<name>.<ext> in data_dir/reports (regular files only)."""
    folder = Path(data_dir) / "reports"
    if not JOB_ID.fullmatch(job_id) or not folder.is_dir():
        return []
    found = [p for p in folder.glob(f"{job_id}*") if p.suffix in FILE_TYPES and _own(folder, job_id, p.name)]
    return sorted(found, key=lambda p: (p.suffix != ".html", p.suffix != ".json", p.name))


def _own(folder: Path, job_id: str, name: str) -> Path | None:
    """data_dir/reports/<name> when name is one of this job's files: its stem is the id or starts with id_, its
    suffix a report type, no separator, and the path is a regular file (not a link) inside the folder."""
    if "/" in name or "\\" in name or "\x00" in name:
        return None
    stem, suffix = Path(name).stem, Path(name).suffix
    if suffix not in FILE_TYPES or not (stem == job_id or stem.startswith(job_id + "_")):
        return None
    path = folder / name
    try:
        if path.is_symlink() or not path.is_file() or path.resolve().parent != folder.resolve():
            return None
    except OSError:
        return None
    return path


def _file_response(path: Path) -> FileResponse:
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "same-origin"}
    if path.suffix == ".html":
        headers |= {"Content-Security-Policy": REPORT_CSP, "X-Frame-Options": "SAMEORIGIN"}
    else:
        headers |= {"Content-Security-Policy": "default-src 'none'; sandbox", "X-Frame-Options": "DENY"}
    return FileResponse(path, media_type=FILE_TYPES[path.suffix], headers=headers)


@dashboard.get("/jobs/{job_id}/report")
def job_report(request: Request, job_id: str) -> Response:
    if _session(request) is None:
        return _to_login(request)
    row = _row(request, job_id)
    path = _own(Path(routes.service(request).store.data_dir) / "reports", row.id, f"{row.id}.html")
    if path is None:
        raise HTTPException(404, f"job '{row.id}' has no HTML report ({row.status})")
    return _file_response(path)


@dashboard.get("/jobs/{job_id}/files/{name}")
def job_file(request: Request, job_id: str, name: str) -> Response:
    if _session(request) is None:
        return _to_login(request)
    row = _row(request, job_id)
    path = _own(Path(routes.service(request).store.data_dir) / "reports", row.id, name)
    if path is None:
        raise HTTPException(404, f"job '{row.id}' has no file '{name[:100]}'")
    return _file_response(path)


# ---------------------------------------------------------------- JSON for the pages


def _progress(row: Any) -> dict | None:
    if row.status != JobStatus.running or not row.progress:
        return None
    try:
        return JobProgress.model_validate(row.progress).model_dump(mode="json")
    except ValidationError:
        return None


@dashboard.get("/ui/jobs")
def ui_jobs(request: Request) -> JSONResponse:
    _need_session_json(request)
    svc = routes.service(request)
    rows, total = svc.store.page(50, 0, None)
    items = [JobSummary(**routes._summary_fields(r)).model_dump(mode="json") | {"progress": _progress(r)}
             for r in rows]
    return JSONResponse({"items": items, "total": total, "health": routes.health(svc).model_dump(mode="json")},
                        headers={"Cache-Control": "no-store"})


@dashboard.get("/ui/jobs/{job_id}")
def ui_job(request: Request, job_id: str) -> JSONResponse:
    _need_session_json(request)
    row = _row(request, job_id)
    body = JobSummary(**routes._summary_fields(row)).model_dump(mode="json") | {"progress": _progress(row)}
    files = job_files(routes.service(request).store.data_dir, row.id) if row.status == JobStatus.succeeded else []
    body["files"] = [{"name": p.name, "url": f"/jobs/{row.id}/files/{quote(p.name)}"} for p in files]
    body["report"] = f"/jobs/{row.id}/report" if any(p.name == f"{row.id}.html" for p in files) else None
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@dashboard.post("/ui/jobs", status_code=202)
async def ui_submit(request: Request) -> JSONResponse:
    """POST /api/benchmark for the form: the same request model (the same messages), then routes.submit."""
    auth.check_post(request)
    raw = await request.body()
    try:
        body = json_loads(raw, "body")
    except ConfigError as e:
        raise HTTPException(422, str(e)) from None
    except ValueError as e:
        raise HTTPException(400, f"body: cannot be parsed as JSON ({type(e).__name__})") from None
    try:
        req = BenchmarkRequest.model_validate(body)
    except ValidationError as e:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_url=False)]
        raise RequestValidationError(errors) from None  # located as FastAPI locates /api/benchmark's
    created = routes.submit(req, routes.service(request))
    return JSONResponse(created.model_dump(mode="json"), status_code=202)


@dashboard.post("/ui/jobs/{job_id}/cancel")
def ui_cancel(request: Request, job_id: str) -> JSONResponse:
    auth.check_post(request)
    row = _row(request, job_id)
    view = routes.cancel_job(row.id, routes.service(request))
    return JSONResponse(view.model_dump(mode="json", exclude={"result"}))
