"""The tables of the checks: targets, the baseline comparison, --repeat spreads."""

from __future__ import annotations

from .format import as_dict, dicts, dig, esc, fnum, num
from .tables import table


def checks_tables(report: dict) -> str:
    """Targets, the baseline comparison and --repeat spreads."""
    out = ""
    checked = dicts(dig(report, "validation", "checked")) or dicts(dig(report, "validation", "failures"))
    if checked:
        rows = [
            [c.get("metric"), num(c.get("actual")), f"{c.get('comparison') or ''} {fnum(c.get('target'))}".strip(),
             c.get("unit") or "", "met" if c.get("passed") else "missed"]
            for c in checked
        ]  # fmt: skip
        classes = ["good" if c.get("passed") else "bad" for c in checked]
        headers = ["metric", "actual", "target", "unit", "status"]
        out += "<h3>Targets</h3>" + table(headers, rows, [False, True, False, False, False], classes)
    deltas = dicts(dig(report, "baseline_check", "deltas"))
    if deltas:
        keys = ("baseline", "current", "change_pct", "tolerance_pct")
        rows = [
            [d.get("metric"), *(num(d.get(k)) for k in keys), d.get("status"), d.get("verdict") or ""] for d in deltas
        ]
        classes = ["bad" if d.get("status") == "regression" else "" for d in deltas]
        headers = ["metric", "baseline", "current", "change %", "tolerance %", "status", "verdict"]
        path = dig(report, "baseline_check", "baseline_path")
        out += f"<h3>Baseline check ({esc(path)})</h3>" + table(
            headers, rows, [False] + [True] * 4 + [False] * 2, classes
        )
    rep = as_dict(dig(report, "repeat", "metrics"))
    if rep:
        rows = []
        for key, r in rep.items():
            lo, mid, hi = (num(dig(r, k)) for k in ("min", "median", "max"))
            spread = 100 * (hi - lo) / mid if lo is not None and hi is not None and mid else None
            rows.append([key, lo, mid, hi, spread, len(dig(r, "values") or [])])
        headers = ["metric", "min", "median", "max", "spread % of median", "runs"]
        out += f"<h3>Repeats ({esc(dig(report, 'repeat', 'n'))} runs)</h3>" + table(headers, rows, [False] + [True] * 5)
    return out
