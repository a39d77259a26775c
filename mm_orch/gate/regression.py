"""The regression verdict of a run against its baseline, from samples: which figure decides, and each metric's
PASS / FAIL / INCONCLUSIVE (gate/verdict.py does the statistics).

Samples per metric (report/samples.py): per request of the latency headline (TTFT, TPOT, E2E, per-request
tokens/s; CPU ms per output token and that over the step reference where the engine works in this process
on the CPU), labelled with their --repeat run so the interval resamples runs as well as requests (runs
differ by more than their requests suggest), and per run of every catalogue metric with --repeat
(report.repeat). A metric with fewer than 3
samples on a side has one value per side: memory (measured once, cold) is still gated on it as before
(threshold and memory_noise_gb); a speed figure is then reported, not gated, since one number of a shared
machine cannot tell a regression from noise.

Which speed figure decides (gate.figure, auto by default):
* wall time, when both runs had the machine to themselves (the machine reference's wall/CPU below the busy
  threshold) and ran at the same speed (machine references within 10 %, step references within 5 %, and no
  run's step reference more than 10 % from another's: the machine's speed drifts with the host's other
  tenants even when this VM is quiet, and wall time moves with it);
* CPU ms per output token over the step reference (`latency.cpu_per_token_vs_reference`, the reference raised
  to a slope fitted on both sides' requests: gate/cpu_figure.py), when either run was busy or the machines
  differ in speed, and both have that figure (an engine in this process on the CPU); wall time is then
  reported, not gated. When either run was busy, gate.busy_tolerances come before gate.tolerances:
  contention shifts even this figure a little, a bias no interval shows. Without a CPU figure, wall time
  decides and the note says the machine was busy.

The machine-speed reference (gate/machine_reference.py, process-CPU medians, since contention inflates wall
time) refuses the speed comparison beyond gate.max_machine_ratio (1.5x) either way: speed rows are
INCONCLUSIVE with the one line that says why, memory is still gated. Within it, the CPU figure normalizes
itself (each request over the step reference timed beside it).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from mm_orch.config import GateSettings
from mm_orch.gate import cpu_figure
from mm_orch.gate.machine_reference import MachineReference, check_comparable, speed_ratio
from mm_orch.gate.robust_time import machine_busy
from mm_orch.gate.verdict import MetricVerdict, compare, overall
from mm_orch.report import catalogue
from mm_orch.report.gate_results import BaselineResult, Figure, MetricDelta, MetricVerdictRow, Verdict
from mm_orch.report.model import Report
from mm_orch.report.samples import ReferenceSamples

Direction = Literal["lower_is_better", "higher_is_better"]

CPU_METRIC = "latency.cpu_ms_per_token"
CPU_REL_METRIC = "latency.cpu_per_token_vs_reference"
PER_REQUEST: dict[str, tuple[str, Direction]] = {  # headline key -> (RequestSamples field, direction)
    "latency.ttft_ms": ("ttft_ms", "lower_is_better"),
    "latency.tpot_ms": ("tpot_ms", "lower_is_better"),
    "latency.e2e_latency_ms": ("e2e_latency_ms", "lower_is_better"),
    "latency.tokens_per_second": ("request_tokens_per_second", "higher_is_better"),
}
MIN_SAMPLES = 3
CONTENTION_BUSY = 1.15  # reference wall / CPU at or above: the reference waited for a core 13 % of its time
SPEED_DIFFERS = 1.10  # machine-speed references further apart than this: wall time is not compared as is
STEP_DIFFERS = 1.05  # step references (the decode-like work beside the requests) further apart: the same
RUNS_DIFFER = 1.10  # the slowest run's step reference (either side) this much above the fastest's: the same
MIN_CPU_SHARE = 0.5  # process CPU / wall of the requests below this: the engine works elsewhere


@dataclass(slots=True)
class SampleSet:
    key: str
    direction: Direction
    figure: Figure
    values: list[float]
    per: str  # "request" or "run"
    runs: list[int] | None = None  # per request: the --repeat run it belongs to (the verdict resamples runs too)


def _figure(section: str) -> Figure:
    return "memory" if section == "memory" else "other" if section == "accuracy" else "wall"


def per_request(key: str, direction: Direction, figure: Figure, raw: Sequence[float | None], runs: Sequence[int]
                ) -> SampleSet:
    """The requests' values of one metric with the run of each, missing values left out."""
    kept = [(v, r) for v, r in zip(raw, runs, strict=True) if v is not None]
    return SampleSet(key, direction, figure, [v for v, _ in kept], "request", [r for _, r in kept])


