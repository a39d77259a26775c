"""The Markdown summary's telemetry parts: GPU power and energy per output token per phase, and the server's own
figures per phase with its token counts against the client's."""

from __future__ import annotations

from typing import Any

from mm_orch.report.model import Report


def _table(header: list[str], rows: list[list[Any]]) -> str:
    from mm_orch.output.md_format import table

    return table(header, rows)


def _pct(v: float | None) -> float | None:
    return None if v is None else v * 100


def _n(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def gpu_markdown(report: Report) -> list[str]:
    g = report.gpu_telemetry
    if g is None:
        return []
    if not g.available:
        return ["", "## GPU energy", "", f"Not measured: {g.reason}."]
    names = ", ".join(f"{x.index}: {x.name}" for x in g.gpus)
    sources = sorted({x.energy_source for x in g.gpus})
    rows = [[p.name, p.duration_s, p.mean_power_w, p.energy_j, p.output_tokens, p.j_per_output_token,
             p.mean_util_pct] for p in g.phases]
    rows.append(["**all phases**", sum(p.duration_s for p in g.phases), g.mean_power_w, g.energy_j, g.output_tokens,
                 g.j_per_output_token, None])
    cost = (f" The sampler ({g.hz:g} Hz, {g.samples} rounds) took {g.sampler_cpu_s_per_s * 1e3:.1f} ms of CPU per "
            "second." if g.sampler_cpu_s_per_s is not None else "")
    return ["", "## GPU energy per phase", "",
            f"GPUs {names}; energy from {' and '.join(s.replace('_', ' ') for s in sources)}; output tokens are "
            f"every token the engine generated in the phase (warm-ups included).{cost}", "",
            _table(["phase", "seconds", "mean power W", "energy J", "output tokens", "J/token", "GPU util %"], rows)]


def server_markdown(report: Report) -> list[str]:
    s = report.server_metrics
    if s is None:
        return []
    out = ["", "## Server metrics", "",
           f"`{s.url}` ({s.server}), every {s.interval_s:g} s and at each phase boundary: {s.scrapes} scrapes, "
           f"{s.failed_scrapes} failed. Server-side latencies are its histograms' percentiles (bucket resolution)."]
    rows = [[w.name, w.requests_running_mean, w.requests_running_max, w.requests_waiting_mean,
             w.requests_waiting_max, _pct(w.kv_cache_usage_max), w.preemptions, w.ttft_p50_ms, w.ttft_p99_ms,
             w.token_mismatch_pct] for w in [*s.windows, *([s.summary] if s.summary else [])]]
    if rows:
        out += ["", _table(["phase", "running mean", "running max", "waiting mean", "waiting max", "KV usage max %",
                            "preemptions", "server TTFT p50 ms", "server TTFT p99 ms", "token mismatch %"], rows)]
    c = s.token_check
    if c is not None:
        out += ["", f"Token counts, server vs client: prompt {_n(c.server_prompt_tokens)} vs "
                f"{_n(c.client_prompt_tokens)}, output {_n(c.server_output_tokens)} vs {_n(c.client_output_tokens)}: "
                + ("within 1 %." if c.within_tolerance else (c.warning or "not comparable."))]
    return out


def telemetry_markdown(report: Report) -> list[str]:
    return gpu_markdown(report) + server_markdown(report)
