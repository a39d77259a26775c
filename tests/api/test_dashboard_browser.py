"""The dashboard in a real browser (Debian's headless Chromium through playwright, tests/output/browser.py)
against a real server with a token: a page without the cookie gets the login page; log in; submit a job from
the form (and see a refused one's message, the API's); watch it progress on its page; open its report; the
list shows it; no console error or uncaught exception on any page, and nothing fetched from another host.

With MM_ORCH_SCREENSHOT_DIR set, it saves dashboard_list.png and dashboard_job.png there (reports/html/).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.api.conftest import Server
from tests.output.browser import chromium, skip_reason

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

TOKEN = "browser-s3cret-token"
JOB_OVERRIDES = '{"benchmark": {"latency": {"test_runs": 12, "output_length": 16}}}'


@pytest.fixture(scope="module")
def secured(tmp_path_factory, server_config):
    srv = Server(tmp_path_factory.mktemp("dash_browser") / "data", server_config, token=TOKEN).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    with chromium(1280, 900, offline=False) as context:
        yield context


class Watch:
    """What a page logged and asked for."""

    def __init__(self, page, origin: str):
        self.page, self.origin = page, origin
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.console.append((m.type, m.text)))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def assert_clean(self) -> None:
        assert [t for kind, t in self.console if kind in ("error", "assert")] == [], self.console
        assert self.errors == []
        outside = [u for u in self.requests if not u.startswith((self.origin, "data:", "about:", "blob:"))]
        assert outside == []


def shots() -> Path | None:
    folder = os.environ.get("MM_ORCH_SCREENSHOT_DIR")
    return Path(folder) if folder else None


def test_without_the_cookie_every_page_is_the_login_page(browser, secured):
    page = browser.new_page()
    watch = Watch(page, secured.url)
    for path in ("/", "/new", "/jobs/" + "a" * 32):
        page.goto(secured.url + path)
        assert page.url.startswith(f"{secured.url}/login?next=")
        assert page.locator("#login-form input[name=token]").is_visible()
        assert TOKEN not in page.content()
    watch.assert_clean()
    page.close()


def test_log_in_submit_watch_and_open_the_report(browser, secured):
    page = browser.new_page()
    watch = Watch(page, secured.url)
    page.goto(secured.url + "/new")
    page.fill("#token", "not the token")
    page.click("#login-form button")
    assert "Wrong token." in page.inner_text("#login-error")
    watch.console.clear()  # the 401 of a wrong token is logged by the browser: expected here
    page.fill("#token", TOKEN)
    page.click("#login-form button")
    page.wait_for_url(f"{secured.url}/new")
    cookie = next(c for c in browser.cookies(secured.url) if c["name"] == "mm_orch_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
    assert page.evaluate("() => document.cookie") == ""  # scripts cannot read it
    assert TOKEN not in page.content()

    # a refused job: the API's own message, on the form
    page.fill("#overrides", '{"benchmark": {"latency": {"test_runs": 1000000}}}')
    page.click("#submit")
    page.wait_for_selector("#form-error:not([hidden])")
    assert "exceeds the server's cap api.max_test_runs" in page.inner_text("#form-error")
    watch.console.clear()  # the 422 response is logged by the browser: expected here

    # a real job: latency only, long enough to be seen running
    for test in ("memory", "throughput"):
        page.uncheck(f"input[name=test_types][value={test}]")
    page.fill("#overrides", JOB_OVERRIDES)
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f]{32}$"))
    job_id = page.url.rsplit("/", 1)[1]
    seen, shot = set(), False
    for _ in range(600):  # up to 120 s: what the page shows while the job runs
        status = page.inner_text("#status")
        seen.add((status, page.inner_text("#phase")))
        if status in ("succeeded", "failed", "cancelled"):
            break
        if shots() and not shot and "steps/s" in page.inner_text("#metrics"):
            page.screenshot(path=str(shots() / "dashboard_job_running.png"))
            shot = True
        page.wait_for_timeout(200)
    assert status == "succeeded", (seen, page.inner_text("#error"))
    phases = {phase for s, phase in seen if s == "running"}
    assert phases and any(p not in ("starting the worker",) for p in phases), seen
    frame = page.frame_locator("#report")
    frame.locator("#headline").wait_for()
    assert "tiny-qwen2 on hf" in frame.locator("header h1").inner_text()
    assert page.locator("#files a").count() >= 3
    facts = page.inner_text("#facts")
    assert "tiny-qwen2" in facts and "latency" in facts
    if shots():
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots() / "dashboard_job.png"), full_page=False)

    page.goto(secured.url + "/")
    row = page.locator(f"tr[data-job='{job_id}']")
    row.wait_for()
    assert "succeeded" in row.inner_text()
    assert "running" in page.inner_text("#health") and "slot" in page.inner_text("#health")
    if shots():  # a busier list for the picture: one job running, one queued behind it, then both cancelled
        list_screenshot(page, secured, shots() / "dashboard_list.png")
    watch.assert_clean()
    assert TOKEN not in page.content()

    page.click("#logout")
    page.wait_for_url(re.compile(r".*/login$"))
    page.goto(f"{secured.url}/jobs/{job_id}")
    assert "/login?next=" in page.url
    page.close()


def list_screenshot(page, srv: Server, path: Path) -> None:
    from tests.api.conftest import SLOW_JOB

    with srv.client(TOKEN) as api:
        ids = [api.post("/api/benchmark", json=SLOW_JOB).json()["job_id"] for _ in range(2)]
        try:
            page.wait_for_selector("#jobs .badge.running", timeout=60_000)
            page.wait_for_timeout(4000)  # the worker's first progress reports
            page.screenshot(path=str(path))
        finally:
            for job_id in ids:
                api.delete(f"/api/benchmark/{job_id}")
