"""HTML tables: plain rows, distributions (mean ... std, count) and field/value pairs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from .format import esc, format_number, json_safe, num

DIST_COLUMNS = ("mean", "median", "p90", "p95", "p99", "min", "max", "std")


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    numeric: Sequence[bool] | None = None,
    row_classes: Sequence[str] | None = None,
) -> str:
    """A table; numbers are formatted, strings escaped; numeric columns right-aligned."""
    rows = list(rows)
    if not rows:
        return ""
    numeric = list(numeric) if numeric else [False] * len(headers)
    pairs = zip(headers, numeric, strict=False)
    head = "".join(f'<th class="num">{esc(h)}</th>' if n else f"<th>{esc(h)}</th>" for h, n in pairs)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{esc(row_classes[i])}"' if row_classes and row_classes[i] else ""
        cells = []
        for value, is_num in zip(row, numeric, strict=False):
            text = value if isinstance(value, str) else format_number(value)
            cell_cls = ' class="num"' if is_num else (' class="null"' if value is None else "")
            cells.append(f"<td{cell_cls}>{esc(text)}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def dist_table(rows: Sequence[tuple[str, Any, str]]) -> str:
    """One row per distribution present: name, unit, mean ... std, count."""
    present = [(name, d, unit) for name, d, unit in rows if isinstance(d, dict)]
    body = [[name, unit, *[num(d.get(c)) for c in DIST_COLUMNS], d.get("count")] for name, d, unit in present]
    return table(["metric", "unit", *DIST_COLUMNS, "count"], body, [False, False] + [True] * (len(DIST_COLUMNS) + 1))


def kv_table(pairs: Iterable[tuple[str, Any]]) -> str:
    def cell(v: Any) -> Any:
        return json.dumps(json_safe(v), default=str) if isinstance(v, (dict, list)) else v

    return table(["field", "value"], [[k, cell(v) if isinstance(v, str) else format_number(cell(v))] for k, v in pairs])


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted.key, value) pairs."""
    if isinstance(obj, dict) and obj:
        out: list[tuple[str, Any]] = []
        for key, value in obj.items():
            out.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return [(prefix, obj)]
