"""A self-contained HTML page of one mm_orch report: the answer first, then interactive plots, tables, environment.

    render_html(report, siblings=()) -> str         # report: the JSON report as json.load gives it (a plain dict)
    write_html(report, path, siblings=()) -> Path   # atomic: a temporary file in the same folder, then os.replace

The page opens offline: styles, scripts and data are inline and a Content-Security-Policy forbids every fetch.
It reads the report as a dict (schema 2 reports, schema 1.0 ones as far as their keys match, and sweep summaries
with ``parameters`` and ``points``); sections it does not know are shown as JSON, never dropped. Every string
taken from the report is escaped: in HTML with html.escape, in the embedded JSON with ``<``, ``>`` and ``&`` as
\\u escapes, so a model named ``<script>`` stays text.

Chart library: uPlot 1.6.32 (MIT; html_assets/uPlot.LICENSE), vendored as its minified build (51 KB of JS and
2 KB of CSS, from the npm package ``uplot``). It draws lines, points and bars on a canvas, shows every series'
value under the cursor, zooms by dragging (double-click resets) and has log axes, with no dependency and no
network access. The alternatives cost more for the same page: Chart.js 4 is about 200 KB and needs a plugin
(and Hammer.js) to zoom; plotly.js, which PyPI's plotly bundles, is about 4.5 MB in every page. The glue
(html_assets/report.js, report.css) is ours. A page is about 100-130 KB.

Plot rules (issue 25): every plot carries the model, engine, device and date; every axis names its unit (a
category axis names what its categories are); y axes start at zero; bars are never on a log scale; a panel with
fewer than two points, or whose values are all equal, is not drawn but listed under the plots with the reason.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ASSETS = Path(__file__).with_name("html_assets")
UPLOT_VERSION = "1.6.32"
MAX_HTML_BYTES = 4 * 2**20  # one page at most; render_html refuses to write more
MAX_EMBEDDED_REPORT_BYTES = 2**20  # the report's own JSON rides along (a download link) up to this size
MAX_TIMELINE_POINTS = 4000
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F7F7F")  # Okabe-Ito
SLO_COLOR, REF_COLOR, KNEE_COLOR = "#C0392B", "#7F7F7F", "#000000"
PERCENTILES = (("min", "min"), ("median", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99"), ("max", "max"))
DIST_COLUMNS = ("mean", "median", "p90", "p95", "p99", "min", "max", "std")
KNOWN_SECTIONS = frozenset(
    "schema_version model_name engine timestamp system_info config model_info latency memory throughput load"
    " saturation workload accuracy context_length engine_stats validation baseline_check repeat warnings"
    " incomplete finished_tests missing_tests".split()
)
MEMORY_FIELDS = (
    ("model_load", "model load"),
    ("inference_delta", "inference delta"),
    ("peak", "peak"),
    ("kv_cache", "KV cache"),
    ("run_peak", "run peak"),
    ("nvml_process", "NVML process"),
)
DASH = "\u2014"
LE = "\u2264"


# ---------------------------------------------------------------- small helpers


def esc(value: Any) -> str:
    """HTML-escape anything (quotes too, so the result is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def num(value: Any) -> float | None:
    """A finite number, or None (bools, strings, NaN and infinities are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def format_number(value: Any) -> str:
    """How the page writes a number: 1,283 / 139.1 / 10.72 / 0.423 (4 significant digits); None -> an em dash."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "\u221e" if value > 0 else "-\u221e"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return "0" if value == 0 else f"{value:.4g}"


def fnum(value: Any) -> str:
    """format_number of a value that should be a number (anything else reads as a dash)."""
    return format_number(num(value))


def _get(obj: Any, *path: Any) -> Any:
    for key in path:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _pct(value: Any) -> float | None:
    v = num(value)
    return None if v is None else 100 * v


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _json_safe(obj: Any) -> Any:
    """JSON that JSON.parse reads: NaN -> null, infinities -> the strings "Infinity" / "-Infinity"."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


_SCRIPT_ESCAPES = (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def script_json(obj: Any) -> str:
    """JSON for a <script type="application/json"> element: no '<', '>' or '&' left to end the element early."""
    text = json.dumps(_json_safe(obj), ensure_ascii=False, separators=(",", ":"), default=str)
    for raw, escaped in _SCRIPT_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def _pretty_json(obj: Any) -> str:
    return esc(json.dumps(_json_safe(obj), indent=2, ensure_ascii=False, default=str))


def _safe_href(href: Any) -> str | None:
    """A link target from the caller: relative paths, http(s) and file URLs only (no javascript:, data:...)."""
    text = str(href).strip()
    if not text:
        return None
    return text if urlsplit(text).scheme.lower() in ("", "http", "https", "file") else None


def _asset(name: str, closing: str) -> str:
    text = (ASSETS / name).read_text(encoding="utf-8")
    if closing in text.lower():
        raise ValueError(f"html asset {name} contains {closing!r}; it cannot be inlined")
    return text


# ---------------------------------------------------------------- who, what, where, when


@dataclass(frozen=True)
class Context:
    """What every plot title carries."""

    model: str
    engine: str
    device: str
    date: str

    @property
    def subtitle(self) -> str:
        return " \u00b7 ".join((self.model, self.engine, self.device, self.date))


def device_label(report: dict) -> str:
    """The device that ran the model: the GPU for CUDA, the CPU model for CPU, 'remote server' for a server."""
    si = _dict(report.get("system_info"))
    device = str(_get(report, "model_info", "device") or "")
    if device == "remote":
        return "remote server"
    gpu = si.get("gpu")
    if device.startswith("cuda") or (not device and gpu):
        count = int(num(si.get("gpu_count")) or 1)
        return f"{count}x {gpu or 'GPU'}" if count > 1 else str(gpu or "GPU")
    return f"CPU ({si['cpu']})" if si.get("cpu") else (device or "device unknown")


def format_date(timestamp: Any) -> str:
    """'2026-12-07 16:31 UTC' from an ISO 8601 timestamp (the text itself when it does not parse)."""
    if not timestamp:
        return "date unknown"
    try:
        when = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        return str(timestamp)
    offset = when.utcoffset()
    return when.strftime("%Y-%m-%d %H:%M") + (" UTC" if offset is not None and not offset.total_seconds() else "")


def context_of(report: dict) -> Context:
    return Context(
        model=str(report.get("model_name") or _get(report, "model_info", "name") or "model unknown"),
        engine=str(report.get("engine") or _get(report, "config", "engine", "name") or "engine unknown"),
        device=device_label(report),
        date=format_date(report.get("timestamp")),
    )


# ---------------------------------------------------------------- charts


@dataclass
class Series:
    label: str
    values: list[Any]
    style: str = "line"  # line | points | bar | dash (a reference line: SLO, y = x) | ring (a marked point)
    color: str | None = None

    @property
    def is_reference(self) -> bool:
        return self.style in ("dash", "ring")


def axis(
    label: str,
    unit: str | None,
    values: Sequence[Any],
    categories: Sequence[str] | None = None,
    log: int | None = None,
    titles: Sequence[str] | None = None,
) -> dict:
    """An x axis: numbers (log: the base of a log scale), or categories (tick labels; titles: names on hover)."""
    cats = [str(c) for c in categories] if categories else None
    hover = [str(t) for t in titles] if titles else cats
    return {"label": label, "unit": unit, "values": list(values), "categories": cats, "titles": hover, "log": log}


@dataclass
class Charts:
    """Collects chart specs for report.js, and the panels that were not drawn with why."""

    ctx: Context
    specs: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, title: str, x: dict, y: dict, series: Sequence[Series], caption: str | None = None) -> str:
        """One figure's HTML, or '' when the panel has fewer than two points or is constant (then listed)."""
        kept = [s for s in series if any(num(v) is not None for v in s.values)]
        data = [s for s in kept if not s.is_reference]
        points = [i for i in range(len(x["values"])) if any(num(_get(s.values, i)) is not None for s in data)]
        values = {num(_get(s.values, i)) for s in data for i in points} - {None}
        if len(points) < 2:
            self.skipped.append(f"{title}: {_plural(len(points), 'point')}")
            return ""
        if len(values) < 2:
            self.skipped.append(f"{title}: constant at {format_number(values.pop())} {y.get('unit') or ''}".rstrip())
            return ""
        chart_id = f"chart-{len(self.specs) + 1}"
        colors = iter(PALETTE)
        specs = []
        for s in kept:
            color = s.color or (SLO_COLOR if s.style == "dash" else next(colors, REF_COLOR))
            specs.append({"label": s.label, "values": [num(v) for v in s.values], "style": s.style, "color": color})
        self.specs.append({"id": chart_id, "title": title, "x": x, "y": y, "series": specs})
        cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
        return (
            f'<figure class="chart" data-chart="{chart_id}"><div class="title">{esc(title)}</div>'
            f'<div class="subtitle">{esc(self.ctx.subtitle)}</div><div class="plot" id="{chart_id}"></div>'
            f"{cap}</figure>"
        )


def percentile_chart(
    charts: Charts,
    title: str,
    quantity: str,
    dists: Sequence[tuple[str, Any]],
    slo: tuple[str, float | None] = ("", None),
) -> str:
    """Percentile profile (min, p50 ... max) of distributions in ms, one line each; the means are in the tables."""
    dists = [(label, d) for label, d in dists if isinstance(d, dict)]
    cols = [(key, name) for key, name in PERCENTILES if any(num(d.get(key)) is not None for _, d in dists)]
    series = [Series(label, [d.get(key) for key, _ in cols]) for label, d in dists]
    slo_name, limit = slo
    if limit is not None and cols:
        series.append(Series(f"SLO {slo_name} {LE} {format_number(limit)} ms", [limit] * len(cols), style="dash"))
    x = axis("percentile of requests", None, range(len(cols)), [name for _, name in cols])
    return charts.add(title, x, {"label": quantity, "unit": "ms"}, series)


def bar_chart(
    charts: Charts,
    title: str,
    x: tuple[str, Sequence[str]],
    y: tuple[str, str],
    values: Sequence[Any],
    caption: str | None = None,
    titles: Sequence[str] | None = None,
) -> str:
    """Bars from zero, one per category. x: (what the categories are, their labels); y: (quantity, unit)."""
    x_label, cats = x
    spec = axis(x_label, None, range(len(cats)), cats, titles=titles)
    return charts.add(title, spec, {"label": y[0], "unit": y[1]}, [Series(y[0], list(values), "bar")], caption)


def line_chart(charts: Charts, title: str, x: dict, y: tuple[str, str], series: Sequence[Series]) -> str:
    return charts.add(title, x, {"label": y[0], "unit": y[1]}, series)


def histogram_chart(charts: Charts, title: str, hist: Any, quantity: str, what: str) -> str:
    """Counts per bin; log-spaced bins (a constant edge ratio) get a log x axis so that every bar is as wide."""
    edges, counts = _get(hist, "edges"), _get(hist, "counts")
    if not isinstance(edges, list) or not isinstance(counts, list) or len(edges) != len(counts) + 1:
        return ""
    if any(num(e) is None for e in edges):
        return ""
    ratios = [b / a for a, b in zip(edges, edges[1:], strict=False) if a > 0]
    geometric = len(ratios) == len(counts) > 1 and max(ratios) - min(ratios) < 1e-6 * max(ratios)
    pairs = zip(edges, edges[1:], strict=False)
    centers = [math.sqrt(a * b) if geometric else (a + b) / 2 for a, b in pairs]
    x = axis(quantity + (", log scale" if geometric else ""), "ms", centers, log=10 if geometric else None)
    return charts.add(title, x, {"label": what, "unit": "count"}, [Series(what, counts, "bar")])


# ---------------------------------------------------------------- tables


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    numeric: Sequence[bool] | None = None,
    row_classes: Sequence[str] | None = None,
) -> str:
    """A table; numbers are formatted, strings escaped; numeric columns right-aligned."""
    rows = list(rows)
    if not rows:
        return ""
    numeric = list(numeric) if numeric else [False] * len(headers)
    pairs = zip(headers, numeric, strict=False)
    head = "".join(f'<th class="num">{esc(h)}</th>' if n else f"<th>{esc(h)}</th>" for h, n in pairs)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{esc(row_classes[i])}"' if row_classes and row_classes[i] else ""
        cells = []
        for value, is_num in zip(row, numeric, strict=False):
            text = value if isinstance(value, str) else format_number(value)
            cell_cls = ' class="num"' if is_num else (' class="null"' if value is None else "")
            cells.append(f"<td{cell_cls}>{esc(text)}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def dist_table(rows: Sequence[tuple[str, Any, str]]) -> str:
    """One row per distribution present: name, unit, mean ... std, count."""
    present = [(name, d, unit) for name, d, unit in rows if isinstance(d, dict)]
    body = [[name, unit, *[num(d.get(c)) for c in DIST_COLUMNS], d.get("count")] for name, d, unit in present]
    return table(["metric", "unit", *DIST_COLUMNS, "count"], body, [False, False] + [True] * (len(DIST_COLUMNS) + 1))


def kv_table(pairs: Iterable[tuple[str, Any]]) -> str:
    def cell(v: Any) -> Any:
        return json.dumps(_json_safe(v), default=str) if isinstance(v, (dict, list)) else v

    return table(["field", "value"], [[k, cell(v) if isinstance(v, str) else format_number(cell(v))] for k, v in pairs])


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted.key, value) pairs."""
    if isinstance(obj, dict) and obj:
        out: list[tuple[str, Any]] = []
        for key, value in obj.items():
            out.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return [(prefix, obj)]


# ---------------------------------------------------------------- the answer


def slo_of(report: dict) -> dict:
    """The run's SLO ({'ttft_ms': 100.0, ...}), from the config's studies or any goodput result; {} when none."""
    candidates = [_get(report, "config", "studies", "slo")]
    candidates += [_get(p, "goodput", "slo") for p in _dicts(_get(report, "throughput", "points"))]
    candidates += [_get(p, "goodput", "slo") for p in _dicts(_get(report, "saturation", "points"))]
    candidates += [_get(report, "workload", "goodput", "slo"), _get(report, "load", "goodput", "slo")]
    for slo in candidates:
        found = {k: num(v) for k, v in _dict(slo).items() if num(v) is not None}
        if found:
            return found
    return {}


def slo_text(slo: dict) -> str:
    names = {"ttft_ms": "TTFT", "tpot_ms": "TPOT", "e2e_ms": "E2E"}
    return ", ".join(f"{names.get(k, k)} {LE} {format_number(v)} ms" for k, v in slo.items())


def _validation_lines(val: dict) -> tuple[bool, bool, list[str]]:
    """(checked, failed, lines) of the per-model targets."""
    fails = _dicts(val.get("failures"))
    n_checked = len(_dicts(val.get("checked"))) or len(fails)
    failed = val.get("passed") is False or bool(fails)
    lines = []
    for f in fails:
        unit = f" {f['unit']}" if f.get("unit") else ""
        bound = f"{f.get('comparison') or ''} {fnum(f.get('target'))}".strip()
        lines.append(f"target missed: {f.get('metric')} = {fnum(f.get('actual'))}{unit} (target {bound}{unit})")
    if n_checked and not failed:
        lines.append(f"{_plural(n_checked, 'target')} met")
    if _dicts(val.get("skipped")) or (isinstance(val.get("skipped"), list) and val["skipped"]):
        lines.append(f"{_plural(len(val['skipped']), 'target')} not measured in this run")
    return n_checked > 0 or failed, failed, lines


def _baseline_lines(base: dict) -> tuple[bool, str | None, list[str]]:
    """(failed, the gate's own verdict word if it wrote one, lines) of the baseline comparison."""
    deltas = _dicts(base.get("deltas"))
    regressions = [d for d in deltas if d.get("status") == "regression"]
    word = str(base.get("verdict") or "").upper() or None
    failed = base.get("passed") is False or bool(regressions) or word == "FAIL"
    lines = [
        f"regression: {d.get('metric')} {fnum(d.get('change_pct'))} % (tolerance {fnum(d.get('tolerance_pct'))} %)"
        for d in regressions
    ]
    if not failed:
        lines.append(f"baseline check passed: {_plural(len(deltas), 'metric')} against {base.get('baseline_path')}")
    return failed, word, lines


def verdict(report: dict) -> tuple[str, str, list[str]]:
    """(word, css class, lines): FAIL when a target or the baseline check failed, PASS when checks ran and held,
    INCONCLUSIVE when the gate said so, INCOMPLETE for an interrupted run, else NO CHECKS."""
    checked, failed, lines = False, False, []
    if isinstance(report.get("validation"), dict):
        checked, failed, lines = _validation_lines(report["validation"])
    word = None
    if isinstance(report.get("baseline_check"), dict):
        base_failed, word, base_lines = _baseline_lines(report["baseline_check"])
        checked, failed, lines = True, failed or base_failed, lines + base_lines
    if report.get("incomplete"):
        missing = [str(m) for m in report.get("missing_tests") or []]
        lines.append("incomplete run" + (f": missing {', '.join(missing)}" if missing else ""))
    if failed:
        return "FAIL", "fail", lines
    if word == "INCONCLUSIVE":
        return "INCONCLUSIVE", "warn", lines + ["the gate could not tell a regression from noise"]
    if report.get("incomplete"):
        return "INCOMPLETE", "warn", lines
    if checked:
        return "PASS", "pass", lines
    return "NO CHECKS", "none", lines + ["no targets or baseline were checked"]


@dataclass
class Card:
    key: str  # the JSON's key for the value (catalogue style), for tests and tools
    label: str
    value: Any
    unit: str
    sub: str = ""


def _latency_cards(lat: dict) -> list[Card]:
    dists = _dict(lat.get("distributions"))
    cards = []
    for key, label in (("ttft_ms", "TTFT mean"), ("tpot_ms", "TPOT mean"), ("e2e_latency_ms", "E2E latency mean")):
        d = _dict(dists.get(key))
        value = num(lat.get(key)) if num(lat.get(key)) is not None else num(d.get("mean"))
        sub = f"p50 {fnum(d.get('median'))} \u00b7 p95 {fnum(d.get('p95'))} ms" if d else ""
        cards.append(Card(f"latency.{key}", label, value, "ms", sub))
    tps = num(lat.get("tokens_per_second"))
    if tps is None:
        tps = num(_get(dists, "request_tokens_per_second", "mean"))
    cards.append(Card("latency.tokens_per_second", "per-request tokens/s", tps, "tokens/s", "output / own E2E, mean"))
    return cards


def _throughput_cards(report: dict) -> list[Card]:
    pts = _dicts(_get(report, "throughput", "points"))
    single = next((p for p in pts if p.get("mode") == "single"), None)
    cards = []
    tps = num(_get(report, "throughput", "single_request_tps"))
    if tps is None and single:
        tps = num(single.get("output_tokens_per_second"))
    if tps is not None:
        cards.append(Card("throughput.single_request_tps", "single-stream tokens/s", tps, "tokens/s", "output / wall"))
    best = max(pts, key=lambda p: num(p.get("output_tokens_per_second")) or 0, default=None)
    if best and best is not single and num(best.get("output_tokens_per_second")) is not None:
        tps = num(best["output_tokens_per_second"])
        cards.append(Card("throughput.best_tps", "best output tokens/s", tps, "tokens/s", point_label(best)))
    return cards


def _memory_cards(mem: dict) -> list[Card]:
    peak = mem.get("peak")
    if isinstance(peak, dict):
        value = num(peak.get("value_gb"))
        sub = _memory_kind(peak.get("source")) if value is not None else str(peak.get("reason") or "not measured")
    else:
        value, sub = num(mem.get("peak_gb")), ""
    return [Card("memory.peak_gb", "peak memory", value, "GiB", sub)]


def _load_cards(load: dict) -> list[Card]:
    m = _dict(load.get("metrics"))
    arrival = _dict(load.get("ttft_from_arrival_ms"))
    rate = num(load.get("requested_rate_rps"))
    total = (m.get("completed") or 0) + (m.get("failed") or 0)
    return [
        Card(
            "load.throughput_rps",
            "load: completed req/s",
            num(load.get("throughput_rps")),
            "req/s",
            f"requested {format_number(rate) if rate else chr(0x221E)} req/s",
        ),
        Card(
            "load.output_tokens_per_second", "load: output tokens/s", num(m.get("output_tokens_per_second")), "tokens/s"
        ),
        Card(
            "load.ttft_from_arrival_ms.median",
            "load: TTFT p50 from arrival",
            num(arrival.get("median")),
            "ms",
            f"p99 {fnum(arrival.get('p99'))} ms",
        ),
        Card("load.failed", "load: failed requests", m.get("failed"), "", f"of {format_number(total)}"),
    ]


def _saturation_cards(sat: dict) -> list[Card]:
    tail = sat.get("tail_statistic") or "tail"
    return [
        Card(
            "saturation.max_throughput_rps",
            "max throughput (burst)",
            num(sat.get("max_throughput_rps")),
            "req/s",
            f"{fnum(sat.get('max_output_tokens_per_second'))} output tokens/s",
        ),
        Card(
            "saturation.knee_rps",
            "knee",
            num(sat.get("knee_rps")),
            "req/s",
            f"{tail} TTFT {fnum(sat.get('knee_ttft_tail_ms'))} ms",
        ),
    ]


def _other_cards(report: dict) -> list[Card]:
    cards = []
    work = report.get("workload")
    if isinstance(work, dict):
        m = _dict(work.get("metrics"))
        kind = work.get("kind")
        cards.append(
            Card(
                "workload.requests_per_second", f"workload ({kind}): req/s", num(m.get("requests_per_second")), "req/s"
            )
        )
        tps = num(m.get("output_tokens_per_second"))
        cards.append(Card("workload.output_tokens_per_second", "workload: output tokens/s", tps, "tokens/s"))
    for run in _dicts(_get(report, "accuracy", "runs")):
        o = _dict(run.get("overall"))
        ci = f"{fnum(_pct(o.get('ci95_low')))}\u2013{fnum(_pct(o.get('ci95_high')))} %"
        sub = f"{o.get('correct')}/{o.get('total')}, 95 % CI {ci}"
        cards.append(
            Card(
                f"accuracy.{run.get('mode')}.accuracy",
                f"accuracy ({run.get('mode')})",
                _pct(o.get("accuracy")),
                "%",
                sub,
            )
        )
    ok = [p for p in _dicts(_get(report, "context_length", "points")) if not p.get("failed")]
    top = max(ok, key=lambda p: num(p.get("context_tokens")) or 0, default=None)
    if top:
        sub = f"TTFT {fnum(top.get('ttft_ms'))} ms"
        cards.append(
            Card("context_length.max_tokens", "longest context measured", top.get("context_tokens"), "tokens", sub)
        )
    return cards


def headline_metrics(report: dict) -> list[Card]:
    """The numbers the page leads with, each with its unit: the JSON's own headline values, formatted."""
    cards: list[Card] = []
    if isinstance(report.get("latency"), dict):
        cards += _latency_cards(report["latency"])
    cards += _throughput_cards(report)
    if isinstance(report.get("memory"), dict):
        cards += _memory_cards(report["memory"])
    if isinstance(report.get("saturation"), dict):
        cards += _saturation_cards(report["saturation"])
    elif isinstance(report.get("load"), dict):  # a saturation run's load is its burst: never the headline
        cards += _load_cards(report["load"])
    cards += _other_cards(report)
    repeat = _dict(_get(report, "repeat", "metrics"))
    for card in cards:  # with --repeat N: say what the value is and how far the runs spread
        r = _dict(repeat.get(card.key))
        if num(r.get("min")) is not None:
            stat = _get(report, "repeat", "statistic") or "median"
            n = _get(report, "repeat", "n")
            card.sub = f"{stat} of {n} runs, range {fnum(r.get('min'))}\u2013{fnum(r.get('max'))}"
    return cards


def _memory_kind(source: Any) -> str:
    s = str(source or "").lower()
    for needles, kind in (
        (("model config", "x tokens", "dtype bytes"), "computed"),
        (("nvml",), "NVML"),
        (("torch", "allocator", "cuda"), "allocator"),
        (("rss", "psutil"), "RSS"),
    ):
        if any(n in s for n in needles):
            return kind
    return s or "source unknown"


def point_label(p: dict, short: bool = False) -> str:
    """A throughput phase's name: 'single (latency test)', '4 concurrent (serialized)', 'batch 8'; short for ticks."""
    mode, level = p.get("mode"), p.get("level")
    if mode == "single":
        return "single" + (" (latency test)" if p.get("source") == "latency" and not short else "")
    if mode == "concurrent":
        return f"{level} conc." if short else f"{level} concurrent" + (" (serialized)" if p.get("serialized") else "")
    return f"batch {level}" if mode == "batch" else f"{mode} {level}"


def _card_html(c: Card) -> str:
    unit = f'<span class="unit">{esc(c.unit)}</span>' if c.unit and c.value is not None else ""
    sub = f'<div class="sub">{esc(c.sub)}</div>' if c.sub else ""
    value = f'<div class="value">{esc(format_number(c.value))}{unit}</div>'
    return f'<div class="card" data-key="{esc(c.key)}"><div class="label">{esc(c.label)}</div>{value}{sub}</div>'


def answer_section(report: dict) -> str:
    word, cls, lines = verdict(report)
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    parts = [f'<div class="verdict {cls}" id="verdict"><span class="word">{esc(word)}</span><ul>{items}</ul></div>']
    parts.append(slo_answer(report))
    parts.append(f'<div class="cards" id="headline">{"".join(_card_html(c) for c in headline_metrics(report))}</div>')
    warnings = [str(w) for w in report.get("warnings") or [] if w]
    if _get(report, "system_info", "busy") and not warnings:
        warnings = ["the machine was busy during the run (load average above its CPU count)"]
    if warnings:
        link = f'<a href="#warnings">{_plural(len(warnings), "warning")}</a>'
        parts.append(f'<p class="hint">{link}: {esc(warnings[0])}</p>')
    return '<section id="answer"><h2>Answer</h2>' + "".join(parts) + "</section>"


def _goodput_line(label: str, good: Any) -> list[str]:
    if not isinstance(good, dict):
        return []
    met = f"{good.get('met')}/{good.get('requests')} requests met it ({fnum(_pct(good.get('share_met')))} %)"
    return [f"<p>{esc(label)}: {esc(met)}, goodput {esc(fnum(good.get('goodput_rps')))} req/s</p>"]


def slo_answer(report: dict) -> str:
    """What the run says about its SLO (goodput per phase, the best swept rate within it) and the saturation knee."""
    slo = slo_of(report)
    lines: list[str] = []
    if slo:
        lines.append(f"<p><b>SLO:</b> {esc(slo_text(slo))}</p>")
        for p in _dicts(_get(report, "throughput", "points")):
            lines += _goodput_line(point_label(p), p.get("goodput"))
        lines += _goodput_line(f"workload ({_get(report, 'workload', 'kind')})", _get(report, "workload", "goodput"))
        lines += _goodput_line("load test", _get(report, "load", "goodput"))
        swept = _dicts(_get(report, "saturation", "points"))
        met = [p for p in swept if (num(_get(p, "goodput", "share_met")) or 0) >= 0.99]
        if met:
            best = max(met, key=lambda p: num(p.get("achieved_rps")) or 0)
            rate = fnum(best.get("achieved_rps"))
            lines.append(f"<p>highest swept rate with {LE} 1 % of requests missing the SLO: {esc(rate)} req/s</p>")
    sat = _dict(report.get("saturation"))
    if num(sat.get("knee_rps")) is not None:
        note = f" \u2014 {sat['knee_note']}" if sat.get("knee_note") else ""
        knee = f"{fnum(sat.get('knee_rps'))} req/s at tail TTFT {fnum(sat.get('knee_ttft_tail_ms'))} ms{note}"
        lines.append(f"<p><b>Knee:</b> {esc(knee)}</p>")
    return f'<div class="answer-block" id="slo-answer">{"".join(lines)}</div>' if lines else ""


# ---------------------------------------------------------------- sections: each returns (plots html, tables html)


def latency_section(report: dict, charts: Charts) -> tuple[str, str]:
    lat = report.get("latency")
    if not isinstance(lat, dict):
        return "", ""
    d = _dict(lat.get("distributions"))
    slo = slo_of(report)
    plots = [
        percentile_chart(
            charts,
            "TTFT percentiles (test prompts)",
            "TTFT",
            [("TTFT", d.get("ttft_ms"))],
            ("TTFT", slo.get("ttft_ms")),
        ),
        percentile_chart(
            charts,
            "TPOT and ITL percentiles (test prompts)",
            "TPOT / ITL",
            [("TPOT", d.get("tpot_ms")), ("ITL", d.get("itl_ms"))],
            ("TPOT", slo.get("tpot_ms")),
        ),
        percentile_chart(
            charts,
            "E2E latency percentiles (test prompts)",
            "E2E latency",
            [("E2E", d.get("e2e_latency_ms"))],
            ("E2E", slo.get("e2e_ms")),
        ),  # fmt: skip
        histogram_chart(charts, "Inter-token latency histogram", lat.get("itl_histogram"), "ITL", "token gaps"),
        *scenario_charts(_dicts(lat.get("scenarios")), charts),
    ]
    tables = "<h3>Latency distributions (test prompts)</h3>" + dist_table(
        [
            ("TTFT", d.get("ttft_ms"), "ms"),
            ("TPOT", d.get("tpot_ms"), "ms"),
            ("E2E latency", d.get("e2e_latency_ms"), "ms"),
            ("ITL", d.get("itl_ms"), "ms"),
            ("per-request tokens/s", d.get("request_tokens_per_second"), "tokens/s"),
        ]
    )
    fixed = " (fixed)" if lat.get("fixed_output_length") else ""
    note = (
        f"{lat.get('completed')} requests completed, {lat.get('failed')} failed; output length"
        f" {lat.get('output_length')} tokens{fixed}; {lat.get('warmup_runs')} warm-up run(s) not counted."
    )
    tables += f'<p class="hint">{esc(note)}</p>'
    scen = _dicts(lat.get("scenarios"))
    if scen:
        keys = ("input_length", "output_length", "completed", "failed", "ttft_ms", "tpot_ms", "e2e_latency_ms")
        rows = [[s.get("name"), *(s.get(k) for k in keys), num(s.get("tokens_per_second"))] for s in scen]
        headers = ["scenario", "input tokens", "output tokens", "completed", "failed", "TTFT ms", "TPOT ms", "E2E ms"]
        tables += "<h3>Latency scenarios (input x output tokens)</h3>"
        tables += table([*headers, "tokens/s"], rows, [False] + [True] * 8)
    return "".join(plots), tables


def scenario_charts(scen: list[dict], charts: Charts) -> list[str]:
    """TTFT and TPOT against input length (a line per output length); E2E against output length (a line per
    input length). TTFT against output length means nothing, so it is not drawn."""
    if not scen:
        return []
    ins = sorted({s["input_length"] for s in scen if num(s.get("input_length")) is not None})
    outs = sorted({s["output_length"] for s in scen if num(s.get("output_length")) is not None})

    def value(i: Any, o: Any, key: str) -> Any:
        return next((s.get(key) for s in scen if s.get("input_length") == i and s.get("output_length") == o), None)

    out = []
    for key, name in (("ttft_ms", "TTFT"), ("tpot_ms", "TPOT")):
        series = [Series(f"{o} output tokens", [value(i, o, key) for i in ins]) for o in outs]
        x = axis("input length", "tokens", ins)
        out.append(line_chart(charts, f"{name} against input length", x, (f"{name} mean", "ms"), series))
    series = [Series(f"{i} input tokens", [value(i, o, "e2e_latency_ms") for o in outs]) for i in ins]
    x = axis("output length", "tokens", outs)
    out.append(line_chart(charts, "E2E latency against output length", x, ("E2E mean", "ms"), series))
    return out


def throughput_section(report: dict, charts: Charts) -> tuple[str, str]:
    pts = _dicts(_get(report, "throughput", "points"))
    if not pts:
        return "", ""
    names = [point_label(p) for p in pts]
    ticks = ("phase", [point_label(p, short=True) for p in pts])
    tps = [p.get("output_tokens_per_second") for p in pts]
    plots = [bar_chart(charts, "Output tokens/s by phase", ticks, ("output tokens/s", "tokens/s"), tps, titles=names)]
    for mode, x_name, key, y in (
        ("batch", "batch size", "output_tokens_per_second", ("output tokens/s", "tokens/s")),
        ("concurrent", "concurrent clients", "requests_per_second", ("requests/s", "req/s")),
    ):
        sel = sorted(
            (p for p in pts if p.get("mode") == mode and num(p.get("level")) is not None), key=lambda p: p["level"]
        )
        x = axis(x_name, "requests", [p["level"] for p in sel])
        title = f"{y[0].capitalize()} against {x_name}"
        plots.append(line_chart(charts, title, x, y, [Series(y[0], [p.get(key) for p in sel])]))
    shares = [_pct(_get(p, "goodput", "share_met")) for p in pts]
    if any(s is not None for s in shares):
        title = f"Requests within the SLO ({slo_text(slo_of(report))})"
        plots.append(bar_chart(charts, title, ticks, ("requests within the SLO", "%"), shares, titles=names))
    with_slo = any(isinstance(p.get("goodput"), dict) for p in pts)
    rows = []
    for p, name in zip(pts, names, strict=True):
        m, good = _dict(p.get("metrics")), _dict(p.get("goodput"))
        rates = [num(p.get(k)) for k in ("requests_per_second", "output_tokens_per_second", "total_tokens_per_second")]
        row = [name, *rates, num(p.get("batch_efficiency")), m.get("completed"), m.get("failed")]
        rows.append(row + ([num(good.get("goodput_rps")), _pct(good.get("share_met"))] if with_slo else []))
    headers = ["phase", "req/s", "output tokens/s", "total tokens/s", "batch efficiency", "completed", "failed"]
    headers += ["goodput req/s", "SLO met %"] if with_slo else []
    return "".join(plots), "<h3>Throughput</h3>" + table(headers, rows, [False] + [True] * (len(headers) - 1))


def memory_section(report: dict, charts: Charts) -> tuple[str, str]:
    mem = report.get("memory")
    if not isinstance(mem, dict):
        return "", ""
    present = [(label, mem[key]) for key, label in MEMORY_FIELDS if isinstance(mem.get(key), dict)]
    if not present:  # schema 1.0: plain *_gb numbers
        present = [(label, {"value_gb": mem.get(f"{key}_gb")}) for key, label in MEMORY_FIELDS if f"{key}_gb" in mem]
    weights = num(_get(mem, "load", "weights_gb"))
    if weights is not None:
        present.append(("weights", {"value_gb": weights, "source": "model config (parameters x dtype bytes)"}))
    cats = [f"{label} ({_memory_kind(m.get('source'))})" if m.get("source") else label for label, m in present]
    caption = "RSS, allocator and NVML figures are measured; computed ones come from the model's shapes. GiB = 2^30 B."
    values = [m.get("value_gb") for _, m in present]
    plot = bar_chart(charts, "Memory", ("figure (how it was obtained)", cats), ("memory", "GiB"), values, caption)
    rows = [
        [label, num(m.get("value_gb")), m.get("source") if num(m.get("value_gb")) is not None else m.get("reason")]
        for label, m in present
    ]
    return plot, "<h3>Memory</h3>" + table(
        ["figure", "GiB", "source (or why it is missing)"], rows, [False, True, False]
    )


def load_section(report: dict, charts: Charts) -> tuple[str, str]:
    load = report.get("load")
    if not isinstance(load, dict):
        return "", ""
    m = _dict(load.get("metrics"))
    slo = slo_of(report)
    burst = " (the saturation burst)" if isinstance(report.get("saturation"), dict) else ""
    both = "from arrival (due time)", "from send"
    plots = [
        percentile_chart(
            charts,
            f"Load test: TTFT percentiles{burst}",
            "TTFT",
            [(both[0], load.get("ttft_from_arrival_ms")), (both[1], m.get("ttft_ms"))],
            ("TTFT", slo.get("ttft_ms")),
        ),
        percentile_chart(
            charts,
            f"Load test: TPOT and ITL percentiles{burst}",
            "TPOT / ITL",
            [("TPOT", m.get("tpot_ms")), ("ITL", m.get("itl_ms"))],
            ("TPOT", slo.get("tpot_ms")),
        ),
        percentile_chart(
            charts,
            f"Load test: E2E latency percentiles{burst}",
            "E2E latency",
            [(both[0], load.get("e2e_from_arrival_ms")), (both[1], m.get("e2e_latency_ms"))],
            ("E2E", slo.get("e2e_ms")),
        ),
        *timeline_charts(load, charts, slo),
    ]
    rate = num(load.get("requested_rate_rps"))
    facts = [
        ("mode", load.get("mode")),
        ("requested rate req/s", rate if rate is not None else "\u221e (all at once)"),
        ("schedule rate req/s (as drawn)", num(load.get("schedule_rate_rps"))),
        ("achieved send rate req/s", num(load.get("achieved_send_rate_rps"))),
        ("completed req/s", num(load.get("throughput_rps"))),
        ("output tokens/s", num(m.get("output_tokens_per_second"))),
        ("completed", m.get("completed")),
        ("failed", m.get("failed")),
        ("peak in flight", load.get("peak_in_flight")),
        ("max concurrency", load.get("max_concurrency")),
        ("workers", load.get("workers")),
        ("prompts", load.get("prompts")),
        ("calibration", load.get("calibration_note")),
    ]
    dists = [
        ("TTFT from arrival", load.get("ttft_from_arrival_ms"), "ms"),
        ("TTFT from send", m.get("ttft_ms"), "ms"),
        ("TPOT", m.get("tpot_ms"), "ms"),
        ("ITL", m.get("itl_ms"), "ms"),
        ("E2E from arrival", load.get("e2e_from_arrival_ms"), "ms"),
        ("E2E from send", m.get("e2e_latency_ms"), "ms"),
        ("schedule lag", load.get("schedule_lag_ms"), "ms"),
        ("client queue", load.get("client_queue_ms"), "ms"),
    ]
    return "".join(plots), f"<h3>Load test{esc(burst)}</h3>" + kv_table(facts) + dist_table(dists)


TIME_KEYS = ("due_s", "t_s", "time_s", "sent_s", "start_s")


def timeline_charts(load: dict, charts: Charts, slo: dict) -> list[str]:
    """TTFT and TPOT over the run, when the load section keeps its requests: a list under requests, records or
    timeline of dicts with a time in seconds from the start (one of TIME_KEYS) and ttft_from_arrival_ms or
    ttft_ms, and tpot_ms. Thinned to MAX_TIMELINE_POINTS."""
    recs = next((_dicts(load.get(k)) for k in ("requests", "records", "timeline") if _dicts(load.get(k))), [])
    tkey = next((k for k in TIME_KEYS if recs and all(num(r.get(k)) is not None for r in recs)), None)
    if not tkey:
        return []
    recs = sorted(recs, key=lambda r: r[tkey])[:: max(1, math.ceil(len(recs) / MAX_TIMELINE_POINTS))]
    x = axis("time since the first request was due", "s", [r[tkey] for r in recs])
    out = []
    for keys, name, limit in (
        (("ttft_from_arrival_ms", "ttft_ms"), "TTFT", slo.get("ttft_ms")),
        (("tpot_ms",), "TPOT", slo.get("tpot_ms")),
    ):
        vals = [next((r[k] for k in keys if num(r.get(k)) is not None), None) for r in recs]
        series = [Series(f"{name} per request", vals, "points")]
        if limit is not None:
            series.append(Series(f"SLO {name} {LE} {format_number(limit)} ms", [limit] * len(recs), "dash"))
        out.append(line_chart(charts, f"Load test: {name} over time", x, (name, "ms"), series))
    return out


def saturation_section(report: dict, charts: Charts) -> tuple[str, str]:
    sat = report.get("saturation")
    if not isinstance(sat, dict):
        return "", ""
    swept = _dicts(sat.get("points"))
    pts = sorted((p for p in swept if num(p.get("achieved_rps")) is not None), key=lambda p: p["achieved_rps"])
    knee = _get(sat, "points", sat["knee_index"]) if isinstance(sat.get("knee_index"), int) else None
    slo, tail = slo_of(report), sat.get("tail_statistic") or "tail"
    x = axis("achieved", "req/s", [p["achieved_rps"] for p in pts])
    plots = []
    for key, name, limit in (("ttft", "TTFT from arrival", slo.get("ttft_ms")), ("tpot", "TPOT", slo.get("tpot_ms"))):
        series = [
            Series(f"{name} p50", [p.get(f"{key}_p50_ms") for p in pts]),
            Series(f"{name} {tail}", [p.get(f"{key}_tail_ms") for p in pts]),
        ]
        if knee is not None and key == "ttft":
            series.append(
                Series("knee", [p.get("ttft_tail_ms") if p is knee else None for p in pts], "ring", KNEE_COLOR)
            )
        if limit is not None:
            series.append(Series(f"SLO {name.split()[0]} {LE} {format_number(limit)} ms", [limit] * len(pts), "dash"))
        plots.append(line_chart(charts, f"Saturation: {name} against achieved rate", x, (name, "ms"), series))

    def offered(p: dict) -> float | None:
        return num(p.get("schedule_rate_rps")) or num(p.get("requested_rate_rps"))

    by_rate = sorted((p for p in pts if offered(p) is not None), key=offered)
    rates = [offered(p) for p in by_rate]
    series = [
        Series("achieved req/s", [p.get("achieved_rps") for p in by_rate]),
        Series("achieved = offered", rates, "dash", REF_COLOR),
    ]
    xo = axis("offered (schedule)", "req/s", rates)
    plots.append(line_chart(charts, "Saturation: achieved against offered rate", xo, ("achieved", "req/s"), series))
    series = [Series("output tokens/s", [p.get("output_tokens_per_second") for p in pts])]
    plots.append(
        line_chart(
            charts, "Saturation: output tokens/s against achieved rate", x, ("output tokens/s", "tokens/s"), series
        )
    )
    return "".join(plots), _saturation_table(sat, knee, tail)


def _saturation_table(sat: dict, knee: dict | None, tail: str) -> str:
    keys = ("schedule_rate_rps", "achieved_rps", "output_tokens_per_second", "ttft_p50_ms", "ttft_tail_ms")
    keys += ("tpot_p50_ms", "tpot_tail_ms", "e2e_tail_ms")
    rows, classes = [], []
    for p in ([sat["burst"]] if isinstance(sat.get("burst"), dict) else []) + _dicts(sat.get("points")):
        label = "burst" if p.get("kind") == "burst" else fnum(p.get("requested_rate_rps"))
        share = _pct(_get(p, "goodput", "share_met"))
        rows.append([label, *(num(p.get(k)) for k in keys), p.get("requests"), p.get("failed"), share])
        classes.append("good" if p is knee else "")
    headers = ["requested req/s", "schedule req/s", "achieved req/s", "output tokens/s", "TTFT p50 ms"]
    headers += [
        f"TTFT {tail} ms",
        "TPOT p50 ms",
        f"TPOT {tail} ms",
        f"E2E {tail} ms",
        "requests",
        "failed",
        "SLO met %",
    ]
    note = f'<p class="hint">{esc(sat.get("knee_rule"))}</p>' if sat.get("knee_rule") else ""
    title = "<h3>Saturation (TTFT and E2E from arrival; the knee's row is marked)</h3>"
    return title + table(headers, rows, [False] + [True] * 11, classes) + note


def context_section(report: dict, charts: Charts) -> tuple[str, str]:
    ctx = report.get("context_length")
    if not isinstance(ctx, dict):
        return "", ""
    swept = _dicts(ctx.get("points"))
    pts = sorted((p for p in swept if num(p.get("context_tokens")) is not None), key=lambda p: p["context_tokens"])
    x = axis("context length", "tokens", [p["context_tokens"] for p in pts], log=2)
    plots = [
        line_chart(charts, f"{title} against context length", x, y, [Series(y[0], [p.get(key) for p in pts])])
        for key, title, y in (
            ("ttft_ms", "TTFT", ("TTFT mean", "ms")),
            ("prefill_tokens_per_second", "Prefill speed", ("prefill", "tokens/s")),
            ("tpot_ms", "TPOT", ("TPOT mean", "ms")),
        )
    ]
    rows = [
        [p.get("context_tokens"), num(p.get("ttft_ms")), num(_get(p, "ttft", "p95")), num(p.get("tpot_ms")),
         num(p.get("prefill_tokens_per_second")), p.get("failed")]
        for p in pts
    ]  # fmt: skip
    head = f"model limit {format_number(ctx.get('max_context'))} tokens; {ctx.get('runs')} run(s) per length."
    headers = ["context tokens", "TTFT mean ms", "TTFT p95 ms", "TPOT ms", "prefill tokens/s", "failed"]
    return "".join(plots), f'<h3>Context length</h3><p class="hint">{esc(head)}</p>' + table(headers, rows, [True] * 6)


def accuracy_section(report: dict, charts: Charts) -> tuple[str, str]:
    runs = _dicts(_get(report, "accuracy", "runs"))
    if not runs:
        return "", ""
    modes = ("engine mode", [str(r.get("mode")) for r in runs])
    values = [_pct(_get(r, "overall", "accuracy")) for r in runs]
    caption = "95 % Wilson intervals are in the table."
    plot = bar_chart(charts, "Accuracy by engine mode", modes, ("accuracy", "%"), values, caption)
    keys = ("accuracy", "ci95_low", "ci95_high")
    rows = [
        [
            str(r.get("mode")),
            _get(r, "overall", "correct"),
            _get(r, "overall", "total"),
            *(_pct(_get(r, "overall", k)) for k in keys),
        ]
        for r in runs
    ]
    headers = ["mode", "correct", "total", "accuracy %", "CI95 low %", "CI95 high %"]
    return plot, "<h3>Accuracy</h3>" + table(headers, rows, [False] + [True] * 5)


def workload_section(report: dict, charts: Charts) -> tuple[str, str]:
    work = report.get("workload")
    if not isinstance(work, dict):
        return "", ""
    m = _dict(work.get("metrics"))
    title = f"Workload ({work.get('kind')}): TTFT and TPOT percentiles"
    plot = percentile_chart(charts, title, "latency", [("TTFT", m.get("ttft_ms")), ("TPOT", m.get("tpot_ms"))])
    facts = [(k, work.get(k)) for k in ("kind", "source", "requests", "concurrency")]
    facts += [("req/s", num(m.get("requests_per_second"))), ("output tokens/s", num(m.get("output_tokens_per_second")))]
    facts += [("prefix cache hit rate", num(_get(work, "prefix_cache", "hit_rate")))]
    dists = [("TTFT", m.get("ttft_ms"), "ms"), ("TPOT", m.get("tpot_ms"), "ms"), ("E2E", m.get("e2e_latency_ms"), "ms")]
    dists += [
        ("input tokens", work.get("input_tokens"), "tokens"),
        ("output tokens", work.get("output_tokens"), "tokens"),
    ]
    return plot, "<h3>Workload</h3>" + kv_table(facts) + dist_table(dists)


def checks_tables(report: dict) -> str:
    """Targets, the baseline comparison and --repeat spreads."""
    out = ""
    checked = _dicts(_get(report, "validation", "checked")) or _dicts(_get(report, "validation", "failures"))
    if checked:
        rows = [
            [c.get("metric"), num(c.get("actual")), f"{c.get('comparison') or ''} {fnum(c.get('target'))}".strip(),
             c.get("unit") or "", "met" if c.get("passed") else "missed"]
            for c in checked
        ]  # fmt: skip
        classes = ["good" if c.get("passed") else "bad" for c in checked]
        headers = ["metric", "actual", "target", "unit", "status"]
        out += "<h3>Targets</h3>" + table(headers, rows, [False, True, False, False, False], classes)
    deltas = _dicts(_get(report, "baseline_check", "deltas"))
    if deltas:
        keys = ("baseline", "current", "change_pct", "tolerance_pct")
        rows = [
            [d.get("metric"), *(num(d.get(k)) for k in keys), d.get("status"), d.get("verdict") or ""] for d in deltas
        ]
        classes = ["bad" if d.get("status") == "regression" else "" for d in deltas]
        headers = ["metric", "baseline", "current", "change %", "tolerance %", "status", "verdict"]
        path = _get(report, "baseline_check", "baseline_path")
        out += f"<h3>Baseline check ({esc(path)})</h3>" + table(
            headers, rows, [False] + [True] * 4 + [False] * 2, classes
        )
    rep = _dict(_get(report, "repeat", "metrics"))
    if rep:
        rows = []
        for key, r in rep.items():
            lo, mid, hi = (num(_get(r, k)) for k in ("min", "median", "max"))
            spread = 100 * (hi - lo) / mid if lo is not None and hi is not None and mid else None
            rows.append([key, lo, mid, hi, spread, len(_get(r, "values") or [])])
        headers = ["metric", "min", "median", "max", "spread % of median", "runs"]
        out += f"<h3>Repeats ({esc(_get(report, 'repeat', 'n'))} runs)</h3>" + table(
            headers, rows, [False] + [True] * 5
        )
    return out


# ---------------------------------------------------------------- sweep summaries (parameters x points)


def is_sweep_summary(report: dict) -> bool:
    return (
        isinstance(report.get("parameters"), dict)
        and isinstance(report.get("points"), list)
        and "latency" not in report
    )


def sweep_section(report: dict, charts: Charts) -> tuple[str, str]:
    """One plot per metric against the parameter with the most numeric values, a line per combination of the
    others; constant metrics (weights_bytes across a sampling sweep) are skipped as such."""
    params = [str(k) for k in report["parameters"]]
    pts = _dicts(report.get("points"))
    meta = _dict(report.get("metrics"))

    def pv(p: dict, k: str) -> Any:
        return _get(p, "params", k)

    plots = []
    if params:
        xp = max(params, key=lambda k: len({pv(p, k) for p in pts if num(pv(p, k)) is not None}))
        others = [k for k in params if k != xp]
        xs = sorted({pv(p, xp) for p in pts if num(pv(p, xp)) is not None})
        groups = sorted({tuple(pv(p, o) for o in others) for p in pts}, key=str)
        x = axis(xp, "req/s" if xp == "request_rate" else None, xs)
        for key, info in meta.items():
            series = []
            for g in groups:
                cell = {pv(p, xp): _get(p, "metrics", key) for p in pts if tuple(pv(p, o) for o in others) == g}
                name = ", ".join(f"{o}={v}" for o, v in zip(others, g, strict=True)) or key
                series.append(Series(name, [cell.get(v) for v in xs]))
            label = str(_get(info, "label") or key)
            title = f"{label[:1].upper()}{label[1:]} against {xp}"
            plots.append(line_chart(charts, title, x, (label.split(" (")[0][:32], _get(info, "unit") or ""), series))
    headers = [*params, *(f"{_get(meta, k, 'label') or k} ({_get(meta, k, 'unit') or ''})" for k in meta)]
    rows = [
        [*(str(pv(p, k)) for k in params), *(num(_get(p, "metrics", k)) for k in meta), str(p.get("report") or ""),
         str(p.get("error") or "")]
        for p in pts
    ]  # fmt: skip
    numeric = [False] * len(params) + [True] * len(meta) + [False, False]
    return "".join(plots), "<h3>Sweep cells</h3>" + table([*headers, "cell report", "error"], rows, numeric)


# ---------------------------------------------------------------- the page


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{esc(title)}</h2>{body}</section>' if body else ""


def _header(report: dict, ctx: Context) -> str:
    si = _dict(report.get("system_info"))
    meta = [ctx.date, f"device: {ctx.device}"]
    meta += [f"git {str(si['git_sha'])[:12]}"] if si.get("git_sha") else []
    meta += [f"mm_orch {si['mm_orch_version']}"] if si.get("mm_orch_version") else []
    meta.append("sweep summary" if is_sweep_summary(report) else f"schema {report.get('schema_version', '?')}")
    spans = "".join(f"<span>{esc(m)}</span>" for m in meta)
    return f'<header><h1>{esc(ctx.model)} on {esc(ctx.engine)}</h1><p class="meta">{spans}</p></header>'


def _environment(report: dict) -> str:
    out = ""
    for key, title in (("system_info", "System"), ("model_info", "Model")):
        if isinstance(report.get(key), dict):
            out += f"<div><h3>{title}</h3>{kv_table(flatten(report[key]))}</div>"
    return f'<div class="env">{out}</div>' if out else ""


def _config(report: dict) -> str:
    out = ""
    for key, title, opened in (
        ("config", "Configuration (what ran)", " open"),
        ("engine_stats", "Engine statistics", ""),
    ):
        if report.get(key):
            body = f'<pre class="json">{_pretty_json(report[key])}</pre>'
            out += f"<details{opened}><summary>{esc(title)}</summary>{body}</details>"
    skip = KNOWN_SECTIONS | ({"parameters", "points", "metrics", "tests"} if is_sweep_summary(report) else set())
    for key, value in report.items():
        if key not in skip and value not in (None, [], {}, ""):
            out += f'<details><summary>{esc(key)}</summary><pre class="json">{_pretty_json(value)}</pre></details>'
    return out


def _siblings(siblings: Sequence[tuple[str, str]]) -> str:
    items = []
    for label, href in siblings:
        target = _safe_href(href)
        link = f'<a href="{esc(target)}">{esc(label)}</a>' if target else f"{esc(label)} (link refused: {esc(href)})"
        items.append(f"<li>{link}</li>")
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _warnings(report: dict) -> str:
    items = [str(w) for w in report.get("warnings") or [] if w]
    items += [f"latency error: {e}" for e in _get(report, "latency", "errors") or []]
    items += [f"load error: {e}" for e in _get(report, "load", "metrics", "errors") or []]
    return f'<ul class="warnings">{"".join(f"<li>{esc(w)}</li>" for w in items)}</ul>' if items else ""


SECTION_BUILDERS = (
    ("Latency", latency_section),
    ("Throughput", throughput_section),
    ("Saturation", saturation_section),
    ("Load test", load_section),
    ("Memory", memory_section),
    ("Context length", context_section),
    ("Workload", workload_section),
    ("Accuracy", accuracy_section),
)
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)


