"""The gate's answer in one word: FAIL, PASS, INCONCLUSIVE, INCOMPLETE or NO CHECKS, with the lines behind it."""

from __future__ import annotations

from .format import dicts, fnum, plural


def _validation_lines(val: dict) -> tuple[bool, bool, list[str]]:
    """(checked, failed, lines) of the per-model targets."""
    fails = dicts(val.get("failures"))
    n_checked = len(dicts(val.get("checked"))) or len(fails)
    failed = val.get("passed") is False or bool(fails)
    lines = []
    for f in fails:
        unit = f" {f['unit']}" if f.get("unit") else ""
        bound = f"{f.get('comparison') or ''} {fnum(f.get('target'))}".strip()
        lines.append(f"target missed: {f.get('metric')} = {fnum(f.get('actual'))}{unit} (target {bound}{unit})")
    if n_checked and not failed:
        lines.append(f"{plural(n_checked, 'target')} met")
    if dicts(val.get("skipped")) or (isinstance(val.get("skipped"), list) and val["skipped"]):
        lines.append(f"{plural(len(val['skipped']), 'target')} not measured in this run")
    return n_checked > 0 or failed, failed, lines


def _baseline_lines(base: dict) -> tuple[bool, str | None, list[str]]:
    """(failed, the gate's own verdict word if it wrote one, lines) of the baseline comparison."""
    deltas = dicts(base.get("deltas"))
    regressions = [d for d in deltas if d.get("status") == "regression"]
    word = str(base.get("verdict") or "").upper() or None
    failed = base.get("passed") is False or bool(regressions) or word == "FAIL"
    lines = [
        f"regression: {d.get('metric')} {fnum(d.get('change_pct'))} % (tolerance {fnum(d.get('tolerance_pct'))} %)"
        for d in regressions
    ]
    if not failed:
        lines.append(f"baseline check passed: {plural(len(deltas), 'metric')} against {base.get('baseline_path')}")
    return failed, word, lines


def verdict(report: dict) -> tuple[str, str, list[str]]:
    """(word, css class, lines): FAIL when a target or the baseline check failed, PASS when checks ran and held,
    INCONCLUSIVE when the gate said so, INCOMPLETE for an interrupted run, else NO CHECKS."""
    checked, failed, lines = False, False, []
    if isinstance(report.get("validation"), dict):
        checked, failed, lines = _validation_lines(report["validation"])
    word = None
    if isinstance(report.get("baseline_check"), dict):
        base_failed, word, base_lines = _baseline_lines(report["baseline_check"])
        checked, failed, lines = True, failed or base_failed, lines + base_lines
    if report.get("incomplete"):
        missing = [str(m) for m in report.get("missing_tests") or []]
        lines.append("incomplete run" + (f": missing {', '.join(missing)}" if missing else ""))
    if failed:
        return "FAIL", "fail", lines
    if word == "INCONCLUSIVE":
        return "INCONCLUSIVE", "warn", lines + ["the gate could not tell a regression from noise"]
    if report.get("incomplete"):
        return "INCOMPLETE", "warn", lines
    if checked:
        return "PASS", "pass", lines
    return "NO CHECKS", "none", lines + ["no targets or baseline were checked"]
