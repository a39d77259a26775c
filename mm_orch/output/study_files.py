"""Files of the study sections written beside a report: the context-length curve (PNG + Markdown table)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mm_orch.io import atomic_write_text

if TYPE_CHECKING:
    from mm_orch.output.plot_style import PlotContext
    from mm_orch.report.model import Report
    from mm_orch.report.studies import ContextLengthResult


def context_length_plot(section: ContextLengthResult, ctx: PlotContext, path: Path) -> Path:
    """TTFT (mean, the band from the fastest to the slowest request) and prefill tokens/s against the prompt's
    length in tokens: a log-2 axis labelled with the token counts; a panel needs two lengths or more."""
    from mm_orch.output.plot_style import PALETTE, drawable, figure, nan, save, slo_line, style

    pts = [p for p in section.points if p.ttft_ms is not None]
    x = [p.context_tokens for p in pts]
    panels = [k for k in ("ttft_ms", "prefill_tokens_per_second") if drawable(x, [getattr(p, k) for p in pts])]
    fig, axes = figure(max(1, len(panels)), ctx, "Time to first token against context length")
    for ax, key in zip(axes, panels, strict=False):
        if key == "ttft_ms":
            ax.plot(x, [p.ttft_ms for p in pts], marker="o", color=PALETTE[0], label="mean")
            p90 = [p.ttft.p90 if p.ttft is not None else None for p in pts]
            if any(v is not None for v in p90):
                ax.plot(x, [nan(v) for v in p90], marker=".", ls="--", color=PALETTE[1], label="p90")
            lo = [nan(p.ttft.min) if p.ttft else nan(None) for p in pts]
            hi = [nan(p.ttft.max) if p.ttft else nan(None) for p in pts]
            if any(v == v for v in lo + hi):  # a band only where the distributions were kept (no empty series)
                ax.fill_between(x, lo, hi, color=PALETTE[0], alpha=0.15, lw=0,
                                label=f"fastest to slowest of {section.runs} requests")
            slo_line(ax, ctx, "ttft_ms", "TTFT")
            style(ax, "TTFT", "context length (prompt tokens, log scale)", "TTFT (ms)")
        else:
            ax.plot(x, [p.prefill_tokens_per_second for p in pts], marker="o", color=PALETTE[2],
                    label="context tokens / mean TTFT")
            style(ax, "prefill speed", "context length (prompt tokens, log scale)", "prefill (tokens/s)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [f"{v:,}" for v in x])
        ax.minorticks_off()
        ax.legend(fontsize=8, loc="upper left")
    return save(fig, path)


def context_length_markdown(section: ContextLengthResult, title: str, plot: Path) -> str:
    rows = [f"# {title}", "", f"Model limit: {section.max_context} tokens; longest prompt measured: "
            f"{section.limit_used}; {section.output_length} output tokens; {section.runs} measured "
            "requests per length after one warm-up.", "",
            "| context tokens | TTFT mean (ms) | TTFT p90 (ms) | prefill tok/s | TPOT (ms) | failed |",
            "|---|---|---|---|---|---|"]
    for p in section.points:
        f = (lambda v: "–" if v is None else f"{v:.3g}")  # noqa: E731
        rows.append(f"| {p.context_tokens} | {f(p.ttft_ms)} | {f(p.ttft.p90 if p.ttft else None)} | "
                    f"{f(p.prefill_tokens_per_second)} | {f(p.tpot_ms)} | {p.failed} |")
    return "\n".join(rows + ["", f"![TTFT against context length]({plot.name})", ""])


def write_study_files(report: Report, report_path: Path) -> list[Path]:
    """Beside <stem>.json: <stem>_context_length.png and .md, <stem>_saturation.png and .md, <stem>_max_rate.png
    and .md, for the sections the report has."""
    from mm_orch.output.max_rate_files import write_max_rate_files

    return (_context_files(report, report_path) + _saturation_files(report, report_path)
            + write_max_rate_files(report, report_path))


def _saturation_files(report: Report, report_path: Path) -> list[Path]:
    from mm_orch.output.saturation_files import saturation_markdown, saturation_plot

    section = report.saturation
    if section is None or not section.points:
        return []
    stem = report_path.with_suffix("")
    title = f"Saturation: latency against throughput, {report.model_name} ({report.engine})"
    png = saturation_plot(section, _context(report), Path(f"{stem}_saturation.png"))
    md = atomic_write_text(Path(f"{stem}_saturation.md"), saturation_markdown(section, title, png))
    return [png, md]


def _context_files(report: Report, report_path: Path) -> list[Path]:
    section = report.context_length
    if section is None or not section.points:
        return []
    stem = report_path.with_suffix("")
    title = f"TTFT against context length: {report.model_name} ({report.engine})"
    png = context_length_plot(section, _context(report), Path(f"{stem}_context_length.png"))
    md = atomic_write_text(Path(f"{stem}_context_length.md"), context_length_markdown(section, title, png))
    return [png, md]


def _context(report: Report) -> PlotContext:
    from mm_orch.output.plot_style import PlotContext

    return PlotContext.of(report)
