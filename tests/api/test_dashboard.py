"""The dashboard over HTTP (a real server with a token): login and its cookie, pages without a session, CSRF
and same-origin checks, the form's validation equal to POST /api/benchmark's, the job's own files only."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest

from mm_orch.api.dashboard import job_files
from mm_orch.api.dashboard_auth import csrf_token, new_session, session_nonce
from tests.api.conftest import FAST_JOB, Server, wait_for

TOKEN = "dash-s3cret-token"


@pytest.fixture(scope="module")
def secured(tmp_path_factory, server_config):
    srv = Server(tmp_path_factory.mktemp("dash") / "data", server_config, token=TOKEN).start()
    yield srv
    srv.stop()


@contextmanager
def logged_in(srv: Server):
    with srv.client() as c:
        r = c.post("/login", data={"token": TOKEN, "next": "/"}, headers={"Origin": srv.url})
        assert r.status_code == 303 and r.headers["location"] == "/"
        yield c


def csrf_of(page: str) -> str:
    return re.search(r'"csrf":"([0-9a-f]{64})"', page).group(1)


@pytest.mark.parametrize("path", ["/", "/new", "/jobs/" + "a" * 32, "/jobs/" + "a" * 32 + "/report"])
def test_a_page_without_the_cookie_gets_the_login_page(secured, path):
    with secured.client() as c:
        r = c.get(path, follow_redirects=True)
        assert r.status_code == 200 and r.url.path == "/login" and 'id="login-form"' in r.text
        assert r.url.params["next"] == path
        assert c.get("/ui/jobs").status_code == 401  # what the pages poll: 401, not a page


def test_login_sets_an_httponly_strict_cookie_that_is_not_the_token(secured):
    with secured.client() as c:
        r = c.post("/login", data={"token": TOKEN, "next": "/new"}, headers={"Origin": secured.url})
        assert r.status_code == 303 and r.headers["location"] == "/new"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain http here; over https the cookie is Secure
        assert TOKEN not in cookie
        for path in ("/", "/new"):
            page = c.get(path)
            assert page.status_code == 200 and TOKEN not in page.text
            csp = page.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp and "http" not in csp
            assert page.headers["x-frame-options"] == "DENY"
            assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)  # nothing from another host
        assert c.get("/ui/jobs").json()["health"]["status"] == "ok"


@pytest.mark.parametrize("given", ["", "wrong", TOKEN + "x"])
def test_a_wrong_token_gets_no_cookie(secured, given):
    with secured.client() as c:
        r = c.post("/login", data={"token": given}, headers={"Origin": secured.url})
        assert r.status_code == 401 and "set-cookie" not in r.headers and "Wrong token" in r.text


def test_posts_need_same_origin_and_the_csrf_token(secured):
    with secured.client() as c:
        assert c.post("/login", data={"token": TOKEN}).status_code == 403  # no Origin, no Referer
        assert c.post("/login", data={"token": TOKEN}, headers={"Origin": "http://evil.example"}).status_code == 403
    with logged_in(secured) as c:
        csrf = csrf_of(c.get("/").text)
        same = {"Origin": secured.url}
        assert c.post("/ui/jobs", json=FAST_JOB, headers=same).status_code == 403  # no CSRF token
        assert c.post("/ui/jobs", json=FAST_JOB, headers={**same, "X-CSRF-Token": "0" * 64}).status_code == 403
        evil = {"Origin": "http://evil.example", "X-CSRF-Token": csrf}
        assert c.post("/ui/jobs", json=FAST_JOB, headers=evil).status_code == 403
        referer = {"Referer": f"{secured.url}/new", "X-CSRF-Token": csrf}
        r = c.post("/ui/jobs", json=FAST_JOB, headers=referer)
        assert r.status_code == 202
        job_id = r.json()["job_id"]
        assert c.post(f"/ui/jobs/{job_id}/cancel", headers=same).status_code == 403
        assert c.post(f"/ui/jobs/{job_id}/cancel", headers={**same, "X-CSRF-Token": csrf}).status_code in (200, 409)
        assert c.post("/logout", data={"csrf": csrf}, headers=same).status_code == 303
    with secured.client() as c:  # a logged-out browser, or a page of another site with a stolen CSRF token
        r = c.post("/ui/jobs", json=FAST_JOB, headers={"Origin": secured.url, "X-CSRF-Token": csrf})
        assert r.status_code == 401


@pytest.mark.parametrize("body", [
    {"model_name": "../../etc/passwd"},
    {"model_name": "tiny-qwen2", "test_types": ["nope"]},
    {"model_name": "tiny-qwen2", "overrides": {"benchmark": {"latency": {"test_runs": 10**6}}}},
    {"model_name": "tiny-qwen2", "extra": 1},
    {"model_name": "tiny-qwen2", "gpus": 10**9},
])
def test_the_form_is_checked_like_post_api_benchmark(secured, body):
    with logged_in(secured) as c, secured.client(TOKEN) as api:
        csrf = csrf_of(c.get("/new").text)
        ui = c.post("/ui/jobs", json=body, headers={"Origin": secured.url, "X-CSRF-Token": csrf})
        direct = api.post("/api/benchmark", json=body)
        assert ui.status_code == direct.status_code == 422
        assert ui.json() == direct.json()


def test_a_deep_or_broken_body_is_a_4xx(secured):
    with logged_in(secured) as c:
        headers = {"Origin": secured.url, "X-CSRF-Token": csrf_of(c.get("/").text), "Content-Type": "application/json"}
        for text in ("[" * 5000, "{", '"\\ud800"', "", "\xff"):
            r = c.post("/ui/jobs", content=text.encode("utf-8", "surrogatepass"), headers=headers)
            assert 400 <= r.status_code < 500, (text[:20], r.status_code, r.text)


def test_a_job_is_listed_and_serves_its_own_files_only(secured):
    with logged_in(secured) as c:
        csrf = csrf_of(c.get("/").text)
        r = c.post("/ui/jobs", json=FAST_JOB, headers={"Origin": secured.url, "X-CSRF-Token": csrf})
        job_id = r.json()["job_id"]
        assert job_id in [j["job_id"] for j in c.get("/ui/jobs").json()["items"]]
        with secured.client(TOKEN) as api:
            done = wait_for(api, job_id, {"succeeded", "failed"}, timeout=120)
        assert done["status"] == "succeeded", done["error"]
        job = c.get(f"/ui/jobs/{job_id}").json()
        assert job["status"] == "succeeded" and job["report"] == f"/jobs/{job_id}/report"
        names = [f["name"] for f in job["files"]]
        assert names[:2] == [f"{job_id}.html", f"{job_id}.json"] and all(n.startswith(job_id) for n in names)
        report = c.get(job["report"])
        assert report.status_code == 200 and report.text.startswith("<!DOCTYPE html>")
        assert "sandbox allow-scripts" in report.headers["content-security-policy"]
        assert c.get(f"/jobs/{job_id}/files/{job_id}.json").json()["model_name"] == "tiny-qwen2"
        for bad in ("..%2F..%2Fjobs.db", "%2E%2E", f"{job_id}.db", "jobs.db", f"{'b' * 32}.json", f"{job_id}.py"):
            assert c.get(f"/jobs/{job_id}/files/{bad}").status_code == 404, bad
        assert c.get("/jobs/..%2F..%2Fetc/report").status_code == 404
        assert c.get("/jobs/" + "f" * 32).status_code == 404
    with secured.client() as c:  # the files need the session too
        r = c.get(f"/jobs/{job_id}/files/{job_id}.json")
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_the_api_and_its_docs_stay_guarded_by_the_bearer_token(secured):
    with logged_in(secured) as c:  # the dashboard's cookie is not an API credential
        for path in ("/docs", "/redoc", "/openapi.json", "/api/benchmarks"):
            assert c.get(path).status_code == 401, path
    with secured.client(TOKEN) as api:
        spec = api.get("/openapi.json").json()
        assert not any(p == "/" or p.startswith(("/ui", "/jobs", "/login")) for p in spec["paths"])


def test_session_cookie_and_csrf_by_hand(tmp_path):
    cookie = new_session("tok", now=1000.0)
    nonce = session_nonce("tok", cookie, now=1001.0)
    assert nonce and session_nonce("other", cookie, now=1001.0) is None  # a new token ends every session
    assert session_nonce("tok", cookie, now=1000.0 + 13 * 3600) is None  # expired
    assert session_nonce("tok", cookie.replace(".", "x", 1), now=1001.0) is None
    assert session_nonce("tok", "", now=1001.0) is None and session_nonce("tok", None) is None
    assert csrf_token("tok", nonce) != csrf_token("tok", "other") and "tok" not in cookie
    (tmp_path / "reports").mkdir()
    jid = "c" * 32
    for name in (f"{jid}.json", f"{jid}_itl.png", f"{jid}x.json", f"{'d' * 32}.json", f"{jid}.sh"):
        (tmp_path / "reports" / name).write_text("x")
    (tmp_path / "reports" / f"{jid}_link.json").symlink_to(tmp_path / "reports" / f"{'d' * 32}.json")
    assert [p.name for p in job_files(tmp_path, jid)] == [f"{jid}.json", f"{jid}_itl.png"]
    assert job_files(tmp_path, "../" + jid) == []


def test_without_a_token_there_is_no_login_but_posts_stay_same_origin(server):
    with server.client() as c:
        assert c.get("/").status_code == 200 and c.get("/login", follow_redirects=False).status_code == 303
        assert c.post("/ui/jobs", json={"model_name": "nope"}).status_code == 403
        r = c.post("/ui/jobs", json={"model_name": "nope"}, headers={"Origin": server.url})
        assert r.status_code == 422 and "unknown model 'nope'" in r.json()["detail"]
