"""How often the CI gate says FAIL / INCONCLUSIVE / PASS for an unchanged build and for planted slowdowns.

    python scripts/gate_power.py --loaded-only            # under load from competing processes it starts
    python scripts/gate_power.py --quiet-only             # on a quiet machine (records a quiet baseline first)
    python scripts/gate_power.py --runs 3 --cases 0,100   # a quick look
    python scripts/gate_power.py --loaded-only --mode ab --cases 0,25 --runs 5   # the paired A/B gate instead
    python scripts/gate_power.py --quiet-only --config config/gate_gpu.yaml --model qwen2.5-3b --cases 0,5 \
        --plant-clock wall --results-dir OUT --name gate_power_gpu    # on a GPU machine (scripts/gpu_gate_power.sh)

Each run is .ci/run's gate command (the same flags and config; its own output folder). A planted slowdown
is a per-token busy-wait put into the hf engine's decode step by scripts/gate_plant/sitecustomize.py, on
PYTHONPATH for that run only (never in what users run): +X % burns X % of the CPU time of each decode step
after it. Cases run round-robin (0, 10, 25, 100, 0, ...) so a change in the machine's load hits all alike.
--mode ab runs the paired A/B gate (--ab with this checkout as REF, unplanted: B's PYTHONPATH is REF alone)
instead of the baseline gate.

Loaded: `--competitors N` (default 3) CPU-bound processes (a python loop each) run throughout, so the load
average is at least N from them alone, plus this gate's own process and whatever else the machine runs; the
1-minute load average is read before and after every run. Quiet: every run waits (up to --wait-s) until the
machine's CPU use over 5 s is below --quiet-pct (10 %) of its cores; the half gates against a baseline
recorded quiet just before it (--record-baseline, on by default with --quiet-only:
data/gate_power/baseline_quiet.json), since wall time is gated only when both sides were quiet.

Results go to reports/gate_power_cpu.json (raw, one record per run, both halves kept: a --quiet-only run
keeps the loaded half already there and vice versa) and reports/gate_power_cpu.md (the tables, with the
exact commands).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # mm_orch from this checkout, as its runs use it
PLANT = ROOT / "scripts" / "gate_plant"
BASELINE = "reports/baseline_tiny-qwen2_cpu.json"
QUIET_BASELINE = "data/gate_power/baseline_quiet.json"
RUN_ARGS = ["--benchmark", "--no-progress", "--config", "config/ci_gate.yaml", "--tests", "latency,memory"]


def run_args(config: str, model: str | None) -> list[str]:
    args = [*RUN_ARGS]
    args[args.index("config/ci_gate.yaml")] = config
    return args + (["--model", model] if model else [])


def gate_args(mode: str, baseline: str, base: list[str], repeat: int = 5) -> list[str]:
    """.ci/run's gate command, outputs aside (mode base), or the paired A/B gate against this checkout."""
    if mode == "ab":
        return [*base, "--ab", ".", "--ab-rounds", "6", "--on-inconclusive", "warn"]
    return [*base, "--repeat", str(repeat), "--baseline", baseline, "--check-targets", "--on-inconclusive", "warn"]


SPIN = "import time\nend = time.time() + {s}\nx = 0\nwhile time.time() < end:\n    x = (x * 31 + 7) % 1000003\n"


