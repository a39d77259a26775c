"""Workloads: seeded lengths, dataset files (format from content, errors with file:line), shared prefixes,
multi-turn histories, run end to end on the real tiny-qwen2 HF engine."""

import json
from pathlib import Path

import numpy as np
import pytest

from mm_orch.errors import ConfigError
from mm_orch.settings.lengths import LengthSpec
from mm_orch.settings.studies import WorkloadSettings
from mm_orch.studies.dataset_files import parse_dataset
from mm_orch.studies.lengths import sample_lengths
from mm_orch.studies.synthetic import shared_prefix_items, shared_token_share, synthetic_items
from mm_orch.studies.workload_jobs import build_jobs
from mm_orch.studies.workload_run import run_workload

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "benchmarks" / "samples"


def test_lengths_are_seeded_clipped_and_follow_their_distribution():
    rng = lambda: np.random.default_rng(7)  # noqa: E731
    spec = LengthSpec(dist="lognormal", mean=200, spread=80, min=16, max=600)
    a, b = sample_lengths(spec, 4000, rng()), sample_lengths(spec, 4000, rng())
    assert a == b and min(a) >= 16 and max(a) <= 600
    assert np.mean(a) == pytest.approx(200, rel=0.05) and np.std(a) == pytest.approx(80, rel=0.1)
    normal = sample_lengths(LengthSpec(dist="normal", mean=100, spread=10), 4000, rng())
    assert np.mean(normal) == pytest.approx(100, rel=0.02)
    uni = sample_lengths(LengthSpec(dist="uniform", min=5, max=9), 2000, rng())
    assert set(uni) == {5, 6, 7, 8, 9}
    assert sample_lengths(LengthSpec(mean=33), 3, rng()) == [33, 33, 33]
    with pytest.raises(ValueError, match="uniform length needs max"):
        LengthSpec(dist="uniform", min=5)


def test_synthetic_items_know_their_exact_input_length():
    items = synthetic_items(list(range(10, 500)), 20, LengthSpec(dist="uniform", min=4, max=40),
                            LengthSpec(mean=8), seed=3)
    assert [len(it.prompt) for it in items] == [it.input_tokens for it in items]
    again = synthetic_items(list(range(10, 500)), 20, LengthSpec(dist="uniform", min=4, max=40),
                            LengthSpec(mean=8), seed=3)
    assert [it.prompt for it in items] == [it.prompt for it in again]
    assert len({it.input_tokens for it in items}) > 5 and {it.output_len for it in items} == {8}


def test_shared_prefix_groups_share_exactly_their_prefix():
    items = shared_prefix_items(list(range(10, 5000)), groups=3, suffixes=4, prefix_len=50, suffix_len=10,
                                output_len=4, seed=1)
    assert len(items) == 12 and all(it.input_tokens == 60 for it in items)
    for g in range(3):
        group = [it.prompt for it in items if it.group == g]
        assert all(p[:50] == group[0][:50] for p in group) and len({tuple(p[50:]) for p in group}) == 4
    assert items[0].prompt[:50] != items[4].prompt[:50]
    # 3 groups x 3 repeats of a 50-token prefix, over 12 x 60 prompt tokens
    assert shared_token_share(items, 50) == pytest.approx(9 * 50 / 720)


def test_dataset_formats_are_told_by_content():
    prompts = parse_dataset(SAMPLES / "prompts.jsonl")
    assert prompts.format == "prompts" and len(prompts.prompts) == 12
    share = parse_dataset(SAMPLES / "sharegpt.json")
    assert share.format == "sharegpt" and len(share.conversations) == 8
    assert all(c.turns[0][0].startswith("Please") for c in share.conversations)  # system turns dropped
    assert max(len(c.turns) for c in share.conversations) > 1
    tasks = parse_dataset(SAMPLES / "tasks.jsonl")
    assert tasks.format == "tasks" and tasks.tasks[0].answer == "74"


