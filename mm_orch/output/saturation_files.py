"""The saturation curve's files beside a report: a Markdown table and a latency-vs-throughput plot, knee marked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mm_orch.report.saturation import SaturationResult

def _series(tail: str) -> tuple:
    return (("ttft_p50_ms", "TTFT p50", "o", "-"), ("ttft_tail_ms", f"TTFT {tail}", "o", "--"),
            ("tpot_p50_ms", "TPOT p50", "s", "-"), ("tpot_tail_ms", f"TPOT {tail}", "s", "--"))


def _nan(v: float | None) -> float:
    return float("nan") if v is None else v


def saturation_plot(s: SaturationResult, title: str, path: Path) -> Path:
    """Two panels: latency against achieved req/s and against output tokens/s; the knee ringed, the burst's
    maximum a dotted line."""
    from mm_orch.output.plots import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    series = _series(s.tail_statistic)
    for ax, xkey, xlabel, xmax in ((axes[0], "achieved_rps", "achieved requests/s", s.max_throughput_rps),
                                   (axes[1], "output_tokens_per_second", "achieved output tokens/s",
                                    s.max_output_tokens_per_second)):
        xs = [_nan(getattr(p, xkey)) for p in s.points]
        for key, label, marker, style in series:
            ax.plot(xs, [_nan(getattr(p, key)) for p in s.points], marker=marker, linestyle=style, label=label)
        if s.knee_index is not None:
            k = s.points[s.knee_index]
            for key, *_ in series[:2]:
                ax.plot([_nan(getattr(k, xkey))], [_nan(getattr(k, key))], marker="o", markersize=14,
                        markerfacecolor="none", markeredgecolor="red", linestyle="none")
            ax.axvline(_nan(getattr(k, xkey)), color="red", alpha=0.4, label="knee")
        if xmax:
            ax.axvline(xmax, color="grey", linestyle=":", label="maximum (burst)")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("ms (TTFT from arrival)")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _f(v: float | None, fmt: str = ".3g") -> str:
    return "–" if v is None else format(v, fmt)


def saturation_markdown(s: SaturationResult, title: str, plot: Path) -> str:
    slo = next((p.goodput.slo.objectives() for p in s.points if p.goodput is not None), None)
    t = s.tail_statistic
    head = ["requested req/s", "drawn req/s", "achieved req/s", "output tok/s", "TTFT p50", f"TTFT {t}",
            f"TTFT {t} from send", "TPOT p50", f"TPOT {t}", f"E2E {t}", f"client lag {t}", "requests", "failed"] + (
        ["goodput req/s"] if slo else [])
    rows = [f"# {title}", "",
            f"Engine driven as `{s.mode}`; {s.output_length} output tokens per request; client concurrency cap: "
            f"{s.max_concurrency or 'none'}.",
            f"Maximum (a burst, every request due at once): **{_f(s.max_throughput_rps)} req/s**, "
            f"{_f(s.max_output_tokens_per_second)} output tokens/s. Rates measured: {len(s.points)}, from "
            f"{_f(s.low_rate_rps)} req/s up to the maximum.",
            f"Knee: **{_f(s.knee_rps)} req/s achieved, {_f(s.knee_output_tokens_per_second)} output tokens/s**, "
            f"{t} TTFT {_f(s.knee_ttft_tail_ms)} ms. Rule: {s.knee_rule} (k = {s.knee_ttft_factor:g}; the tail is "
            f"{t}: p99 needs 100 requests a rate); {s.knee_note}.", "",
            "Times in ms; TTFT and E2E from arrival (the due time: queueing included) unless said; TPOT from the "
            "first token. Drawn: the rate of the seeded schedule actually drawn (first to last due); achieved: "
            "completed requests / (first due to last token)." + (f" Goodput SLOs: {slo}." if slo else ""), "",
            "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, p in enumerate(s.points):
        mark = " **knee**" if i == s.knee_index else ""
        cells = [_f(p.requested_rate_rps) + mark, _f(p.schedule_rate_rps), _f(p.achieved_rps),
                 _f(p.output_tokens_per_second), _f(p.ttft_p50_ms), _f(p.ttft_tail_ms), _f(p.ttft_sent_tail_ms),
                 _f(p.tpot_p50_ms), _f(p.tpot_tail_ms), _f(p.e2e_tail_ms), _f(p.schedule_lag_tail_ms),
                 str(p.requests), str(p.failed)]
        if slo:
            cells.append(_f(p.goodput.goodput_rps if p.goodput else None))
        rows.append("| " + " | ".join(cells) + " |")
    b = s.burst
    rows += ["", f"Burst: {b.requests} requests, {_f(b.achieved_rps)} req/s, p50 TTFT from arrival "
             f"{_f(b.ttft_p50_ms)} ms (queueing behind the others), TPOT p50 {_f(b.tpot_p50_ms)} ms, peak in flight "
             f"{b.peak_in_flight}, {b.failed} failed.", "", f"![latency against throughput]({plot.name})", ""]
    return "\n".join(rows)
