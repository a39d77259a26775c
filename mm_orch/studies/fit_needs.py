"""What the study tests ask of the model's context, for benchmark/fit.py's checks (before load and after).

Synthetic lengths are known exactly (a drawn length counts at its upper bound; an unbounded normal or
lognormal draw is not checked). Text prompts (dataset files, accuracy tasks) need a token counter: before
the load, the model's local tokenizer when there is one; after it, the engine's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mm_orch.settings.lengths import LengthSpec

Counter = Callable[[str], int]


def _upper(spec: LengthSpec) -> int | None:
    return spec.mean if spec.dist == "fixed" else spec.max


def _workload(ws: Any, count: Counter | None) -> list[tuple[str, int, int]]:
    n_in, n_out = _upper(ws.input_len), _upper(ws.output_len)
    if ws.kind == "synthetic":
        return [("studies.workload.input_len", n_in, n_out)] if n_in and n_out else []
    if ws.kind == "shared_prefix":
        sp = ws.shared_prefix
        return [("studies.workload.shared_prefix (prefix_len + suffix_len)", sp.prefix_len + sp.suffix_len,
                 ws.output_len.mean)]
    if ws.kind == "multi_turn" and not ws.dataset:  # the last turn's prompt is the whole history
        mt = ws.multi_turn
        if n_in and n_out:
            return [(f"studies.workload.multi_turn ({mt.turns} turns of input_len + output_len: the last turn's "
                     "history)", mt.turns * n_in + (mt.turns - 1) * n_out, n_out)]
        return []
    if not ws.dataset:
        return []
    from mm_orch.studies.dataset_files import parse_dataset

    ds = parse_dataset(ws.dataset)  # a bad file is refused now, before the model loads, counter or not
    if count is None or ds.format != "prompts":  # ShareGPT output lengths come from the replies: checked as built
        return []
    rows = ds.prompts[: ws.num_requests] if ws.num_requests else ds.prompts
    return [(f"{ws.dataset} record {i}", count(r.prompt), r.output_len) for i, r in enumerate(rows)]


def study_needs(cfg: Any, tests: Sequence[str], count: Counter | None) -> list[tuple[str, int, int]]:
    """(what, prompt tokens, output tokens) for each study prompt whose size is known."""
    st = cfg.studies
    out: list[tuple[str, int, int]] = []
    if "workload" in tests:
        out += _workload(st.workload, count)
    if "accuracy" in tests and count is not None:
        from mm_orch.studies.accuracy_tasks import load_tasks

        tasks = load_tasks(st.accuracy.tasks)
        tasks = tasks[: st.accuracy.limit] if st.accuracy.limit else tasks
        out += [(f"accuracy task {i} ({st.accuracy.tasks})", count(t.prompt), st.accuracy.max_new_tokens)
                for i, t in enumerate(tasks)]
    if "context_length" in tests:  # the study doubles up to the limit; its shortest and longest must fit
        cl = st.context_length
        out.append(("studies.context_length.start", cl.start, cl.output_length))
        if cl.max is not None:
            out.append(("studies.context_length.max", cl.max, cl.output_length))
    return out