def sample_sets(report: Report) -> dict[str, SampleSet]:
    """Every metric of the report that has samples: per request (headline, CPU) and per run (--repeat)."""
    out: dict[str, SampleSet] = {}
    lat = report.samples.latency if report.samples else None
    if lat is not None and len(lat):
        labels = lat.run_labels(report.samples.runs)
        for key, (name, direction) in PER_REQUEST.items():
            out[key] = per_request(key, direction, "wall", getattr(lat, name), labels)
        if lat.cpu_ms_per_token is not None and in_process(report):
            out[CPU_METRIC] = per_request(CPU_METRIC, "lower_is_better", "cpu", lat.cpu_ms_per_token, labels)
            rel = lat.cpu_per_token_vs_reference()
            if rel is not None:
                out[CPU_REL_METRIC] = per_request(CPU_REL_METRIC, "lower_is_better", "cpu", rel, labels)
    if report.repeat is not None:
        slots = catalogue.slots(report)
        for key, spread in report.repeat.metrics.items():
            if key in out or key not in slots:
                continue
            m = slots[key].metric
            direction: Direction = "lower_is_better" if m.direction == "lower" else "higher_is_better"
            out[key] = SampleSet(key, direction, _figure(m.section), list(spread.values), "run")
    return out


def in_process(report: Report) -> bool:
    """Did the engine do its work in this process? Its requests' CPU / wall share, scaled up by how long the
    machine reference waited for a core (contention lowers every share alike), is at least MIN_CPU_SHARE;
    an engine working in another process (a server, an engine-core process) leaves this one mostly idle."""
    lat = report.samples.latency if report.samples else None
    share = lat.cpu_share() if lat is not None else None
    if share is None:
        return False
    ref = _reference(report.samples.machine_reference, cpu=False)
    contention = ref.contention if ref is not None and ref.contention else 1.0
    return share * max(1.0, contention) >= MIN_CPU_SHARE


def _reference(samples: ReferenceSamples | None, cpu: bool) -> MachineReference | None:
    if samples is None or not samples.samples_ms:
        return None
    walls = samples.samples_ms
    return MachineReference.from_samples(samples.workload_id, samples.version,
                                         list(samples.cpu_samples_ms if cpu else walls),
                                         list(samples.cpu_samples_ms) if not cpu else None)


@dataclass(slots=True)
class MachineState:
    busy: bool
    line: str  # "quiet: load 0.3 per CPU from others, reference wall/CPU 1.01"