def _plots_and_tables(report: dict, charts: Charts) -> tuple[str, str]:
    plots, tables = [], [checks_tables(report)]
    builders = (("Sweep", sweep_section),) if is_sweep_summary(report) else SECTION_BUILDERS
    for title, build in builders:
        figs, tabs = build(report, charts)
        plots += [f'<h3>{esc(title)}</h3><div class="figs">{figs}</div>'] if figs else []
        tables.append(tabs)
    if charts.skipped:
        skipped = esc("; ".join(charts.skipped))
        plots.append(f'<p class="skipped" id="skipped">Not drawn (fewer than two points, or constant): {skipped}</p>')
    if charts.specs:
        plots.insert(
            0, '<p class="hint">Hover a plot for its values; drag across it to zoom, double-click to zoom out.</p>'
        )
    return "".join(plots), "".join(tables)


def render_html(report: dict, siblings: Sequence[tuple[str, str]] = ()) -> str:
    """The page for one report (a dict as json.load returns it). siblings: (label, href) links to related reports
    (sweep cells, the saturation table, the previous run); hrefs other than relative, http(s) or file are refused."""
    if not isinstance(report, dict):
        raise TypeError(f"render_html takes the report as a dict, got {type(report).__name__}")
    ctx = context_of(report)
    charts = Charts(ctx)
    plots, tables = _plots_and_tables(report, charts)
    sections = [
        ("plots", "Plots", plots),
        ("tables", "Tables", tables),
        ("warnings", "Warnings", _warnings(report)),
        ("environment", "Environment", _environment(report)),
        ("config", "Configuration", _config(report)),
        ("related", "Related reports", _siblings(siblings)),
    ]
    body = answer_section(report) + "".join(_section(*s) for s in sections)
    toc = "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title, part in sections if part)
    embedded = script_json(report)
    data = f'<script type="application/json" id="mm-charts">{script_json(charts.specs)}</script>'
    download = ""
    if len(embedded.encode("utf-8")) <= MAX_EMBEDDED_REPORT_BYTES:
        data += f'<script type="application/json" id="mm-report">{embedded}</script>'
        download = '<a id="mm-download" download="report.json" hidden>Download the JSON report</a> \u00b7 '
    footer = f"{download}Written by mm_orch. Charts: uPlot {UPLOT_VERSION} (MIT licence), inline; nothing is fetched."
    title = f"{ctx.model} on {ctx.engine} \u2014 {ctx.date} \u2014 mm_orch report"
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        f"<style>{_asset('uPlot.min.css', '</style')}\n{_asset('report.css', '</style')}</style></head>"
        f'<body><main>{_header(report, ctx)}<nav class="toc">{toc}</nav>{body}<footer>{footer}</footer></main>{data}'
        f"<script>{_asset('uPlot.iife.min.js', '</script')}</script><script>{_asset('report.js', '</script')}</script>"
        "</body></html>\n"
    )
    size = len(page.encode("utf-8"))
    if size > MAX_HTML_BYTES:
        raise ValueError(f"the HTML report would be {size:,} bytes, over the cap of {MAX_HTML_BYTES:,}")
    return page


def write_html(report: dict, path: str | os.PathLike, siblings: Sequence[tuple[str, str]] = ()) -> Path:
    """Render, then write atomically: a temporary file in the target's folder, then os.replace. Returns the path.
    A failure leaves any earlier file at path as it was, and no temporary file behind."""
    target = Path(path)
    text = render_html(report, siblings)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
