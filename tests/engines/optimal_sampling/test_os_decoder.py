"""The dual decoder on tiny CPU models: equal to Transformers, exact reductions, lockstep, independence."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM

from mm_orch.engines.optimal_sampling import OptimalSamplingV1, qwen2
from mm_orch.engines.optimal_sampling.sampling import sample, token_keys
from mm_orch.engines.optimal_sampling.state import alloc_model_state, left_pad
from mm_orch.errors import ConfigError

TEACHER = ["Problem: 12 + 30. Answer: 42. Explain the steps:", "Say hello"]
THETA = ["Problem: 12 + 30. Explain:", "Hello, a longer theta prompt than the teacher's one"]
T = 0.9


@pytest.fixture(scope="module")
def os_pair():
    return OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cpu")


@pytest.fixture(scope="module")
def hf_models(os_pair):
    def load(lm):
        return AutoModelForCausalLM.from_pretrained(str(lm.path), dtype=torch.float32).eval()

    return load(os_pair.teacher), load(os_pair.theta)


def _hf_logprobs(model, prompt: list[int], gen: list[int], vocab: int) -> torch.Tensor:
    """log pi(y_j | prompt, y_<j) after temperature, by one forward over [prompt + y]."""
    ids = torch.tensor([prompt + gen])
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt) - 1: -1, :vocab]
    lp = torch.log_softmax(logits / T, -1)
    return lp.gather(-1, torch.tensor(gen)[:, None])[:, 0]


def test_own_forward_equals_transformers_logits(os_pair, hf_models):
    w, hf = os_pair.teacher.weights, hf_models[0]
    seqs = [[5, 17, 200, 33, 9, 71, 640], [88, 3, 501]]
    ids, mask, pos = left_pad(seqs, 8, 0, "cpu")
    st = alloc_model_state(w.dims, 2, 8, 16, "cpu", torch.float32)
    ours = qwen2.logits(w, qwen2.prefill(w, ids, pos, mask, st.kv), w.dims.vocab)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask.long(), position_ids=pos).logits
    assert torch.allclose(ours[mask], ref[mask], atol=1e-4), (ours[mask] - ref[mask]).abs().max()
    # one decode step against a full forward of the extended sequences
    st.bias[:, :8].masked_fill_(mask, 0.0)
    st.pos.copy_(mask.sum(-1))
    st.slot.fill_(8)
    st.bias.index_fill_(1, st.slot, 0.0)
    tok = torch.tensor([42, 7])
    dec = qwen2.logits(w, qwen2.decode(w, tok, st.pos, st.slot, st.bias, st.kv, 16), w.dims.vocab)
    ids2 = torch.cat([ids, tok[:, None]], 1)
    mask2 = torch.cat([mask, torch.ones(2, 1, dtype=torch.bool)], 1)
    with torch.no_grad():
        ref2 = hf(input_ids=ids2, attention_mask=mask2.long(), position_ids=torch.cat([pos, st.pos[:, None]], 1))
    assert torch.allclose(dec, ref2.logits[:, -1], atol=1e-4)


def test_alpha_one_and_zero_are_teacher_and_theta_sampling(os_pair, hf_models):
    kw = dict(prompts=TEACHER, theta_prompts=THETA, max_tokens=12, temperature=T, seed=5, stop_at_eos=False)
    teacher_only = os_pair.generate(**kw, mode="teacher_only").generated_ids
    theta_only = os_pair.generate(**kw, mode="theta_only").generated_ids
    os_pair.alpha_method, os_pair.fixed_alpha = "fixed", 1.0
    try:
        a1 = os_pair.generate(**kw).generated_ids
        os_pair.fixed_alpha = 0.0
        a0 = os_pair.generate(**kw).generated_ids
    finally:
        os_pair.alpha_method, os_pair.fixed_alpha = "kl_symmetry", 0.5
    assert a1 == teacher_only and a0 == theta_only and teacher_only != theta_only
    # teacher-only equals an independent sampler: Transformers forward + the same noise, row by row
    vocab, keys = os_pair.decoder.vocab, token_keys(os_pair.decoder.vocab, "cpu")
    t_ids, _ = os_pair.encode_pair(TEACHER, THETA)
    seeds = [(5 * 1_000_003 + i) & 0x7FFFFFFF for i in range(2)]
    for row in range(2):
        ids = list(t_ids[row])
        for step in range(12):
            with torch.no_grad():
                logits = hf_models[0](torch.tensor([ids])).logits[0, -1, :vocab]
            lr = torch.log_softmax(logits / T, -1)[None]
            ids.append(int(sample(lr, torch.tensor([seeds[row]]), torch.tensor([step]), keys, False)))
        assert ids[len(t_ids[row]):] == teacher_only[row]


def test_identical_models_give_the_single_model_output():
    same = OptimalSamplingV1("tiny-qwen2", "tiny-qwen2", device="cpu")
    kw = dict(prompts=TEACHER, max_tokens=10, temperature=T, seed=1, stop_at_eos=False)
    out = same.generate(**kw)
    assert out.generated_ids == same.generate(**kw, mode="teacher_only").generated_ids
    assert all(a == 0.5 for row in out.alpha_values for a in row)
    assert abs(out.alpha_stats["divergences"]["kl_star"]) < 1e-6


def test_lockstep_rescoring_matches_logged_logprobs(os_pair, hf_models):
    out = os_pair.generate(prompts=TEACHER, theta_prompts=THETA, max_tokens=16, temperature=T, seed=3,
                           return_token_records=True, stop_at_eos=False)
    t_ids, th_ids = os_pair.encode_pair(TEACHER, THETA)
    vocab = os_pair.decoder.vocab
    for row, rec in enumerate(out.token_records):
        y = rec["token_id"]
        lr = _hf_logprobs(hf_models[0], t_ids[row], y, vocab)
        lp = _hf_logprobs(hf_models[1], th_ids[row], y, vocab)
        assert torch.allclose(lr, torch.tensor(rec["logp_teacher"]), atol=1e-4)
        assert torch.allclose(lp, torch.tensor(rec["logp_theta"]), atol=1e-4)
        a = torch.tensor(rec["alpha"])
        assert ((a > 0.05) & (a < 0.95)).all()
        # log q(y) = (1-a) lp + a lr - log Z with log Z <= 0 (Hölder)
        num = (1 - a) * lp + a * lr
        log_z = num - torch.tensor(rec["logq"])
        assert (log_z <= 1e-5).all()  # Hölder: sum p^(1-a) r^a <= 1


def test_rows_do_not_depend_on_batch_mates(os_pair):
    kw = dict(max_tokens=10, temperature=T, return_token_records=True, stop_at_eos=False)
    alone = os_pair.generate(prompts=TEACHER[:1], theta_prompts=THETA[:1], seed=9, **kw)
    mates = os_pair.generate(prompts=[TEACHER[0], "x " * 40], theta_prompts=[THETA[0], "y"], seed=9, **kw)
    assert alone.generated_ids[0] == mates.generated_ids[0]
    for k in ("logq", "logp_theta", "logp_teacher", "alpha"):
        assert torch.allclose(torch.tensor(alone.token_records[0][k]), torch.tensor(mates.token_records[0][k]),
                              atol=1e-5)


def test_clear_errors(os_pair, tmp_path):
    with pytest.raises(ConfigError, match="theta_prompts has 1 entries but prompts has 2"):
        os_pair.generate(prompts=TEACHER, theta_prompts=THETA[:1], max_tokens=2)
    with pytest.raises(ConfigError, match="non-empty list"):
        os_pair.generate(prompts=[], max_tokens=2)
    with pytest.raises(ConfigError, match="empty"):
        os_pair.generate(prompts=["fine", ""], max_tokens=2)
    with pytest.raises(ConfigError, match=r"fixed alpha must lie in \[0, 1\], got 1.5"):
        OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", alpha_method="fixed", fixed_alpha=1.5, device="cpu")
    with pytest.raises(ConfigError, match="unknown alpha method 'newton'"):
        OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", alpha_method="newton", device="cpu")
    # a theta whose tokenizer maps one token to another id
    other = tmp_path / "other-theta"
    shutil.copytree(os_pair.theta.path, other)
    tj = json.loads((other / "tokenizer.json").read_text())
    vocab = tj["model"]["vocab"]
    a, b = list(vocab)[300], list(vocab)[301]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (other / "tokenizer.json").write_text(json.dumps(tj))
    with pytest.raises(ConfigError, match="different tokenizers"):
        OptimalSamplingV1("tiny-qwen2", str(other), device="cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_run_matches_eager_run():
    kw = dict(prompts=TEACHER, theta_prompts=THETA, max_tokens=40, temperature=T, seed=2, stop_at_eos=False,
              return_token_records=True)
    g = OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cuda", dtype="float32").generate(**kw)
    e = OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cuda", dtype="float32", cuda_graphs=False,
                          compile=False).generate(**kw)
    assert g.generated_ids == e.generated_ids
    # the two forwards one after the other (overlap off): the same kernels on the same inputs, so the same bits
    s = OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cuda", dtype="float32", overlap=False)
    o = s.generate(**kw)
    assert o.generated_ids == g.generated_ids and o.token_records == g.token_records


def test_theta_on_its_own_device_gives_the_same_tokens(os_pair):
    """The split chain (split.py) on CPU, both 'devices' the same: only the hand-offs differ."""
    kw = dict(prompts=TEACHER, theta_prompts=THETA, max_tokens=12, temperature=T, seed=4, stop_at_eos=False,
              return_token_records=True)
    split = OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cpu", theta_device="cpu")
    assert split.decoder.split and split.decoder.theta_device == "cpu"
    a, b = split.generate(**kw), os_pair.generate(**kw)
    assert a.generated_ids == b.generated_ids
    for k in ("logq", "logp_theta", "logp_teacher", "alpha"):
        assert torch.allclose(torch.tensor([r[k] for r in a.token_records]),
                              torch.tensor([r[k] for r in b.token_records]), atol=1e-6)
    theta_only = dict(kw, mode="theta_only")
    assert split.generate(**theta_only).generated_ids == os_pair.generate(**theta_only).generated_ids


def test_theta_device_out_of_range_is_a_config_error():
    with pytest.raises(ConfigError, match="cuda:7"):
        OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cpu", theta_device="cuda:7")


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_two_gpus_match_one_gpu():
    kw = dict(prompts=TEACHER, theta_prompts=THETA, max_tokens=300, temperature=T, seed=2, stop_at_eos=False,
              return_token_records=True)
    one = OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cuda", dtype="float32", cuda_graphs=False,
                            compile=False).generate(**kw)
    two = OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cuda", dtype="float32",
                            theta_device="cuda:1").generate(**kw)
    assert two.generated_ids == one.generated_ids


def test_fused_sdpa_attention_gives_the_same_tokens(os_pair):
    """attention="sdpa" (one fused kernel per layer) against matmul + softmax + matmul, on CPU."""
    kw = dict(prompts=TEACHER, theta_prompts=THETA, max_tokens=16, temperature=T, seed=5, stop_at_eos=False,
              return_token_records=True)
    fused = OptimalSamplingV1("tiny-qwen2", "tiny-qwen2-small", device="cpu", attention="sdpa")
    a, b = fused.generate(**kw), os_pair.generate(**kw)
    assert a.generated_ids == b.generated_ids
    assert torch.allclose(torch.tensor([r["logq"] for r in a.token_records]),
                          torch.tensor([r["logq"] for r in b.token_records]), atol=1e-4)
