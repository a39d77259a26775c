"""Turn the workload settings into jobs for an engine: lists of WorkItems, run in order within a job.

A job is one request, or one multi-turn conversation whose turns must run in order (each turn's prompt
is the whole history so far). Text prompts are counted with the engine's tokenizer, so every request's
input token count is known before it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mm_orch.engines.base import Engine
from mm_orch.errors import ConfigError
from mm_orch.settings.studies import WorkloadSettings
from mm_orch.studies.dataset_files import DatasetFile, parse_dataset
from mm_orch.studies.synthetic import multi_turn_turns, shared_prefix_items, shared_token_share, synthetic_items
from mm_orch.studies.work_items import WorkItem, count_tokens


@dataclass(slots=True)
class Jobs:
    jobs: list[list[WorkItem]]
    chained: bool  # multi-turn: a turn's prompt is the history plus its own tokens
    source: str  # what the requests came from, for the report
    shared_token_share: float | None = None  # shared-prefix: the best hit rate a prefix cache could reach
    notes: list[str] = field(default_factory=list)


def _clip(n: int, ws: WorkloadSettings) -> int:
    lo, hi = ws.output_len.min, ws.output_len.max
    return max(lo, min(n, hi)) if hi is not None else max(lo, n)


def _limit(rows: list, ws: WorkloadSettings) -> list:
    return rows[: ws.num_requests] if ws.num_requests else rows


def _from_dataset(ds: DatasetFile, ws: WorkloadSettings, engine: Engine) -> list[WorkItem]:
    if ds.format == "prompts":
        items = [WorkItem(r.prompt, r.output_len) for r in _limit(ds.prompts, ws)]
    elif ds.format == "sharegpt":  # first user turn; the reference reply's token length is the output length
        items = [WorkItem(c.turns[0][0], _clip(len(engine.encode(c.turns[0][1])) if c.turns[0][1]
                                                else ws.output_len.mean, ws))
                 for c in _limit(ds.conversations, ws)]
    else:
        raise ConfigError(f"{ds.path}: a task file ({{prompt, answer}}) is for the accuracy study, not a workload")
    return count_tokens(items, engine.encode)


def _conversations(ds: DatasetFile, ws: WorkloadSettings, engine: Engine) -> list[list[WorkItem]]:
    if ds.format != "sharegpt":
        raise ConfigError(f"{ds.path}: multi_turn needs a ShareGPT file, not {ds.format}")
    out = []
    for c, conv in enumerate(_limit(ds.conversations, ws)):
        turns = []
        for t, (user, reply) in enumerate(conv.turns):
            ids = engine.encode(user)
            if not ids:
                continue
            n_out = _clip(len(engine.encode(reply)) if reply else ws.output_len.mean, ws)
            turns.append(WorkItem(ids, n_out, input_tokens=len(ids), conversation=c, turn=t))
        out.append(turns)
    return out


def build_jobs(ws: WorkloadSettings, engine: Engine, seed: int) -> Jobs:
    seed = ws.seed if ws.seed is not None else seed
    if ws.kind == "dataset":
        ds = parse_dataset(ws.dataset)
        return Jobs([[it] for it in _from_dataset(ds, ws, engine)], False, f"{ds.format}:{ws.dataset}")
    vocab = engine.vocab_token_ids()
    if ws.kind == "shared_prefix":
        sp = ws.shared_prefix
        items = shared_prefix_items(vocab, sp.groups, sp.suffixes, sp.prefix_len, sp.suffix_len,
                                    ws.output_len.mean, seed)
        return Jobs([[it] for it in items], False, f"shared_prefix:{sp.groups}x{sp.suffixes}",
                    shared_token_share(items, sp.prefix_len))
    if ws.kind == "multi_turn":
        if ws.dataset:
            return Jobs(_conversations(parse_dataset(ws.dataset), ws, engine), True, f"multi_turn:{ws.dataset}")
        mt = ws.multi_turn
        convs = multi_turn_turns(vocab, mt.conversations, mt.turns, ws.input_len, ws.output_len, seed)
        return Jobs(convs, True, f"multi_turn:{mt.conversations}x{mt.turns}")
    items = synthetic_items(vocab, ws.num_requests or 16, ws.input_len, ws.output_len, seed)
    return Jobs([[it] for it in items], False, f"synthetic:{ws.input_len.dist}")