def machine_state(report: Report, side: str) -> MachineState:
    """Busy when the machine reference waited for a core (median wall / median CPU >= CONTENTION_BUSY, sampled
    before, between and after the tests); without a reference, when other processes' load average reached 0.25
    per CPU before or after the run (gate.robust_time.machine_busy)."""
    info = report.system_info
    loads = [s.load_1m for s in (info.load_before, info.load_after) if s is not None and s.load_1m is not None] \
        if info is not None else []
    lat = report.samples.latency if report.samples else None
    own = 1.0 if lat is not None and lat.cpu_ms is not None else 0.0  # our own decoding thread counts in the load
    by_load = machine_busy(load1=loads, cpu_count=(info.cpu_count if info else None) or 1, own_load=own) \
        if loads else None
    ref = _reference(report.samples.machine_reference if report.samples else None, cpu=False)
    contention = ref.contention if ref is not None else None
    # the reference's wall/CPU is immediate and read through the run; the 1-minute load average lags by a
    # minute (a job that ended before the run still counts), so it decides only where there is no reference
    busy = contention >= CONTENTION_BUSY if contention is not None else bool(by_load and by_load.busy)
    parts = []
    if by_load is not None and by_load.other_load_per_cpu is not None:
        parts.append(f"load {max(loads):.2f} ({by_load.other_load_per_cpu:.2f} per CPU from others)")
    if contention is not None:
        parts.append(f"reference wall/CPU {contention:.2f}")
    return MachineState(busy, f"{side} {'busy' if busy else 'quiet'} ({', '.join(parts) or 'no load reading'})")


def machine_check(baseline: Report, current: Report, gate: GateSettings) -> tuple[str | None, float | None, str]:
    """(refusal line or None, CPU speed ratio current/baseline or None, the line for the report)."""
    base = _reference(baseline.samples.machine_reference if baseline.samples else None, cpu=True)
    cur = _reference(current.samples.machine_reference if current.samples else None, cpu=True)
    if base is None or cur is None:
        side = "baseline" if base is None else "current run"
        return None, None, f"machine speed not checked: the {side} has no machine reference"
    refused = check_comparable(base, cur, gate.max_machine_ratio)
    if refused is not None:
        return f"speed not compared: {refused}", None, f"speed not compared: {refused}"
    ratio = speed_ratio(base, cur)
    return None, ratio, (f"machine reference (CPU time) {ratio:.2f}x the baseline's ({cur.median_ms:.1f} vs "
                         f"{base.median_ms:.1f} ms median, {len(cur.samples_ms)}/{len(base.samples_ms)} samples)")


def choose_figure(baseline: Report, current: Report, gate: GateSettings, sets_b: dict, sets_c: dict,
                  ratio: float | None, sb: MachineState, sc: MachineState) -> tuple[Literal["wall", "cpu"], str]:
    has_cpu = CPU_REL_METRIC in sets_b and CPU_REL_METRIC in sets_c and _same_step_reference(baseline, current)
    states = f"{sc.line}; {sb.line}"
    differs = ratio is not None and not 1 / SPEED_DIFFERS <= ratio <= SPEED_DIFFERS
    step = step_ratio(baseline, current)
    if step is not None:
        states += f"; step reference {step:.2f}x the baseline's"
        differs = differs or not 1 / STEP_DIFFERS <= step <= STEP_DIFFERS
        spread = step_spread(baseline, current)
        if spread is not None:
            states += f", its runs {spread:.2f}x apart"
            differs = differs or spread > RUNS_DIFFER
    if gate.figure == "wall":
        return "wall", f"wall time (gate.figure: wall); {states}"
    if gate.figure == "cpu":
        if has_cpu:
            return "cpu", f"CPU time over the step reference (gate.figure: cpu); {states}"
        return "wall", f"wall time: gate.figure asks for CPU time but a side has no CPU figure; {states}"
    if not (sb.busy or sc.busy or differs):
        return "wall", f"wall time: both quiet; {states}"
    why = "machine speeds differ" if differs and not (sb.busy or sc.busy) else "machine busy"
    if has_cpu:
        return "cpu", f"CPU time over the step reference ({why}); {states}"
    return "wall", f"wall time although {why} (no CPU figure for this engine on both sides); {states}"


def step_ratio(baseline: Report, current: Report) -> float | None:
    """Median step-reference CPU time of this run / the baseline's: how much faster or slower the same kind of
    work ran (None without the reference on both sides)."""
    if not _same_step_reference(baseline, current):
        return None
    b, c = (median([v for v in r.samples.latency.step_reference_cpu_ms or [] if v]) for r in (baseline, current))
    return c / b if b and c else None


