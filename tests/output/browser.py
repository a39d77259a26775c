"""Headless Chromium for the tests: Debian's /usr/bin/chromium driven by playwright (no browser download).

    reason = skip_reason()            # None when a browser can run, else why not (for pytest.skip)
    with chromium() as context:       # a fresh --user-data-dir each time, offline
        page = open_page(context, "report.html", screenshot="shot.png")
        page.console_errors, page.page_errors, page.requests, page.text, page.charts

Installed by scripts/install_browser.sh. As a script, it takes a screenshot:
    python3 tests/output/browser.py PAGE.html OUT.png [--width 1280] [--height 900] [--full-page]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


def chromium_path() -> str | None:
    """The Chromium binary: $MM_ORCH_CHROMIUM, else Debian's chromium on PATH."""
    explicit = os.environ.get("MM_ORCH_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None. Only a missing browser or driver is a reason."""
    if chromium_path() is None:
        return "chromium is not installed (bash scripts/install_browser.sh installs Debian's chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (bash scripts/install_browser.sh installs it from PyPI)"
    return None


@contextmanager
def chromium(width: int = 1280, height: int = 900, offline: bool = True) -> Iterator[Any]:
    """A playwright BrowserContext on Debian's Chromium, headless, with a fresh user-data-dir; offline unless a
    test talks to a server of its own (the dashboard on 127.0.0.1)."""
    from playwright.sync_api import sync_playwright

    binary = chromium_path()
    if binary is None:
        raise RuntimeError(skip_reason())
    with tempfile.TemporaryDirectory(prefix="mm_orch_chromium_") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=binary,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            offline=offline,
        )
        try:
            yield context
        finally:
            context.close()


@dataclass
class PageResult:
    """What a page did while it loaded."""

    url: str
    console: list[tuple[str, str]] = field(default_factory=list)  # (type, text) of every console message
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, itself included
    dialogs: list[str] = field(default_factory=list)  # alert()/confirm() texts (dismissed)
    text: str = ""  # document.body.innerText
    charts: list[dict] = field(default_factory=list)  # per figure: id, rendered flag, canvas width and height
    page: Any = None  # the playwright Page, left open for interaction; closed with its context

    @property
    def console_errors(self) -> list[str]:
        return [text for kind, text in self.console if kind in ("error", "assert")]

    @property
    def outside_requests(self) -> list[str]:
        """Requests to anything but the page itself and inline (data:, about:, blob:) content."""
        return [u for u in self.requests if u != self.url and not u.startswith(LOCAL_SCHEMES[1:])]


CHART_PROBE = """() => Array.from(document.querySelectorAll('figure.chart')).map(f => {
  const plot = f.querySelector('.plot');
  const canvas = f.querySelector('canvas');
  const r = canvas ? canvas.getBoundingClientRect() : {width: 0, height: 0};
  return {id: plot ? plot.id : null, rendered: plot ? plot.dataset.rendered === '1' : false,
          width: r.width, height: r.height, title: f.querySelector('.title').innerText,
          subtitle: f.querySelector('.subtitle').innerText};
})"""


def open_page(
    context: Any, path: str | os.PathLike, screenshot: str | os.PathLike | None = None, full_page: bool = True
) -> PageResult:
    """Load a local HTML file, wait until it has drawn, and report what it logged and asked for."""
    url = Path(path).resolve().as_uri()
    result = PageResult(url=url)
    page = context.new_page()
    page.on("console", lambda msg: result.console.append((msg.type, msg.text)))
    page.on("pageerror", lambda exc: result.page_errors.append(str(exc)))
    page.on("request", lambda req: result.requests.append(req.url))
    page.on("dialog", lambda dialog: (result.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url, wait_until="load")
    page.wait_for_timeout(200)  # ResizeObserver callbacks and late console messages
    result.text = page.evaluate("() => document.body.innerText")
    result.charts = page.evaluate(CHART_PROBE)
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=full_page)
    result.page = page
    return result


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Screenshot a local HTML page in headless Chromium.")
    parser.add_argument("page")
    parser.add_argument("out")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--full-page", action="store_true")
    args = parser.parse_args(argv)
    reason = skip_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    with chromium(args.width, args.height) as context:
        result = open_page(context, args.page, screenshot=args.out, full_page=args.full_page)
    for kind, text in result.console:
        print(f"console {kind}: {text}", file=sys.stderr)
    for err in result.page_errors:
        print(f"page error: {err}", file=sys.stderr)
    print(f"{args.out}: {len(result.charts)} chart(s), {len(result.outside_requests)} outside request(s)")
    return 1 if result.console_errors or result.page_errors or result.outside_requests else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
