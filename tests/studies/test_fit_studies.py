"""Issue 9's context checks cover the study prompts: refused before the model loads, naming the setting."""

import json

import pytest

from mm_orch.config import apply_overrides, load_config
from mm_orch.errors import ConfigError
from mm_orch.run.preflight import check_before_load, check_fit, needs


def _cfg(studies):
    return apply_overrides(load_config(), {"studies": studies})


def test_synthetic_shared_prefix_and_multi_turn_lengths_are_checked_before_load():
    too_long = _cfg({"workload": {"input_len": {"mean": 4090}, "output_len": {"mean": 32}}})
    with pytest.raises(ConfigError, match=r"studies.workload.input_len: 4090 prompt \+ 32 output tokens exceed "
                                          r"tiny-qwen2's context of 4096"):
        check_before_load(too_long, "tiny-qwen2", ["workload"])
    check_before_load(too_long, "tiny-qwen2", ["latency"])  # not a study of this run: not checked
    shared = _cfg({"workload": {"kind": "shared_prefix", "shared_prefix": {"prefix_len": 4000, "suffix_len": 90}}})
    with pytest.raises(ConfigError, match="shared_prefix"):
        check_before_load(shared, "tiny-qwen2", ["workload"])
    turns = _cfg({"workload": {"kind": "multi_turn", "multi_turn": {"turns": 20},
                               "input_len": {"mean": 128}, "output_len": {"mean": 100}}})
    with pytest.raises(ConfigError, match=r"multi_turn.*4460 prompt \+ 100 output"):  # 20 x 128 + 19 x 100
        check_before_load(turns, "tiny-qwen2", ["workload"])
    check_before_load(_cfg({}), "tiny-qwen2", ["workload", "context_length"])  # the defaults fit


def test_a_drawn_length_counts_at_its_upper_bound():
    cfg = _cfg({"workload": {"input_len": {"dist": "uniform", "mean": 100, "min": 10, "max": 4095}}})
    with pytest.raises(ConfigError, match="4095 prompt"):
        check_before_load(cfg, "tiny-qwen2", ["workload"])


def test_context_length_bounds_and_text_prompts_of_files_are_counted(tmp_path):
    with pytest.raises(ConfigError, match="studies.context_length.max: 5000 prompt"):
        check_before_load(_cfg({"context_length": {"max": 5000}}), "tiny-qwen2", ["context_length"])
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"prompt": "word " * 50, "answer": "x"}) + "\n")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "word " * 20, "output_len": 8}) + "\n")
    cfg = _cfg({"accuracy": {"tasks": str(tasks), "max_new_tokens": 12},
                "workload": {"kind": "dataset", "dataset": str(prompts)}})

    def words(text):  # a whitespace counter stands in for a tokenizer: the check only adds the numbers
        return len(text.split())

    found = {n.what: (n.prompt_tokens, n.output_tokens) for n in needs(cfg, ["accuracy", "workload"], [], words)}
    assert found == {f"accuracy task 0 ({tasks})": (50, 12), f"{prompts} record 0": (20, 8)}
    with pytest.raises(ConfigError, match=r"accuracy task 0 .*50 prompt \+ 12 output tokens exceed m's context of 60"):
        check_fit(needs(cfg, ["accuracy"], [], words), 60, "m")


def test_cli_refuses_a_study_prompt_that_cannot_fit_with_exit_2(tmp_path, capsys):
    from mm_orch.main import main

    code = main(["--benchmark", "--workload", "synthetic", "--set", "studies.workload.input_len.mean=4090",
                 "--benchmark-output", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "studies.workload.input_len: 4090 prompt" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # refused before anything ran or was written
