"""Files of the study sections written beside a report: the context-length curve (PNG + Markdown table)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mm_orch.io import atomic_write_text

if TYPE_CHECKING:
    from mm_orch.report.model import Report
    from mm_orch.report.studies import ContextLengthResult


def context_length_plot(section: ContextLengthResult, title: str, path: Path) -> Path:
    from mm_orch.output.plots import _pyplot, _save

    pts = [p for p in section.points if p.ttft_ms is not None]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    x = [p.context_tokens for p in pts]
    ax.plot(x, [p.ttft_ms for p in pts], marker="o", label="mean")
    ax.plot(x, [p.ttft.p90 if p.ttft is not None and p.ttft.p90 is not None else float("nan") for p in pts],
            marker=".", linestyle="--", label="p90")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context length (prompt tokens)")
    ax.set_ylabel("TTFT (ms)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


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
    """Beside <stem>.json: <stem>_context_length.png and .md, <stem>_saturation.png and .md, for the sections
    the report has."""
    return _context_files(report, report_path) + _saturation_files(report, report_path)


def _saturation_files(report: Report, report_path: Path) -> list[Path]:
    from mm_orch.output.saturation_files import saturation_markdown, saturation_plot

    section = report.saturation
    if section is None or not section.points:
        return []
    stem = report_path.with_suffix("")
    title = f"Saturation: latency against throughput, {report.model_name} ({report.engine})"
    png = saturation_plot(section, title, Path(f"{stem}_saturation.png"))
    md = atomic_write_text(Path(f"{stem}_saturation.md"), saturation_markdown(section, title, png))
    return [png, md]


def _context_files(report: Report, report_path: Path) -> list[Path]:
    section = report.context_length
    if section is None or not section.points:
        return []
    stem = report_path.with_suffix("")
    title = f"TTFT against context length: {report.model_name} ({report.engine})"
    png = context_length_plot(section, title, Path(f"{stem}_context_length.png"))
    md = atomic_write_text(Path(f"{stem}_context_length.md"), context_length_markdown(section, title, png))
    return [png, md]
