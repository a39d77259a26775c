"""How much worse than a baseline do repeated runs on this machine get, per metric? (Chooses CI tolerances.)

    python scripts/gate_spread.py BASELINE.json RUN1.json RUN2.json ... [--statistic best|median]

Prints, per metric, the largest 'worse by' percentage (as the gate computes it) over the runs.
"""

from __future__ import annotations

import argparse

from mm_orch.benchmark.reporter import load_report
from mm_orch.config import GateSettings
from mm_orch.gate.baseline import compare_to_baseline


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("baseline")
    p.add_argument("runs", nargs="+")
    p.add_argument("--statistic", default="best", choices=["best", "median"])
    a = p.parse_args()
    base = load_report(a.baseline)
    gate = GateSettings(tolerance_pct=0, statistic=a.statistic)
    worst: dict[str, list[float]] = {}
    for run in a.runs:
        res = compare_to_baseline(load_report(run), base, gate)
        for d in res.deltas:
            worst.setdefault(d.metric, []).append(d.worse_pct)
    print(f"{'metric':55} {'worst %':>9}  per run (% worse; <0 = better)")
    for metric, w in worst.items():
        print(f"{metric:55} {max(w):9.1f}  " + " ".join(f"{x:7.1f}" for x in w))


if __name__ == "__main__":
    main()
