"""The mock server's GET /metrics: vLLM's series names, with values that move exactly with the requests it serves.

For exact checks of the server-metrics scraper (telemetry/server_metrics.py) in tests, no GPU or vLLM needed:
- vllm:prompt_tokens_total grows by a request's prompt tokens (the usage block's prompt_tokens) when its generation
  starts (after any wait for a slot); vllm:generation_tokens_total by each event's tokens as the event is written;
  vllm:request_success_total by one as a stream's last event is written (a dropped stream is not a success);
- vllm:num_requests_running counts requests generating, vllm:num_requests_waiting those waiting for a slot
  (--max-concurrency); vllm:kv_cache_usage_perc is running / max_concurrency (0 without a cap);
- vllm:num_preemptions_total stays 0 (the mock never preempts);
- histograms, seconds, vLLM's bucket bounds: vllm:time_to_first_token_seconds (first event written - request read),
  vllm:request_queue_time_seconds (slot - read; bounds from 0, finer than vLLM's), vllm:e2e_request_latency_seconds
  (last event - read).
Every series carries model_name="<the served model>", as vLLM's do.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

# vLLM's bounds (vllm/v1/metrics/loggers.py) for TTFT, and for request-level times
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
                40.0, 80.0, 160.0, 640.0, 2560.0)
REQUEST_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
                   480.0, 960.0, 1920.0, 7680.0)
QUEUE_BUCKETS = (0.0, *TTFT_BUCKETS)  # finer than vLLM's (0.3 s first): the mock's waits are often exactly 0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MockMetrics:
    def __init__(self, model: str, max_concurrency: int | None) -> None:
        disable_created_metrics()  # no *_created series (vLLM switches them off too)
        self.registry = r = CollectorRegistry()
        self.cap = max_concurrency
        lab = {"labelnames": ["model_name"], "registry": r}

        def child(metric):
            return metric.labels(model_name=model)

        self.running = child(Gauge("vllm:num_requests_running", "Requests generating.", **lab))
        self.waiting = child(Gauge("vllm:num_requests_waiting", "Requests waiting for a slot.", **lab))
        self.kv = child(Gauge("vllm:kv_cache_usage_perc", "Running / max_concurrency (0 without a cap).", **lab))
        self.prompt = child(Counter("vllm:prompt_tokens", "Prompt tokens of started requests.", **lab))
        self.generation = child(Counter("vllm:generation_tokens", "Output tokens written.", **lab))
        self.success = child(Counter("vllm:request_success", "Requests whose stream ended.", **lab))
        self.preemptions = child(Counter("vllm:num_preemptions", "Always 0: the mock never preempts.", **lab))
        self.ttft = child(Histogram("vllm:time_to_first_token_seconds", "First event - read.",
                                    buckets=TTFT_BUCKETS, **lab))
        self.queue = child(Histogram("vllm:request_queue_time_seconds", "Slot - read.", buckets=QUEUE_BUCKETS,
                                     **lab))
        self.e2e = child(Histogram("vllm:e2e_request_latency_seconds", "Last event - read.",
                                   buckets=REQUEST_BUCKETS, **lab))
        self._running = 0

    def queued(self) -> None:
        self.waiting.inc()

    def started(self, prompt_tokens: int, queued_s: float | None) -> None:
        """Generation starts (queued_s: the wait for a slot, None when the request never queued)."""
        if queued_s is not None:
            self.waiting.dec()
        self.queue.observe(queued_s or 0.0)
        self.prompt.inc(prompt_tokens)
        self._running += 1
        self.running.set(self._running)
        self._kv()

    def tokens(self, n: int, first_s: float | None = None) -> None:
        """n tokens written (first_s: the request's TTFT when this was its first event)."""
        self.generation.inc(n)
        if first_s is not None:
            self.ttft.observe(first_s)

    def ended(self, e2e_s: float, success: bool) -> None:
        self._running -= 1
        self.running.set(self._running)
        self._kv()
        if success:
            self.success.inc()
            self.e2e.observe(e2e_s)

    def _kv(self) -> None:
        self.kv.set(self._running / self.cap if self.cap else 0.0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
