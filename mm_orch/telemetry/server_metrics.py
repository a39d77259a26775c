"""Scrape an inference server's Prometheus /metrics through a run, on the run's clock.

Why: the client sees p99 TTFT double; the server's own series say whether its queue grew, its KV cache filled,
requests were preempted or the prefix cache stopped hitting. Scrapes are timestamped with time.perf_counter_ns
(the clock of the request timestamps), so server and client timelines share one x axis. A dead or non-Prometheus
endpoint only ever yields a warning string: monitoring must never fail a run.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mm_orch.errors import ConfigError
from mm_orch.report.telemetry import (
    TOKEN_TOLERANCE_PCT,
    SeriesSummary,
    ServerMetricsSection,
    TimelinePoint,
    TokenCountCheck,
)


class Known(NamedTuple):
    source: str  # vllm | sglang | tgi
    unit: str
    aggregation: str  # sum | mean (ratios in [0, 1] are averaged over label sets, never summed)


def _table(source: str, unit: str, aggregation: str, names: str) -> dict[str, Known]:
    return {n: Known(source, unit, aggregation) for n in names.split()}


# Family names as prometheus_client's parser gives them: counters without their _total suffix.
# Checked against vLLM v1 (vllm/v1/metrics/loggers.py), SGLang (srt/metrics/collector.py) and TGI
# (docs/source/reference/metrics.md); the older names stay so older servers are read too.
KNOWN_SERIES: dict[str, Known] = {
    **_table(
        "vllm",
        "requests",
        "sum",
        "vllm:num_requests_running vllm:num_requests_waiting "
        "vllm:num_requests_swapped vllm:num_preemptions vllm:request_success",
    ),
    **_table(
        "vllm", "fraction", "mean", "vllm:kv_cache_usage_perc vllm:gpu_cache_usage_perc vllm:gpu_prefix_cache_hit_rate"
    ),
    **_table(
        "vllm",
        "tokens",
        "sum",
        "vllm:prefix_cache_queries vllm:prefix_cache_hits "
        "vllm:gpu_prefix_cache_queries vllm:gpu_prefix_cache_hits vllm:prompt_tokens vllm:generation_tokens "
        "vllm:request_prompt_tokens vllm:request_generation_tokens vllm:prompt_tokens_cached",
    ),
    **_table(
        "vllm",
        "s",
        "sum",
        "vllm:time_to_first_token_seconds vllm:inter_token_latency_seconds "
        "vllm:time_per_output_token_seconds vllm:request_time_per_output_token_seconds "
        "vllm:e2e_request_latency_seconds vllm:request_queue_time_seconds vllm:request_prefill_time_seconds "
        "vllm:request_decode_time_seconds",
    ),
    **_table("sglang", "requests", "sum", "sglang:num_running_reqs sglang:num_queue_reqs sglang:num_retracted_reqs"),
    **_table("sglang", "fraction", "mean", "sglang:token_usage sglang:cache_hit_rate"),
    **_table(
        "sglang",
        "tokens",
        "sum",
        "sglang:num_used_tokens sglang:prompt_tokens sglang:generation_tokens sglang:cached_tokens",
    ),
    **_table("sglang", "tokens/s", "sum", "sglang:gen_throughput"),
    **_table(
        "sglang",
        "s",
        "sum",
        "sglang:time_to_first_token_seconds sglang:inter_token_latency_seconds "
        "sglang:time_per_output_token_seconds sglang:e2e_request_latency_seconds sglang:queue_time_seconds",
    ),
    **_table("tgi", "requests", "sum", "tgi_queue_size tgi_batch_current_size tgi_request_count tgi_request_success"),
    **_table(
        "tgi", "tokens", "sum", "tgi_batch_current_max_tokens tgi_request_input_length tgi_request_generated_tokens"
    ),
    **_table(
        "tgi",
        "s",
        "sum",
        "tgi_request_duration tgi_request_queue_duration "
        "tgi_request_mean_time_per_token_duration tgi_request_inference_duration",
    ),
}

# Where the server counts tokens: a counter (vLLM, SGLang) or a per-request histogram's _sum (TGI).
PROMPT_TOKEN_SERIES = ("vllm:prompt_tokens", "sglang:prompt_tokens", "tgi_request_input_length")
OUTPUT_TOKEN_SERIES = ("vllm:generation_tokens", "sglang:generation_tokens", "tgi_request_generated_tokens")
QUANTILES = (0.5, 0.9, 0.99)
# Sleep between parsed families: the parser is pure Python, and a scrape parsed in one go holds the GIL for
# ~10 ms, late-waking the load generator's event loop in this same process; short sleeps hand the GIL over.
PARSE_PAUSE_S = 0.0001


@dataclass
class Reading:
    """One series in one scrape, label sets already combined."""

    kind: str
    value: float = 0.0  # gauge / counter value; histograms and summaries: observation count
    label_sets: int = 0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count (histograms)
    total: float = 0.0  # _sum of histograms and summaries


@dataclass
class Scrape:
    t_ns: int
    readings: dict[str, Reading]


class ProbeResult(NamedTuple):
    ok: bool
    server: str  # vllm | sglang | tgi | unknown
    detail: str


def default_metrics_url(base_url: str) -> str:
    """The /metrics next to an OpenAI base URL (http://h:8000/v1 -> http://h:8000/metrics)."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[:-3]
    return urlunsplit((parts.scheme, parts.netloc, path + "/metrics", "", ""))


def guess_server(names: Iterable[str]) -> str:
    """vllm, sglang or tgi from the family names' prefixes; unknown when none matches."""
    counts = {"vllm": 0, "sglang": 0, "tgi": 0}
    for n in names:
        for prefix, server in (("vllm:", "vllm"), ("sglang:", "sglang"), ("tgi_", "tgi")):
            if n.startswith(prefix):
                counts[server] += 1
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else "unknown"


def _le(text: str) -> float:
    return math.inf if text in ("+Inf", "Inf", "inf") else float(text)


def _matches(labels: Mapping[str, str], want: Mapping[str, str] | None) -> bool:
    return not want or all(labels.get(k) == v for k, v in want.items())


def _wanted(name: str, keys: Mapping[str, str]) -> bool:
    if name in keys:
        return True
    for suffix in ("_bucket", "_count", "_sum", "_total"):
        if name.endswith(suffix) and name[: -len(suffix)] in keys:
            return True
    return False


def prefilter(text: str, keys: Mapping[str, str]) -> tuple[str, list[str]]:
    """The lines of the wanted families only, and the name on every # TYPE line.

    Why: prometheus_client's parser is pure Python and a vLLM /metrics is 100+ KiB, most of it process, HTTP
    and Python series we drop; parsing only what is kept cuts the scraper's CPU (and GIL time) several-fold."""
    kept: list[str] = []
    typed: list[str] = []
    for line in text.splitlines():
        if not line:
            continue
        if line[0] == "#":
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("TYPE", "HELP"):
                if parts[1] == "TYPE":
                    typed.append(parts[2])
                if _wanted(parts[2], keys):
                    kept.append(line)
            continue
        end = len(line)
        for sep in ("{", " "):
            i = line.find(sep)
            if 0 <= i < end:
                end = i
        if _wanted(line[:end], keys):
            kept.append(line)
    return "\n".join(kept) + "\n" if kept else "", typed


def parse_metrics(
    text: str,
    keys: Mapping[str, str],
    match_labels: Mapping[str, str] | None = None,
    mean_of: Iterable[str] = (),
    pause_s: float | None = None,
) -> tuple[dict[str, Reading], list[str]]:
    """Prometheus text -> {key: Reading} for the families named in keys (family name -> key), and every
    family name seen. Raises ValueError on text that is not Prometheus exposition."""
    readings: dict[str, Reading] = {}
    mean_keys = set(mean_of)
    filtered, seen = prefilter(text, keys)
    families = text_string_to_metric_families(filtered)
    if not seen:  # no # TYPE line: untyped exposition, or not Prometheus at all (the full parse raises)
        families = list(families)
        seen = [f.name for f in families] or [f.name for f in text_string_to_metric_families(text)]
    for fam in families:
        if pause_s is not None:
            time.sleep(pause_s)  # let other threads (the load generator's event loop) take the GIL
        key = keys.get(fam.name)
        if key is None or fam.type in ("info", "stateset", "gaugehistogram"):
            continue
        kind = "gauge" if fam.type == "unknown" else fam.type
        r = Reading(kind)
        for s in fam.samples:
            if not _matches(s.labels, match_labels):
                continue
            suffix = s.name[len(fam.name) :]
            if kind in ("gauge", "counter") and suffix in ("", "_total"):
                r.value += s.value
                r.label_sets += 1
            elif suffix == "_bucket" and kind == "histogram":
                le = _le(s.labels["le"])
                r.buckets[le] = r.buckets.get(le, 0.0) + s.value
            elif suffix == "_count" and kind in ("histogram", "summary"):
                r.value += s.value
                r.label_sets += 1
            elif suffix == "_sum" and kind in ("histogram", "summary"):
                r.total += s.value
        if r.label_sets:
            if key in mean_keys:
                r.value /= r.label_sets
            readings[key] = r
    return readings, seen


def _thin(points: list, stride: int) -> list:
    """Every stride-th point and the last one: long runs keep a plottable, bounded timeline."""
    if stride <= 1 or len(points) <= 2:
        return points
    kept = points[::stride]
    return kept if kept[-1] is points[-1] else [*kept, points[-1]]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile of cumulative (le, count) buckets, linear inside a bucket (Prometheus' rule): the lowest
    bucket starts at 0, a rank in the +Inf bucket answers the largest finite bound. None without observations."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][0] != math.inf or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for i, (le, count) in enumerate(buckets):
        if count >= rank and le != math.inf:
            if i == 0 and le <= 0:
                return le
            in_bucket = count - prev_count
            frac = (rank - prev_count) / in_bucket if in_bucket > 0 else 1.0
            return prev_le + (le - prev_le) * frac
        if le == math.inf:
            return buckets[-2][0] if len(buckets) > 1 else None
        prev_le, prev_count = le, count
    return None


def counter_increase(values: list[float]) -> float:
    """Increase over consecutive readings; a drop is a restart from 0 (as Prometheus' increase())."""
    return sum(b - a if b >= a else b for a, b in zip(values, values[1:], strict=False))


def bucket_increase(readings: list[Reading]) -> dict[float, float]:
    """Per-bucket increase over consecutive histogram readings, restarts handled like counter_increase."""
    out: dict[float, float] = {}
    for a, b in zip(readings, readings[1:], strict=False):
        reset = b.value < a.value
        for le, count in b.buckets.items():
            out[le] = out.get(le, 0.0) + (count if reset else count - a.buckets.get(le, 0.0))
    return out


def _unit_of(name: str) -> str:
    if name.endswith(("_seconds", "_duration")):
        return "s"
    if name.endswith(("_perc", "_usage", "_rate")):
        return "fraction"
    if "tokens" in name:
        return "tokens"
    return ""


def probe(url: str, timeout_s: float = 2.0) -> ProbeResult:
    """Does url answer with Prometheus text? For switching server metrics on by default; never raises."""
    try:
        r = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as e:
        return ProbeResult(False, "unknown", f"{type(e).__name__}: {e}")
    if r.status_code != 200:
        return ProbeResult(False, "unknown", f"HTTP {r.status_code}")
    try:
        names = [f.name for f in text_string_to_metric_families(r.text)]
    except Exception as e:  # the parser raises ValueError and friends on anything that is not exposition text
        return ProbeResult(False, "unknown", f"not Prometheus text ({type(e).__name__}: {str(e)[:80]})")
    if not names:
        return ProbeResult(False, "unknown", "no metric families in the answer")
    server = guess_server(names)
    return ProbeResult(True, server, f"{len(names)} metric families ({server})")


class ServerMetricsScraper:
    """Daemon thread scraping `url` every interval_s on the run's clock; start(), stop() (takes a final
    scrape), mark_window() for the measured phase, summarize() -> ServerMetricsSection.

    extra_series: more family names to keep (counters with or without _total). match_labels: keep only label
    sets with these label values (e.g. {"model_name": "m"}); by default every label set is combined.
    """

    def __init__(
        self,
        url: str,
        interval_s: float = 1.0,
        extra_series: Iterable[str] = (),
        *,
        timeout_s: float | None = None,
        match_labels: Mapping[str, str] | None = None,
        clock: Callable[[], int] = time.perf_counter_ns,
        max_timeline_points: int = 2000,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"server metrics URL must be http(s)://...: {url!r}")
        if not interval_s > 0:
            raise ConfigError(f"server metrics interval must be > 0 s, got {interval_s}")
        self.url, self.interval_s = url, float(interval_s)
        self.timeout_s = timeout_s if timeout_s is not None else max(0.5, min(5.0, 2 * self.interval_s))
        self.match_labels = dict(match_labels) if match_labels else None
        self.extra_series = tuple(extra_series)
        self.max_timeline_points = max(2, max_timeline_points)
        self.pause_s: float | None = PARSE_PAUSE_S
        self._clock = clock
        self._keys = {n: n for n in KNOWN_SERIES}
        for n in self.extra_series:
            self._keys[n] = n
            if n.endswith("_total"):  # the parser names a counter family without _total
                self._keys[n[: -len("_total")]] = n
        self._mean_keys = [n for n, k in KNOWN_SERIES.items() if k.aggregation == "mean"]
        self.scrapes: list[Scrape] = []
        self.failures: dict[str, int] = {}
        self.families_seen: set[str] = set()
        self.cpu_ns = 0
        self.window: tuple[int, int] | None = None
        self.started_ns: int | None = None
        self._scrape_lock = threading.Lock()  # one scrape (and one HTTP client user) at a time
        self._lock = threading.Lock()  # guards the lists above; never held across I/O
        self._stop = threading.Event()
        self._wake = threading.Event()  # stop(), or request_scrape(): scrape now, off the caller's thread
        self.requested: list[int] = []  # times of the scrapes request_scrape() asked for
        self.requested_done = threading.Event()  # set once the scrape request_scrape() asked for is over
        self._requested = False
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None

    # -- collection --------------------------------------------------------------------------------------

    def start(self) -> ServerMetricsScraper:
        self.started_ns = self._clock()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="server-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and take a final scrape, so the window's end has a reading after it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.scrape_now()
        self.close()

    def close(self) -> None:
        """Close the HTTP client (stop() does; call it after scrape_now() used without start())."""
        with self._scrape_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> ServerMetricsScraper:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        interval_ns = int(self.interval_s * 1e9)
        next_ns = self._clock()
        self.scrape_now()
        while not self._stop.is_set():
            now = self._clock()
            while next_ns <= now:  # the next tick of the grid (a slow scrape skips the ticks it overran)
                next_ns += interval_ns
            self._wake.wait((next_ns - now) / 1e9)
            self._wake.clear()
            if self._stop.is_set():
                break
            asked, self._requested = self._requested, False
            t = self.scrape_at()
            if asked and t is not None:
                with self._lock:
                    self.requested.append(t)
            if asked:
                self.requested_done.set()

    def request_scrape(self) -> None:
        """Ask the thread for a scrape now, without waiting for it (e.g. as an open-loop schedule starts: the
        caller's event loop must not block); its time lands in `requested`."""
        self.requested_done.clear()
        self._requested = True
        self._wake.set()

    def times(self) -> list[int]:
        """When each successful scrape so far was taken (run's clock, in order)."""
        with self._lock:
            return [s.t_ns for s in self.scrapes]

    def scrape_now(self) -> bool:
        """One scrape now (thread-safe); True when it returned Prometheus text. Failures become warnings."""
        return self.scrape_at() is not None

    def scrape_at(self) -> int | None:
        """One scrape now (thread-safe); its time on the run's clock, or None when it failed (a warning)."""
        with self._scrape_lock:
            cpu0 = time.thread_time_ns()
            try:
                return self._scrape()
            finally:
                self.cpu_ns += time.thread_time_ns() - cpu0

    def _scrape(self) -> int | None:
        if self._client is None:  # one keep-alive connection for the whole run
            self._client = httpx.Client(timeout=self.timeout_s)
        t_send = self._clock()
        try:
            resp = self._client.get(self.url)
        except Exception as e:  # httpx.HTTPError mostly; anything else must not end the run either
            return self._fail(f"{type(e).__name__}: {e}")
        t_recv = self._clock()
        if resp.status_code != 200:
            return self._fail(f"HTTP {resp.status_code}")
        try:
            readings, names = parse_metrics(resp.text, self._keys, self.match_labels, self._mean_keys, self.pause_s)
        except Exception as e:  # the parser's ValueError and friends: the endpoint does not speak Prometheus
            return self._fail(f"not Prometheus text ({type(e).__name__}: {str(e)[:80]})")
        if not names:
            return self._fail("not Prometheus text (no metric families)")
        t = (t_send + t_recv) // 2
        with self._lock:
            self.families_seen.update(names)
            self.scrapes.append(Scrape(t, readings))  # in time order: scrapes never overlap (_scrape_lock)
        return t

    def _fail(self, reason: str) -> None:
        with self._lock:
            self.failures[reason] = self.failures.get(reason, 0) + 1
        return None

    def mark_window(self, start_ns: int, end_ns: int) -> None:
        """The measured phase on the run's clock: deltas, gauge statistics and percentiles cover it."""
        if end_ns < start_ns:
            raise ConfigError(f"window ends before it starts ({end_ns} < {start_ns})")
        self.window = (start_ns, end_ns)

    # -- results -----------------------------------------------------------------------------------------

    def _snapshot(self) -> tuple[list[Scrape], dict[str, int], set[str]]:
        with self._lock:
            return list(self.scrapes), dict(self.failures), set(self.families_seen)

    @staticmethod
    def _bracket(scrapes: list[Scrape], window: tuple[int, int] | None) -> tuple[int, int]:
        """Indices of the last scrape at or before the window's start and the first at or after its end."""
        if window is None:
            return 0, len(scrapes) - 1
        start, end = window
        i0 = max((i for i, s in enumerate(scrapes) if s.t_ns <= start), default=0)
        i1 = min((i for i, s in enumerate(scrapes) if s.t_ns >= end), default=len(scrapes) - 1)
        return i0, max(i0, i1)

    def _window_readings(self, key: str, scrapes: list[Scrape], i0: int, i1: int) -> list[Reading]:
        rs = [s.readings[key] for s in scrapes[i0 : i1 + 1] if key in s.readings]
        if rs and key not in scrapes[i0].readings:  # appeared inside the window: it started from 0
            first = rs[0]
            rs.insert(0, Reading(first.kind, buckets=dict.fromkeys(first.buckets, 0.0)))
        return rs

    def _series(
        self,
        key: str,
        scrapes: list[Scrape],
        t0_ns: int,
        bracket: tuple[int, int],
        window: tuple[int, int] | None,
        stride: int,
    ) -> SeriesSummary:
        i0, i1 = bracket
        present = [(s.t_ns, s.readings[key]) for s in scrapes if key in s.readings]
        kind = present[-1][1].kind
        known = KNOWN_SERIES.get(key)
        out = SeriesSummary(
            name=key,
            kind=kind if kind in ("gauge", "counter", "histogram", "summary") else "unknown",
            unit=known.unit if known else _unit_of(key),
            source=known.source if known else "user",
            aggregation=known.aggregation if known else "sum",
            label_sets=max(r.label_sets for _, r in present),
            timeline=[TimelinePoint(t_s=round((t - t0_ns) / 1e9, 9), value=r.value) for t, r in _thin(present, stride)],
        )
        window_s = (scrapes[i1].t_ns - scrapes[i0].t_ns) / 1e9
        if kind == "gauge":
            lo, hi = window if window else (scrapes[0].t_ns, scrapes[-1].t_ns)
            vals = [r.value for t, r in present if lo <= t <= hi]
            if not vals:  # a window shorter than the interval: the scrapes around it
                vals = [r.value for r in self._window_readings(key, scrapes, i0, i1)]
                out.reason = "no scrape inside the window; statistics from the scrapes around it"
            if vals:
                out.min, out.max, out.last = min(vals), max(vals), vals[-1]
                out.mean = sum(vals) / len(vals)
            return out
        rs = self._window_readings(key, scrapes, i0, i1)
        if len(rs) < 2:
            out.reason = "fewer than two scrapes around the window; no delta"
            return out
        out.delta = counter_increase([r.value for r in rs])
        out.rate_per_s = out.delta / window_s if window_s > 0 else None
        if kind in ("histogram", "summary"):
            out.sum_delta = counter_increase([r.total for r in rs])
            out.mean_observed = out.sum_delta / out.delta if out.delta > 0 else None
        if kind == "histogram":
            inc = sorted(bucket_increase(rs).items())
            out.buckets = [(le, c) for le, c in inc if le != math.inf]
            out.p50, out.p90, out.p99 = (histogram_quantile(q, inc) for q in QUANTILES)
            if out.p50 is None:
                out.reason = "no observations in the window"
        return out

    def token_check(
        self, client_prompt_tokens: int | None, client_output_tokens: int | None, window: tuple[int, int] | None = None
    ) -> TokenCountCheck:
        """Server prompt/generation token increases over the window against the client's sums."""
        scrapes = self._snapshot()[0]
        window = window if window is not None else self.window
        check = TokenCountCheck(
            client_prompt_tokens=client_prompt_tokens,
            client_output_tokens=client_output_tokens,
            tolerance_pct=TOKEN_TOLERANCE_PCT,
        )
        problems = []
        for side, names, client in (
            ("prompt", PROMPT_TOKEN_SERIES, client_prompt_tokens),
            ("output", OUTPUT_TOKEN_SERIES, client_output_tokens),
        ):
            server, series = self._token_delta(scrapes, names, window)
            setattr(check, f"server_{side}_tokens", server)
            setattr(check, f"{side}_series", series)
            if server is None:
                problems.append(f"the server reports no {side}-token counter")
            elif not client:
                problems.append(f"no client {side} tokens to compare")
            else:
                pct = (server - client) / client * 100.0
                setattr(check, f"{side}_mismatch_pct", pct)
                if abs(pct) > TOKEN_TOLERANCE_PCT:
                    problems.append(f"{side} tokens: server {server:g} vs client {client} ({pct:+.2f} %)")
        pcts = [p for p in (check.prompt_mismatch_pct, check.output_mismatch_pct) if p is not None]
        if pcts:
            check.within_tolerance = all(abs(p) <= TOKEN_TOLERANCE_PCT for p in pcts)
        if problems:
            check.warning = "token count check: " + "; ".join(problems)
        return check

    def _token_delta(
        self, scrapes: list[Scrape], names: tuple[str, ...], window: tuple[int, int] | None
    ) -> tuple[float | None, str | None]:
        if not scrapes:
            return None, None
        i0, i1 = self._bracket(scrapes, window)
        for name in names:
            rs = self._window_readings(name, scrapes, i0, i1)
            if len(rs) >= 2:
                use_sum = rs[-1].kind in ("histogram", "summary")  # TGI: per-request histograms' _sum
                return counter_increase([r.total if use_sum else r.value for r in rs]), name
        return None, None

    def summarize(
        self,
        t0_ns: int | None = None,
        *,
        window: tuple[int, int] | None = None,
        client_prompt_tokens: int | None = None,
        client_output_tokens: int | None = None,
    ) -> ServerMetricsSection:
        """The section: per series its timeline (t_s from t0_ns; default the window's start, else the first
        scrape) and window statistics; the token check when client counts are given."""
        scrapes, failures, families = self._snapshot()
        window = window if window is not None else self.window
        if t0_ns is None:
            t0_ns = window[0] if window else scrapes[0].t_ns if scrapes else self.started_ns or 0
        section = ServerMetricsSection(
            url=self.url,
            interval_s=self.interval_s,
            server=guess_server(families),
            scrapes=len(scrapes),
            failed_scrapes=sum(failures.values()),
            t0_s=t0_ns / 1e9,
            scraper_cpu_s=self.cpu_ns / 1e9,
            warnings=self._warnings(scrapes, failures),
        )
        if window:
            section.window_start_s = (window[0] - t0_ns) / 1e9
            section.window_end_s = (window[1] - t0_ns) / 1e9
        if scrapes:
            i0, i1 = self._bracket(scrapes, window)
            section.window_s = (scrapes[i1].t_ns - scrapes[i0].t_ns) / 1e9
            keys = dict.fromkeys(k for s in scrapes for k in s.readings)
            stride = max(1, math.ceil(len(scrapes) / self.max_timeline_points))
            section.timeline_stride = stride
            section.series = {k: self._series(k, scrapes, t0_ns, (i0, i1), window, stride) for k in keys}
        if client_prompt_tokens is not None or client_output_tokens is not None:
            section.token_check = self.token_check(client_prompt_tokens, client_output_tokens, window)
            if section.token_check.warning:
                section.warnings.append(section.token_check.warning)
        return section

    def _warnings(self, scrapes: list[Scrape], failures: dict[str, int]) -> list[str]:
        total = len(scrapes) + sum(failures.values())
        out = [f"server metrics {self.url}: {n} of {total} scrapes failed: {reason}" for reason, n in failures.items()]
        if not scrapes:
            out.append(f"server metrics {self.url}: no scrape succeeded; no server-side figures")
            return out
        kept = {k for s in scrapes for k in s.readings}
        if not kept & set(KNOWN_SERIES):
            out.append(f"server metrics {self.url}: none of the known vLLM / SGLang / TGI series")
        for name in self.extra_series:
            if name not in kept:
                out.append(f"server metrics {self.url}: series {name!r} never seen")
        return out
