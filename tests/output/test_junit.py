"""JUnit XML: one test case per target and baseline check, parsed back with xml.etree."""

import xml.etree.ElementTree as ET

import pytest

from mm_orch.config import GateSettings
from mm_orch.gate.baseline import compare_to_baseline
from mm_orch.output.junit import write_junit
from mm_orch.report.validation import TargetCheck
from tests.report.synthetic import make_report


def test_junit_cases_failures_and_counts(tmp_path):
    base = make_report()
    now = make_report(**{"latency.ttft_ms": 30.0, "system_info.cpu": "Other CPU"})
    now.validation.checked.append(TargetCheck(metric="latency.ttft_ms", actual=30.0, target=20.0, comparison="<=",
                                              target_name="max_ttft_ms", unit="ms", passed=False))
    now.throughput.points = [p for p in now.throughput.points if (p.mode, p.level) != ("batch", 4)]
    res = compare_to_baseline(now, base, GateSettings(tolerance_pct=10), "base.json")
    path = write_junit(tmp_path / "out" / "gate.xml", now, res)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    targets, baseline = root.findall("testsuite")
    assert targets.get("name") == "mm_orch.targets" and targets.get("tests") == "2" and targets.get("failures") == "1"
    failure = targets.find("testcase[@name='max_ttft_ms']/failure")
    assert failure.get("message") == "latency.ttft_ms = 30.00 ms, target <= 20.00"
    cases = {c.get("name"): c for c in baseline.iter("testcase")}
    assert len(cases) == len(res.deltas) + len(res.not_compared) + 1  # + the environment note
    msg = cases["latency.ttft_ms"].find("failure").get("message")
    assert "baseline 10.00, now 30.00 (+200.0%)" in msg and "tolerance 10%" in msg
    assert cases["latency.tpot_ms"].find("failure") is None
    assert cases["throughput.batch_4_tps"].find("skipped").get("message") == "only in the baseline"
    assert "cpu: Test CPU -> Other CPU" in cases["environment"].find("system-out").text
    assert int(root.get("tests")) == 2 + len(cases) and int(baseline.get("failures")) == len(res.regressions)


def test_junitparser_reads_it_when_installed(tmp_path):
    junitparser = pytest.importorskip("junitparser")
    path = write_junit(tmp_path / "g.xml", make_report())
    xml = junitparser.JUnitXml.fromfile(str(path))
    cases = [c for suite in xml for c in suite]
    assert [c.name for c in cases] == ["max_memory_gb"] and all(c.is_passed for c in cases)