def step_spread(baseline: Report, current: Report) -> float | None:
    """Slowest / fastest run of either side by its median step-reference CPU time: whether the machine's speed
    held still through both (a host that slows for one run moves that run's wall time with it)."""
    if not _same_step_reference(baseline, current):
        return None
    medians = []
    for r in (baseline, current):
        lat = r.samples.latency
        by_run: dict[int, list[float]] = {}
        for v, run in zip(lat.step_reference_cpu_ms or [], lat.run_labels(r.samples.runs), strict=True):
            if v:
                by_run.setdefault(run, []).append(v)
        medians += [float(np.median(vs)) for vs in by_run.values()]
    return max(medians) / min(medians) if medians and min(medians) > 0 else None


def _same_step_reference(baseline: Report, current: Report) -> bool:
    ids = [r.samples.latency.step_reference_id if r.samples and r.samples.latency else None
           for r in (baseline, current)]
    return ids[0] is not None and ids[0] == ids[1]


def tolerance_for(metric: str, gate: GateSettings, busy: bool = False) -> float:
    """The first matching pattern of gate.busy_tolerances (when a side was busy), then of gate.tolerances,
    else gate.tolerance_pct."""
    for table in ([gate.busy_tolerances] if busy else []) + [gate.tolerances]:
        for pattern, pct in table.items():
            if fnmatch.fnmatchcase(metric, pattern):
                return pct
    return gate.tolerance_pct


def ratio_tolerance(pct_worse: float, direction: Direction) -> float:
    """The configured 'percent worse' (against the better value, so 2x slower is 100 % for latency and for
    throughput) as gate.verdict's tolerance: a higher-is-better metric may fall to 1 / (1 + pct)."""
    if direction == "lower_is_better":
        return pct_worse
    return (1.0 - 1.0 / (1.0 + pct_worse / 100.0)) * 100.0


def worse_pct(detectable: float | None, direction: Direction) -> float | None:
    """gate.verdict's detectable % back in 'percent worse' (a drop of d % of throughput is 1/(1-d) - 1 worse)."""
    if detectable is None or direction == "lower_is_better":
        return detectable
    return None if detectable >= 100 else (1.0 / (1.0 - detectable / 100.0) - 1.0) * 100.0


def row(v: MetricVerdict, figure: Figure, gated: bool, tolerance_pct: float, why_not: str | None = None
        ) -> MetricVerdictRow:
    return MetricVerdictRow(metric=v.metric, figure=figure, gated=gated, why_not_gated=None if gated else why_not,
                            direction=v.direction, statistic=v.statistic, effect=v.effect, ci_low=v.ci_low,
                            ci_high=v.ci_high, confidence=v.confidence, n_baseline=v.n_baseline,
                            n_current=v.n_current, tolerance_pct=tolerance_pct,
                            detectable_pct=worse_pct(v.detectable_pct, v.direction), verdict=v.verdict,
                            reason=v.reason)


def verdict_of(s_b: SampleSet, s_c: SampleSet, gate: GateSettings, paired: bool = False, busy: bool = False
               ) -> tuple[MetricVerdict, float]:
    tol = tolerance_for(s_c.key, gate, busy)
    runs = {} if paired else {"baseline_runs": s_b.runs, "current_runs": s_c.runs}
    v = compare(s_c.key, s_b.values, s_c.values, s_c.direction, ratio_tolerance(tol, s_c.direction),
                confidence=gate.confidence, paired=paired, **runs)
    return v, tol


def refused_row(key: str, figure: Figure, direction: Direction, tol: float, why: str, gate: GateSettings,
                nb: int, nc: int) -> MetricVerdictRow:
    return MetricVerdictRow(metric=key, figure=figure, gated=True, direction=direction, statistic="not compared",
                            effect=None, ci_low=None, ci_high=None, confidence=gate.confidence, n_baseline=nb,
                            n_current=nc, tolerance_pct=tol, detectable_pct=None, verdict="INCONCLUSIVE",
                            reason=why)


