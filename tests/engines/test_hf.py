import pytest

from mm_orch.engines import GenerationRequest, create_engine, engine_names
from mm_orch.errors import ConfigError


def test_stream_gives_fixed_length_and_monotonic_timestamps(hf_engine):
    r = hf_engine.stream(GenerationRequest(prompt="What is the capital of France?", max_new_tokens=12))
    assert r.success and r.output_tokens == 12 == len(r.output_token_ids) == len(r.token_times_ns)
    assert r.input_tokens == len(hf_engine.encode("What is the capital of France?"))
    times = [r.start_ns, *r.token_times_ns]
    assert all(a < b for a, b in zip(times, times[1:], strict=False))
    assert r.token_times_ns[-1] <= r.end_ns


def test_on_token_callback_sees_every_token(hf_engine):
    seen = []
    r = hf_engine.stream(GenerationRequest(prompt="Hello", max_new_tokens=5), on_token=lambda t, ns: seen.append(t))
    assert seen == r.output_token_ids


def test_batch_greedy_equals_single_requests_despite_left_padding(hf_engine):
    prompts = [[5, 6, 7], list(range(20, 45)), [300, 301, 302, 303, 304, 305]]
    reqs = [GenerationRequest(prompt_token_ids=p, max_new_tokens=10) for p in prompts]
    batch = hf_engine.generate(reqs)
    single = [hf_engine.stream(r) for r in reqs]
    assert [b.output_token_ids for b in batch] == [s.output_token_ids for s in single]
    assert [b.input_tokens for b in batch] == [3, 25, 6]
    assert all(b.batched for b in batch)


def test_sampling_is_seeded(hf_engine):
    req = GenerationRequest(prompt="Once", max_new_tokens=15, temperature=1.0, seed=7)
    a, b = hf_engine.stream(req), hf_engine.stream(req)
    assert a.output_token_ids == b.output_token_ids


def test_vocab_ids_exclude_special_tokens(hf_engine):
    ids = hf_engine.vocab_token_ids()
    special = set(hf_engine.loaded.tokenizer.all_special_ids)
    assert ids and not special & set(ids)


def test_bad_requests_fail_clearly(hf_engine):
    with pytest.raises(ConfigError, match="exactly one of prompt or prompt_token_ids"):
        GenerationRequest()
    with pytest.raises(ConfigError, match="max_new_tokens must be >= 1"):
        GenerationRequest(prompt="x", max_new_tokens=0)
    with pytest.raises(ConfigError, match="empty prompt"):
        hf_engine.stream(GenerationRequest(prompt_token_ids=[], max_new_tokens=2))


def test_engine_registry():
    assert "hf" in engine_names()
    with pytest.raises(ConfigError, match="unknown engine 'nope'"):
        create_engine("nope")


def test_dummy_load_of_registered_architecture():
    from mm_orch.engines.base import CommonSettings
    from mm_orch.engines.hf.engine import HFEngine

    e = HFEngine("gpt2", CommonSettings(device="cpu", load_format="dummy"))
    info = e.load()
    try:
        assert info.num_layers == 12 and info.num_kv_heads == 12 and info.head_dim == 64
        assert 120e6 < info.num_parameters < 130e6
        r = e.stream(GenerationRequest(prompt_token_ids=[1, 2, 3], max_new_tokens=4))
        assert r.success and r.output_tokens == 4
    finally:
        e.close()
