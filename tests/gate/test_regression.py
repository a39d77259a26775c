"""The verdict against a baseline from samples: which figure decides, PASS / FAIL / INCONCLUSIVE, the machine
reference, the fallback for reports without samples, paired A/B, and what the CLI, Markdown and JUnit say."""

import argparse
import json

import numpy as np
import pytest

from mm_orch.cli.gate import gate_exit_code, gate_overrides, inconclusive_warning, print_gate
from mm_orch.config import GateSettings
from mm_orch.errors import ConfigError
from mm_orch.gate.baseline import compare_to_baseline
from mm_orch.gate.regression import CPU_REL_METRIC, apply_paired, paired_verdicts, ratio_tolerance, sample_sets
from mm_orch.output.junit import junit_xml
from mm_orch.output.markdown import baseline_markdown
from mm_orch.report.model import Report
from mm_orch.report.samples import ReferenceSamples, RequestSamples, SamplesSection, merge_samples
from mm_orch.run.ab import check_ref, child_args
from tests.report.synthetic import make_report

REF_ID = "mm_orch-ref-v1:matmul48x2500+pyloop300000"


def with_samples(report: Report, seed: int, slow: float = 1.0, cpu_slow: float | None = None, n: int = 48,
                 contention: float = 1.0, ref_ms: float = 40.0, spread: float = 0.05, step_ms: float = 10.0) -> Report:
    """Per-request samples: TPOT ~2 ms x slow, CPU ms/token ~1.8 x cpu_slow over a step reference of ~10 ms;
    the machine reference's wall = CPU x contention."""
    rng = np.random.default_rng(seed)
    cpu_slow = slow if cpu_slow is None else cpu_slow

    def noisy(x):
        return list(x * rng.lognormal(0, spread, n))

    tpot = noisy(2.0 * slow)
    ref = noisy(step_ms)
    cpu_tok = [1.8 * cpu_slow * r / step_ms * float(rng.lognormal(0, 0.02)) for r in ref]
    report.samples = SamplesSection(
        latency=RequestSamples(ttft_ms=noisy(10.0 * slow), tpot_ms=tpot, e2e_latency_ms=[t * 32 for t in tpot],
                               request_tokens_per_second=[32 / (t * 32) * 1000 for t in tpot], output_tokens=[32] * n,
                               cpu_ms=[c * 32 for c in cpu_tok], cpu_ms_per_token=cpu_tok,
                               step_reference_cpu_ms=ref, step_reference_id="step-v2"),
        machine_reference=ReferenceSamples(workload_id=REF_ID, version=1, samples_ms=[ref_ms * contention] * 7,
                                           cpu_samples_ms=[ref_ms] * 7, when=["before"] * 7))
    return report


def gate(**kw) -> GateSettings:
    return GateSettings(**({"tolerance_pct": 5, "tolerances": {CPU_REL_METRIC: 12}} | kw))


def rows(res):
    return {v.metric: v for v in res.verdicts}


def test_quiet_same_machine_gates_wall_time_and_passes_unchanged():
    base, cur = with_samples(make_report(), 1), with_samples(make_report(), 2)
    res = compare_to_baseline(cur, base, gate())
    assert res.figure == "wall" and res.verdict == "PASS" and res.passed and res.exit_code() == 0
    r = rows(res)
    assert r["latency.tpot_ms"].gated and r["latency.tpot_ms"].n_current == 48
    assert not r[CPU_REL_METRIC].gated and r[CPU_REL_METRIC].why_not_gated
    assert r["memory.peak_gb"].gated and r["memory.peak_gb"].statistic == "single value (no samples)"
    # a single value of a speed figure is shown, never gated
    assert not r["throughput.batch_4_tps"].gated
    assert 0 < r["latency.tpot_ms"].detectable_pct < 10  # 5 % tolerance + a few % of noise
    assert json.loads(Report.model_validate_json(cur.model_dump_json()).model_dump_json())["samples"]


def test_quiet_regression_of_ten_percent_fails():
    base, cur = with_samples(make_report(), 1), with_samples(make_report(), 2, slow=1.10)
    res = compare_to_baseline(cur, base, gate())
    assert res.verdict == "FAIL" and not res.passed and res.exit_code() == 1
    assert rows(res)["latency.tpot_ms"].verdict == "FAIL"
    assert {d.metric: d for d in res.deltas}["latency.tpot_ms"].status == "regression"


