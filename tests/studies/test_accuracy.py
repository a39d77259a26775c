"""Accuracy: scoring on known replies, the Wilson interval, task files, and the run on real engines."""

import pytest

from mm_orch.errors import ConfigError
from mm_orch.settings.studies import AccuracySettings
from mm_orch.studies.accuracy import (
    exact_match,
    numeric_match,
    run_accuracy,
    score_outputs,
    wilson_interval,
)
from mm_orch.studies.accuracy_tasks import Task, builtin_tasks, load_tasks


def test_builtin_tasks_are_deterministic_and_correct():
    tasks = builtin_tasks()
    assert len(tasks) == 300 and tasks == builtin_tasks.__wrapped__()
    assert {t.kind for t in tasks} == {"numeric", "exact"}
    for t in tasks[:180]:  # arithmetic: recompute every answer from the question
        expr = t.prompt.split("What is ")[1].split("?")[0]
        assert int(t.answer) == eval(expr)  # noqa: S307 - our own generated "a op b"
    backwards = [t for t in tasks if "backwards" in t.prompt]
    assert backwards and all(t.prompt.split("'")[1][::-1] == t.answer for t in backwards)


@pytest.mark.parametrize("output, answer, ok", [
    ("Paris.", "paris", True), ("  \n'Cold'\nmore text", "cold", True), ("cold and dark", "cold", False),
    ("S", "s", True), ("tenalp!", "tenalp", True), ("", "x", False),
])
def test_exact_match(output, answer, ok):
    assert exact_match(output, answer) is ok


@pytest.mark.parametrize("output, answer, ok", [
    (" 74", "74", True), ("The answer is 1,024.", "1024", True), ("-11 apples", "-11", True),
    ("74.0", "74", True), ("7 4", "74", False), ("none", "3", False), ("0.3333333", "0.3333333", True),
])
def test_numeric_match(output, answer, ok):
    assert numeric_match(output, answer) is ok


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    lo, hi = wilson_interval(0, 300)  # a random model: 0 correct, yet not a zero-width interval
    assert lo == 0.0 and hi == pytest.approx(0.01264, abs=1e-4)
    assert wilson_interval(5, 5)[1] == 1.0 and wilson_interval(0, 0) is None


def test_scores_by_kind_with_a_failed_request():
    tasks = [Task("q1", "4", "numeric"), Task("q2", "cold", "exact"), Task("q3", "9", "numeric"),
             Task("q4", "up", "exact")]
    overall, by_kind = score_outputs(tasks, ["4\n", "Cold.", None, "down"])
    assert (overall.correct, overall.total, overall.accuracy) == (2, 4, 0.5)
    assert by_kind["numeric"].correct == 1 and by_kind["exact"].correct == 1
    assert overall.ci95_low < 0.5 < overall.ci95_high


def test_task_file_and_wrong_kind_of_file(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"prompt": "2+2=", "answer": 4}\n{"prompt": "Capital of France?", "answer": "Paris"}\n')
    tasks = load_tasks(str(p))
    assert [(t.answer, t.kind) for t in tasks] == [("4", "numeric"), ("Paris", "exact")]
    q = tmp_path / "p.jsonl"
    q.write_text('{"prompt": "hi", "output_len": 3}\n')
    with pytest.raises(ConfigError, match="expected a task file"):
        load_tasks(str(q))


def test_accuracy_end_to_end_on_hf(hf_engine):
    r = run_accuracy(hf_engine, AccuracySettings(limit=12, max_new_tokens=6))
    assert r.num_tasks == 12 and [x.mode for x in r.runs] == ["default"]
    run = r.runs[0]
    assert run.overall.total == 12 and run.metrics.completed == 12
    assert run.overall.ci95_low <= (run.overall.accuracy or 0) <= run.overall.ci95_high
    assert 0 < run.metrics.output_tokens <= 12 * 6 and run.metrics.ttft_ms.count == 12
    # the scores are those of the replies: re-score the examples
    tasks = builtin_tasks()[:5]
    assert [e.correct for e in run.examples] == [
        e.output is not None and score_outputs([t], [e.output])[0].correct == 1
        for t, e in zip(tasks, run.examples, strict=True)]


def test_accuracy_on_the_dual_engine_compares_its_modes():
    from mm_orch.config import Config, apply_overrides
    from mm_orch.engines.base import engine_class

    cfg = apply_overrides(Config(), {"engine": {"name": "dual", "device": "cpu"}})
    eng = engine_class("dual").from_config("tiny-qwen2", cfg)
    eng.info = eng.load()
    try:
        r = run_accuracy(eng, AccuracySettings(limit=6, max_new_tokens=5))
        assert [x.mode for x in r.runs] == ["optimal_sampling", "teacher_only", "theta_only"]
        assert eng.mode == "optimal_sampling"  # restored
        assert eng.info.extra["last_generate"]["alpha"]["mean"] == 0.0  # the last pass really was theta-only
        teacher, theta = r.runs[1].examples, r.runs[2].examples
        assert [e.output for e in teacher] != [e.output for e in theta]  # two different models answered
    finally:
        eng.close()
