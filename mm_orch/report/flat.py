"""A report (or any nested dict) as dot-keys, every cell a scalar: CSV rows and the baseline's workload view."""

from __future__ import annotations

import json
from typing import Any


def flatten(data: Any, prefix: str = "", lists: bool = True) -> dict[str, Any]:
    """Nested dicts -> dot-keys; lists are kept as JSON strings (or left out) so every cell is a scalar."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out |= flatten(v, f"{prefix}{k}.", lists)
    elif isinstance(data, list):
        if lists:
            out[prefix[:-1]] = json.dumps(data)
    else:
        out[prefix[:-1]] = data
    return out