def test_busy_machine_gates_the_cpu_figure_and_reports_wall_time():
    base = with_samples(make_report(), 1)
    # wall time 2x under contention, CPU figure unchanged: PASS on the CPU figure, wall time only reported
    cur = with_samples(make_report(), 2, slow=2.0, cpu_slow=1.0, contention=2.0)
    res = compare_to_baseline(cur, base, gate())
    assert res.figure == "cpu" and "busy" in res.figure_reason and res.verdict == "PASS"
    r = rows(res)
    assert r[CPU_REL_METRIC].gated and not r["latency.tpot_ms"].gated
    assert r["latency.tpot_ms"].verdict == "FAIL" and "decided" in r["latency.tpot_ms"].why_not_gated
    assert {d.metric: d for d in res.deltas}["latency.tpot_ms"].status != "regression"
    # a real regression under load fails on the CPU figure
    slow = with_samples(make_report(), 3, slow=2.5, cpu_slow=1.3, contention=2.0)
    assert compare_to_baseline(slow, base, gate()).verdict == "FAIL"


def test_a_regression_near_the_tolerance_is_inconclusive_with_its_own_exit_code():
    base = with_samples(make_report(), 1, n=20, spread=0.15)
    cur = with_samples(make_report(), 2, slow=1.06, n=20, spread=0.15)
    res = compare_to_baseline(cur, base, gate())
    assert res.verdict == "INCONCLUSIVE" and res.passed and res.exit_code() == 4
    assert gate_exit_code(res, targets_failed=False) == 4 and gate_exit_code(res, targets_failed=True) == 1
    for choice, code in (("pass", 0), ("warn", 0), ("fail", 1)):
        r = compare_to_baseline(cur, base, gate(on_inconclusive=choice))
        assert r.exit_code() == code
    warn = compare_to_baseline(cur, base, gate(on_inconclusive="warn"))
    assert "INCONCLUSIVE" in inconclusive_warning(warn) and "latency." in inconclusive_warning(warn)
    assert inconclusive_warning(res) is None


def test_another_machine_is_not_compared_on_speed_but_memory_still_is():
    base = with_samples(make_report(), 1, ref_ms=40.0)
    cur = with_samples(make_report(**{"memory.peak_gb": 0.6}), 2, ref_ms=80.0)
    res = compare_to_baseline(cur, base, gate())
    r = rows(res)
    assert "2.00x slower" in res.machine and "speed not compared" in res.notes[0]
    assert r["latency.tpot_ms"].verdict == "INCONCLUSIVE" and r["latency.tpot_ms"].statistic == "not compared"
    assert r["memory.peak_gb"].verdict == "FAIL" and res.verdict == "FAIL"
    ok = compare_to_baseline(with_samples(make_report(), 2, ref_ms=80.0), base, gate())
    assert ok.verdict == "INCONCLUSIVE"
    # within 1.5x but more than 10 % apart: the self-normalizing CPU figure decides
    near = compare_to_baseline(with_samples(make_report(), 2, ref_ms=48.0), base, gate())
    assert near.figure == "cpu" and "speeds differ" in near.figure_reason and near.verdict == "PASS"


def test_a_quiet_machine_whose_step_reference_drifted_gates_the_cpu_figure():
    """Machine references agree but the decode-like step reference ran 9 % slower (the host's other tenants):
    wall time would show the drift as a regression, so the CPU figure over the step reference decides."""
    base = with_samples(make_report(), 1)
    drifted = with_samples(make_report(), 2, slow=1.09, cpu_slow=1.0, step_ms=10.9)
    res = compare_to_baseline(drifted, base, gate())
    assert res.figure == "cpu" and "speeds differ" in res.figure_reason and "; step reference 1.0" in res.figure_reason
    assert res.verdict == "PASS"
    assert rows(res)["latency.tpot_ms"].verdict == "FAIL" and not rows(res)["latency.tpot_ms"].gated
    same = compare_to_baseline(with_samples(make_report(), 2, step_ms=10.3), base, gate())
    assert same.figure == "wall" and "step reference 1.0" in same.figure_reason


def test_baseline_without_samples_falls_back_with_a_note():
    cur = with_samples(make_report(**{"latency.ttft_ms": 30.0}), 2)
    res = compare_to_baseline(cur, make_report(), GateSettings(tolerance_pct=10))
    assert res.verdict == "FAIL" and not res.verdicts and "no samples" in res.notes[0]
    same = compare_to_baseline(make_report(), make_report(), GateSettings())
    assert same.verdict == "PASS" and same.exit_code() == 0
    assert "## Baseline gate: PASS" in baseline_markdown(same)


def test_an_old_stored_result_reads_its_verdict_from_passed():
    res = compare_to_baseline(make_report(), make_report(), GateSettings())
    old = res.model_dump()
    for key in ("verdict", "verdicts", "figure", "figure_reason", "machine", "paired", "on_inconclusive", "notes"):
        old.pop(key)
    stored = type(res).model_validate(old)
    assert stored.verdict is None and stored.overall == "PASS" and stored.exit_code() == 0


