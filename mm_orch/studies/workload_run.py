"""Run a workload's jobs on an engine and summarise them: metrics, goodput, and the prefix-cache hit rate."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from mm_orch.benchmark.goodput import SLO, goodput
from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.engines.base import Engine, RequestRecord, now_ns
from mm_orch.report.metrics import distribution, summarize
from mm_orch.report.studies import PrefixCacheResult, WorkloadResult
from mm_orch.settings.studies import WorkloadSettings
from mm_orch.studies.work_items import WorkItem
from mm_orch.studies.workload_jobs import Jobs, build_jobs


def _run_job(engine: Engine, job: list[WorkItem], chained: bool, ignore_eos: bool,
             progress: Progress) -> list[RequestRecord]:
    history: list[int] = []
    out = []
    for it in job:
        if chained:  # the next prompt is everything said so far plus this turn
            it = WorkItem(history + list(it.prompt), it.output_len, conversation=it.conversation, turn=it.turn)
        rec = engine.stream(it.request(ignore_eos))
        out.append(rec)
        progress.advance()
        if chained:
            if not rec.success:
                break  # the conversation cannot go on without its reply
            history = list(it.prompt) + list(rec.output_token_ids)
    return out


def _run_all(engine: Engine, jobs: Jobs, concurrency: int, ignore_eos: bool, progress: Progress
             ) -> tuple[list[RequestRecord], float, bool]:
    serial = concurrency == 1 or not engine.supports_concurrency
    t0 = now_ns()
    if serial:
        records = [r for job in jobs.jobs for r in _run_job(engine, job, jobs.chained, ignore_eos, progress)]
    else:
        lock, records = threading.Lock(), []

        def one(job: list[WorkItem]) -> None:
            recs = _run_job(engine, job, jobs.chained, ignore_eos, progress)
            with lock:
                records.extend(recs)

        with ThreadPoolExecutor(concurrency, thread_name_prefix="workload") as pool:
            list(pool.map(one, jobs.jobs))
    return records, (now_ns() - t0) / 1e9, serial and concurrency > 1


def _prefix_cache(engine: Engine, jobs: Jobs) -> PrefixCacheResult:
    stats = engine.stats().get("prefix_cache")
    if not stats:
        return PrefixCacheResult(hit_rate=None, best_possible=jobs.shared_token_share,
                                 note=f"engine '{engine.name}' does not expose prefix-cache statistics")
    return PrefixCacheResult(hit_rate=stats.get("hit_rate"), prompt_tokens=stats.get("prompt_tokens"),
                             cached_tokens=stats.get("cached_tokens"), best_possible=jobs.shared_token_share,
                             note=None if stats.get("enabled", True) else "prefix caching is off in the engine")


def run_workload(engine: Engine, ws: WorkloadSettings, seed: int = 0, ignore_eos: bool = True,
                 slo: SLO | None = None, progress: Progress | None = None) -> WorkloadResult:
    """Build the workload for this engine, run it once (after one uncounted warm-up request), summarise."""
    progress = progress or NullProgress()
    jobs = build_jobs(ws, engine, seed)
    # one uncounted request, of tokens no workload prompt starts with, so it seeds no prefix cache entry
    engine.stream(WorkItem(engine.vocab_token_ids()[:8], 4).request(ignore_eos))
    if hasattr(engine, "reset_prefix_cache_stats"):  # count this workload's hits only
        engine.reset_prefix_cache_stats()
    progress.phase(f"workload: {jobs.source}", sum(len(j) for j in jobs.jobs))
    records, wall_s, serialized = _run_all(engine, jobs, ws.concurrency, ignore_eos, progress)
    ok = [r for r in records if r.success]
    return WorkloadResult(
        kind=ws.kind, source=jobs.source, requests=len(records), concurrency=ws.concurrency,
        serialized=serialized, input_tokens=distribution(r.input_tokens for r in ok),
        output_tokens=distribution(r.output_tokens for r in ok), fixed_output_length=ignore_eos,
        metrics=summarize(records, wall_s), goodput=goodput(records, wall_s, slo) if slo else None,
        prefix_cache=_prefix_cache(engine, jobs))