@pytest.mark.parametrize("text, line, message", [
    ('{"prompt": "a", "output_len": 4}\n{"prompt": "b", "output_len": 0}\n', 2, "output_len"),
    ('{"prompt": "a", "output_len": 4}\n\n{"prompt": "b"\n', 3, "invalid JSON"),
    ('{"prompt": "a", "output_len": 4}\n{"prompt": "b", "answer": 3}\n', 2, "expected a prompts record"),
    ('{"text": "a"}\n', 1, "unknown record"),
    ('{"prompt": "a", "output_len": 4, "extra": 1}\n', 1, "extra: unknown key"),
    ('[\n {"conversations": [{"from": "human", "value": "hi"}]},\n {"conversations": []}\n]\n', 3, "conversations"),
    ('[\n {"conversations": [{"from": "gpt", "value": "hi"}]}\n]\n', 2, "no .non-empty. user turn"),
])
def test_bad_dataset_names_file_and_line(tmp_path, text, line, message):
    p = tmp_path / "bad.jsonl"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message) as e:
        parse_dataset(p)
    assert str(e.value).startswith(f"{p}:{line}:")


def test_bad_dataset_file_on_the_cli_is_exit_2(tmp_path, capsys):
    from mm_orch.main import main

    p = tmp_path / "bad.jsonl"
    p.write_text('{"prompt": "a", "output_len": 4}\n{"prompt": "", "output_len": 4}\n')
    assert main(["--benchmark", "--dataset", str(p), "--no-progress", "--benchmark-output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{p}:2: prompt" in err and "Traceback" not in err


def test_dataset_workload_counts_tokens_and_uses_reply_lengths(hf_engine):
    ws = WorkloadSettings(kind="dataset", dataset=str(SAMPLES / "sharegpt.json"),
                          output_len=LengthSpec(mean=16, min=2, max=20))
    jobs = build_jobs(ws, hf_engine, 0)
    convs = parse_dataset(SAMPLES / "sharegpt.json").conversations
    first = jobs.jobs[0][0]
    assert first.prompt == convs[0].turns[0][0]
    assert first.input_tokens == len(hf_engine.encode(convs[0].turns[0][0]))
    assert first.output_len == min(20, len(hf_engine.encode(convs[0].turns[0][1])))


def test_prompt_file_workload_end_to_end_with_goodput(hf_engine):
    from mm_orch.benchmark.goodput import SLO

    ws = WorkloadSettings(kind="dataset", dataset=str(SAMPLES / "prompts.jsonl"), num_requests=4)
    r = run_workload(hf_engine, ws, slo=SLO(e2e_ms=1e9))
    lens = [json.loads(x)["output_len"] for x in (SAMPLES / "prompts.jsonl").read_text().splitlines()[:4]]
    assert r.requests == 4 and r.metrics.completed == 4 and r.metrics.output_tokens == sum(lens)
    assert r.goodput.met == 4 and r.goodput.share_met == 1.0
    assert r.goodput.goodput_rps == pytest.approx(4 / r.metrics.wall_time_s)
    assert r.prefix_cache.hit_rate is None and "does not expose" in r.prefix_cache.note


def test_multi_turn_prompt_is_the_whole_history(hf_engine):
    seen = []
    real_stream = hf_engine.stream

    class Spy:  # the real engine, with each request's prompt recorded
        name, supports_concurrency = "hf", False

        def __getattr__(self, k):
            return getattr(hf_engine, k)

        def stream(self, req, on_token=None):
            seen.append(list(req.prompt_token_ids))
            rec = real_stream(req)
            seen.append(rec.output_token_ids)
            return rec

    ws = WorkloadSettings(kind="multi_turn", input_len=LengthSpec(mean=6), output_len=LengthSpec(mean=3))
    ws.multi_turn.conversations, ws.multi_turn.turns = 2, 3
    r = run_workload(Spy(), ws)
    assert r.requests == 6 and r.metrics.completed == 6
    turns = list(zip(seen[2::2], seen[3::2], strict=True))  # after the warm-up request
    (p0, o0), (p1, o1), (p2, _) = turns[:3]
    assert len(p0) == 6 and p1[: 6 + 3] == p0 + o0 and len(p1) == 6 + 3 + 6
    assert p2[: len(p1) + 3] == p1 + o1 and len(p2) == 3 * 6 + 2 * 3
    assert len(turns[3][0]) == 6  # the second conversation starts afresh
    assert r.input_tokens.max == 3 * 6 + 2 * 3