def single_value_row(d: MetricDelta, figure: Figure, gated: bool, why_not: str | None) -> MetricVerdictRow:
    direction: Direction = "lower_is_better" if d.direction == "lower" else "higher_is_better"
    failed = d.status == "regression"
    effect = d.current / d.baseline if d.baseline else None
    return MetricVerdictRow(metric=d.metric, figure=figure, gated=gated, why_not_gated=None if gated else why_not,
                            direction=direction, statistic="single value (no samples)", effect=effect, ci_low=None,
                            ci_high=None, confidence=1.0, n_baseline=1, n_current=1, tolerance_pct=d.tolerance_pct,
                            detectable_pct=d.tolerance_pct, verdict="FAIL" if failed else "PASS",
                            reason=f"one value per side: {d.worse_pct:+.1f} % worse against a tolerance of "
                                   f"{d.tolerance_pct:g} % ({d.status})")


@dataclass(slots=True)
class Verdicts:
    rows: list[MetricVerdictRow]
    figure: Literal["wall", "cpu"]
    figure_reason: str
    machine: str
    notes: list[str]


def _gated(figure: Figure, chosen: str, key: str, gate: GateSettings) -> tuple[bool, str | None]:
    if any(fnmatch.fnmatchcase(key, p) for p in gate.report_only):
        return False, "gate.report_only"
    if figure in ("memory", "other"):
        return True, None
    if chosen == "cpu":
        if key == CPU_REL_METRIC:
            return True, None
        return False, ("CPU time over the step reference decided" if figure == "wall"
                       else "raw CPU time moves with the machine; the figure over the step reference decided")
    if figure == "cpu":
        return False, "wall time decided (both runs quiet)"
    return True, None


def sampled_verdicts(baseline: Report, current: Report, gate: GateSettings, deltas: Sequence[MetricDelta],
                     ignored: set[str]) -> Verdicts:
    """Every metric's verdict (gated or reported) against a baseline with samples."""
    sets_b, sets_c = sample_sets(baseline), sample_sets(current)
    refused, ratio, machine = machine_check(baseline, current, gate)
    sb, sc = machine_state(baseline, "baseline"), machine_state(current, "this run")
    chosen, why = choose_figure(baseline, current, gate, sets_b, sets_c, ratio, sb, sc)
    busy = sb.busy or sc.busy
    rows: list[MetricVerdictRow] = []
    notes: list[str] = []
    slope = fit_cpu_figure(baseline, current, sets_b, sets_c)
    if slope is not None and chosen == "cpu":
        why += f"; CPU figure = CPU ms per token / step reference ^ {slope:.2f} (slope fitted on both sides' requests)"
    done: set[str] = set()
    for key in [k for k in sets_c if k in sets_b]:
        if key in ignored or any(fnmatch.fnmatchcase(key, p) for p in gate.ignore):
            continue
        s_b, s_c = sets_b[key], sets_c[key]
        if len(s_b.values) < MIN_SAMPLES or len(s_c.values) < MIN_SAMPLES:
            continue  # one value per side: compared below as a single value
        gated, why_not = _gated(s_c.figure, chosen, key, gate)
        tol = tolerance_for(key, gate, busy)
        if refused is not None and s_c.figure in ("wall", "cpu"):
            if gated:
                rows.append(refused_row(key, s_c.figure, s_c.direction, tol, refused, gate, len(s_b.values),
                                        len(s_c.values)))
                done.add(key)
            continue
        v, tol = verdict_of(s_b, s_c, gate, busy=busy)
        rows.append(row(v, s_c.figure, gated, tol, why_not))
        done.add(key)
    slots = catalogue.slots(current)
    for d in deltas:
        if d.metric in done or d.metric not in slots:
            continue
        figure = _figure(slots[d.metric].metric.section)
        if any(fnmatch.fnmatchcase(d.metric, p) for p in gate.report_only):
            rows.append(single_value_row(d, figure, False, "gate.report_only"))
        elif figure in ("memory", "other"):
            rows.append(single_value_row(d, figure, True, None))
        else:
            why_not = ("speed not compared on this machine" if refused is not None else
                       "one value per side: a single speed figure of a shared machine cannot tell a regression "
                       "from noise (--repeat 3 on both sides gives per-run samples)")
            rows.append(single_value_row(d, figure, False, why_not))
    if refused is not None:
        notes.append(refused)
    if not any(r.gated for r in rows):
        notes.append("nothing was gated: no metric has samples on both sides (INCONCLUSIVE)")
    return Verdicts(rows, chosen, why, machine, notes)


