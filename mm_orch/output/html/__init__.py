"""A self-contained HTML page of one mm_orch report: the answer first, then interactive plots, tables, environment.

    render_html(report, siblings=()) -> str         # report: the JSON report as json.load gives it (a plain dict)
    write_html(report, path, siblings=()) -> Path   # atomic: a temporary file in the same folder, then os.replace

The page opens offline: styles, scripts and data are inline and a Content-Security-Policy forbids every fetch.
It reads the report as a dict (schema 2 reports, schema 1.0 ones as far as their keys match, and sweep summaries
with ``parameters`` and ``points``); sections it does not know are shown as JSON, never dropped. Every string
taken from the report is escaped: in HTML with html.escape, in the embedded JSON with ``<``, ``>`` and ``&`` as
\\u escapes, so a model named ``<script>`` stays text.

Chart library: uPlot 1.6.32 (MIT; mm_orch/output/html_assets/uPlot.LICENSE), vendored as its minified build
(51 KB of JS and 2 KB of CSS, from the npm package ``uplot``). It draws lines, points and bars on a canvas, shows
every series' value under the cursor, zooms by dragging (double-click resets) and has log axes, with no dependency
and no network access. The alternatives cost more for the same page: Chart.js 4 is about 200 KB and needs a plugin
(and Hammer.js) to zoom; plotly.js, which PyPI's plotly bundles, is about 4.5 MB in every page. The glue
(html_assets/report.js, report.css) is ours. A page is about 100-130 KB.

Plot rules (issue 25): every plot carries the model, engine, device and date; every axis names its unit (a
category axis names what its categories are); y axes start at zero; bars are never on a log scale; a panel with
fewer than two points, or whose values are all equal, is not drawn but listed under the plots with the reason.

The package, one concept a file: page (the page and the atomic write), answer and verdict (what the page leads
with), charts, tables, format (numbers, escaping), context (model, engine, device, date, SLO), labels, and one
sections_* module per part of a report (closed_loop, load, studies, sweep, checks).
"""

from __future__ import annotations

from .answer import Card, headline_metrics
from .context import Context, context_of, slo_of
from .format import format_number
from .page import MAX_HTML_BYTES, render_html, write_html
from .verdict import verdict

__all__ = [
    "MAX_HTML_BYTES",
    "Card",
    "Context",
    "context_of",
    "format_number",
    "headline_metrics",
    "render_html",
    "slo_of",
    "verdict",
    "write_html",
]
