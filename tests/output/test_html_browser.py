"""The HTML report in a real browser (Debian's headless Chromium through playwright).

Opens the page of a real report of the embedded tiny model (and a load test and a saturation sweep with an SLO)
from a file:// URL with the browser offline, and checks: no console error and no uncaught exception; the JSON's
headline values are on the page; every chart drew a canvas of nonzero size; y axes start at zero; hovering shows
values; dragging zooms; no request left the page; a hostile model name stays text. Skipped only when Chromium or
playwright is missing (bash scripts/install_browser.sh installs both).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mm_orch.output.html import context_of, write_html

from .browser import chromium, open_page, skip_reason

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

FIXTURES = Path(__file__).with_name("fixtures")
HEADLINE_KEYS = [
    ("latency", "ttft_ms"),
    ("latency", "tpot_ms"),
    ("latency", "e2e_latency_ms"),
    ("latency", "tokens_per_second"),
    ("throughput", "single_request_tps"),
    ("memory", "peak_gb"),
]


def expected_text(value: float) -> str:
    """The page's number format, written independently: 1,283 / 139.1 / 10.72 / 0.423."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


@pytest.fixture(scope="module")
def browser_context():
    with chromium() as context:
        yield context


def page_of(context, tmp_path: Path, report: dict, name: str):
    path = write_html(report, tmp_path / f"{name}.html")
    return open_page(context, path)


def assert_clean(result) -> None:
    assert result.console_errors == [], result.console
    assert result.page_errors == []
    assert result.outside_requests == [], result.requests
    assert result.requests[0] == result.url
    assert result.dialogs == []


@pytest.fixture(scope="module")
def main_report() -> dict:
    return json.loads((FIXTURES / "tiny-qwen2_hf_main.json").read_text())


@pytest.fixture(scope="module")
def main_page(browser_context, main_report, tmp_path_factory):
    return page_of(browser_context, tmp_path_factory.mktemp("html"), main_report, "main")


def test_report_opens_offline_without_errors_or_requests(main_page):
    assert_clean(main_page)


def test_headline_values_of_the_json_are_on_the_page(main_page, main_report):
    headline = main_page.page.inner_text("#headline")
    for section, key in HEADLINE_KEYS:
        value = main_report[section][key]
        assert expected_text(value) in headline, (section, key, value, headline)
    for unit in ("ms", "tokens/s", "GiB"):
        assert unit in headline
    verdict = main_page.page.inner_text("#verdict")
    assert verdict.startswith("PASS" if main_report["validation"]["passed"] else "FAIL")


def test_every_chart_drew_with_a_title_naming_model_engine_device_date(main_page, main_report):
    ctx = context_of(main_report)
    assert len(main_page.charts) >= 6
    for chart in main_page.charts:
        assert chart["rendered"], chart
        assert chart["width"] > 200 and chart["height"] > 100, chart
        for part in (ctx.model, ctx.engine, ctx.device, ctx.date):
            assert part in chart["subtitle"]
    assert main_page.page.locator("canvas").count() == len(main_page.charts)


def test_y_axes_start_at_zero(main_page):
    mins = main_page.page.evaluate(
        "() => Array.from(document.querySelectorAll('.plot')).map(p => p.uplot.scales.y.min)"
    )
    assert mins and all(m == 0 for m in mins), mins


def test_hover_shows_values_with_units(main_page):
    page = main_page.page
    over = page.locator("#chart-1 .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    values = page.locator("#chart-1 .u-legend .u-value").all_inner_texts()
    assert any(v.endswith(" ms") for v in values), values


def test_drag_zooms_and_double_click_zooms_out(main_page):
    page = main_page.page
    chart_id = page.evaluate(
        "() => Array.from(document.querySelectorAll('figure.chart')).find("
        "f => f.querySelector('.title').innerText.startsWith('TTFT against input length')).dataset.chart"
    )
    scale = f"() => {{ const s = document.getElementById('{chart_id}').uplot.scales.x; return [s.min, s.max]; }}"
    before = page.evaluate(scale)
    over = page.locator(f"#{chart_id} .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    zoomed = page.evaluate(scale)
    assert before[0] < zoomed[0] < zoomed[1] < before[1]
    page.mouse.dblclick(box["x"] + box["width"] * 0.4, y)
    assert page.evaluate(scale) == pytest.approx(before)


@pytest.mark.parametrize(
    ("name", "slo_label"),
    [
        ("tiny-qwen2_hf_load_slo.json", "SLO TTFT \u2264 100 ms"),
        ("mock_openai_saturation_slo.json", "SLO TTFT \u2264 100 ms"),
    ],
)
def test_load_and_saturation_reports(browser_context, tmp_path, name, slo_label):
    report = json.loads((FIXTURES / name).read_text())
    result = page_of(browser_context, tmp_path, report, Path(name).stem)
    assert_clean(result)
    assert all(c["rendered"] and c["width"] > 0 and c["height"] > 0 for c in result.charts)
    assert slo_label in result.text
    if report.get("saturation"):
        knee = report["saturation"]["knee_rps"]
        assert expected_text(knee) in result.page.inner_text("#headline")
    else:
        arrival = report["load"]["ttft_from_arrival_ms"]["median"]
        assert expected_text(arrival) in result.page.inner_text("#headline")


def test_a_hostile_model_name_stays_text(browser_context, tmp_path, main_report):
    report = dict(main_report, model_name="<script>alert(1)</script>", warnings=["<img src=x onerror=alert(2)>"])
    result = page_of(browser_context, tmp_path, report, "hostile")
    assert_clean(result)
    assert "<script>alert(1)</script> on hf" in result.text
    assert "<img src=x onerror=alert(2)>" in result.text
    assert result.page.locator("img").count() == 0
