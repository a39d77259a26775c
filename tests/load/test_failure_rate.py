"""--max-failure-rate: a load run where the mock drops half the connections mid-stream (seeded) passes by
default (a warning), and fails with exit 1 above the rate, in the report's validation, the console and JUnit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from mm_orch.main import main
from mm_orch.mock.server import MockProcess, MockTiming


@pytest.fixture(scope="module")
def flaky():
    with MockProcess(MockTiming(ttft_ms=5, itl_ms=1, tokens=8, drop_fraction=0.5, drop_seed=7)) as m:
        yield m


def _run(mock, tmp_path, capsys, *flags: str) -> tuple[int, dict, str]:
    out = tmp_path / "out"
    rc = main(["--benchmark", "--engine", "openai", "--base-url", mock.base_url, "--model", "mock", "--tests", "load",
               "--request-rate", "200", "--num-requests", "40", "--no-progress", "--no-markdown",
               "--benchmark-output", str(out), *flags])
    (path,) = out.glob("*.json")
    return rc, json.loads(path.read_text()), capsys.readouterr().err


def test_dropped_connections_are_failed_requests_and_only_a_warning_by_default(flaky, tmp_path, capsys):
    rc, report, err = _run(flaky, tmp_path, capsys)
    m = report["load"]["metrics"]
    assert rc == 0 and 10 <= m["failed"] <= 30 and m["completed"] + m["failed"] == 40  # about half, seeded
    assert "request(s) failed" in err
    assert all(c["target_name"] != "max_failure_rate" for c in report["validation"]["checked"])


def test_a_failure_rate_above_the_limit_is_exit_1_in_report_console_and_junit(flaky, tmp_path, capsys):
    junit = tmp_path / "junit.xml"
    rc, report, err = _run(flaky, tmp_path, capsys, "--max-failure-rate", "10", "--junit-xml", str(junit))
    assert rc == 1
    m = report["load"]["metrics"]
    rate = 100 * m["failed"] / (m["failed"] + m["completed"])
    (check,) = [c for c in report["validation"]["checked"] if c["target_name"] == "max_failure_rate"]
    assert check["passed"] is False and check["actual"] == pytest.approx(rate) and check["target"] == 10
    assert report["validation"]["passed"] is False and check in report["validation"]["failures"]
    assert f"failed: failure rate (load (async_http): {m['failed']} of 40 failed) = {rate:.1f}% > " \
           "--max-failure-rate 10%" in err
    case = ET.parse(junit).getroot().find(".//testcase[@name='max_failure_rate']")
    assert case is not None and case.find("failure") is not None


def test_a_failure_rate_within_the_limit_passes(flaky, tmp_path, capsys):
    rc, report, _ = _run(flaky, tmp_path, capsys, "--set", "benchmark.max_failure_rate=90")
    (check,) = [c for c in report["validation"]["checked"] if c["target_name"] == "max_failure_rate"]
    assert rc == 0 and check["passed"] is True and check["target"] == 90


def test_the_mock_drops_the_same_requests_for_the_same_seed():
    from mm_orch.mock.server import MockServer

    pick = [MockServer(MockTiming(drop_fraction=0.3, drop_seed=s))._drops for s in (1, 1, 2)]
    a, b, c = ([f(k) for k in range(1, 201)] for f in pick)
    assert a == b and a != c and 40 <= sum(a) <= 80
    assert not any(MockServer(MockTiming())._drops(k) for k in range(1, 50))
