"""Teacher on one device, theta on another: the two forwards of a step run in parallel on two GPUs.

Each forward is its own CUDA graph on its own device (a captured graph stays on one device); the host
chains them per step, with no sync: theta graph (device B) and teacher graph (device A) are launched
back to back and run at the same time, then theta's logits cross to A (one [batch, vocab] copy over
NVLink: ~10 MB, ~0.04 ms on the lent H200 pair), the head graph (alpha, mixing, sampling) runs on A,
and the sampled tokens cross back to B as the next theta input. PyTorch orders a cross-device copy
against the current streams of both devices, so the chain needs no explicit events.

Without graphs (or on CPU, where both "devices" may be the same) the same chain runs eagerly; the
results are the single-device decoder's, token for token (tests/engines/optimal_sampling).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass(slots=True)
class SplitBuffers:
    """Fixed tensors the graphs read and write: the copies between the two devices land here."""

    tok_theta: Tensor  # [B] next theta input, on theta's device
    logit_theta_local: Tensor  # [B, V] theta's logits, on theta's device
    logit_theta: Tensor  # [B, V] the same, copied to the main device for the head
    logit_teacher: Tensor  # [B, V] teacher's logits on the main device
    theta_graphs: dict[int, object] = field(default_factory=dict)  # bucket -> CUDA graph on theta's device
    teacher_graphs: dict[int, object] = field(default_factory=dict)
    head_graph: object | None = None


def alloc_split(batch: int, vocab: int, main: str, theta: str, dtype) -> SplitBuffers:
    def buf(dev: str) -> Tensor:
        return torch.zeros(batch, vocab, device=dev, dtype=dtype)

    return SplitBuffers(torch.zeros(batch, dtype=torch.long, device=theta), buf(theta), buf(main), buf(main))


def on_device(dev: str):
    """Make `dev` current (CUDA only), so graph replays and captures use its streams."""
    return torch.cuda.device(dev) if dev.startswith("cuda") else contextlib.nullcontext()


def synchronize(*devices: str) -> None:
    for d in devices:
        if d.startswith("cuda"):
            torch.cuda.synchronize(d)


def capture_on(dev: str, pool, fn, reset) -> tuple[object, object]:
    """Warm fn up twice on a side stream of `dev`, then capture it; returns (graph, its memory pool).

    reset() runs before each warm-up and before the capture, outside the graph (state is garbage until
    the next prefill)."""
    with on_device(dev):
        s = torch.cuda.Stream(device=dev)
        s.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(s):
            for _ in range(2):
                reset()
                fn()
        torch.cuda.current_stream(dev).wait_stream(s)
        reset()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, pool=pool, stream=torch.cuda.Stream(device=dev)):
            fn()
        return g, g.pool()
