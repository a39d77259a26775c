"""Names the page gives things: a throughput phase ('4 concurrent (serialized)'), how a memory figure was obtained
(RSS, allocator, NVML, computed)."""

from __future__ import annotations

from typing import Any


def memory_kind(source: Any) -> str:
    s = str(source or "").lower()
    for needles, kind in (
        (("model config", "x tokens", "dtype bytes"), "computed"),
        (("nvml",), "NVML"),
        (("torch", "allocator", "cuda"), "allocator"),
        (("rss", "psutil"), "RSS"),
    ):
        if any(n in s for n in needles):
            return kind
    return s or "source unknown"


def point_label(p: dict, short: bool = False) -> str:
    """A throughput phase's name: 'single (latency test)', '4 concurrent (serialized)', 'batch 8'; short for ticks."""
    mode, level = p.get("mode"), p.get("level")
    if mode == "single":
        return "single" + (" (latency test)" if p.get("source") == "latency" and not short else "")
    if mode == "concurrent":
        return f"{level} conc." if short else f"{level} concurrent" + (" (serialized)" if p.get("serialized") else "")
    return f"batch {level}" if mode == "batch" else f"{mode} {level}"