def fit_cpu_figure(baseline: Report, current: Report, sets_b: dict[str, SampleSet], sets_c: dict[str, SampleSet]
                   ) -> float | None:
    """Both sides' CPU figure re-derived with the slope fitted on their requests (gate/cpu_figure.py); the
    slope, or None when it could not be fitted (the plain ratio stays)."""
    if CPU_REL_METRIC not in sets_b or CPU_REL_METRIC not in sets_c:
        return None
    lats = [r.samples.latency for r in (baseline, current)]
    sides = [(lat.cpu_ms_per_token or [], lat.step_reference_cpu_ms or []) for lat in lats]
    slope = cpu_figure.step_slope(sides)
    if slope is None:
        return None
    for report, lat, (cpu, step), sets in zip((baseline, current), lats, sides, (sets_b, sets_c), strict=True):
        sets[CPU_REL_METRIC] = per_request(CPU_REL_METRIC, "lower_is_better", "cpu",
                                           cpu_figure.figure(cpu, step, slope), lat.run_labels(report.samples.runs))
    return slope


def order(rows: Sequence[MetricVerdictRow]) -> list[MetricVerdictRow]:
    """Gated first (FAIL, INCONCLUSIVE, PASS), then reported rows; stable within."""
    rank = {"FAIL": 0, "INCONCLUSIVE": 1, "PASS": 2}
    return sorted(rows, key=lambda r: (not r.gated, rank[r.verdict]))


def median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if len(values) else None


def apply_verdicts(result: BaselineResult, baseline: Report, current: Report, gate: GateSettings) -> None:
    """Fill result.verdict / verdicts / figure from samples, and make the deltas' statuses agree with them.

    A baseline without samples (written before they existed) keeps the single-value comparison: FAIL on a
    regression beyond the tolerance, else PASS, with a note saying so."""
    result.on_inconclusive = gate.on_inconclusive
    if baseline.samples is None or (current.samples is None and current.repeat is None):
        side = "baseline" if baseline.samples is None else "current run"
        result.verdict = "FAIL" if result.regressions else "PASS"
        result.notes.append(f"the {side} has no samples (a report written before them): each metric was compared "
                            f"as one value per side ({result.statistic}), as before, with no interval")
        return
    v = sampled_verdicts(baseline, current, gate, result.deltas, set(result.not_compared))
    result.verdicts = order(v.rows)
    result.figure, result.figure_reason, result.machine = v.figure, v.figure_reason, v.machine
    result.notes += v.notes
    result.verdict = overall_of(result.verdicts)
    result.passed = result.verdict != "FAIL"
    _agree(result)


def overall_of(rows: Sequence[MetricVerdictRow]) -> Verdict:
    return overall([r.verdict for r in rows if r.gated])


