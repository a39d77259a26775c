"""Accuracy: score an engine's greedy answers to tasks with known answers, beside the speed of answering.

Exact match compares the normalised first line of the reply with the answer; numeric match compares the
first number in the reply. Accuracy comes with a 95 % Wilson score interval (sound at 0 and at 1, where
the normal approximation collapses to a zero-width interval).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from mm_orch.benchmark.progress import NullProgress, Progress
from mm_orch.engines.base import Engine, GenerationRequest, RequestRecord, now_ns
from mm_orch.report.metrics import summarize
from mm_orch.report.studies import AccuracyResult, AccuracyRun, Example, Score
from mm_orch.settings.studies import AccuracySettings
from mm_orch.studies.accuracy_tasks import Task, load_tasks

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
DUAL_MODES = ("optimal_sampling", "teacher_only", "theta_only")


def normalise(text: str) -> str:
    """First non-empty line, lower case, punctuation and surrounding quotes dropped, spaces collapsed."""
    line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"[^\w\s-]", " ", line.lower())
    return " ".join(line.split())


def first_number(text: str) -> float | None:
    m = _NUMBER.search(text.replace(",", ""))
    return float(m.group()) if m else None


def exact_match(output: str, answer: str) -> bool:
    return normalise(output) == normalise(answer)


def numeric_match(output: str, answer: str, rel_tol: float = 1e-6) -> bool:
    got, want = first_number(output), first_number(answer)
    return got is not None and want is not None and math.isclose(got, want, rel_tol=rel_tol, abs_tol=1e-9)


def score(task: Task, output: str) -> bool:
    return numeric_match(output, task.answer) if task.kind == "numeric" else exact_match(output, task.answer)


def wilson_interval(correct: int, total: int, z: float = 1.959964) -> tuple[float, float] | None:
    """95 % Wilson score interval of a proportion; None for no trials."""
    if total == 0:
        return None
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    lo = 0.0 if correct == 0 else max(0.0, centre - half)  # exact ends, not rounding noise
    return lo, 1.0 if correct == total else min(1.0, centre + half)


def _score(flags: Sequence[bool]) -> Score:
    ci = wilson_interval(sum(flags), len(flags))
    return Score(correct=sum(flags), total=len(flags), accuracy=sum(flags) / len(flags) if flags else None,
                 ci95_low=ci[0] if ci else None, ci95_high=ci[1] if ci else None)


def score_outputs(tasks: Sequence[Task], outputs: Sequence[str | None]) -> tuple[Score, dict[str, Score]]:
    """Overall and per-kind scores of replies (None = a failed request, wrong)."""
    flags = [o is not None and score(t, o) for t, o in zip(tasks, outputs, strict=True)]
    kinds = sorted({t.kind for t in tasks})
    return _score(flags), {k: _score([f for t, f in zip(tasks, flags, strict=True) if t.kind == k]) for k in kinds}


def _one_pass(engine: Engine, tasks: Sequence[Task], max_new_tokens: int, mode: str,
              progress: Progress) -> AccuracyRun:
    records: list[RequestRecord] = []
    t0 = now_ns()
    for t in tasks:
        records.append(engine.stream(GenerationRequest(prompt=t.prompt, max_new_tokens=max_new_tokens,
                                                       ignore_eos=False, temperature=0.0)))
        progress.advance()
    wall = (now_ns() - t0) / 1e9
    outputs = [r.text if r.success else None for r in records]
    overall, by_kind = score_outputs(tasks, outputs)
    examples = [Example(prompt=t.prompt, answer=t.answer, output=o, correct=o is not None and score(t, o))
                for t, o in list(zip(tasks, outputs, strict=True))[:5]]
    return AccuracyRun(mode=mode, overall=overall, by_kind=by_kind, metrics=summarize(records, wall),
                       examples=examples)


def run_accuracy(engine: Engine, s: AccuracySettings, progress: Progress | None = None) -> AccuracyResult:
    """Score the engine; on an engine with modes (dual), each of optimal sampling, teacher- and theta-only."""
    progress = progress or NullProgress()
    tasks = load_tasks(s.tasks)[: s.limit] if s.limit else load_tasks(s.tasks)
    configured = getattr(engine, "mode", None)
    modes = [configured] if configured else ["default"]
    if configured and s.dual_modes:
        modes = [configured] + [m for m in DUAL_MODES if m != configured]
    runs = []
    try:
        for mode in modes:
            progress.phase(f"accuracy: {mode}", len(tasks))
            if configured:
                engine.mode = mode  # alpha 1 / 0 / the configured method, through the same decode path
            runs.append(_one_pass(engine, tasks, s.max_new_tokens, mode, progress))
    finally:
        if configured:
            engine.mode = configured
    return AccuracyResult(tasks=s.tasks, num_tasks=len(tasks), max_new_tokens=s.max_new_tokens,
                          decoding="greedy (temperature 0), stops at EOS", runs=runs)
