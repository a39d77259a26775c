"""Trace replay (--trace FILE): a production trace's arrival times and token lengths as the load test's schedule.

load/trace.py reads the file (Mooncake JSONL, Azure LLM inference CSV, BurstGPT CSV, told by content); here each
entry becomes one request of exactly its input length in synthetic token ids, asking for its output length.
Mooncake's hash ids become shared prefixes (PrefixBlocks: one fixed 512-token block per id), so a server's prefix
cache sees the trace's reuse. After the run, the send-time error says how faithfully the client kept the trace's
timing: |sent - trace time|, both from the replay's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mm_orch.benchmark.prompts import make_request
from mm_orch.load.trace import PrefixBlocks, Trace, load_trace, send_time_error
from mm_orch.report.load_parts import SendTimeError, TraceReplay
from mm_orch.settings.open_loop import TraceSettings

if TYPE_CHECKING:
    from mm_orch.engines.base import Engine, GenerationRequest
    from mm_orch.load.results import LoadRecord


def read(settings: TraceSettings) -> Trace:
    return load_trace(settings.path, settings.speed, settings.limit)


def requests_for(trace: Trace, engine: Engine, seed: int, ignore_eos: bool = True
                 ) -> tuple[list[GenerationRequest], str]:
    """One request per trace entry: its input length in synthetic ids (hash ids as shared prefixes), its output
    length asked; (requests, how the prompts were made)."""
    blocks = PrefixBlocks(engine.vocab_token_ids(), seed)
    reqs = [make_request(blocks.token_ids(e.hash_ids, e.input_len, salt=i), e.output_len, ignore_eos)
            for i, e in enumerate(trace.entries)]
    shared = "; Mooncake hash ids as shared 512-token prefix blocks" if any(e.hash_ids for e in trace.entries) else ""
    return reqs, (f"trace {trace.format}: {len(reqs)} synthetic prompts of the trace's input lengths, its output "
                  f"lengths asked{shared}")


def replay_section(trace: Trace, prompts: str, recs: Sequence[LoadRecord], t0_ns: int) -> TraceReplay:
    """The report's account of the replay, with the send-time error of every request sent."""
    sent = sorted(recs, key=lambda r: r.index)
    err = send_time_error([r.due_ns - t0_ns for r in sent], [r.record.start_ns - t0_ns for r in sent])
    return TraceReplay(**trace.summary(), prompts=prompts, send_time_error=SendTimeError(**err) if err["count"]
                       else None)
