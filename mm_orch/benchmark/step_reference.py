"""The step reference: a fixed small decode, timed between measured requests, so that a CPU-time figure can be
divided by what the same kind of work cost at that moment on this machine.

Why: on a shared machine, CPU time per token of an in-process CPU engine is far less inflated by other
processes than wall time, but not immune: on this 2-core VM tiny-qwen2's CPU ms per token moved 1.4-1.7x
with other jobs (shared caches, the hypervisor's scheduling of the vCPUs) and 1.7x between processes at the
same load. A reference only helps if it suffers the same way. Measured across 7 processes at load averages
6.5-7.6 (reports/ci_gate.md): the numpy/python machine reference (gate/machine_reference.py) moved
differently from the model by +-12 %, a hand-written torch decode by +-12 %, and this one, Transformers'
generate() on a fixed Qwen2 of tiny-qwen2's shapes (random weights from a fixed seed), by +-6.5 %.

What it is not: mm_orch's own code. The model is built here from a fixed config with Transformers directly,
not through mm_orch's model manager or an engine, so a regression in mm_orch (an engine's decode loop, its
streamer, its settings) shows in the model's figure and not in the reference's; a change of torch or
Transformers can change both, and the baseline gate refuses another version of either.

`sample()` returns (wall ms, process-CPU ms) like gate.machine_reference.ReferenceWorkload. It runs on one
torch thread and leaves torch's thread count and random state as it found them.
"""

from __future__ import annotations

import time
from typing import Any

STEP_REFERENCE_VERSION = 2


class StepReference:
    """Greedy generate() of `tokens` tokens from an 8-token prompt on a fixed random Qwen2 (~4 ms a token)."""

    def __init__(self, tokens: int = 4, hidden: int = 128, layers: int = 4, vocab: int = 1024) -> None:
        import torch
        from transformers import Qwen2Config, Qwen2ForCausalLM

        self.tokens = tokens
        self.version = STEP_REFERENCE_VERSION
        self.id = f"mm_orch-step-v{STEP_REFERENCE_VERSION}:qwen2-h{hidden}-l{layers}-v{vocab}:gen{tokens}"
        config = Qwen2Config(hidden_size=hidden, intermediate_size=3 * hidden, num_attention_heads=4,
                             num_hidden_layers=layers, num_key_value_heads=2, vocab_size=vocab,
                             max_position_embeddings=256, tie_word_embeddings=True)
        with torch.random.fork_rng():  # the fixed weights leave the caller's random state alone
            torch.manual_seed(1234)
            self._model: Any = Qwen2ForCausalLM(config).eval()
        self._torch = torch
        self._ids = torch.tensor([[5, 17, 33, 64, 101, 250, 511, 700]])
        self._mask = torch.ones_like(self._ids)

    def _work(self) -> None:
        with self._torch.inference_mode():
            self._model.generate(self._ids, attention_mask=self._mask, max_new_tokens=self.tokens,
                                 min_new_tokens=self.tokens, do_sample=False, pad_token_id=0)

    def sample(self) -> tuple[float, float]:
        """One timed run on one torch thread: (wall ms, process-CPU ms)."""
        torch = self._torch
        before = torch.get_num_threads()
        if before != 1:
            torch.set_num_threads(1)
        try:
            w0, c0 = time.perf_counter_ns(), time.process_time_ns()
            self._work()
            return (time.perf_counter_ns() - w0) / 1e6, (time.process_time_ns() - c0) / 1e6
        finally:
            if before != 1:
                torch.set_num_threads(before)


def make_step_reference() -> StepReference | None:
    """The default step reference, or None where torch or Transformers is not installed (a client install)."""
    try:
        return StepReference()
    except ImportError:
        return None
