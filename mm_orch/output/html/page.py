"""The page: header, table of contents, the answer, plots, tables, warnings, environment, configuration, related
reports; the inline assets (html_assets/ beside this package), the Content-Security-Policy, and the atomic write."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .answer import answer_section
from .charts import Charts
from .context import Context, context_of
from .format import as_dict, dig, esc, pretty_json, safe_href, script_json
from .sections_checks import checks_tables
from .sections_closed_loop import latency_section, memory_section, throughput_section
from .sections_load import load_section, saturation_section
from .sections_studies import accuracy_section, context_section, workload_section
from .sections_sweep import is_sweep_summary, sweep_section
from .tables import flatten, kv_table

ASSETS = Path(__file__).resolve().parent.parent / "html_assets"

UPLOT_VERSION = "1.6.32"

MAX_HTML_BYTES = 4 * 2**20  # one page at most; render_html refuses to write more

MAX_EMBEDDED_REPORT_BYTES = 2**20  # the report's own JSON rides along (a download link) up to this size

KNOWN_SECTIONS = frozenset(
    "schema_version model_name engine timestamp system_info config model_info latency memory throughput load"
    " saturation workload accuracy context_length engine_stats validation baseline_check repeat warnings"
    " incomplete finished_tests missing_tests".split()
)


def _asset(name: str, closing: str) -> str:
    text = (ASSETS / name).read_text(encoding="utf-8")
    if closing in text.lower():
        raise ValueError(f"html asset {name} contains {closing!r}; it cannot be inlined")
    return text


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{esc(title)}</h2>{body}</section>' if body else ""


def _header(report: dict, ctx: Context) -> str:
    si = as_dict(report.get("system_info"))
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
            body = f'<pre class="json">{pretty_json(report[key])}</pre>'
            out += f"<details{opened}><summary>{esc(title)}</summary>{body}</details>"
    skip = KNOWN_SECTIONS | ({"parameters", "points", "metrics", "tests"} if is_sweep_summary(report) else set())
    for key, value in report.items():
        if key not in skip and value not in (None, [], {}, ""):
            out += f'<details><summary>{esc(key)}</summary><pre class="json">{pretty_json(value)}</pre></details>'
    return out


def _siblings(siblings: Sequence[tuple[str, str]]) -> str:
    items = []
    for label, href in siblings:
        target = safe_href(href)
        link = f'<a href="{esc(target)}">{esc(label)}</a>' if target else f"{esc(label)} (link refused: {esc(href)})"
        items.append(f"<li>{link}</li>")
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _warnings(report: dict) -> str:
    items = [str(w) for w in report.get("warnings") or [] if w]
    items += [f"latency error: {e}" for e in dig(report, "latency", "errors") or []]
    items += [f"load error: {e}" for e in dig(report, "load", "metrics", "errors") or []]
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
    """Render, then write atomically through mm_orch.io (a temporary file in the target's folder, then os.replace):
    a failure leaves any earlier file at path as it was and no temporary file behind, a full disk names path, and
    a device or FIFO at path is refused, never replaced. Returns the path."""
    from mm_orch.io import atomic_write_text

    return atomic_write_text(Path(path), render_html(report, siblings))
