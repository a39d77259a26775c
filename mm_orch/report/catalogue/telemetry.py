"""The telemetry sections' metrics: `server_metrics` (the server's own series over the run and per phase, and its
token counters against the client's) and `gpu_telemetry` (energy per output token and power, over the run and per
phase). Phase metrics are keyed by the phase's key: `latency`, `throughput_4_concurrent`, `load`,
`saturation_12_req_s`, ..."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from mm_orch.report.catalogue.metric import Metric, Slot

if TYPE_CHECKING:
    from mm_orch.report.model import Report

# the functions that compute them, as dotted names (the report imports no producer)
_WINDOW = "mm_orch.telemetry.server_windows:window"
_CHECK = "mm_orch.telemetry.server_windows:combined_check"
_QUANTILE = "mm_orch.telemetry.server_metrics:histogram_quantile"
_GPU = "mm_orch.telemetry.run:RunTelemetry.gpu_section"
_PHASE = "mm_orch.telemetry.gpu_telemetry:GpuTelemetrySampler.summarize"


def _server(field: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        sm = r.server_metrics
        if sm is not None and sm.summary is not None:
            yield metric.slot(r, sm.summary, field)
    return slots


def _server_phase(field: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        for w in r.server_metrics.windows if r.server_metrics is not None else []:
            yield metric.slot(r, w, field, phase=w.key)
    return slots


def _gpu(field: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        if r.gpu_telemetry is not None and r.gpu_telemetry.available:
            yield metric.slot(r, r.gpu_telemetry, field)
    return slots


def _gpu_phase(field: str):
    def slots(r: Report, metric: Metric) -> Iterator[Slot]:
        g = r.gpu_telemetry
        for p in g.phases if g is not None and g.available else []:
            yield metric.slot(r, p, field, phase=p.key or p.name)
    return slots


def _server_metrics() -> list[Metric]:
    M, sec = Metric, "server_metrics"
    run = "over the measured run (first phase start to last phase end), from the server's own /metrics"
    out = [
        M("server_metrics.requests_waiting.mean", "server: waiting requests, mean", "requests", "lower",
          f"mean of the server's queue gauge (vllm:num_requests_waiting, sglang:num_queue_reqs, tgi_queue_size) {run}",
          _WINDOW, _server("requests_waiting_mean"), sec),
        M("server_metrics.requests_waiting.max", "server: waiting requests, max", "requests", "lower",
          f"largest sample of the server's queue gauge {run}", _WINDOW, _server("requests_waiting_max"), sec),
        M("server_metrics.kv_cache_usage.mean", "server: KV cache usage, mean", "ratio", "lower",
          f"mean KV-cache usage (vllm:kv_cache_usage_perc, sglang:token_usage), 0-1, {run}", _WINDOW,
          _server("kv_cache_usage_mean"), sec),
        M("server_metrics.kv_cache_usage.max", "server: KV cache usage, max", "ratio", "lower",
          f"largest KV-cache usage sample, 0-1, {run}", _WINDOW, _server("kv_cache_usage_max"), sec),
        M("server_metrics.preemptions", "server: preemptions", "requests", "lower",
          f"increase of the preemption counter (vllm:num_preemptions, sglang:num_retracted_reqs) {run}", _WINDOW,
          _server("preemptions"), sec),
        M("server_metrics.prefix_cache_hit_rate", "server: prefix-cache hit rate", "ratio", "higher",
          f"prefix-cache hits / queries (counter increases) {run}", _WINDOW, _server("prefix_cache_hit_rate"), sec),
        M("server_metrics.ttft_ms.p50", "server: TTFT p50 (its histogram)", "ms", "lower",
          f"median of the server's TTFT histogram's bucket increases (linear inside a bucket) {run}", _QUANTILE,
          _server("ttft_p50_ms"), sec),
        M("server_metrics.ttft_ms.p99", "server: TTFT p99 (its histogram)", "ms", "lower",
          f"p99 of the server's TTFT histogram's bucket increases {run}", _QUANTILE, _server("ttft_p99_ms"), sec),
        M("server_metrics.queue_time_ms.p99", "server: queue time p99 (its histogram)", "ms", "lower",
          f"p99 of the server's queue-time histogram's bucket increases {run}", _QUANTILE,
          _server("queue_time_p99_ms"), sec),
        M("server_metrics.token_mismatch_pct", "server vs client token count mismatch", "%", "lower",
          "the larger of abs(server - client) / client x 100 for prompt and output tokens, the server's counter "
          "increases summed over the run's phases (each from a scrape at its start to one after its end) against "
          "the client's sums for the same requests; above 1 % is a warning", _CHECK,
          _server("token_mismatch_pct"), sec),
    ]
    phase = "over the phase {phase} (a test, a saturation rate, a max-rate probe)"
    out += [
        M("server_metrics.{phase}.requests_waiting_max", "server: waiting requests max, {phase}", "requests",
          "lower", f"largest sample of the server's queue gauge {phase}", _WINDOW,
          _server_phase("requests_waiting_max"), sec),
        M("server_metrics.{phase}.kv_cache_usage_max", "server: KV cache usage max, {phase}", "ratio", "lower",
          f"largest KV-cache usage sample, 0-1, {phase}", _WINDOW, _server_phase("kv_cache_usage_max"), sec),
        M("server_metrics.{phase}.ttft_p99_ms", "server: TTFT p99, {phase}", "ms", "lower",
          f"p99 of the server's TTFT histogram's bucket increases {phase}", _QUANTILE, _server_phase("ttft_p99_ms"),
          sec),
    ]
    return out


def _gpu_telemetry() -> list[Metric]:
    M, sec = Metric, "gpu_telemetry"
    return [
        M("gpu_telemetry.j_per_output_token", "GPU energy per output token", "J/token", "lower",
          "energy of every sampled GPU (NVML's total-energy counter, else the integral of power) over the phases "
          "that generated tokens / the output tokens generated in them (warm-ups included: they drew the power "
          "too)", _GPU, _gpu("j_per_output_token"), sec, summary=True),
        M("gpu_telemetry.mean_power_w", "GPU mean power", "W", "lower",
          "energy of every sampled GPU over the run's phases / their duration", _GPU, _gpu("mean_power_w"), sec,
          summary=True),
        M("gpu_telemetry.energy_j", "GPU energy", "J", "lower", "energy of every sampled GPU over the run's phases",
          _GPU, _gpu("energy_j"), sec),
        M("gpu_telemetry.{phase}.j_per_output_token", "GPU energy per output token, {phase}", "J/token", "lower",
          "energy of every sampled GPU in the phase {phase} / the output tokens generated in it", _PHASE,
          _gpu_phase("j_per_output_token"), sec),
        M("gpu_telemetry.{phase}.mean_power_w", "GPU mean power, {phase}", "W", "lower",
          "energy of every sampled GPU in the phase {phase} / its duration", _PHASE, _gpu_phase("mean_power_w"),
          sec),
        M("gpu_telemetry.{phase}.mean_util_pct", "GPU utilization, {phase}", "%", "higher",
          "mean NVML utilization (a kernel ran in the sampling period) over the samples in the phase {phase}",
          _PHASE, _gpu_phase("mean_util_pct"), sec),
        M("gpu_telemetry.sampler_cpu_s_per_s", "GPU sampler CPU per second", "s/s", "lower",
          "CPU time of the NVML sampler thread / the seconds it sampled (its cost: 0.01 = 1 % of one core)",
          _PHASE, _gpu("sampler_cpu_s_per_s"), sec),
    ]


SERVER_METRICS = _server_metrics()
GPU_TELEMETRY = _gpu_telemetry()
