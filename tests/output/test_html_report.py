"""The HTML report without a browser: sections, escaping, size, skipped panels, verdicts, atomic writes.

Fixtures (tests/output/fixtures/) are real reports: the main job on the embedded tiny model, the same with
--tests latency,throughput,load and an SLO, and a saturation sweep against the mock server with an SLO.
"""

from __future__ import annotations

import copy
import html
import json
import math
import re
from pathlib import Path

import pytest

from mm_orch.output import html as html_report
from mm_orch.output.html import MAX_HTML_BYTES, format_number, headline_metrics, render_html, write_html
from mm_orch.output.html import page as page_module

FIXTURES = Path(__file__).with_name("fixtures")
REPORTS = Path(__file__).resolve().parents[2] / "reports"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def main_report() -> dict:
    return load("tiny-qwen2_hf_main.json")


@pytest.fixture(scope="module")
def load_report() -> dict:
    return load("tiny-qwen2_hf_load_slo.json")


@pytest.fixture(scope="module")
def saturation_report() -> dict:
    return load("mock_openai_saturation_slo.json")


def chart_specs(page: str) -> list[dict]:
    found = re.search(r'<script type="application/json" id="mm-charts">(.*?)</script>', page, re.S)
    assert found, "no chart data in the page"
    return json.loads(found.group(1))