def test_higher_is_better_tolerance_means_the_same_slowdown():
    assert ratio_tolerance(100, "higher_is_better") == pytest.approx(50)  # 2x slower: half the tokens/s
    assert ratio_tolerance(10, "lower_is_better") == 10


def test_console_markdown_and_junit_say_the_same():
    base = with_samples(make_report(), 1)
    res = compare_to_baseline(with_samples(make_report(), 2, slow=1.3), base, gate())
    md = baseline_markdown(res)
    assert "## Baseline gate: FAIL" in md and "| latency.tpot_ms | wall | +" in md and "detects" in md
    xml = junit_xml(make_report(), res)
    assert 'name="verdict"' in xml and "latency.tpot_ms (wall): effect +" in xml and "interval [" in xml
    assert xml.count("<failure") >= 2  # the verdict and the failing metrics

    from io import StringIO

    from rich.console import Console

    out, err = StringIO(), StringIO()
    print_gate(res, 3, Console(file=out, width=200), Console(file=err, width=200))
    text = out.getvalue()
    assert "baseline gate vs" in text and "FAIL" in text and "figure gated: wall time" in text
    assert "latency.tpot_ms" in text and "detects" in text


def test_samples_are_compact_capped_and_merged():
    r = with_samples(make_report(), 1)
    dumped = r.samples.model_dump(mode="json")
    assert all(len(str(x)) <= 12 for x in dumped["latency"]["tpot_ms"])  # 5 significant digits
    merged = merge_samples([r.samples, with_samples(make_report(), 2).samples])
    assert len(merged.latency) == 96 and merged.runs == 2 and len(merged.machine_reference.samples_ms) == 14
    assert merged.machine_reference.when[0] == "run1:before"
    big = merge_samples([r.samples] * 30)  # 1440 requests: thinned to the cap
    assert len(big.latency) == 1000 and big.latency.dropped == 440
    assert sample_sets(r)[CPU_REL_METRIC].values[0] == pytest.approx(r.samples.latency.cpu_per_token_vs_reference()[0])


def test_an_engine_working_in_another_process_has_no_cpu_figure():
    r = with_samples(make_report(), 1)
    r.samples.latency.cpu_ms = [1.0] * 48  # ~1 ms of CPU for a 64 ms request: the work was elsewhere
    assert CPU_REL_METRIC not in sample_sets(r) and "latency.tpot_ms" in sample_sets(r)


def test_paired_ab_gates_on_rounds():
    a = [with_samples(make_report(), i, slow=1.25) for i in range(6)]
    b = [with_samples(make_report(), 10 + i) for i in range(6)]
    v = paired_verdicts(a, b, gate(), set())
    r = {x.metric: x for x in v.rows}
    assert r["latency.tpot_ms"].statistic == "median of paired ratios" and r["latency.tpot_ms"].n_current == 6
    assert r["latency.tpot_ms"].verdict == "FAIL" and v.figure == "wall"
    res = compare_to_baseline(a[0], b[0], gate())
    res.notes = []
    apply_paired(res, a, b, gate())
    assert res.paired and res.verdict == "FAIL" and "A/B in one job" in res.notes[0]
    same = [with_samples(make_report(), 20 + i) for i in range(6)]
    assert paired_verdicts(same, b, gate(), set()).rows and all(
        x.verdict != "FAIL" for x in paired_verdicts(same, b, gate(), set()).rows)
    # 5 pairs cannot bound their median at 95 %: the same 25 % regression is INCONCLUSIVE, and says why
    few = {x.metric: x for x in paired_verdicts(a[:5], b[:5], gate(), set()).rows}["latency.tpot_ms"]
    assert few.verdict == "INCONCLUSIVE" and "that takes at least 6" in few.reason


def test_ab_child_flags_and_ref_checks(tmp_path):
    argv = ["--benchmark", "--config", "c.yaml", "--ab", "../ref", "--ab-rounds=4", "--baseline", "b.json",
            "--repeat", "3", "--tests", "latency", "--junit-xml=j.xml", "--no-markdown"]
    assert child_args(argv) == ["--benchmark", "--tests", "latency"]
    with pytest.raises(ConfigError, match="not a source tree"):
        check_ref(str(tmp_path), None)
    with pytest.raises(ConfigError, match="--ab-config"):
        check_ref("self", None)
    (tmp_path / "mm_orch").mkdir()
    (tmp_path / "mm_orch" / "__init__.py").write_text("")
    assert check_ref(str(tmp_path), None) == tmp_path.resolve() and check_ref(None, "b.yaml") is None