def record_baseline(path: Path, base: list[str], repeat: int = 15) -> None:
    """The committed baseline's recipe (reports/ci_gate.md), cold model cache, into path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as cache:
        cmd = [sys.executable, "-m", "mm_orch.main", *base, "--repeat", str(repeat), "--no-markdown",
               "--benchmark-output", out]
        r = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "MM_ORCH_CACHE": cache}, capture_output=True, text=True)
        if r.returncode not in (0, 1):
            sys.exit(f"recording the baseline failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
        path.write_bytes(report_path(r.stdout).read_bytes())
    print(f"baseline recorded: {path}", flush=True)


def report_path(stdout: str) -> Path:
    """The JSON report a run wrote (its 'report:' line)."""
    return Path(next(line.split(":", 1)[1].strip() for line in stdout.splitlines() if line.startswith("report:")))


def load1() -> float:
    return os.getloadavg()[0]


def gate_once(case: int, out: Path, args: list[str], clock: str = "cpu") -> dict:
    env = dict(os.environ)
    env.pop("MM_ORCH_PLANT_PCT", None)
    if case:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLANT), env.get("PYTHONPATH")]))
        env["MM_ORCH_PLANT_PCT"] = str(case)
        env["MM_ORCH_PLANT_CLOCK"] = clock
    cmd = [sys.executable, "-m", "mm_orch.main", *args, "--benchmark-output", str(out),
           "--junit-xml", str(out / "junit.xml")]
    before = load1()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    reports = [p for p in out.glob("*.json") if p.name != "junit.json"]
    check = json.loads(max(reports, key=lambda p: p.stat().st_mtime).read_text()).get("baseline_check") \
        if reports else None
    record = {"case_pct": case, "exit": r.returncode, "wall_s": round(wall, 1),
              "load_before": round(before, 2), "load_after": round(load1(), 2),
              "verdict": (check or {}).get("verdict") or ("ERROR" if check is None else None),
              "figure": (check or {}).get("figure")}
    if check is None:
        record["stderr"] = r.stderr[-2000:]
        return record
    gated = [v for v in check.get("verdicts", []) if v.get("gated") and v["figure"] in ("wall", "cpu")]
    record["gated_speed"] = {v["metric"]: {k: v.get(k) for k in ("effect", "ci_low", "ci_high", "detectable_pct",
                                                                 "verdict", "n_current")} for v in gated}
    record["failed"] = [v["metric"] for v in check.get("verdicts", []) if v.get("gated") and v["verdict"] == "FAIL"]
    return record


def start_competitors(n: int, seconds: float) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", SPIN.format(s=seconds)]) for _ in range(n)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=10)


def busy_pct(seconds: float = 5.0) -> float:
    """CPU use of the whole machine over `seconds`, in % of all cores (this script idles meanwhile)."""
    import psutil

    return float(psutil.cpu_percent(interval=seconds))


def wait_quiet(limit: float, wait_s: float) -> bool:
    """Until the machine's CPU use over 5 s is below `limit` % (immediate, unlike the load average)."""
    t0 = time.time()
    while (pct := busy_pct()) >= limit:
        if time.time() - t0 > wait_s:
            return False
        print(f"waiting for a quiet machine: {pct:.0f} % CPU in use", flush=True)
        time.sleep(25)
    return True


def run_half(half: str, cases: list[int], runs: int, gate: list[str], args: argparse.Namespace,
             save=None) -> list[dict]:
    records: list[dict] = []
    procs: list[subprocess.Popen] = []
    if half == "loaded":
        procs = start_competitors(args.competitors, 24 * 3600)
        print(f"started {args.competitors} competing processes; waiting for the load average to reach "
              f"{args.competitors}", flush=True)
        t0 = time.time()
        while load1() < args.competitors and time.time() - t0 < 120:
            time.sleep(5)
    try:
        with tempfile.TemporaryDirectory(prefix="gate_power_") as tmp:
            for i in range(runs):
                for case in cases:
                    if half == "quiet" and not wait_quiet(args.quiet_pct, args.wait_s):
                        print(f"machine not quiet (>= {args.quiet_pct} % CPU in use): run skipped",
                              flush=True)
                        records.append({"case_pct": case, "verdict": "SKIPPED", "load_before": round(load1(), 2)})
                        continue
                    out = Path(tmp) / f"{half}_{case}_{i}"
                    out.mkdir()
                    rec = gate_once(case, out, gate, args.plant_clock)
                    rec["half"], rec["run"] = half, i + 1
                    records.append(rec)
                    if save is not None:
                        save(records)
                    speed = rec.get("gated_speed") or {}
                    eff = ", ".join(f"{k.split('.')[-1]} {v['effect']:.3f} [{v['ci_low'] or 0:.3f}, "
                                    f"{v['ci_high'] or 0:.3f}]" for k, v in speed.items() if v.get("effect"))
                    print(f"{half} run {i + 1} +{case}%: {rec['verdict']} exit {rec['exit']} {rec['wall_s']} s "
                          f"load {rec['load_before']}->{rec['load_after']} figure {rec.get('figure')}: {eff}",
                          flush=True)
    finally:
        stop(procs)
    return records


