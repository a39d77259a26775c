"""ThroughputBenchmark: sequential single requests, N concurrent clients, and batches, each for a duration."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel, ConfigDict

from mm_orch.benchmark.goodput import SLO, goodput
from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.benchmark.prompts import Prompt, make_request
from mm_orch.engines.base import Engine, RequestRecord, now_ns
from mm_orch.errors import ConfigError
from mm_orch.report.goodput import GoodputResult
from mm_orch.report.metrics import MetricsSummary, summarize


class ThroughputResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: str  # single | concurrent | batch
    level: int  # concurrency or batch size (1 for single)
    tokens_per_second: float | None  # output tokens / wall time
    total_tokens_per_second: float | None  # (input + output) tokens / wall time
    requests_per_second: float | None
    tokens_per_request: int
    serialized: bool = False  # the engine ran concurrent requests one at a time
    source: str | None = None  # "latency": the latency test's headline requests, not measured again
    metrics: MetricsSummary
    goodput: GoodputResult | None = None  # requests meeting every SLO, when SLOs are given


class ThroughputBenchmark:
    def __init__(self, duration_seconds: float = 60, tokens_per_request: int = 100, min_requests: int = 1,
                 ignore_eos: bool = True, progress: Progress | None = None, warmup_tokens: int = 16,
                 slo: SLO | None = None, sampling: dict | None = None) -> None:
        if duration_seconds <= 0 or tokens_per_request < 1:
            raise ConfigError("duration_seconds must be > 0 and tokens_per_request >= 1")
        self.duration_s, self.tokens = duration_seconds, tokens_per_request
        self.min_requests, self.ignore_eos = min_requests, ignore_eos
        self.progress = progress or NullProgress()
        # One short uncounted call per phase, so a new batch shape's compile/autotune is not timed.
        self.warmup_tokens = warmup_tokens
        self.slo = slo
        self.sampling = sampling or {}  # GenerationSettings.request_kwargs(); {} = greedy

    def _warmup(self, engine: Engine, prompts: Sequence[Prompt], batch_size: int = 1) -> None:
        if self.warmup_tokens < 1:
            return
        req = make_request(prompts[0], min(self.warmup_tokens, self.tokens), self.ignore_eos, **self.sampling)
        engine.generate([req] * batch_size) if batch_size > 1 else engine.stream(req)

    def _requests(self, prompts: Sequence[Prompt]):
        if not prompts:
            raise ConfigError("throughput needs at least one prompt")
        return [make_request(p, self.tokens, self.ignore_eos, **self.sampling) for p in prompts]

    def _result(self, mode: str, level: int, records: list[RequestRecord], wall_s: float,
                serialized: bool = False) -> ThroughputResult:
        m = summarize(records, wall_s)
        return ThroughputResult(mode=mode, level=level, tokens_per_second=m.output_tokens_per_second,
                                total_tokens_per_second=m.total_tokens_per_second,
                                requests_per_second=m.requests_per_second, tokens_per_request=self.tokens,
                                serialized=serialized, metrics=m,
                                goodput=goodput(records, wall_s, self.slo) if self.slo else None)

    def _until_done(self, t0: int, n_done: int) -> bool:
        return (now_ns() - t0) / 1e9 >= self.duration_s and n_done >= self.min_requests

    def single_from_latency(self, m: MetricsSummary) -> ThroughputResult:
        """The single-request point from the latency test's headline: the same requests (prompts, output
        length, sampling), one at a time, back to back, so running them again would measure the same thing."""
        return ThroughputResult(mode="single", level=1, tokens_per_second=m.output_tokens_per_second,
                                total_tokens_per_second=m.total_tokens_per_second,
                                requests_per_second=m.requests_per_second, tokens_per_request=self.tokens,
                                source="latency", metrics=m)

    def measure_single_request(self, engine: Engine, prompts: Sequence[Prompt]) -> ThroughputResult:
        """One request at a time, back to back, for duration_seconds."""
        reqs = self._requests(prompts)
        self._warmup(engine, prompts)
        records: list[RequestRecord] = []
        t0 = now_ns()
        while not self._until_done(t0, len(records)):
            records.append(engine.stream(reqs[len(records) % len(reqs)]))
            self.progress.advance()
        return self._result("single", 1, records, (now_ns() - t0) / 1e9)

    def measure_concurrent(self, engine: Engine, prompts: Sequence[Prompt], num_concurrent: int = 4
                           ) -> ThroughputResult:
        """num_concurrent closed-loop clients, each sending its next request when the last one ends.

        Each request's start is when its client sent it, so TTFT and E2E include time spent queueing.
        """
        if num_concurrent < 1:
            raise ConfigError(f"num_concurrent must be >= 1, got {num_concurrent}")
        reqs = self._requests(prompts)
        self._warmup(engine, prompts)
        if not engine.supports_concurrency:
            return self._concurrent_serialized(engine, reqs, num_concurrent)
        records: list[RequestRecord] = []
        lock = threading.Lock()
        t0 = now_ns()

        def client(k: int) -> None:
            i = k
            while True:
                with lock:
                    if self._until_done(t0, len(records)):
                        return
                rec = engine.stream(reqs[i % len(reqs)])
                i += num_concurrent
                with lock:
                    records.append(rec)
                self.progress.advance()

        with ThreadPoolExecutor(num_concurrent, thread_name_prefix="client") as pool:
            list(pool.map(client, range(num_concurrent)))
        return self._result("concurrent", num_concurrent, records, (now_ns() - t0) / 1e9)

    def _concurrent_serialized(self, engine: Engine, reqs: list, num_concurrent: int) -> ThroughputResult:
        """Closed-loop clients against an engine that runs one request at a time, replayed in this thread.

        Such an engine would run the clients' requests one by one in arrival order anyway; doing that here
        gives the same schedule without client threads, whose CPU work (OpenMP regions started from a second
        thread) ran 2.2x slower than the same work on the main thread for tiny-qwen2.
        """
        queue = deque((k, now_ns()) for k in range(num_concurrent))  # (client, when it sent its request)
        sent = [0] * num_concurrent
        records: list[RequestRecord] = []
        t0 = queue[0][1]
        while not self._until_done(t0, len(records)):
            k, sent_ns = queue.popleft()
            rec = engine.stream(reqs[(k + sent[k] * num_concurrent) % len(reqs)])
            rec.start_ns = min(rec.start_ns, sent_ns)  # the client has been waiting since it sent it
            sent[k] += 1
            records.append(rec)
            queue.append((k, now_ns()))
            self.progress.advance()
        return self._result("concurrent", num_concurrent, records, (now_ns() - t0) / 1e9,
                            serialized=num_concurrent > 1)

    def measure_batch(self, engine: Engine, prompts: Sequence[Prompt], batch_size: int = 8) -> ThroughputResult:
        """Batches of batch_size requests through engine.generate(), back to back, for duration_seconds."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        reqs = self._requests(prompts)
        self._warmup(engine, prompts, batch_size)
        records: list[RequestRecord] = []
        t0 = now_ns()
        while not self._until_done(t0, len(records)):
            k = len(records)
            batch = [reqs[(k + j) % len(reqs)] for j in range(batch_size)]
            records.extend(engine.generate(batch))
            self.progress.advance()
        return self._result("batch", batch_size, records, (now_ns() - t0) / 1e9)
