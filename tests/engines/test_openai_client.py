"""The async OpenAI client against the package's mock server (own process, real loopback HTTP)."""

import asyncio
import statistics

import pytest

from mm_orch.engines.base import GenerationRequest
from mm_orch.engines.openai.client import AsyncOpenAIClient, ClientSettings, spread_tokens
from mm_orch.engines.openai.engine import OpenAIEngine, load_tokenizer_for
from mm_orch.engines.openai.settings import OpenAIEngineSettings
from mm_orch.errors import ConfigError
from mm_orch.mock.server import MockProcess, MockTiming, expected
from mm_orch.report.metrics import itl_ms, tpot_ms, ttft_ms


def _run(base_url, reqs, endpoint="completions", tokenizer=None, timeout_s=30.0, model="mock", concurrent=False):
    async def go():
        c = AsyncOpenAIClient(ClientSettings(base_url=base_url, served_model=model, endpoint=endpoint,
                                             timeout_s=timeout_s), tokenizer)
        try:
            if concurrent:
                return await asyncio.gather(*(c.stream(r) for r in reqs))
            return [await c.stream(r) for r in reqs]
        finally:
            c.close()

    return asyncio.run(go())


def _req(n=16, prompt="Hello there"):
    return GenerationRequest(prompt=prompt, max_new_tokens=n)


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
def test_timing_of_a_known_server_is_measured(endpoint):
    timing = MockTiming(ttft_ms=60, itl_ms=10)
    with MockProcess(timing) as m:
        out = _run(m.base_url, [_req(12) for _ in range(5)], endpoint)
        late = m.stats()
    recs = [s.record for s in out]
    assert all(r.success and r.output_tokens == 12 for r in recs)
    assert all(s.count_source == "usage" and s.events == 12 for s in out)
    want = expected(timing, 12)
    # medians with generous upper bounds: a busy 2-core machine only ever makes things later
    assert want["ttft_ms"] - 1 <= statistics.median(map(ttft_ms, recs)) <= want["ttft_ms"] + 30
    assert want["tpot_ms"] - 1 <= statistics.median(map(tpot_ms, recs)) <= want["tpot_ms"] + 8
    assert 9 <= statistics.median(x for r in recs for x in itl_ms(r)) <= 18
    assert late["requests"] == 5 and late["first_event_late"]["count"] == 5


def test_chunked_events_count_tokens_not_events():
    timing = MockTiming(ttft_ms=40, itl_ms=5, tokens_per_event=4)
    with MockProcess(timing) as m:
        (s,) = _run(m.base_url, [_req(32)])
    r = s.record
    assert s.count_source == "usage" and s.events == 8 and r.output_tokens == 32 and r.batched
    assert len(r.token_times_ns) == 32 and len(set(r.token_times_ns)) == 8  # 4 tokens share each event's time
    gaps = [x for x in itl_ms(r) if x > 0]
    assert len(gaps) == 7 and statistics.median(gaps) >= 19  # events every 4 x 5 ms
    assert tpot_ms(r) == pytest.approx((r.token_times_ns[-1] - r.token_times_ns[0]) / 1e6 / 31)
    assert tpot_ms(r) < 12  # not 4x the truth (6.8 ms), as when counting events as tokens


def test_counts_without_usage_come_from_the_tokenizer_or_the_events():
    tok, note = load_tokenizer_for("tiny-qwen2")
    assert tok is not None and "tiny-qwen2" in note
    with MockProcess(MockTiming(ttft_ms=5, itl_ms=1, tokens_per_event=4, usage=False)) as m:
        (with_tok,) = _run(m.base_url, [_req(16)], tokenizer=tok)
        (bare,) = _run(m.base_url, [_req(16)])
    text = with_tok.record.text
    assert text == "".join(f" t{i}" for i in range(16))
    assert with_tok.count_source == "tokenizer"
    assert with_tok.record.output_tokens == len(tok.encode(text, add_special_tokens=False))
    assert bare.count_source == "events" and bare.record.output_tokens == 4 and bare.events == 4


def test_failed_requests_are_data():
    with MockProcess(MockTiming(ttft_ms=400, itl_ms=1)) as m:
        wrong_model, = _run(m.base_url, [_req(2)], model="gone")
        slow, = _run(m.base_url, [_req(2)], timeout_s=0.1)
        fine, = _run(m.base_url, [_req(2)], timeout_s=5)
    refused, = _run("http://127.0.0.1:9/v1", [_req(2)])
    assert not wrong_model.record.success and "HTTP 404" in wrong_model.record.error
    assert not slow.record.success and "timeout after 0.1 s" in slow.record.error
    assert not refused.record.success and "Error" in refused.record.error
    assert fine.record.success  # the connection pool recovered from the aborted one


def test_api_key_comes_from_the_named_environment_variable(monkeypatch):
    with MockProcess(MockTiming(ttft_ms=1, itl_ms=1, api_key="s3cret")) as m:
        no_key, = _run(m.base_url, [_req(2)])
        monkeypatch.setenv("OPENAI_API_KEY", "s3cret")
        with_key, = _run(m.base_url, [_req(2)])
    assert not no_key.record.success and "HTTP 401" in no_key.record.error
    assert with_key.record.success


def test_spread_tokens():
    assert spread_tokens(8, [1, 1]) == [4, 4]
    assert spread_tokens(3, [5, 5, 5]) == [1, 1, 1]
    assert sum(spread_tokens(64, [12, 16, 16, 16])) == 64 and min(spread_tokens(64, [12, 16, 16, 16])) >= 1
    assert spread_tokens(2, [1, 1, 1]) in ([1, 1, 0], [1, 0, 1], [0, 1, 1])
    assert spread_tokens(5, []) == []


def test_engine_keeps_the_engine_contract_and_reports_counting():
    with MockProcess(MockTiming(ttft_ms=5, itl_ms=1, tokens_per_event=2)) as m:
        e = OpenAIEngine("mock-served", settings=OpenAIEngineSettings(base_url=m.base_url, served_model="mock",
                                                                      endpoint="chat"))
        e.load()
        try:
            recs = e.generate([_req(6), _req(6)]) + [e.stream(_req(4))]
            assert [r.output_tokens for r in recs] == [6, 6, 4] and all(r.success for r in recs)
            stats = e.stats()
            assert stats["token_counts"]["source"] == {"usage": 3} and stats["token_counts"]["tokens_per_event"] == 2
            assert "not a local model" in stats["token_counts"]["tokenizer"] or "no local" in stats["token_counts"][
                "tokenizer"]
            with pytest.raises(ConfigError, match="exact-length prompts need one"):
                e.vocab_token_ids()
        finally:
            e.close()
    with pytest.raises(ConfigError, match="--tokenizer no-such-model"):
        OpenAIEngine("x", settings=OpenAIEngineSettings(tokenizer="no-such-model")).load()
