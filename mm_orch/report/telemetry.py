"""What the server and the GPUs did during the run: the server_metrics and gpu_telemetry sections (data only).

The client sees latency; these sections say why it was what it was (queue, KV cache, preemptions, power). Times
are seconds from the run's t0 on the same clock as the request timestamps (time.perf_counter_ns), so a point here
lines up with a request there. A value that could not be measured is None with a reason, never 0.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TOKEN_TOLERANCE_PCT = 1.0  # the largest |server - client| / client token count mismatch that passes, percent


class TimelinePoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    t_s: float = Field(description="Time of the scrape, s from the run's t0 (midpoint of the HTTP request).")
    value: float = Field(
        description="The series' value then, summed (or averaged, see aggregation) over label "
        "sets; the unit is the series' own (counters and histograms: running total)."
    )


class SeriesSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Prometheus family name as parsed (counters without the _total suffix).")
    kind: Literal["gauge", "counter", "histogram", "summary", "unknown"] = Field(
        description="Prometheus type from the # TYPE line; unknown (untyped) is treated as a gauge."
    )
    unit: str = Field(
        description="Unit of value, min/mean/max/last and the percentiles, from the name "
        "('s', 'fraction', 'tokens', 'requests', or '' when unknown)."
    )
    source: Literal["vllm", "sglang", "tgi", "user"] = Field(
        description="Whose known series this is, or 'user' for one named with extra_series."
    )
    aggregation: Literal["sum", "mean"] = Field(
        description="How label sets (model_name, engine, ...) were combined: sum, or mean for ratios in [0, 1]."
    )
    label_sets: int = Field(ge=0, description="Most label sets seen in one scrape (1 = a single series).")
    timeline: list[TimelinePoint] = Field(
        description="The run's scrapes, every timeline_stride-th and the last (gauges: the value; counters: "
        "running total; histograms: running observation count)."
    )
    min: float | None = Field(None, description="Gauges: smallest sample in the window, series unit.")
    mean: float | None = Field(
        None,
        description="Gauges: arithmetic mean of the samples in the window "
        "(fixed interval, so a time average), series unit.",
    )
    max: float | None = Field(None, description="Gauges: largest sample in the window, series unit.")
    last: float | None = Field(None, description="Gauges: the last sample in the window, series unit.")
    delta: float | None = Field(
        None,
        description="Counters: increase over the window (resets handled as Prometheus increase() does); "
        "histograms and summaries: observations in the window. Series unit / count.",
    )
    rate_per_s: float | None = Field(None, description="delta / window length, per second.")
    sum_delta: float | None = Field(
        None,
        description="Histograms and summaries: increase of _sum over the window (e.g. seconds or tokens in total).",
    )
    mean_observed: float | None = Field(
        None,
        description="Histograms and summaries: sum_delta / delta, the mean observation in the window, series unit.",
    )
    p50: float | None = Field(
        None,
        description="Histograms: median of the window's bucket deltas, linear "
        "inside the bucket as Prometheus histogram_quantile; series unit.",
    )
    p90: float | None = Field(None, description="Histograms: 90th percentile likewise, series unit.")
    p99: float | None = Field(None, description="Histograms: 99th percentile likewise, series unit.")
    buckets: list[tuple[float, float]] | None = Field(
        None,
        description="Histograms: (finite upper bound le, observations in the window at or below it), "
        "cumulative as Prometheus writes them; the +Inf bucket's count is delta.",
    )
    reason: str | None = Field(
        None, description="Why a statistic above is None (too few scrapes, no observations in the window, ...)."
    )


class TokenCountCheck(BaseModel):
    """The server's own token counters against the client's sums: a tokenizer or counting bug shows here."""

    model_config = ConfigDict(extra="forbid")
    server_prompt_tokens: float | None = Field(
        None, description="Server's prompt-token counter increase over the window, tokens."
    )
    client_prompt_tokens: int | None = Field(None, description="Sum of the client's prompt tokens, tokens.")
    prompt_mismatch_pct: float | None = Field(
        None, description="(server - client) / client * 100, percent; None when either side is missing."
    )
    server_output_tokens: float | None = Field(
        None, description="Server's generation-token counter increase over the window, tokens."
    )
    client_output_tokens: int | None = Field(None, description="Sum of the client's output tokens, tokens.")
    output_mismatch_pct: float | None = Field(
        None, description="(server - client) / client * 100, percent; None when either side is missing."
    )
    prompt_series: str | None = Field(None, description="Series the server prompt count came from.")
    output_series: str | None = Field(None, description="Series the server output count came from.")
    tolerance_pct: float = Field(TOKEN_TOLERANCE_PCT, description="Largest |mismatch| that passes, percent.")
    within_tolerance: bool | None = Field(
        None, description="Both mismatches within tolerance_pct; None when neither could be computed."
    )
    warning: str | None = Field(None, description="One line when a mismatch exceeds tolerance or a count is missing.")


class ServerWindow(BaseModel):
    """The server's own figures over one phase of the run (a test, a saturation rate, a max-rate probe) or over
    the whole measured run: what its queue, KV cache and latency histograms did while the client measured."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="The phase, as the run named it ('load', 'saturation 12 req/s', 'latency', ...); "
                      "'run' for the whole measured run.")
    key: str = Field(description="name as a metric-key fragment (lower case, '_' for anything else).")
    start_s: float = Field(description="Window start, s from t0 (a scrape taken at the phase's start).")
    end_s: float = Field(description="Window end, s from t0 (a scrape taken once the phase's requests ended).")
    requests_running_mean: float | None = Field(None, description="Mean of the running-requests gauge over the "
                                                "window's scrapes (vllm:num_requests_running, sglang:num_running_reqs, "
                                                "tgi_batch_current_size), requests.")
    requests_running_max: float | None = Field(None, description="Largest running-requests sample, requests.")
    requests_waiting_mean: float | None = Field(None, description="Mean of the server's queue gauge "
                                                "(vllm:num_requests_waiting, sglang:num_queue_reqs, tgi_queue_size), "
                                                "requests.")
    requests_waiting_max: float | None = Field(None, description="Largest queue sample, requests.")
    kv_cache_usage_mean: float | None = Field(None, description="Mean KV-cache usage (vllm:kv_cache_usage_perc, "
                                              "sglang:token_usage), fraction 0-1.")
    kv_cache_usage_max: float | None = Field(None, description="Largest KV-cache usage sample, fraction 0-1.")
    preemptions: float | None = Field(None, description="Preemption counter increase (vllm:num_preemptions, "
                                      "sglang:num_retracted_reqs), requests.")
    prefix_cache_hit_rate: float | None = Field(None, description="Prefix-cache hits / queries over the window "
                                                "(counter increases), fraction 0-1.")
    ttft_p50_ms: float | None = Field(None, description="Median of the server's own TTFT histogram over the "
                                      "window (bucket deltas, linear inside a bucket), ms.")
    ttft_p99_ms: float | None = Field(None, description="p99 of the server's TTFT histogram likewise, ms.")
    queue_time_p50_ms: float | None = Field(None, description="Median of the server's queue-time histogram, ms.")
    queue_time_p99_ms: float | None = Field(None, description="p99 of the server's queue-time histogram, ms.")
    itl_p50_ms: float | None = Field(None, description="Median of the server's inter-token-latency histogram, ms.")
    prompt_tokens: float | None = Field(None, description="Server's prompt-token counter increase, tokens.")
    generation_tokens: float | None = Field(None, description="Server's generation-token counter increase, tokens.")
    token_check: TokenCountCheck | None = Field(None, description="Those counters against the client's sums for "
                                                "the window's requests; None when the client sent none.")
    token_mismatch_pct: float | None = Field(None, description="The larger |mismatch| of prompt and output tokens, "
                                             "percent; None without a check.")
    note: str | None = Field(None, description="Why a figure of this window is missing (e.g. no token check: no "
                             "scrape landed between the warm-up's end and the schedule's first request).")