def test_on_inconclusive_needs_a_gate():
    a = argparse.Namespace(tolerance=None, baseline=None, ab=None, ab_config=None, on_inconclusive="warn")
    with pytest.raises(ConfigError, match="--on-inconclusive"):
        gate_overrides(a)
    a.baseline = "b.json"
    assert gate_overrides(a) == {"gate": {"on_inconclusive": "warn"}}


def test_busy_tolerances_apply_only_when_a_side_was_busy():
    g = gate(tolerances={}, busy_tolerances={CPU_REL_METRIC: 12})
    base = with_samples(make_report(), 1)
    busy = compare_to_baseline(with_samples(make_report(), 2, slow=2.0, cpu_slow=1.0, contention=2.0), base, g)
    assert busy.figure == "cpu" and rows(busy)[CPU_REL_METRIC].tolerance_pct == 12
    drifted = compare_to_baseline(with_samples(make_report(), 2, slow=1.09, cpu_slow=1.0, step_ms=10.9), base, g)
    assert drifted.figure == "cpu" and rows(drifted)[CPU_REL_METRIC].tolerance_pct == 5
    # quiet, the CPU figure at 5 %: an 8 % regression fails; busy, at 12 %, it does not
    quiet_slow = with_samples(make_report(), 3, slow=1.17, cpu_slow=1.08, ref_ms=45.0)  # speeds differ 12 %
    assert compare_to_baseline(quiet_slow, base, g).verdict == "FAIL"
    busy_slow = with_samples(make_report(), 3, slow=2.2, cpu_slow=1.08, contention=2.0)
    assert compare_to_baseline(busy_slow, base, g).verdict != "FAIL"


def test_runs_are_labelled_when_merged_and_inferred_for_older_reports():
    a, b = with_samples(make_report(), 1).samples, with_samples(make_report(), 2).samples
    merged = merge_samples([a, b])
    assert merged.latency.run == [0] * 48 + [1] * 48
    again = merge_samples([merged, a])  # a merged part keeps its runs; the next part's come after them
    assert again.latency.run_labels(again.runs) == [0] * 48 + [1] * 48 + [2] * 48
    merged.latency.run = None  # written before run labels existed: equal consecutive chunks
    assert merged.latency.run_labels(2) == [0] * 48 + [1] * 48
    assert merged.latency.run_labels(5) == [0] * 96  # 96 requests do not split into 5 runs


def test_wall_time_is_not_gated_when_one_run_ran_at_another_speed():
    """Both quiet, the medians agree, but one of the current runs had a host 20 % slower: its wall time moved
    with it, so the CPU figure decides."""
    base = with_samples(make_report(), 1)
    cur = with_samples(make_report(), 2)
    slow_run = with_samples(make_report(), 3, slow=1.2, cpu_slow=1.0, step_ms=12.0)
    cur.samples = merge_samples([cur.samples, with_samples(make_report(), 4).samples, slow_run.samples])
    res = compare_to_baseline(cur, base, gate())
    assert res.figure == "cpu" and "its runs 1.2" in res.figure_reason and res.verdict == "PASS"


def test_the_cpu_figure_follows_the_fitted_slope_of_the_step_reference():
    """The model's CPU per token moves as step ** 1.2 with the host's speed; the current run's host was 40 %
    slower. The plain ratio would read the unchanged build ~7 % worse; the fitted figure reads it unchanged,
    and a planted 20 % regression on the same slow host still fails."""
    def host(report, seed, step_ms, level=1.0):
        r = with_samples(report, seed, slow=step_ms / 10, step_ms=step_ms, contention=1.5)  # busy: CPU figure
        lat = r.samples.latency
        lat.cpu_ms_per_token = [level * 0.1 * s**1.2 for s in lat.step_reference_cpu_ms]
        return r

    base = host(make_report(), 1, 10.0)
    plain = np.median([c / s for c, s in zip(base.samples.latency.cpu_ms_per_token,
                                             base.samples.latency.step_reference_cpu_ms, strict=True)])
    slow_host = host(make_report(), 2, 14.0)
    assert np.median(slow_host.samples.latency.cpu_per_token_vs_reference()) / plain > 1.06
    res = compare_to_baseline(slow_host, base, gate())
    assert res.figure == "cpu" and "step reference ^ 1.2" in res.figure_reason
    assert rows(res)[CPU_REL_METRIC].effect == pytest.approx(1.0, abs=0.01) and res.verdict == "PASS"
    assert compare_to_baseline(host(make_report(), 3, 14.0, level=1.2), base, gate()).verdict == "FAIL"
