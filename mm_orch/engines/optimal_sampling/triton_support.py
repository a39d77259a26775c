"""Triton, where installed: the one import the dual engine's kernels share, and whether they can run.

Triton comes with CUDA builds of torch; the CPU paths never need it. CPU tests run the kernels in
Triton's interpreter (TRITON_INTERPRET=1, read when triton is imported).
"""

from __future__ import annotations

import os

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the install
    triton = None
    tl = None


def available() -> bool:
    return triton is not None


def interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def usable(device: str) -> bool:
    """Kernels can run for tensors on `device`: CUDA with Triton, or Triton's CPU interpreter."""
    return available() and (device.startswith("cuda") or interpreted())
