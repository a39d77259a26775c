"""The saturation curve's files beside a report: a Markdown table and a plot of latency against the achieved rate,
knee marked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mm_orch.output.plot_style import PlotContext
    from mm_orch.report.saturation import SaturationResult


def saturation_plot(s: SaturationResult, ctx: PlotContext, path: Path) -> Path:
    """Three panels against the achieved rate (TTFT from arrival, p50 and tail, the knee ringed; TPOT, p50 and
    tail) and achieved against offered; the SLO as a dashed line, the burst's maximum as a dotted one. TTFT
    goes to a log axis (labelled so) when it spans more than 20x, as it does past the knee."""
    from mm_orch.output.plot_style import (
        KNEE_COLOR,
        PALETTE,
        REF_COLOR,
        figure,
        finite,
        nan,
        note,
        plain_log,
        save,
        slo_line,
        style,
    )

    tail = s.tail_statistic
    pts = sorted((p for p in s.points if p.achieved_rps is not None), key=lambda p: p.achieved_rps)
    knee = s.points[s.knee_index] if s.knee_index is not None else None
    x = [p.achieved_rps for p in pts]
    fig, (a_ttft, a_tpot, a_rate) = figure(3, ctx, f"Saturation: latency against achieved rate ({s.mode})",
                                           extra_bottom=0.15)
    for ax, key, name, slo in ((a_ttft, "ttft", "TTFT from arrival", "ttft_ms"), (a_tpot, "tpot", "TPOT", "tpot_ms")):
        values = finite([getattr(p, f"{key}_tail_ms") for p in pts] + [getattr(p, f"{key}_p50_ms") for p in pts])
        log = key == "ttft" and values and min(values) > 0 and max(values) / min(values) > 20
        if log:
            plain_log(ax)
        for color, stat, ls in ((PALETTE[0], "p50", "-"), (PALETTE[1], tail, "--")):
            field = f"{key}_{'p50' if stat == 'p50' else 'tail'}_ms"
            ax.plot(x, [nan(getattr(p, field)) for p in pts], marker="o", ls=ls, color=color, label=f"{name} {stat}")
        if knee is not None and key == "ttft" and knee.achieved_rps is not None:
            ax.plot([knee.achieved_rps], [nan(knee.ttft_tail_ms)], "o", ms=15, mfc="none", mec=KNEE_COLOR,
                    label=f"knee: {knee.achieved_rps:.3g} req/s")
        if s.max_throughput_rps:
            ax.axvline(s.max_throughput_rps, color=REF_COLOR, ls=":", label="maximum (burst)")
        slo_line(ax, ctx, slo, name.split()[0])
        style(ax, name, "achieved rate (requests/s)", f"{name} (ms{', log scale' if log else ''})", zero=not log)
        ax.set_xlim(left=0)
        ax.legend(fontsize=7.5, loc="upper left")
    offered = [(p.schedule_rate_rps or p.requested_rate_rps, p.achieved_rps) for p in s.points]
    offered = sorted((o, a) for o, a in offered if o is not None and a is not None)
    top = max([o for o, _ in offered] + [a for _, a in offered] + [1e-9])
    a_rate.plot([o for o, _ in offered], [a for _, a in offered], marker="o", color=PALETTE[2], label="achieved")
    a_rate.plot([0, top], [0, top], ls="--", color=REF_COLOR, label="achieved = offered")
    if s.max_throughput_rps:
        a_rate.axhline(s.max_throughput_rps, color=REF_COLOR, ls=":", label="maximum (burst)")
    style(a_rate, "achieved against offered", "offered rate, as drawn (requests/s)", "achieved rate (requests/s)")
    a_rate.set_xlim(left=0)
    a_rate.legend(fontsize=7.5, loc="upper left")
    note(fig, f"TTFT from arrival: from each request's due time (queueing included). {tail}: the tail statistic "
              f"({s.points[0].requests if s.points else 0} requests a rate). Knee: {s.knee_rule}.")
    return save(fig, path)


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
