"""Command-line flags of the studies (--dataset, --workload, --slo, --accuracy, --context-length, --sweep).

A study flag selects its study; when --tests was left at its default, the studies run alone.
"""

from __future__ import annotations

import argparse
from typing import Any

from mm_orch.benchmark.goodput import parse_slo

WORKLOAD_KINDS = ("synthetic", "dataset", "shared_prefix", "multi_turn")


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("studies")
    g.add_argument("--dataset", metavar="PATH", help="workload from a JSONL prompts or ShareGPT file "
                   "(format told by its content)")
    g.add_argument("--workload", choices=WORKLOAD_KINDS, help="run the workload study of this kind "
                   "(settings under studies.workload in the config)")
    g.add_argument("--slo", action="append", default=[], metavar="KEY=MS",
                   help="goodput objective, repeatable: ttft_ms=200, tpot_ms=50, e2e_ms=2000")
    g.add_argument("--accuracy", nargs="?", const="builtin", metavar="TASKS",
                   help="accuracy study: built-in tasks, or a JSONL file of {prompt, answer}")
    g.add_argument("--context-length", action="store_true", help="TTFT against context length, doubling "
                   "from studies.context_length.start up to the model's limit")
    g.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2",
                   help="repeatable; runs the grid of all combinations, one report point per cell")


def overrides(a: argparse.Namespace) -> dict[str, Any]:
    st: dict[str, Any] = {}
    if a.dataset or a.workload:
        wl: dict[str, Any] = {}
        if a.dataset:
            wl |= {"dataset": a.dataset, "kind": a.workload or "dataset"}
        elif a.workload:
            wl["kind"] = a.workload
        st["workload"] = wl
    if a.slo:
        st["slo"] = parse_slo(a.slo)
    if a.accuracy:
        st["accuracy"] = {"tasks": a.accuracy}
    return {"studies": st} if st else {}


def tests(a: argparse.Namespace, tests: list[str], default: str) -> list[str]:
    """The tests to run: the study flags' studies added, or alone when --tests is the default."""
    chosen = [name for name, on in (("workload", a.dataset or a.workload), ("accuracy", a.accuracy),
                                    ("context_length", a.context_length)) if on]
    if not chosen:
        return tests
    base = [] if a.tests == default else tests
    return base + [t for t in chosen if t not in base]
