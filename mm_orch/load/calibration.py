"""The client's own ceiling on this machine, measured against the mock server of known timing.

`--calibrate` runs the async client against mm_orch.mock.server (in its own process): closed loops of
rising concurrency, then Poisson rates rising, each level's added TTFT = measured median TTFT - the mock's
TTFT - the mock's own median lateness of first events. The highest level with under `threshold_ms` added
is the ceiling. The result is cached in a file keyed by machine (CPU model, core count, hostname, Python,
mm_orch version) so each load report can carry it without re-measuring; the report says when it was taken.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from mm_orch.report.load import Calibration

log = logging.getLogger(__name__)

CONCURRENCY_LEVELS = (1, 16, 64, 128, 256, 512)
RATE_LEVELS = (25.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0)


def machine_description() -> str:
    from mm_orch import __version__
    from mm_orch.monitor.system_info import _cpu_name

    return (f"{platform.node()} | {_cpu_name()} | {os.cpu_count()} cores | Python {platform.python_version()} | "
            f"mm_orch {__version__}")


def cache_path() -> Path:
    from mm_orch.models.local import cache_dir

    key = hashlib.sha256(machine_description().encode()).hexdigest()[:16]
    return Path(cache_dir()) / "calibration" / f"{key}.json"


def load_cached() -> tuple[Calibration | None, str]:
    """(calibration, note): the cached one for this machine, or None and why."""
    p = cache_path()
    if not p.is_file():
        return None, "not calibrated on this machine: run with --calibrate to measure the client's ceiling"
    try:
        cal = Calibration.model_validate_json(p.read_text())
    except (OSError, ValidationError, ValueError) as e:
        return None, f"calibration cache {p} unreadable ({type(e).__name__}): run --calibrate again"
    return cal, f"from the cache {p}, measured {cal.measured_at}"


def save(cal: Calibration) -> Path:
    from mm_orch.io import atomic_write_text

    p = cache_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(p, json.dumps(cal.model_dump(mode="json"), indent=2))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
