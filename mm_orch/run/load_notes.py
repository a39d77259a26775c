"""What a reader of an open-loop report must be told (report.warnings, the console, the Markdown): outputs shorter
than asked, schedules stopped early, a trace's skipped rows, a max-rate search that did not settle."""

from __future__ import annotations

from mm_orch.report.model import Report

SHORT_OUTPUT = 0.98  # a mean output below this share of the asked length is a warning


def load_warnings(report: Report) -> list[str]:
    out: list[str] = []
    load = report.load
    if load is not None:
        m = load.metrics
        asked = load.output_length if load.trace is None else load.trace.mean_output_len
        got = m.output_tokens / m.completed if m.completed else None
        if got is not None and asked and got < SHORT_OUTPUT * asked:
            what = "the trace's mean" if load.trace is not None else "asked"
            out.append(f"load: requests produced {got:.1f} output tokens on average where {asked:.4g} were {what} "
                       "(the server stopped early or caps max_tokens): tokens/s and TPOT are of the shorter outputs")
        if load.stopped_early:
            out.append(f"load: {load.stopped_early}")
        if load.trace is not None and load.trace.skipped:
            reasons = ", ".join(f"{n} {why}" for why, n in load.trace.skipped_reasons.items())
            out.append(f"load: the trace's {load.trace.skipped} unreplayable rows were skipped ({reasons})")
    sat = report.saturation
    for p in sat.points if sat is not None else []:
        if p.stopped_early:
            out.append(f"saturation at {p.requested_rate_rps:.4g} req/s: {p.stopped_early}")
    search = report.max_rate_at_slo
    if search is not None:
        why = {"max_probes": "the search ran out of probes (benchmark.load.slo_search.max_probes) before its "
                             "precision: the interval is wider than asked",
               "lowest_rate_failed": "even the lowest rate probed failed the SLO: lower slo_search.lo_rps or loosen "
                                     "the SLO",
               "highest_rate_passed": "the highest rate probed still met the SLO: the answer is a lower bound "
                                      "(raise slo_search.hi_rps)"}.get(search.stop_reason)
        if why:
            out.append(f"max rate at SLO: {why}")
        if search.stopped_early:
            out.append(f"max rate at SLO: {search.stopped_early} probe(s) stopped early, over capacity (their queue "
                       "grew without bound)")
    return out
