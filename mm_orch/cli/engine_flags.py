"""Command-line flags that engines declare in their registration (settings field -> flag), built from the
engine's settings model: its description is the help, a Literal's values are the choices."""

from __future__ import annotations

import argparse
from typing import Any, Literal, get_args, get_origin

from mm_orch.engines.registry import plugins


def _choices(annotation: Any) -> list[str] | None:
    if get_origin(annotation) is Literal:
        return [str(v) for v in get_args(annotation)]
    for arg in get_args(annotation):
        found = _choices(arg)
        if found:
            return found
    return None


def _dest(engine: str, field: str) -> str:
    return f"engine__{engine}__{field}"


def add_arguments(p: argparse.ArgumentParser) -> None:
    for name, plugin in plugins().items():
        if not plugin.flags:
            continue
        group = p.add_argument_group(f"{name} engine (engine.{name} in the config)")
        for field, flag in plugin.flags.items():
            info = plugin.settings.model_fields[field]
            kwargs: dict[str, Any] = {"dest": _dest(name, field), "default": None,
                                      "help": f"{info.description} (engine.{name}.{field})"}
            if info.annotation is bool:
                kwargs["action"] = "store_const"
                kwargs["const"] = True
            else:
                kwargs["choices"] = _choices(info.annotation)
                kwargs["metavar"] = None if kwargs["choices"] else field.upper()
            group.add_argument(flag, **kwargs)


def overrides(a: argparse.Namespace) -> dict[str, Any]:
    """{engine_name: {field: value}} for every engine flag given; values are validated with the config."""
    out: dict[str, Any] = {}
    for name, plugin in plugins().items():
        given = {f: v for f in plugin.flags if (v := getattr(a, _dest(name, f), None)) is not None}
        if given:
            out[name] = given
    return out