def _effects(records: list[dict], case: int) -> list[float]:
    """The gated speed figure's effect (current / baseline) in each run of a case."""
    return [v["effect"] for r in records if r["case_pct"] == case and r.get("verdict") != "SKIPPED"
            for k, v in (r.get("gated_speed") or {}).items()
            if v.get("effect") and k in ("latency.cpu_per_token_vs_reference", "latency.tpot_ms")
            and (k == "latency.tpot_ms") == (r.get("figure") == "wall")]


def summary_rows(records: list[dict], cases: list[int]) -> list[str]:
    """One row per case; 'vs unchanged' is the case's median effect over the unchanged build's: what the
    planted busy-wait really cost (more than its nominal share: the wait also slows the steps after it)."""
    rows = ["| planted slowdown | runs | FAIL | INCONCLUSIVE | PASS | other | gate wall s (median, max) | "
            "load avg 1 min (min-max) | figure gated | gated effect, median (min-max) | vs unchanged |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    none = _effects(records, 0)
    for case in cases:
        rs = [r for r in records if r["case_pct"] == case and r.get("verdict") != "SKIPPED"]
        if not rs:
            continue
        count = {v: sum(r["verdict"] == v for r in rs) for v in ("FAIL", "INCONCLUSIVE", "PASS")}
        walls = [r["wall_s"] for r in rs]
        loads = [x for r in rs for x in (r["load_before"], r["load_after"])]
        figures = sorted({r.get("figure") or "?" for r in rs})
        effects = _effects(records, case)
        eff = (f"{statistics.median(effects):.3f} ({min(effects):.3f}-{max(effects):.3f})" if effects else "n/a")
        rel = (f"{(statistics.median(effects) / statistics.median(none) - 1) * 100:+.0f} %"
               if effects and none and case else "")
        rows.append(f"| {'none' if case == 0 else f'+{case} %'} | {len(rs)} | {count['FAIL']} | "
                    f"{count['INCONCLUSIVE']} | {count['PASS']} | {len(rs) - sum(count.values())} | "
                    f"{statistics.median(walls):.0f}, {max(walls):.0f} | {min(loads):.1f}-{max(loads):.1f} | "
                    f"{', '.join(figures)} | {eff} | {rel} |")
    return rows


TARGETS = {  # issue 22: (half, case, what, test on the FAIL count and the runs)
    "loaded": [(0, "an unchanged build never FAILS", lambda f, n: f == 0),
               (25, "+25 % FAILS in at least 9 of 10", lambda f, n: n > 0 and f >= 0.9 * n),
               (100, "+100 % always FAILS", lambda f, n: n > 0 and f == n)],
    "quiet": [(0, "an unchanged build never FAILS", lambda f, n: f == 0),
              (5, "+5 % FAILS in at least 9 of 10 (GPU)", lambda f, n: n > 0 and f >= 0.9 * n),
              (10, "+10 % FAILS in at least 9 of 10", lambda f, n: n > 0 and f >= 0.9 * n)],
}


def target_lines(half: str, recs: list[dict]) -> list[str]:
    out = []
    for case, what, ok in TARGETS.get(half.split("_")[0], []):
        rs = [r for r in recs if r["case_pct"] == case and r.get("verdict") != "SKIPPED"]
        if not rs:
            continue
        fails = sum(r["verdict"] == "FAIL" for r in rs)
        out.append(f"- {what}: {fails} FAIL of {len(rs)} runs: **{'met' if ok(fails, len(rs)) else 'NOT met'}**")
    timed = [r for r in recs if r.get("wall_s") is not None]
    if timed:
        walls = [r["wall_s"] for r in timed]
        over = sum(w > 120 for w in walls)
        out.append(f"- the gate within 2 minutes: {len(walls) - over} of {len(walls)} runs "
                   f"(median {statistics.median(walls):.0f} s, max {max(walls):.0f} s)")
        light = [r["wall_s"] for r in timed if max(r["load_before"], r["load_after"]) < 5]
        if light and len(light) < len(walls):
            top = max(max(r["load_before"], r["load_after"]) for r in timed)
            out.append(f"  - of the runs whose load average stayed below 5: {sum(w <= 120 for w in light)} of "
                       f"{len(light)} (max {max(light):.0f} s); the others ran at load averages up to {top:.0f}, "
                       "with other jobs on the machine beside the competing processes")
    return out


def render(data: dict, name: str = "gate_power_cpu") -> str:
    where = data.get("machine") or "this 2-core machine"
    out = [f"# Gate power on {where}: how often each verdict came", "",
           f"Generated by `scripts/gate_power.py` (its docstring says how); raw records in `{name}.json`. "
           "A planted slowdown of +X % is `PYTHONPATH=scripts/gate_plant MM_ORCH_PLANT_PCT=X`: after every decode "
           "step of the hf engine, a busy-wait of X % of that step's own CPU time. The wait costs more than its "
           "nominal share (it also slows the steps after it): the column 'vs unchanged' is what each planted "
           "case really cost, the median gated effect over the unchanged build's. Targets (issue 22): loaded, "
           "+25 % FAILS in at least 9 of 10 runs, an unchanged build never FAILS, +100 % always FAILS; quiet, "
           "+10 % FAILS in at least 9 of 10; the gate within 2 minutes.", ""]
    for key in sorted(k for k in data if not k.endswith("_meta") and k != "machine"):
        recs, meta = data[key], data.get(f"{key}_meta") or {}
        out += [f"## {key.replace('_', ' ')}", "", f"Run {meta.get('when', '?')} with `{meta.get('command', '')}`.",
                "", "Each run:", "", f"    {meta.get('gate', '')}", ""]
        if meta.get("baseline_state"):
            out += [f"Baseline: {meta['baseline_state']}.", ""]
            if meta.get("note"):
                out += [f"Note: {meta['note']}.", ""]
        out += summary_rows(recs, sorted({r["case_pct"] for r in recs}))
        out += ["", *target_lines(key, recs), ""]
    for half in ("loaded", "quiet") if name == "gate_power_cpu" else ():
        if not any(k.startswith(half) for k in data):
            out += [f"## {half}", "", f"Not run yet: `python scripts/gate_power.py --{half}-only`.", ""]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--loaded-only", action="store_true", help="only the half under load")
    g.add_argument("--quiet-only", action="store_true", help="only the quiet half")
    p.add_argument("--runs", type=int, default=10, help="gate runs per case (default 10)")
    p.add_argument("--cases", default="0,10,25,100", help="planted slowdowns in %% (default 0,10,25,100)")
    p.add_argument("--competitors", type=int, default=3, help="competing processes when loaded (default 3)")
    p.add_argument("--quiet-pct", type=float, default=10, help="quiet: the machine's CPU use over 5 s below this "
                   "%% of all cores before each run (default 10)")
    p.add_argument("--wait-s", type=float, default=1800, help="quiet: longest wait for a quiet machine per run")
    p.add_argument("--mode", choices=["base", "ab"], default="base", help="base: .ci/run's gate against a baseline "
                   "file (default); ab: the paired A/B gate against this checkout")
    p.add_argument("--record-baseline", action=argparse.BooleanOptionalAction, default=None,
                   help=f"record a baseline first ({QUIET_BASELINE}); default: on with --quiet-only")
    p.add_argument("--config", default="config/ci_gate.yaml", help="the gate's config (default .ci/run's)")
    p.add_argument("--model", help="the model (default: the config's, else tiny-qwen2)")
    p.add_argument("--plant-clock", choices=["cpu", "wall"], default="cpu", help="the planted wait is a share of "
                   "each step's thread CPU time (cpu, default) or wall time (wall: GPU engines)")
    p.add_argument("--baseline", help="gate against this baseline file instead of recording one")
    p.add_argument("--repeat", type=int, default=5, help="--repeat of each gate run (default 5, as .ci/run)")
    p.add_argument("--baseline-repeat", type=int, default=15, help="--repeat of a recorded baseline (default 15)")
    p.add_argument("--results-dir", default=str(ROOT / "reports"), help="where NAME.json and NAME.md go")
    p.add_argument("--name", default="gate_power_cpu", help="file name of the results (default gate_power_cpu)")
    p.add_argument("--machine", help="the machine in words, for the Markdown title")
    p.add_argument("--append", action="store_true", help="add these runs to the half's records already there")
    p.add_argument("--no-write", action="store_true", help="print only; leave reports/ alone")
    p.add_argument("--render-only", action="store_true", help="rewrite the Markdown from the JSON records only")
    a = p.parse_args(argv)
    results = Path(a.results_dir) / f"{a.name}.json"
    markdown = results.with_suffix(".md")
    if a.render_only:
        markdown.write_text(render(json.loads(results.read_text()), a.name))
        return 0
    cases = [int(x) for x in a.cases.split(",")]
    base = run_args(a.config, a.model)
    data = json.loads(results.read_text()) if results.exists() else {}
    if a.machine:
        data["machine"] = a.machine
    halves = ["loaded"] if a.loaded_only else ["quiet"] if a.quiet_only else ["loaded", "quiet"]
    for half in halves:
        baseline = a.baseline or BASELINE
        if a.mode == "base" and not a.baseline and (
                a.record_baseline or (a.record_baseline is None and half == "quiet")):
            if half == "quiet" and not wait_quiet(a.quiet_pct, a.wait_s):
                sys.exit(f"the machine did not get quiet (< {a.quiet_pct} % CPU in use) within {a.wait_s:g} s")
            record_baseline(ROOT / QUIET_BASELINE, base, a.baseline_repeat)
            baseline = QUIET_BASELINE
        gate = gate_args(a.mode, baseline, base, a.repeat)
        t0 = time.time()
        key = half if a.mode == "base" else f"{half}_ab"
        meta = {"command": "python scripts/gate_power.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
                "baseline_state": baseline_state(baseline),
                "gate": shlex.join(["python3", "-m", "mm_orch.main", *gate, "--benchmark-output", "DIR",
                                    "--junit-xml", "DIR/junit.xml"])}
        save = functools.partial(save_half, data, key, data.get(key, []) if a.append else [], meta, t0,
                                 None if a.no_write else results, a.name)
        recs = run_half(half, cases, a.runs, gate, a, save)
        print("\n".join(summary_rows(recs, cases)), flush=True)
    return 0


def save_half(data: dict, key: str, before: list[dict], meta: dict, t0: float, results: Path | None, name: str,
              recs: list[dict]) -> None:
    """The half's records so far into data and, unless results is None, onto disk (JSON and Markdown): called
    after every run, so a run cut short keeps what it measured."""
    data[key] = before + recs
    data[f"{key}_meta"] = {"when": time.strftime("%Y-%m-%d %H:%M", time.localtime(t0))
                           + f", {time.time() - t0:.0f} s", **meta}
    if results is not None:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(data, indent=1) + "\n")
        results.with_suffix(".md").write_text(render(data, name))


def baseline_state(path: str) -> str:
    """The baseline's time, load and reference contention, in words."""
    from mm_orch.benchmark.reporter import load_report
    from mm_orch.gate.regression import machine_state

    report = load_report(ROOT / path)
    return f"`{path}`, recorded {report.timestamp}, {machine_state(report, 'then').line}"


if __name__ == "__main__":
    sys.exit(main())
