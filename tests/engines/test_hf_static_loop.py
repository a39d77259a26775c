"""The static-cache decode loop (CUDA graphs on GPU) gives generate's tokens: checked eagerly on CPU against
Transformers' generate on tiny-qwen2, and on a GPU graph replay against the same loop run eagerly."""

import pytest
import torch

from mm_orch.engines import GenerationRequest
from mm_orch.engines.base import CommonSettings
from mm_orch.engines.cpu_threads import CLEAR_WIN
from mm_orch.engines.hf.engine import HFEngine
from mm_orch.engines.hf.graphs import Sampling, StaticDecoder
from mm_orch.engines.hf.settings import HFEngineSettings

PROMPTS = [[5, 6, 7], list(range(20, 45)), [300, 301, 302, 303, 304, 305]]


@pytest.fixture(scope="module")
def static_engine():
    engine = HFEngine("tiny-qwen2", CommonSettings(device="cpu"), HFEngineSettings(decode_loop="static"))
    engine.info = engine.load()
    yield engine
    engine.close()


def _requests(n: int, **kw) -> list[GenerationRequest]:
    return [GenerationRequest(prompt_token_ids=p, max_new_tokens=n, **kw) for p in PROMPTS]


def test_static_loop_is_reported_and_generate_stays_default_on_cpu(static_engine, hf_engine):
    assert static_engine.info.extra["decode_loop"] == "static"
    assert static_engine.info.extra["cuda_graphs"] is False
    assert static_engine.stats()["decode_loop"]["shapes_captured"] >= 1
    assert hf_engine.info.extra["decode_loop"] == "generate" and "decode_loop" not in hf_engine.stats()


def test_cpu_threads_are_chosen_on_the_first_request_and_reported(hf_engine):
    hf_engine.threads_before_test = torch.get_num_threads()
    hf_engine.stream(GenerationRequest(prompt="Hi", max_new_tokens=2))
    chosen = hf_engine.stats()["cpu_threads"]
    assert chosen["setting"] == "auto"
    assert torch.get_num_threads() == hf_engine.threads_before_test  # given back between calls
    if chosen["probe_ms"] is None:  # a busy machine: one thread without a probe, and the report says so
        assert chosen["threads"] == 1 and "busy" in chosen["note"]
        return
    probes = {int(n): ms for n, ms in chosen["probe_ms"].items()}
    assert chosen["threads"] in probes and all(ms > 0 for ms in probes.values())
    if len(probes) == 2:  # both timed: all cores only when clearly faster
        every = max(probes)
        assert chosen["threads"] == (every if probes[every] <= CLEAR_WIN * probes[1] else 1)


def test_greedy_tokens_equal_generate_with_left_padding(static_engine, hf_engine):
    ours = static_engine.generate(_requests(24))
    theirs = hf_engine.generate(_requests(24))
    assert [r.output_token_ids for r in ours] == [r.output_token_ids for r in theirs]
    assert [r.input_tokens for r in ours] == [3, 25, 6]
    assert all(r.batched and r.output_tokens == 24 == len(r.token_times_ns) for r in ours)


def test_stream_times_and_callback(static_engine, hf_engine):
    seen: list[int] = []
    r = static_engine.stream(GenerationRequest(prompt="What is the capital of France?", max_new_tokens=16),
                             on_token=lambda t, ns: seen.append(t))
    ref = hf_engine.stream(GenerationRequest(prompt="What is the capital of France?", max_new_tokens=16))
    assert r.success and seen == r.output_token_ids == ref.output_token_ids
    times = [r.start_ns, *r.token_times_ns]
    assert all(a < b for a, b in zip(times, times[1:], strict=False)) and times[-1] <= r.end_ns


def test_eos_stops_each_row_like_generate(static_engine, hf_engine):
    """Make a greedy token of row 0 (its first new one after step 1) the EOS: that row stops there."""
    free = static_engine.generate(_requests(12))
    toks = free[0].output_token_ids
    k = next(i for i in range(2, 12) if toks[i] not in toks[:i])
    eos = toks[k]
    model = static_engine.loaded.model
    rows = [list(p) for p in PROMPTS]
    out = StaticDecoder(model, use_graphs=False).generate(rows, 12, Sampling(), {eos}, False, 0)
    padded = hf_engine.loaded.tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="pt")
    with torch.inference_mode():
        ref = model.generate(**padded, max_new_tokens=12, do_sample=False, eos_token_id=eos, pad_token_id=0,
                             temperature=None, top_p=None, top_k=None)[:, padded["input_ids"].shape[1]:].tolist()
    assert out.tokens[0] == toks[:k + 1]
    for ours, theirs in zip(out.tokens, ref, strict=True):
        assert ours == theirs[:len(ours)]
        assert all(t == 0 for t in theirs[len(ours):])  # generate pads what we leave out


def test_sampling_is_seeded_and_top_k_1_is_greedy(static_engine):
    req = GenerationRequest(prompt="Once", max_new_tokens=15, temperature=1.0, top_p=0.9, seed=7)
    a, b = static_engine.stream(req), static_engine.stream(req)
    other = static_engine.stream(GenerationRequest(prompt="Once", max_new_tokens=15, temperature=1.0, top_p=0.9,
                                                   seed=8))
    assert a.output_token_ids == b.output_token_ids != other.output_token_ids
    top1 = static_engine.stream(GenerationRequest(prompt="Once", max_new_tokens=15, temperature=1.0, top_k=1))
    greedy = static_engine.stream(GenerationRequest(prompt="Once", max_new_tokens=15))
    assert top1.output_token_ids == greedy.output_token_ids


def test_processors_the_loop_lacks_fall_back_to_generate():
    engine = HFEngine("tiny-qwen2", CommonSettings(device="cpu"), HFEngineSettings(decode_loop="static"))
    engine.manager.prepare(engine.model_config)
    try:
        loaded = engine.manager.load(engine.model_config)
        loaded.model.generation_config.repetition_penalty = 1.1
        assert engine._wants_static_loop(loaded) is False
        assert "repetition_penalty=1.1" in engine.decode_note
    finally:
        engine.close()


@pytest.mark.gpu
def test_cuda_graph_replay_matches_the_eager_loop():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    engine = HFEngine("tiny-qwen2", CommonSettings(device="cuda", load_format="dummy"))
    info = engine.load()
    try:
        assert info.extra["decode_loop"] == "static" and info.extra["cuda_graphs"] is True
        model = engine.loaded.model
        rows = [list(p) for p in PROMPTS]
        eager = StaticDecoder(model, use_graphs=False).generate(rows, 40, Sampling(), set(), True, 0)
        graphs = StaticDecoder(model, use_graphs=True).generate(rows, 40, Sampling(), set(), True, 0)
        assert graphs.tokens == eager.tokens
        via_engine = engine.generate(_requests(40))
        assert [r.output_token_ids for r in via_engine] == eager.tokens
    finally:
        engine.close()
