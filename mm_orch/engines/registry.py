"""The engine registry: each engine module registers itself with its settings model and CLI flags.

    register_engine("hf", HFEngine, settings=HFEngineSettings, flags={"static_cache": "--static-cache"},
                    capabilities=HFCapabilities())

The engine may be given as the class or as "module:Class" (imported when first used, so heavy libraries
load only then). Every package in mm_orch/engines/ is imported once by discover(), so a new engine is one
new package there (its __init__ registers it); a plug-in outside the package (a test engine) registers
itself when imported. The config's `engine:` section is validated from this registry
(config.EngineSettings): `engine.<name>` holds the engine's settings; `--flag` values given on the
command line land there. The plug-in's capabilities (capabilities.py) answer what the engine can do.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from mm_orch.engines.capabilities import Capabilities
from mm_orch.errors import ConfigError


@dataclass(frozen=True, slots=True)
class EnginePlugin:
    name: str
    target: Any  # the Engine subclass, or "module:Class"
    settings: type[BaseModel]  # the engine's own section, engine.<name>; extra keys must be errors
    flags: dict[str, str] = field(default_factory=dict)  # settings field -> CLI flag
    description: str = ""
    capabilities: Capabilities = field(default_factory=Capabilities)  # what it can do, from its settings

    def engine_class(self) -> type:
        if isinstance(self.target, str):
            module, cls = self.target.split(":")
            return getattr(importlib.import_module(module), cls)
        return self.target


_PLUGINS: dict[str, EnginePlugin] = {}
_discovered = False


def register_engine(name: str, target: Any, *, settings: type[BaseModel], flags: dict[str, str] | None = None,
                    description: str = "", capabilities: Capabilities | None = None) -> EnginePlugin:
    """Add (or replace, for a reloaded module) an engine; returns its plug-in record."""
    unknown = [f for f in flags or {} if f not in settings.model_fields]
    if unknown:
        raise ValueError(f"engine '{name}': flag for unknown setting '{unknown[0]}'")
    plugin = EnginePlugin(name, target, settings, dict(flags or {}), description, capabilities or Capabilities())
    _PLUGINS[name] = plugin
    return plugin


def discover() -> None:
    """Import every engine package of mm_orch.engines once, so each registers itself."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    import mm_orch.engines as package

    for mod in pkgutil.iter_modules(package.__path__):
        if mod.ispkg:  # one package per engine; its __init__ registers it
            importlib.import_module(f"{package.__name__}.{mod.name}")


def plugins() -> dict[str, EnginePlugin]:
    discover()
    return dict(sorted(_PLUGINS.items()))


def plugin(name: str) -> EnginePlugin:
    found = plugins().get(name)
    if found is None:
        raise ConfigError(f"unknown engine '{name}' (choose from {', '.join(plugins())})")
    return found


def capabilities(name: str) -> Capabilities:
    """What the engine `name` can do; the defaults for a name not registered here (a report of an engine
    that is not installed on this machine)."""
    found = plugins().get(name)
    return found.capabilities if found is not None else Capabilities()
