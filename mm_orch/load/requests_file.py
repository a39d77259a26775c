"""--save-requests: every open-loop request as one JSONL line, written atomically beside the report.

One line per request sent, in each phase's order (a load run; the saturation burst and each rate; each probe of
the max-rate search), with its times in ms from its phase's first due time:

    {"phase": "load", "index": 0, "counted": true, "due_ms": 0.0, "slot_ms": 0.0, "sent_ms": 0.02,
     "first_token_ms": 50.4, "end_ms": 290.7, "itl_ms": [15.0, ...], "tokens_in": 32, "tokens_out": 16,
     "tokens_source": "usage", "events": 16, "success": true, "error": null}

due: when the schedule wanted it sent; slot: when the concurrency cap let it go; sent: when the client wrote it;
first_token and end: the first and last token's arrival (null when none came); itl_ms: the gaps between
consecutive tokens (tokens of one server-sent event share its arrival, so some gaps are 0); tokens_source: where
tokens_out came from (usage: the server's count, tokenizer, events, engine); counted: inside the steady window.
The file is written once, at the end of the run or when Ctrl-C stops it (then the last line is a
{"incomplete": true, ...} marker), through a temporary sibling renamed into place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mm_orch.io import atomic_write

if TYPE_CHECKING:
    from mm_orch.load.results import LoadRecord

SUFFIX = "_requests.jsonl"


def _ms(ns: int | None, t0: int) -> float | None:
    return None if ns is None else round((ns - t0) / 1e6, 4)


def row(phase: str, r: LoadRecord, t0_ns: int, counted: bool) -> dict[str, Any]:
    rec = r.record
    times = rec.token_times_ns
    return {
        "phase": phase, "index": r.index, "counted": counted, "due_ms": _ms(r.due_ns, t0_ns),
        "slot_ms": _ms(r.slot_ns, t0_ns), "sent_ms": _ms(rec.start_ns, t0_ns),
        "first_token_ms": _ms(times[0], t0_ns) if times else None,
        "end_ms": _ms(rec.end_ns, t0_ns) if rec.end_ns else None,
        "itl_ms": [round((b - a) / 1e6, 4) for a, b in zip(times, times[1:], strict=False)],
        "tokens_in": rec.input_tokens, "tokens_out": rec.output_tokens, "tokens_source": r.count_source,
        "events": r.events, "success": rec.success, "error": rec.error,
    }


class RequestLog:
    """The rows of a session's open-loop phases, kept in memory until the report is written."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.phases: list[str] = []

    def add(self, phase: str, recs: Iterable[LoadRecord], t0_ns: int, counted: set[int] | None = None) -> None:
        """One phase's records (t0_ns: the phase's schedule start; counted: indices in its steady window)."""
        recs = sorted(recs, key=lambda r: (r.due_ns, r.index))
        if not recs:
            return
        self.phases.append(phase)
        self.rows += [row(phase, r, t0_ns, counted is None or r.index in counted) for r in recs]

    def __len__(self) -> int:
        return len(self.rows)


def path_beside(report_path: Path) -> Path:
    """<stem>_requests.jsonl beside <stem>.json (with_name: model names such as qwen2.5-3b contain dots)."""
    stem = report_path.with_suffix("")
    return stem.with_name(stem.name + SUFFIX)


def write_requests(path: str | Path, rows: Sequence[dict[str, Any]], incomplete: dict[str, Any] | None = None
                   ) -> Path:
    """The rows as JSONL, atomically (a reader never sees half a file); incomplete adds the Ctrl-C marker line."""
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, separators=(",", ":")) + "\n")
            if incomplete is not None:
                f.write(json.dumps({"incomplete": True, **incomplete}, separators=(",", ":")) + "\n")

    return atomic_write(Path(path), write, "--save-requests")


def save_for_report(report: Any, report_path: Path, setting: bool | str, incomplete: bool = False) -> Path | None:
    """--save-requests: the rows the run kept (report.requests) written beside the report (setting True) or to the
    path given; None when not asked or nothing was kept."""
    log = getattr(report, "requests", None)
    if not setting or log is None:
        return None
    path = path_beside(Path(report_path)) if setting is True else Path(setting)
    marker = {"finished_tests": report.finished_tests, "missing_tests": report.missing_tests} if incomplete else None
    return write_requests(path, log.rows, marker)
