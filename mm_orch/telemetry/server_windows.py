"""The server's figures per phase of the run: the same few roles whatever the server (vLLM, SGLang, TGI).

A role names the series that play it on each server, in order of preference (vLLM's current name first, then its
older one); the first series the scrapes hold is used. Counters give their increase over the window, gauges their
mean and maximum, histograms their percentiles over the window's bucket deltas (server_metrics.py).
"""

from __future__ import annotations

from mm_orch.report.telemetry import TOKEN_TOLERANCE_PCT, ServerMetricsSection, ServerWindow, TokenCountCheck

RUNNING = ("vllm:num_requests_running", "sglang:num_running_reqs", "tgi_batch_current_size")
WAITING = ("vllm:num_requests_waiting", "sglang:num_queue_reqs", "tgi_queue_size")
KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage")
PREEMPTIONS = ("vllm:num_preemptions", "sglang:num_retracted_reqs")
PREFIX_HITS = (("vllm:prefix_cache_hits", "vllm:prefix_cache_queries"),
               ("vllm:gpu_prefix_cache_hits", "vllm:gpu_prefix_cache_queries"))
TTFT = ("vllm:time_to_first_token_seconds", "sglang:time_to_first_token_seconds")
QUEUE = ("vllm:request_queue_time_seconds", "sglang:queue_time_seconds", "tgi_request_queue_duration")
ITL = ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds", "sglang:inter_token_latency_seconds",
       "tgi_request_mean_time_per_token_duration")
PROMPT = ("vllm:prompt_tokens", "sglang:prompt_tokens", "tgi_request_input_length")
GENERATION = ("vllm:generation_tokens", "sglang:generation_tokens", "tgi_request_generated_tokens")


def _first(sec: ServerMetricsSection, names: tuple[str, ...]):
    return next((sec.series[n] for n in names if n in sec.series), None)


def _ms(v: float | None) -> float | None:
    return None if v is None else v * 1e3


def window(sec: ServerMetricsSection, name: str, key: str, check: TokenCountCheck | None) -> ServerWindow:
    """The roles' figures from a section summarized over one window (its start/end are the section's)."""
    out = ServerWindow(name=name, key=key, start_s=sec.window_start_s or 0.0, end_s=sec.window_end_s or 0.0)
    for role, names in (("requests_running", RUNNING), ("requests_waiting", WAITING), ("kv_cache_usage", KV_USAGE)):
        s = _first(sec, names)
        if s is not None:
            setattr(out, f"{role}_mean", s.mean)
            setattr(out, f"{role}_max", s.max)
    s = _first(sec, PREEMPTIONS)
    out.preemptions = s.delta if s is not None else None
    for hits, queries in PREFIX_HITS:
        h, q = sec.series.get(hits), sec.series.get(queries)
        if h is not None and q is not None and h.delta is not None and q.delta:
            out.prefix_cache_hit_rate = h.delta / q.delta
            break
    for role, names in (("ttft", TTFT), ("queue_time", QUEUE)):
        s = _first(sec, names)
        if s is not None:
            setattr(out, f"{role}_p50_ms", _ms(s.p50))
            setattr(out, f"{role}_p99_ms", _ms(s.p99))
    s = _first(sec, ITL)
    out.itl_p50_ms = _ms(s.p50) if s is not None else None
    for role, names in (("prompt_tokens", PROMPT), ("generation_tokens", GENERATION)):
        s = _first(sec, names)
        if s is not None:
            setattr(out, role, s.sum_delta if s.kind in ("histogram", "summary") else s.delta)
    if check is not None:
        out.token_check = check
        out.token_mismatch_pct = _worst(check)
    return out


def _worst(check: TokenCountCheck) -> float | None:
    pcts = [abs(p) for p in (check.prompt_mismatch_pct, check.output_mismatch_pct) if p is not None]
    return max(pcts) if pcts else None


def combined_check(checks: list[TokenCountCheck]) -> TokenCountCheck | None:
    """The windows' checks summed: the server's increases over every window against the client's sums."""
    if not checks:
        return None
    out = TokenCountCheck(tolerance_pct=TOKEN_TOLERANCE_PCT)
    problems = []
    for side in ("prompt", "output"):
        pairs = [(getattr(c, f"server_{side}_tokens"), getattr(c, f"client_{side}_tokens")) for c in checks]
        clients = [c for _, c in pairs if c is not None]
        setattr(out, f"client_{side}_tokens", sum(clients) if clients else None)
        series = {getattr(c, f"{side}_series") for c in checks} - {None}
        setattr(out, f"{side}_series", ", ".join(sorted(series)) or None)
        if any(s is None for s, _ in pairs):
            problems.append(f"the server reports no {side}-token counter")
            continue
        server, client = sum(s for s, _ in pairs), sum(clients)
        setattr(out, f"server_{side}_tokens", server)
        if client:
            pct = (server - client) / client * 100.0
            setattr(out, f"{side}_mismatch_pct", pct)
            if abs(pct) > TOKEN_TOLERANCE_PCT:
                problems.append(f"{side} tokens: server {server:g} vs client {client} ({pct:+.2f} %)")
    pcts = [p for p in (out.prompt_mismatch_pct, out.output_mismatch_pct) if p is not None]
    if pcts:
        out.within_tolerance = all(abs(p) <= TOKEN_TOLERANCE_PCT for p in pcts)
    if problems:
        out.warning = "token count check: " + "; ".join(problems)
    return out
