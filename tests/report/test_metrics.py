import numpy as np
import pytest

from mm_orch.engines.base import RequestRecord
from mm_orch.report.metrics import (
    batch_efficiency,
    distribution,
    e2e_ms,
    histogram,
    itl_ms,
    kv_cache_bytes,
    summarize,
    tpot_ms,
    ttft_ms,
)

MS = 1_000_000


def rec(start, times, n_in=10, ok=True):
    return RequestRecord(start_ns=start, end_ns=times[-1] if times else start, token_times_ns=list(times),
                         input_tokens=n_in, output_tokens=len(times), success=ok, error=None if ok else "boom")


def test_request_metrics_follow_published_formulas():
    r = rec(0, [50 * MS, 60 * MS, 75 * MS, 80 * MS])
    assert ttft_ms(r) == 50.0
    assert e2e_ms(r) == 80.0
    assert tpot_ms(r) == pytest.approx((80 - 50) / 3)
    assert itl_ms(r) == [10.0, 15.0, 5.0]


def test_tpot_is_none_for_one_token_and_failures_have_no_latency():
    assert tpot_ms(rec(0, [5 * MS])) is None
    bad = rec(0, [5 * MS], ok=False)
    assert ttft_ms(bad) is None and e2e_ms(bad) is None


def test_distribution_matches_numpy_and_empty_is_none():
    x = np.random.default_rng(0).exponential(3.0, 1000)
    d = distribution(x)
    assert d.count == 1000 and d.mean == pytest.approx(x.mean()) and d.p99 == pytest.approx(np.percentile(x, 99))
    assert d.min <= d.median <= d.p90 <= d.p95 <= d.p99 <= d.max
    assert distribution([]) is None and distribution([None]) is None


def test_histogram_log_bins_count_every_sample():
    x = np.random.default_rng(1).lognormal(0.0, 1.5, 5000)
    h = histogram(x, bins=20)
    assert sum(h.counts) == 5000 and len(h.edges) == 21
    assert h.edges[0] == pytest.approx(x.min()) and h.edges[-1] == pytest.approx(x.max())
    ratios = np.diff(np.log(h.edges))
    assert np.allclose(ratios, ratios[0])  # log-spaced: every bin spans the same factor
    # zero gaps (a batch's tokens arriving together) fall back to linear bins; one value still bins
    z = histogram([0.0, 0.0, 2.0, 4.0], bins=4)
    assert z.edges == [0.0, 1.0, 2.0, 3.0, 4.0] and z.counts == [2, 0, 1, 1]
    assert sum(histogram([3.0, 3.0]).counts) == 2 and histogram([]) is None


def test_summary_throughput_counts_only_completed_requests():
    records = [rec(0, [10 * MS, 20 * MS], n_in=5), rec(0, [10 * MS, 30 * MS, 40 * MS], n_in=7), rec(0, [], ok=False)]
    s = summarize(records, wall_time_s=2.0)
    assert (s.completed, s.failed, s.errors) == (2, 1, ["boom"])
    assert s.output_tokens_per_second == pytest.approx(5 / 2.0)
    assert s.total_tokens_per_second == pytest.approx((5 + 7 + 5) / 2.0)
    assert s.requests_per_second == pytest.approx(1.0)
    assert s.itl_ms.count == 3 and s.ttft_ms.mean == pytest.approx(10.0)
    assert sum(s.itl_histogram.counts) == 3 and s.itl_histogram.edges[0] == pytest.approx(10.0)


def test_summary_of_nothing_is_null_not_zero():
    s = summarize([rec(0, [], ok=False)], 1.0)
    assert s.output_tokens_per_second is None and s.ttft_ms is None and s.requests_per_second is None


def test_batch_efficiency_and_kv_cache_formula():
    assert batch_efficiency(400.0, 8, 100.0) == pytest.approx(0.5)
    assert batch_efficiency(None, 8, 100.0) is None
    # Qwen2.5-3B: 36 layers, 2 KV heads of 128, bf16 -> 36,864 bytes per token
    assert kv_cache_bytes(36, 2, 128, 2, 1) == 36_864
    assert kv_cache_bytes(36, 2, 128, 2, 1000) == 36_864_000