def round_values(reports: Sequence[Report]) -> dict[str, SampleSet]:
    """One value per run of every metric with samples: the median of a run's per-request samples, or the run's
    catalogue value (memory and the rest); a metric missing from any run is left out."""
    per_run = [sample_sets(r) for r in reports]
    values = [catalogue.values(r) for r in reports]
    slots = catalogue.slots(reports[0]) if reports else {}
    out: dict[str, SampleSet] = {}
    keys = set(per_run[0]) | set(values[0]) if reports else set()
    for key in keys:
        if all(key in s and s[key].values for s in per_run):
            s0 = per_run[0][key]
            medians = [float(np.median(s[key].values)) for s in per_run]
            out[key] = SampleSet(key, s0.direction, s0.figure, medians, "run")
        elif key in slots and all(v.get(key) is not None for v in values):
            m = slots[key].metric
            direction: Direction = "lower_is_better" if m.direction == "lower" else "higher_is_better"
            out[key] = SampleSet(key, direction, _figure(m.section), [float(v[key]) for v in values], "run")
    return out


def paired_verdicts(a_runs: Sequence[Report], b_runs: Sequence[Report], gate: GateSettings,
                    ignored: set[str]) -> Verdicts:
    """A/B in one job: run i of A and run i of B were measured back to back on the same machine, so each
    metric's per-run values are compared as pairs (gate.verdict.compare(paired=True)): the effect is the
    median of the per-pair ratios A_i / B_i and drift that hits both runs of a pair cancels."""
    sets_a, sets_b = round_values(a_runs), round_values(b_runs)
    states = [machine_state(r, f"{side}{i + 1}") for side, runs in (("A", a_runs), ("B", b_runs))
              for i, r in enumerate(runs)]
    busy = [s.line for s in states if s.busy]
    has_cpu = CPU_REL_METRIC in sets_a and CPU_REL_METRIC in sets_b
    if gate.figure == "wall" or not has_cpu or (gate.figure == "auto" and not busy):
        chosen: Literal["wall", "cpu"] = "wall"
        why = ("wall time: every run quiet" if not busy else
               "wall time (gate.figure: wall)" if gate.figure == "wall" else
               "wall time although the machine was busy (no CPU figure on both sides)")
    else:
        chosen, why = "cpu", "CPU time over the step reference" + (f" (busy: {busy[0]})" if busy else "")
    rows: list[MetricVerdictRow] = []
    for key in sorted(k for k in sets_a if k in sets_b):
        if key in ignored or any(fnmatch.fnmatchcase(key, p) for p in gate.ignore):
            continue
        s_b, s_a = sets_b[key], sets_a[key]
        gated, why_not = _gated(s_a.figure, chosen, key, gate)
        v, tol = verdict_of(s_b, s_a, gate, paired=True)
        rows.append(row(v, s_a.figure, gated, tol, why_not))
    notes = [f"A/B in one job: {len(a_runs)} runs per side, alternating (ABBA order); run i of each side is a pair"]
    if not any(r.gated for r in rows):
        notes.append("nothing was gated (INCONCLUSIVE)")
    return Verdicts(order(rows), chosen, why, "A/B on one machine: no machine reference needed", notes)


def apply_paired(result: BaselineResult, a_runs: Sequence[Report], b_runs: Sequence[Report],
                 gate: GateSettings) -> None:
    """result (the deltas of A's medians against B's) gets the paired verdicts."""
    v = paired_verdicts(a_runs, b_runs, gate, set(result.not_compared))
    result.paired, result.on_inconclusive = True, gate.on_inconclusive
    result.verdicts, result.figure, result.figure_reason, result.machine = v.rows, v.figure, v.figure_reason, v.machine
    result.notes += v.notes
    result.verdict = overall_of(result.verdicts)
    result.passed = result.verdict != "FAIL"
    _agree(result)


def _agree(result: BaselineResult) -> None:
    by_metric = {r.metric: r for r in result.verdicts}
    for d in result.deltas:
        r = by_metric.get(d.metric)
        d.verdict = r.verdict if r is not None and r.gated else None
        if r is not None and r.gated:
            d.status = {"FAIL": "regression", "INCONCLUSIVE": "inconclusive"}.get(
                r.verdict, "ok" if d.status in ("regression", "noise", "not_gated", "inconclusive") else d.status)
        elif d.status in ("regression", "noise"):
            d.status = "not_gated"