class ServerMetricsSection(BaseModel):
    """The inference server's Prometheus series through the run, on the run's clock."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="The /metrics URL scraped.")
    interval_s: float = Field(description="Scrape interval, s.")
    server: Literal["vllm", "sglang", "tgi", "unknown"] = Field(
        description="Server guessed from the series' prefixes (vllm:, sglang:, tgi_)."
    )
    scrapes: int = Field(ge=0, description="Scrapes that returned Prometheus text.")
    failed_scrapes: int = Field(ge=0, description="Scrapes that failed (connection, HTTP status, not Prometheus).")
    t0_s: float = Field(description="The run's t0 on time.perf_counter, s; every t_s here is relative to it.")
    window_start_s: float | None = Field(None, description="Measured window start, s from t0 (None: whole run).")
    window_end_s: float | None = Field(None, description="Measured window end, s from t0 (None: whole run).")
    window_s: float | None = Field(
        None, description="Length of the window the deltas span (between the bracketing scrapes), s."
    )
    timeline_stride: int = Field(
        1, ge=1, description="Every how many scrapes one point is kept in the timelines (statistics use all)."
    )
    series: dict[str, SeriesSummary] = Field(default_factory=dict, description="Per series name, what it did.")
    token_check: TokenCountCheck | None = Field(None, description="Server token counters against the client's.")
    summary: ServerWindow | None = Field(None, description="The server's figures over the whole measured run "
                                         "(first phase start to last phase end); the token check sums the phases'.")
    windows: list[ServerWindow] = Field(default_factory=list, description="The same per phase of the run: each "
                                        "test, each saturation rate, each max-rate probe gets its server figures.")
    scraper_cpu_s: float | None = Field(None, description="CPU time of the scraper thread (HTTP + parsing), s.")
    warnings: list[str] = Field(
        default_factory=list,
        description="Dead endpoint, non-Prometheus answer, named series never seen, token mismatch: one line each.",
    )


class GpuSample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    t_s: float = Field(description="Time of the sample, s from the run's t0.")
    util_pct: float | None = Field(None, description="GPU utilization (a kernel ran in the last period), percent.")
    mem_used_gib: float | None = Field(None, description="Device memory in use (all processes), GiB (2**30 B).")
    power_w: float | None = Field(
        None,
        description="Board power, W: NVML's instantaneous field where it answers, else its ~1 s average "
        "(which lags a load step by about a second); see power_source.",
    )
    sm_clock_mhz: float | None = Field(None, description="SM clock, MHz.")
    temp_c: float | None = Field(None, description="GPU temperature, degrees C.")
    energy_j: float | None = Field(
        None,
        description="NVML total-energy counter since the sampler started, J; read at energy_hz and at phase ends "
        "only (a read costs ms of CPU), so None in between and where the GPU has no counter.",
    )


class GpuTimeline(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0, description="NVML device index.")
    name: str = Field(description="Device name from NVML.")
    energy_source: Literal["nvml_energy_counter", "power_integral"] = Field(
        description="Energy from NVML's total-energy counter, or the trapezoid integral of the power samples."
    )
    power_source: Literal["instant", "average"] = Field(
        description="power_w from NVML's instantaneous power field, or nvmlDeviceGetPowerUsage (a ~1 s average "
        "on Ampere and later)."
    )
    energy_j: float | None = Field(None, description="Energy used from start to stop, J.")
    mean_power_w: float | None = Field(None, description="energy_j / sampled duration, W.")
    max_power_w: float | None = Field(None, description="Largest power sample, W.")
    mean_util_pct: float | None = Field(None, description="Mean utilization over the samples, percent.")
    max_mem_used_gib: float | None = Field(None, description="Largest memory-used sample, GiB.")
    samples: list[GpuSample] = Field(description="The timeline (every timeline_stride-th sample; boundaries kept).")


class PhaseEnergy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Phase name given to phase() (warmup, measure, rate_4.0, ...).")
    key: str | None = Field(None, description="name as a metric-key fragment (lower case, '_' for anything else).")
    start_s: float = Field(description="Phase start, s from t0.")
    end_s: float = Field(description="Phase end, s from t0.")
    duration_s: float = Field(description="end_s - start_s, s.")
    energy_j: float | None = Field(
        None,
        description="Energy of all sampled GPUs in the phase, J (from the counter: exact to its 100 ms update "
        "step, so a phase of a few seconds can be off by 0.1 s of power).",
    )
    per_gpu_energy_j: list[float | None] = Field(description="Energy per GPU in the phase (order of gpus), J.")
    energy_source: Literal["nvml_energy_counter", "power_integral", "mixed"] = Field(
        description="How energy_j was obtained (mixed: some GPUs had the counter, some not)."
    )
    mean_power_w: float | None = Field(None, description="energy_j / duration_s (all GPUs), W.")
    mean_util_pct: float | None = Field(None, description="Mean utilization of the samples in the phase, percent.")
    output_tokens: int | None = Field(None, description="Output tokens the phase produced (given by the caller): "
                                      "in a run, every token the engine generated in the phase, warm-ups included "
                                      "(they drew the power too).")
    j_per_output_token: float | None = Field(None, description="energy_j / output_tokens, J/token.")
    reason: str | None = Field(None, description="Why energy or J/token is None.")


class GpuTelemetrySection(BaseModel):
    """NVML samples per GPU through the run, energy per phase, and what the sampler itself cost."""

    model_config = ConfigDict(extra="forbid")
    available: bool = Field(description="NVML answered and at least one GPU was sampled.")
    reason: str | None = Field(None, description="Why not available (no NVML library, no GPU, ...).")
    hz: float = Field(description="Requested sampling rate, Hz.")
    energy_hz: float = Field(description="Rate of total-energy counter reads between phase ends, Hz.")
    t0_s: float = Field(description="The run's t0 on time.perf_counter, s; every t_s here is relative to it.")
    duration_s: float | None = Field(None, description="First to last sample, s.")
    samples: int = Field(0, ge=0, description="Sampling rounds taken (each reads every GPU).")
    achieved_hz: float | None = Field(None, description="(samples - 1) / duration_s, Hz.")
    timeline_stride: int = Field(1, ge=1, description="Every how many samples one is kept in gpus[].samples.")
    gpus: list[GpuTimeline] = Field(default_factory=list, description="One timeline per sampled GPU.")
    phases: list[PhaseEnergy] = Field(default_factory=list, description="Energy and mean power per marked phase.")
    energy_j: float | None = Field(None, description="Energy of every sampled GPU over the phases, J.")
    mean_power_w: float | None = Field(None, description="energy_j / the phases' duration (all GPUs), W.")
    output_tokens: int | None = Field(None, description="Output tokens generated in those phases, tokens.")
    j_per_output_token: float | None = Field(None, description="energy_j / output_tokens over the phases that "
                                             "generated tokens, J/token.")
    sampler_cpu_s: float | None = Field(None, description="CPU time of the sampler thread, s.")
    sampler_cpu_s_per_s: float | None = Field(
        None, description="Sampler CPU time per second of sampling (0.01 = 1 % of one core), s/s."
    )
    sample_ms_mean: float | None = Field(None, description="Mean wall time of one sampling round (all GPUs), ms.")
    warnings: list[str] = Field(default_factory=list, description="Fields NVML would not give, and the like.")


class RunPhase(BaseModel):
    """One phase of the run as the runner named it (a test, a throughput level, a saturation rate, a probe)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="The runner's name for the phase ('latency', 'throughput: 4 concurrent', "
                      "'saturation 12 req/s', ...).")
    key: str = Field(description="name as a metric-key fragment (lower case, '_' for anything else).")
    start_s: float = Field(description="Phase start, s from t0 (warm-ups included).")
    end_s: float = Field(description="Phase end, s from t0.")
    window_start_s: float | None = Field(None, description="Open-loop phases: the schedule's start (after the "
                                         "warm-up), s from t0; None for closed-loop phases.")
    window_end_s: float | None = Field(None, description="Open-loop phases: the last request's end, s from t0.")
    requests: int = Field(0, ge=0, description="Requests the engine served in the phase (warm-ups included; "
                          "open-loop phases over HTTP: the schedule's requests).")
    input_tokens: int = Field(0, ge=0, description="Their prompt tokens, tokens.")
    output_tokens: int = Field(0, ge=0, description="Their output tokens, tokens.")


