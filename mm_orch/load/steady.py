"""The steady window of an open-loop run: which requests count once the warm-up and cool-down are trimmed.

The first requests of a schedule meet an idle server (short queues, flattering latencies), the last ones a
draining one. benchmark.load.steady trims either edge by time (seconds of the schedule, from the first due time
or back from the last) or by count; with both, the larger cut wins. The window is decided on due times alone, so
it can be checked on the schedule before anything is sent and recomputed from the records afterwards.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mm_orch.errors import ConfigError
from mm_orch.report.load_parts import SteadyWindow
from mm_orch.settings.open_loop import SteadySettings

if TYPE_CHECKING:
    from mm_orch.load.results import LoadRecord


def bounds(dues_ns: Sequence[int], steady: SteadySettings) -> tuple[int, int]:
    """[i0, i1): the counted positions of the ascending due times."""
    n = len(dues_ns)
    if not n:
        return 0, 0
    first, last = dues_ns[0], dues_ns[-1]
    i0 = max(steady.start_requests, bisect.bisect_left(dues_ns, first + round(steady.start_seconds * 1e9)))
    i1 = n - max(steady.end_requests, n - bisect.bisect_right(dues_ns, last - round(steady.end_seconds * 1e9)))
    return min(i0, n), max(i1, 0)


def check_schedule(offsets_ns: Sequence[int], steady: SteadySettings) -> None:
    """Before sending: a window that leaves no request is a ConfigError naming the setting."""
    if not steady.trims:
        return
    i0, i1 = bounds(sorted(offsets_ns), steady)
    if i1 <= i0:
        raise ConfigError(f"benchmark.load.steady: {steady.rule()} leaves none of the schedule's {len(offsets_ns)} "
                          "requests to count; trim less or schedule more")


def split(recs: Sequence[LoadRecord], steady: SteadySettings) -> tuple[list[LoadRecord], SteadyWindow | None]:
    """(the counted records, the window); every record and None when nothing is trimmed. A run that stopped
    early (fewer sent than scheduled) may leave an empty window: then every record counts and the rule says so."""
    if not steady.trims or not recs:
        return list(recs), None
    order = sorted(recs, key=lambda r: (r.due_ns, r.index))
    dues = [r.due_ns for r in order]
    i0, i1 = bounds(dues, steady)
    rule = steady.rule()
    if i1 <= i0:
        i0, i1, rule = 0, len(order), f"{rule}: none left of the {len(order)} sent, so every request counted"
    first = dues[0]
    window = SteadyWindow(rule=rule, start_s=(dues[i0] - first) / 1e9, end_s=(dues[i1 - 1] - first) / 1e9,
                          counted=i1 - i0, trimmed_start=i0, trimmed_end=len(order) - i1)
    return order[i0:i1], window
