"""Optimal-sampling dual engine: teacher and theta decode one sequence from q ∝ pi_theta^(1-a) pi_t^a.

Registers the engine as 'dual'. Imports are lazy so `import mm_orch.engines.optimal_sampling` costs
nothing until a class is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mm_orch.engines.capabilities import Capabilities
from mm_orch.engines.optimal_sampling.settings import OptimalSamplingSettings
from mm_orch.engines.registry import register_engine


class DualCapabilities(Capabilities):
    """Two models decode one sequence: the theta model's context bounds it too."""

    def context_limits(self, settings: Any, context_of: Callable[[str], int | None]) -> list[int | None]:
        return [context_of(settings.theta_model)]


register_engine("dual", "mm_orch.engines.optimal_sampling.engine:DualEngine", settings=OptimalSamplingSettings,
                flags={"theta_model": "--theta-model", "alpha_method": "--alpha-method"},
                description="teacher + theta decoding one shared sequence (optimal sampling)",
                capabilities=DualCapabilities())

__all__ = ["DualEngine", "OptimalSamplingOutput", "OptimalSamplingV1", "solve_alpha"]
_WHERE = {"OptimalSamplingV1": "facade", "OptimalSamplingOutput": "facade", "DualEngine": "engine",
          "solve_alpha": "alpha"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