def skipped_text(page: str) -> str:
    found = re.search(r'<p class="skipped" id="skipped">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def titles(page: str) -> list[str]:
    return [s["title"] for s in chart_specs(page)]


def test_main_report_leads_with_the_answer_then_plots_tables_environment(main_report):
    page = render_html(main_report)
    order = [page.index(f'id="{sid}"') for sid in ("answer", "verdict", "headline", "plots", "tables")]
    order += [page.index(f'id="{sid}"') for sid in ("environment", "config")]
    assert order == sorted(order)
    assert '<span class="word">PASS</span>' in page
    assert "TTFT percentiles (test prompts)" in titles(page)
    assert "Output tokens/s by phase" in titles(page)
    assert "Memory" in titles(page)
    assert not any(t.startswith(("Load test", "Saturation")) for t in titles(page))
    assert 'id="related"' not in page  # no siblings given: no empty section


def test_headline_values_are_the_jsons_with_units(main_report):
    cards = {c.key: c for c in headline_metrics(main_report)}
    lat = main_report["latency"]
    assert cards["latency.ttft_ms"].value == pytest.approx(lat["ttft_ms"])
    assert cards["latency.tpot_ms"].value == pytest.approx(lat["tpot_ms"])
    assert cards["latency.e2e_latency_ms"].value == pytest.approx(lat["e2e_latency_ms"])
    assert cards["latency.tokens_per_second"].value == pytest.approx(lat["tokens_per_second"])
    assert cards["memory.peak_gb"].value == pytest.approx(main_report["memory"]["peak"]["value_gb"])
    assert cards["memory.peak_gb"].unit == "GiB"
    assert {c.unit for c in cards.values()} <= {"ms", "tokens/s", "GiB", "req/s", "%", "tokens", ""}
    headline = render_html(main_report).split('id="headline"')[1].split("</div></div></section>")[0]
    for card in cards.values():
        assert format_number(card.value) in headline


def test_load_report_draws_load_percentiles_with_the_slo_line(load_report):
    page = render_html(load_report)
    specs = {s["title"]: s for s in chart_specs(page)}
    ttft = specs["Load test: TTFT percentiles"]
    assert [s["label"] for s in ttft["series"]] == ["from arrival (due time)", "from send", "SLO TTFT \u2264 100 ms"]
    assert ttft["series"][-1]["style"] == "dash"
    assert "SLO TPOT \u2264 20 ms" in [s["label"] for s in specs["Load test: TPOT and ITL percentiles"]["series"]]
    assert "Requests within the SLO (TTFT \u2264 100 ms, TPOT \u2264 20 ms)" in specs
    answer = html.unescape(page.split('id="slo-answer"')[1].split("</div>")[0])
    assert "TTFT \u2264 100 ms, TPOT \u2264 20 ms" in answer and "goodput" in answer
    assert 'data-key="load.ttft_from_arrival_ms.median"' in page


def test_saturation_report_has_curve_knee_and_slo_and_no_burst_headline(saturation_report):
    page = render_html(saturation_report)
    specs = {s["title"]: s for s in chart_specs(page)}
    curve = specs["Saturation: TTFT from arrival against achieved rate"]
    styles = {s["label"]: s["style"] for s in curve["series"]}
    assert styles["knee"] == "ring" and styles["SLO TTFT \u2264 100 ms"] == "dash"
    knee = next(s for s in curve["series"] if s["label"] == "knee")
    assert sum(v is not None for v in knee["values"]) == 1
    assert curve["x"]["values"] == sorted(curve["x"]["values"])
    assert 'data-key="saturation.knee_rps"' in page
    assert 'data-key="load.throughput_rps"' not in page  # the burst is never the headline
    assert page.index("Saturation: TTFT from arrival") < page.index(
        "Load test: TTFT percentiles (the saturation burst)"
    )


@pytest.mark.parametrize(
    "name", ["tiny-qwen2_hf_main.json", "tiny-qwen2_hf_load_slo.json", "mock_openai_saturation_slo.json"]
)
def test_every_plot_is_titled_with_model_engine_device_date_and_has_units(name):
    report = load(name)
    page = render_html(report)
    ctx = html_report.context_of(report)
    specs = chart_specs(page)
    assert specs
    subtitles = re.findall(r'<div class="subtitle">(.*?)</div>', page)
    assert len(subtitles) == len(specs)
    for sub in subtitles:
        text = html.unescape(sub)
        for part in (ctx.model, ctx.engine, ctx.device, ctx.date):
            assert part in text
    assert ctx.date.endswith("UTC") and "unknown" not in ctx.device
    for spec in specs:
        assert spec["y"]["unit"], spec["title"]
        assert spec["x"]["unit"] or spec["x"]["categories"], spec["title"]
        assert spec["x"]["label"] and spec["y"]["label"]


def test_single_point_and_constant_panels_are_skipped_and_listed(main_report):
    page = render_html(main_report)
    assert "Requests/s against concurrent clients" not in titles(page)  # one concurrency level
    assert "Requests/s against concurrent clients: 1 point" in skipped_text(page)
    sweep = {
        "model_name": "tiny-qwen2",
        "engine": "hf",
        "timestamp": "2026-11-30T13:21:55+00:00",
        "parameters": {"temperature": [0.0, 1.0]},
        "metrics": {
            "latency.ttft_ms": {"label": "TTFT (mean)", "unit": "ms", "direction": "lower"},
            "model_info.weights_bytes": {"label": "weights as stored", "unit": "bytes", "direction": "lower"},
        },
        "points": [
            {"params": {"temperature": t}, "metrics": {"latency.ttft_ms": v, "model_info.weights_bytes": 3678720.0}}
            for t, v in ((0.0, 10.5), (1.0, 12.0))
        ],
    }
    page = render_html(sweep)
    assert titles(page) == ["TTFT (mean) against temperature"]
    assert "Weights as stored against temperature: constant at 3,678,720 bytes" in skipped_text(page)


def test_model_names_and_other_report_strings_are_escaped(main_report):
    report = copy.deepcopy(main_report)
    report["model_name"] = "<script>alert(1)</script>"
    report["engine"] = '"><img src=x onerror=alert(1)>'
    report["warnings"] = ["</script><script>alert(2)</script>", "a & b < c"]
    report["config"]["prompts"] = ["</style><style>body{display:none}</style>", "\u2028"]
    report["system_info"]["cpu"] = "<b>cpu</b>"
    page = render_html(report, siblings=[("<i>cell</i>", "javascript:alert(3)"), ("next", "cell_2.html?a=1&b=2")])
    assert "<script>alert" not in page and "<img" not in page and "<b>cpu" not in page and "<i>cell" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 4  # chart data, report data, uPlot, report.js: nothing from the report
    assert page.count("</script>") == 4
    assert page.count("<style") == 1 and page.count("</style>") == 1
    assert 'href="javascript' not in page and "link refused" in page
    assert 'href="cell_2.html?a=1&amp;b=2"' in page
    found = re.search(r'id="mm-report">(.*?)</script>', page, re.S)
    assert json.loads(found.group(1))["model_name"] == "<script>alert(1)</script>"  # the data survive, escaped
    assert "\\u003cscript\\u003e" in found.group(1)
    for spec in chart_specs(page):
        assert "<script>alert(1)</script>" not in spec["title"]  # the subtitle (with the name) is HTML, escaped


def test_page_is_self_contained_and_offline(main_report):
    page = render_html(main_report)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    markup = re.sub(r"<script\b.*?</script>", "", page, flags=re.S)  # the HTML outside the inline scripts
    assert not re.search(r"<(link|img|iframe|object|embed|audio|video|source)\b", markup)
    assert not re.search(r"\s(src|srcset|poster|data)\s*=", markup)
    assert "@import" not in page and not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    assert "uPlot" in page and "MIT" in page


def test_pages_stay_far_under_the_size_cap(main_report, load_report, saturation_report):
    sizes = [len(render_html(r).encode()) for r in (main_report, load_report, saturation_report)]
    assert max(sizes) < 400_000 < MAX_HTML_BYTES
    big = copy.deepcopy(main_report)
    big["engine_stats"] = {"blob": "x" * (MAX_HTML_BYTES + 10)}
    with pytest.raises(ValueError, match="over the cap"):
        render_html(big)


def committed_reports() -> list[Path]:
    out = []
    for path in sorted(REPORTS.glob("**/*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "model_name" in data and ("system_info" in data or "points" in data):
            out.append(path)
    return out


@pytest.mark.parametrize("path", committed_reports(), ids=lambda p: p.name)
def test_committed_reports_render(path):
    """Every committed report (schema 2, schema 1.0, sweep summaries) renders under the cap."""
    page = render_html(json.loads(path.read_text()))
    assert len(page.encode()) < MAX_HTML_BYTES
    chart_specs(page)


def test_non_finite_numbers_do_not_break_the_embedded_json(main_report):
    report = copy.deepcopy(main_report)
    report["latency"]["distributions"]["ttft_ms"]["p99"] = math.nan
    report["config"]["benchmark"]["load"]["request_rate"] = math.inf
    page = render_html(report)

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the page's JSON")

    for block in re.findall(r'type="application/json" id="[^"]+">(.*?)</script>', page, re.S):
        json.loads(block, parse_constant=refuse)


def verdict_of(report: dict) -> str:
    return html_report.verdict(report)[0]


def test_verdicts(main_report):
    base = {"model_name": "m", "engine": "hf"}
    assert verdict_of(base) == "NO CHECKS"
    assert verdict_of(main_report) == "PASS"
    failed = copy.deepcopy(main_report)
    failed["validation"]["passed"] = False
    failed["validation"]["failures"] = [
        {"metric": "latency.ttft_ms", "actual": 250.0, "target": 200.0, "comparison": "<=", "unit": "ms"}
    ]
    word, cls, lines = html_report.verdict(failed)
    assert (word, cls) == ("FAIL", "fail")
    assert "target missed: latency.ttft_ms = 250 ms (target <= 200 ms)" in lines
    regressed = {**base, "baseline_check": {"passed": False, "baseline_path": "b.json", "deltas": [
        {"metric": "latency.tpot_ms", "status": "regression", "change_pct": 30.0, "tolerance_pct": 10.0}]}}  # fmt: skip
    assert verdict_of(regressed) == "FAIL"
    assert verdict_of({**base, "baseline_check": {"passed": True, "verdict": "inconclusive"}}) == "INCONCLUSIVE"
    assert verdict_of({**base, "incomplete": True, "missing_tests": ["throughput"]}) == "INCOMPLETE"


def test_load_timeline_is_plotted_when_the_report_keeps_it(load_report):
    report = copy.deepcopy(load_report)
    report["load"]["timeline"] = {
        "requests": 50,
        "due_s": [i * 0.1 for i in range(50)],
        "ttft_from_arrival_ms": [5.0 + i for i in range(50)],
        "tpot_ms": [3.0 + (i % 3) if i != 7 else None for i in range(50)],
    }
    specs = {s["title"]: s for s in chart_specs(render_html(report))}
    over_time = specs["Load test: TTFT from arrival over the run"]
    assert over_time["x"]["unit"] == "s" and len(over_time["x"]["values"]) == 50
    assert over_time["series"][0]["style"] == "points"
    assert [s["label"] for s in over_time["series"]][-1] == "SLO TTFT \u2264 100 ms"
    assert specs["Load test: TPOT over the run"]["series"][0]["values"][7] is None
    assert not any("over the run" in t for t in titles(render_html(load_report)))  # a report from before the field


def test_context_length_axis_is_log2_in_tokens():
    report = {
        "model_name": "tiny-qwen2",
        "engine": "hf",
        "context_length": {
            "max_context": 4096,
            "runs": 3,
            "points": [{"context_tokens": 2**k, "ttft_ms": 10.0 * k, "failed": 0} for k in range(7, 13)],
        },
    }
    spec = next(s for s in chart_specs(render_html(report)) if s["title"] == "TTFT against context length")
    assert spec["x"]["log"] == 2 and spec["x"]["unit"] == "tokens" and spec["x"]["values"][0] == 128


def test_memory_bars_are_gib_and_name_how_each_figure_was_obtained(main_report):
    spec = next(s for s in chart_specs(render_html(main_report)) if s["title"] == "Memory")
    assert spec["y"]["unit"] == "GiB" and spec["series"][0]["style"] == "bar"
    assert "peak (RSS)" in spec["x"]["categories"] and "KV cache (computed)" in spec["x"]["categories"]


def test_write_html_is_atomic(tmp_path, main_report, monkeypatch):
    target = tmp_path / "out" / "report.html"
    assert write_html(main_report, target) == target
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]
    target.write_text("previous")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(page_module.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_html(main_report, target)
    assert target.read_text() == "previous"
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]
    with pytest.raises(TypeError):
        render_html([main_report])  # type: ignore[arg-type]


def test_format_number():
    assert [format_number(v) for v in (1283.4, 139.14, 10.72, 4.1404, 0.42312, 0.0, None, 7, True)] == [
        "1,283",
        "139.1",
        "10.72",
        "4.14",
        "0.4231",
        "0",
        "\u2014",
        "7",
        "yes",
    ]
