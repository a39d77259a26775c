"""Goodput: requests that met every service-level objective (SLO), per second and as a share.

A pure function over per-request records, so the latency, throughput, workload, load and sweep results
all compute it the same way. A failed request never meets the SLOs; a request of one output token has no
TPOT (undefined, not 0) and so cannot miss a TPOT objective.
"""

from __future__ import annotations

from collections.abc import Sequence

from mm_orch.engines.base import RequestRecord
from mm_orch.errors import ConfigError
from mm_orch.report.goodput import GoodputResult
from mm_orch.report.metrics import e2e_ms, tpot_ms, ttft_ms
from mm_orch.settings.slo import SLO, SLO_KEYS

_METRICS = {"ttft_ms": ttft_ms, "tpot_ms": tpot_ms, "e2e_ms": e2e_ms}


def meets(r: RequestRecord, slo: SLO) -> bool:
    if not r.success:
        return False
    for key, bound in slo.objectives().items():
        value = _METRICS[key](r)
        if value is not None and value > bound:
            return False
    return True


def goodput(records: Sequence[RequestRecord], wall_time_s: float, slo: SLO) -> GoodputResult:
    met = sum(meets(r, slo) for r in records)
    ok = [r for r in records if r.success]
    missed = {k: sum(1 for r in ok if (v := _METRICS[k](r)) is not None and v > b)
              for k, b in slo.objectives().items()}
    return GoodputResult(slo=slo, requests=len(records), met=met,
                         share_met=met / len(records) if records else None,
                         goodput_rps=met / wall_time_s if wall_time_s > 0 and records else None,
                         missed_by=missed, failed=len(records) - len(ok))


def goodput_at(records: Sequence[RequestRecord], wall_time_s: float, slo: SLO, percentile: float) -> GoodputResult:
    """goodput() with the SLO's verdict at a percentile: held when every objective is met by at least percentile %
    of the requests (a failed request meets none; one without a TPOT cannot miss a TPOT objective)."""
    g = goodput(records, wall_time_s, slo)
    n = g.requests
    held = n > 0 and all((n - g.failed - missed) * 100 >= percentile * n - 1e-9 for missed in g.missed_by.values())
    return g.model_copy(update={"percentile": percentile, "held": held if n else None})


def parse_slo(items: Sequence[str]) -> dict[str, float]:
    """--slo ttft_ms=200 --slo tpot_ms=50 -> {"ttft_ms": 200.0, "tpot_ms": 50.0}; bad items raise ConfigError."""
    out: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in _METRICS:
            raise ConfigError(f"--slo {item!r}: expected KEY=MS with KEY one of {', '.join(SLO_KEYS)}")
        try:
            out[key] = float(value)
        except ValueError:
            raise ConfigError(f"--slo {item!r}: {value!r} is not a number of milliseconds") from None
        if out[key] <= 0:
            raise ConfigError(f"--slo {item!r}: the bound must be > 0 ms")
    return out
