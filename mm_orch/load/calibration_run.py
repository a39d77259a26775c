"""Measures the calibration (see calibration.py): the async client against the mock server, level by level."""

from __future__ import annotations

import logging
import math
import os

from mm_orch.load.calibration import CONCURRENCY_LEVELS, RATE_LEVELS, machine_description, now_iso
from mm_orch.mock.server import MockProcess, MockTiming
from mm_orch.report.load import Calibration, CalibrationLevel

log = logging.getLogger(__name__)
DEFAULT_MOCK = MockTiming(ttft_ms=80.0, itl_ms=15.0, tokens=64)


def measure_level(engine, mock: MockProcess, kind: str, level: float, workers: int = 1) -> CalibrationLevel:
    """One closed-loop concurrency (rate inf, cap = level) or Poisson rate (3 s of arrivals)."""
    from mm_orch.config import LoadSettings
    from mm_orch.load.dispatch import run_load

    if kind == "concurrency":
        s = LoadSettings(request_rate=math.inf, max_concurrency=int(level), num_requests=max(2 * int(level), 8),
                         warmup_requests=1, workers=workers, output_length=mock.timing.tokens or 64)
    else:
        s = LoadSettings(request_rate=level, num_requests=None, duration_seconds=3.0, warmup_requests=1,
                         workers=workers, output_length=mock.timing.tokens or 64)
    mock.reset()
    r = run_load(engine, s, ["calibration"], calibration=(None, "calibrating"))
    late = (mock.stats().get("first_event_late") or {}).get("median_ms")
    ttft = r.metrics.ttft_ms
    base = mock.timing.ttft_ms + (late or 0.0)
    return CalibrationLevel(kind=kind, level=level, requests=r.metrics.completed + r.metrics.failed,
                            added_ttft_ms=ttft.median - base if ttft else None,
                            added_ttft_p90_ms=ttft.p90 - base if ttft and ttft.p90 is not None else None,
                            mock_late_ms=late,
                            achieved_rps=r.throughput_rps, failed=r.metrics.failed,
                            cores_busy=r.client_cpu.cores_busy if r.client_cpu else None,
                            load_average=os.getloadavg()[0])


def _ok(lv: CalibrationLevel, threshold_ms: float) -> bool:
    return lv.failed == 0 and lv.added_ttft_ms is not None and lv.added_ttft_ms < threshold_ms


def calibrate(threshold_ms: float = 2.0, timing: MockTiming = DEFAULT_MOCK, workers: int = 1,
              concurrency_levels=CONCURRENCY_LEVELS, rate_levels=RATE_LEVELS) -> Calibration:
    """Rising levels until one adds threshold_ms or more: the last one under it is the ceiling."""
    from mm_orch.engines.openai.engine import OpenAIEngine
    from mm_orch.engines.openai.settings import OpenAIEngineSettings

    levels: list[CalibrationLevel] = []
    best: dict[str, float | None] = {"concurrency": None, "rate": None}
    with MockProcess(timing) as mock:
        engine = OpenAIEngine(timing.model, settings=OpenAIEngineSettings(base_url=mock.base_url,
                                                                          served_model=timing.model, api_key_env=""))
        engine.load()
        try:
            for kind, steps in (("concurrency", concurrency_levels), ("rate", rate_levels)):
                for level in steps:
                    lv = measure_level(engine, mock, kind, level, workers)
                    levels.append(lv)
                    log.info("calibration %s %g: added TTFT %s ms", kind, level, lv.added_ttft_ms)
                    if not _ok(lv, threshold_ms):
                        break
                    best[kind] = level
        finally:
            engine.close()
    return Calibration(machine=machine_description(), measured_at=now_iso(), threshold_ms=threshold_ms,
                       mock=timing.model_dump(include={"ttft_ms", "itl_ms", "tokens", "tokens_per_event"}),
                       workers=workers, max_concurrency=int(best["concurrency"]) if best["concurrency"] else None,
                       max_rate_rps=best["rate"], levels=levels)
