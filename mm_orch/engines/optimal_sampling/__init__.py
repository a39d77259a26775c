"""Optimal-sampling dual engine: teacher and theta decode one sequence from q ∝ pi_theta^(1-a) pi_t^a.

Imports are lazy so `import mm_orch.engines.optimal_sampling` costs nothing until a class is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DualEngine", "OptimalSamplingOutput", "OptimalSamplingV1", "solve_alpha"]
_WHERE = {"OptimalSamplingV1": "facade", "OptimalSamplingOutput": "facade", "DualEngine": "engine",
          "solve_alpha": "alpha"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
