"""Live terminal progress: rolling figures of an open-loop phase, the sweep cell named on every phase line."""

from __future__ import annotations

import io

from rich.console import Console

from mm_orch.cli.console import LiveFigures, PlainProgress, Prefixed, RichProgress


def test_live_figures_are_the_last_window_only():
    live = LiveFigures(window_s=10.0)
    for i in range(20):  # 20 requests over the first 19 s: 10 of them in the last 10 s window
        live.add(ttft_ms=float(i), ok=i != 3, now=float(i))
    line = live.line(now=19.0)
    # the window is [9, 19]: 11 ends in 10 s; TTFTs 9..19 ms; one failure in all (request 3)
    assert line.startswith("1.1 req/s")
    assert "TTFT p50 14 p99 19 ms" in line
    assert line.endswith("1 failed")


def test_no_request_yet_draws_nothing():
    assert LiveFigures().line(now=5.0) == ""


def test_the_bar_shows_the_live_figures_and_an_eta():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    with RichProgress(console) as progress:
        progress.phase("load: 4 requests", 4)
        for ttft in (10.0, 20.0, 30.0, None):
            progress.advance()
            progress._drawn = 0.0  # draw every update in the test
            progress.observe(ttft, ttft is not None)
    text = out.getvalue()
    assert "eta" in text and "req/s" in text and "1 failed" in text


def test_plain_lines_count_failures_and_sweep_cells_are_named():
    out = io.StringIO()
    with PlainProgress(out) as plain:
        cell = Prefixed(plain, "cell 2/3 (request_rate=10): ")
        cell.phase("load: 3 requests", 3)
        for ok in (True, False, True):
            cell.advance()
            cell.observe(5.0, ok)
    line = out.getvalue().strip()
    assert line.startswith("mm_orch: cell 2/3 (request_rate=10): load: 3 requests:")
    assert line.endswith("3 requests, 1 failed")
