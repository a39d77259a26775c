"""JUnit XML for CI systems: one test case per target check and per baseline metric, written atomically."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from mm_orch.io import atomic_write_text
from mm_orch.output.md_format import fmt, pct
from mm_orch.report.gate_results import BaselineResult
from mm_orch.report.model import Report


def _suite(root: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(root, "testsuite", name=name)


def _case(suite: ET.Element, classname: str, name: str, failure: str | None = None,
          skipped: str | None = None, out: str | None = None) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
    if failure is not None:
        ET.SubElement(case, "failure", message=failure, type="performance").text = failure
    if skipped is not None:
        ET.SubElement(case, "skipped", message=skipped)
    if out:
        ET.SubElement(case, "system-out").text = out


def _targets(root: ET.Element, report: Report) -> None:
    v = report.validation
    if v is None or (not v.checked and not v.skipped):
        return
    suite = _suite(root, "mm_orch.targets")
    cls = f"mm_orch.targets.{report.model_name}"
    for c in v.checked:
        msg = f"{c.metric} = {fmt(c.actual)} {c.unit}, target {c.comparison} {fmt(c.target)}"
        _case(suite, cls, c.target_name, failure=None if c.passed else msg, out=msg)
    for s in v.skipped:
        _case(suite, cls, s.target_name, skipped=s.reason)


def _baseline(root: ET.Element, report: Report, res: BaselineResult) -> None:
    suite = _suite(root, "mm_orch.baseline")
    cls = f"mm_orch.baseline.{report.model_name}"
    if res.env_differences:
        note = "; ".join(res.env_differences)
        _case(suite, cls, "environment", out=f"environment differs (allowed): {note}")
    if res.verdicts:  # the verdict from samples: one case per metric with its effect, interval and samples
        _verdicts(suite, cls, res)
    else:  # a baseline without samples: one value per side, as before
        for d in res.deltas:
            msg = (f"{d.metric}: baseline {fmt(d.baseline)}, now {fmt(d.current)} ({pct(d.change_pct)}), "
                   f"{pct(d.worse_pct)} worse, tolerance {d.tolerance_pct:g}% [{d.status}]")
            _case(suite, cls, d.metric, failure=msg if d.status == "regression" else None, out=msg)
    for metric, why in res.not_compared.items():
        _case(suite, cls, metric, skipped=why)


def _verdicts(suite: ET.Element, cls: str, res: BaselineResult) -> None:
    """FAIL is a failure; INCONCLUSIVE a failure only when it exits 1 (--on-inconclusive fail), else skipped
    with its reason; a metric reported but not gated passes, saying so."""
    from mm_orch.output.markdown import verdict_cells

    header = ("effect", "interval", "samples", "detects", "tolerance")
    head = f"gate {res.overall}; figure: {res.figure_reason or res.figure}"
    head += f"; {res.machine}" if res.machine else ""
    _case(suite, cls, "verdict", failure=f"gate verdict {res.overall}" if res.exit_code() else None,
          out="\n".join([head, *res.notes]))
    for v in res.verdicts:
        cells = verdict_cells(v)
        msg = (f"{v.metric} ({v.figure}): " + ", ".join(f"{h} {c}" for h, c in zip(header, cells[2:7], strict=True))
               + f" -> {cells[7]}: {v.reason}" + (f" [not gated: {v.why_not_gated}]" if not v.gated else ""))
        failed = v.gated and (v.verdict == "FAIL" or (v.verdict == "INCONCLUSIVE" and res.on_inconclusive == "fail"))
        skipped = v.gated and v.verdict == "INCONCLUSIVE" and not failed
        _case(suite, cls, v.metric, failure=msg if failed else None, skipped=msg if skipped else None, out=msg)


def junit_xml(report: Report, baseline: BaselineResult | None = None) -> str:
    root = ET.Element("testsuites", name="mm_orch")
    _targets(root, report)
    if baseline is not None:
        _baseline(root, report, baseline)
    for suite in [*root, root]:
        cases = suite.iter("testcase")
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for c in cases:
            counts["tests"] += 1
            counts["failures"] += c.find("failure") is not None
            counts["skipped"] += c.find("skipped") is not None
        suite.attrib |= {k: str(v) for k, v in counts.items()} | {"errors": "0"}
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: str | Path, report: Report, baseline: BaselineResult | None = None) -> Path:
    return atomic_write_text(path, junit_xml(report, baseline))
