"""--slo is honoured by a test of the run, or refused: never silently ignored.

Goodput (requests meeting every objective) and the SLO's verdict are measured by the throughput test (per point),
the open-loop load test (one rate or a trace, every saturation rate, the max-rate search) and the workload study.
A run with an SLO and none of those is refused (exit 2) naming the tests it ran; so is an objective that a test of
the run cannot judge (TPOT needs two output tokens or more; beam search hands every token over at the end, so it
has no TTFT or TPOT of its own), naming the objective and the setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mm_orch.errors import ConfigError

GOODPUT_TESTS = ("throughput", "load", "workload")


def _one_token(cfg: Any, test: str) -> str | None:
    """The setting that makes every request of `test` one output token long (no TPOT), if one does."""
    if test == "throughput" and cfg.benchmark.throughput.tokens_per_request == 1:
        return "benchmark.throughput.tokens_per_request"
    if test == "load" and cfg.benchmark.load.output_length == 1 and cfg.benchmark.load.trace is None:
        return "benchmark.load.output_length"
    out = cfg.studies.workload.output_len
    if test == "workload" and (out.max == 1 or (out.dist == "fixed" and out.mean == 1)):
        return "studies.workload.output_len"
    return None


def check_slo(cfg: Any, tests: Sequence[str]) -> None:
    """ConfigError naming what cannot be honoured; silent when every objective will be judged."""
    slo = cfg.studies.slo
    load = cfg.benchmark.load
    if load.max_rate_at_slo and "load" in tests and slo is None:
        raise ConfigError("--request-rate max-slo searches the highest rate meeting an SLO: add --slo ttft_ms=... "
                          "(and/or tpot_ms=..., e2e_ms=...)")
    if slo is None:
        return
    objectives = slo.objectives()
    keys = ", ".join(f"{k}={v:g}" for k, v in objectives.items())
    measuring = [t for t in tests if t in GOODPUT_TESTS]
    if not measuring:
        raise ConfigError(f"--slo {keys}: no test of this run ({', '.join(tests)}) measures goodput; the SLO is "
                          "judged by --tests throughput or load (one rate, --request-rate sweep or max-slo) and by "
                          "a workload (--workload / --dataset)")
    for test in measuring:
        setting = _one_token(cfg, test)
        if "tpot_ms" in objectives and setting is not None:
            raise ConfigError(f"--slo tpot_ms={objectives['tpot_ms']:g}: the {test} test asks one output token per "
                              f"request ({setting} = 1), which has no TPOT; ask for 2 or more, or drop tpot_ms")
        beams = cfg.benchmark.generation.num_beams
        judged = [k for k in ("ttft_ms", "tpot_ms") if k in objectives]
        if beams > 1 and test in ("throughput", "workload") and judged:
            raise ConfigError(f"--slo {judged[0]}={objectives[judged[0]]:g}: with beam search "
                              f"(benchmark.generation.num_beams = {beams}) every token arrives at the end, so the "
                              f"{test} test has no {judged[0].split('_')[0].upper()} of its own; judge e2e_ms")
