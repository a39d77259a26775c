"""Numbers and tables as Markdown: one way to format a figure for every Markdown file mm_orch writes."""

from __future__ import annotations

from typing import Any


def fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool | int) or not isinstance(v, float):
        return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.2f}" if abs(v) >= 1 else f"{v:.3g}"


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1f}%"


def table(header: list[str], rows: list[list[Any]]) -> str:
    right = ["---:" if i else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(right) + " |"]
    lines += ["| " + " | ".join(c if isinstance(c, str) else fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