class EngineScheduler(BaseModel):
    """An in-process engine's own scheduler through the run (vLLM: running and waiting requests, KV-cache
    usage), sampled on the run's clock by the telemetry thread; columns of one row per sample."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(description="Where the numbers come from (e.g. vLLM's scheduler in this process, or its "
                        "stats from the engine-core process).")
    t_s: list[float] = Field(description="Sample times, s from t0.")
    running: list[float | None] = Field(description="Requests the scheduler is running, requests.")
    waiting: list[float | None] = Field(description="Requests waiting for the scheduler, requests.")
    kv_cache_usage: list[float | None] = Field(description="KV-cache blocks in use, fraction 0-1.")


class RunTimeline(BaseModel):
    """The run on one time axis (seconds from t0, the clock of the request timestamps), for the timeline plot:
    phases, requests in flight, each request's TTFT, KV cache in use, and the engine's scheduler."""

    model_config = ConfigDict(extra="forbid")
    t0_s: float = Field(description="The run's t0 on time.perf_counter, s (shared with server_metrics and "
                        "gpu_telemetry).")
    phases: list[RunPhase] = Field(default_factory=list, description="The runner's phases, in order.")
    requests: int = Field(0, ge=0, description="Requests on the timeline (every request the engine served, and the "
                          "open-loop requests sent over HTTP).")
    grid_s: list[float] = Field(default_factory=list, description="Instants (s from t0) of in_flight and "
                                "kv_cache_gib: an even grid over the phases, at most 1,000 points.")
    in_flight: list[int] = Field(default_factory=list, description="Requests started and not ended at each grid "
                                 "instant.")
    kv_cache_gib: list[float] | None = Field(None, description="KV cache the requests in flight hold at each grid "
                                             "instant, GiB: (prompt + tokens generated so far, taken as growing "
                                             "evenly from first token to end) x KV bytes per token of the model's "
                                             "config (the formula of memory.kv_cache_gb); None where the model's "
                                             "layout is not known (the openai engine).")
    ttft_t_s: list[float] = Field(default_factory=list, description="Each request's first-token time, s from t0 "
                                  "(evenly thinned to at most 1,000 requests).")
    ttft_ms: list[float] = Field(default_factory=list, description="Its TTFT from send, ms.")
    ttft_from_arrival_ms: list[float | None] = Field(default_factory=list, description="Open-loop requests: TTFT "
                                                     "from the due time (queueing included), ms; None otherwise.")
    engine_scheduler: EngineScheduler | None = Field(None, description="The in-process engine's scheduler, where "
                                                     "the engine exposes it (vLLM).")
