"""Check before measuring: a place the results cannot be written is exit 2 with one line, before the model loads.

Each run gets an empty model cache (MM_ORCH_CACHE): had the model loaded, the embedded tiny model would have
been built into it. --benchmark runs call main() in this process (tests/inprocess.py); --serve runs are
subprocesses, so that a start that is wrongly not refused serves there instead of blocking the test run, and so
is /dev/stdout (in this process it is pytest's capture file, in a subprocess with captured output a pipe).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inprocess import Result, run_main

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess | Result:
    cache = tmp_path / "model-cache"
    cache.mkdir(exist_ok=True)
    if "--serve" not in args and "/dev/stdout" not in args:
        r = run_main(*args, env={"MM_ORCH_CACHE": str(cache), "MM_ORCH_API_TOKEN": None, **(env or {})}, cwd=REPO)
        assert not any(cache.iterdir()), "the model was loaded before the bad path was found"
        return r
    full_env = {**os.environ, "MM_ORCH_CACHE": str(cache), **(env or {})}
    full_env.pop("MM_ORCH_API_TOKEN", None)
    r = subprocess.run([sys.executable, "-m", "mm_orch.main", *args], cwd=REPO, env=full_env,
                       capture_output=True, text=True, timeout=120)
    assert not any(cache.iterdir()), "the model was loaded before the bad path was found"
    return r


def _refused(r: subprocess.CompletedProcess | Result, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mm_orch: error: "), r.stderr[-2000:]
    assert all(w in lines[0] for w in words), lines[0]


@pytest.fixture
def a_file(tmp_path) -> Path:
    f = tmp_path / "a_file"
    f.write_text("in the way")
    return f


def _bench(quick_config_path, *args: str) -> tuple[str, ...]:
    return ("--benchmark", "--config", str(quick_config_path), "--no-progress", *args)


@pytest.mark.parametrize(("where", "words"), [
    ("{file}", ("--benchmark-output", "exists and is not a folder")),
    ("{file}/reports", ("--benchmark-output", "cannot write there (Not a directory)")),
    ("/proc/mm_orch_reports", ("--benchmark-output /proc/mm_orch_reports: cannot write there",)),
])
def test_unwritable_benchmark_output(tmp_path, quick_config_path, a_file, where, words):
    r = _run(tmp_path, *_bench(quick_config_path, "--benchmark-output", where.format(file=a_file)))
    _refused(r, *words)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_benchmark_output(tmp_path, quick_config_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        _refused(_run(tmp_path, *_bench(quick_config_path, "--benchmark-output", str(ro))), "Permission denied")
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize(("where", "words"), [
    ("{tmp}", ("--junit-xml", "is a folder, not a file")),
    ("{file}/junit.xml", ("--junit-xml", "exists and is not a folder")),
    ("/proc/mm_orch/junit.xml", ("--junit-xml /proc/mm_orch/junit.xml", "is a path under /proc")),
    ("/dev/stdout", ("--junit-xml /dev/stdout", "not a regular file")),  # a FIFO, a terminal or a file: refused
])
def test_bad_junit_xml_path(tmp_path, quick_config_path, a_file, where, words):
    r = _run(tmp_path, *_bench(quick_config_path, "--benchmark-output", str(tmp_path / "out"), "--junit-xml",
                               where.format(tmp=tmp_path, file=a_file)))
    _refused(r, *words)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing was measured


@pytest.mark.parametrize(("where", "words"), [
    ("{file}", ("MM_ORCH_DATA_DIR", "exists and is not a folder")),
    ("/proc/mm_orch_data", ("MM_ORCH_DATA_DIR /proc/mm_orch_data: cannot write there",)),
])
def test_unusable_data_dir_stops_serve(tmp_path, quick_config_path, a_file, where, words):
    env = {"MM_ORCH_DATA_DIR": where.format(file=a_file)}
    _refused(_run(tmp_path, "--serve", "--port", str(free_port()), "--config", str(quick_config_path), env=env), *words)


def test_corrupt_jobs_database_is_one_line(tmp_path, quick_config_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "jobs.sqlite3").write_bytes(b"this is not SQLite " * 500)
    r = _run(tmp_path, "--serve", "--port", str(free_port()), "--config", str(quick_config_path),
             env={"MM_ORCH_DATA_DIR": str(data)})
    _refused(r, f"jobs database {data / 'jobs.sqlite3'}", "file is not a database", "move it away")


def test_a_damaged_jobs_database_is_refused_by_the_store(tmp_path):
    """A real SQLite file whose pages were overwritten: quick_check finds it, the store refuses it."""
    from mm_orch.jobs.store import DB_NAME, JobStore, StoreCorrupt

    store = JobStore(tmp_path)
    for _ in range(200):
        store.submit("tiny-qwen2", "hf", ["latency"], {"x": "y" * 200}, max_queue=10_000)
    store.close()
    db = tmp_path / DB_NAME
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(db.read_bytes())
    page = 4096
    raw[3 * page:6 * page] = b"\xff" * (3 * page)  # index and table pages, not the header
    db.write_bytes(bytes(raw))
    with pytest.raises(StoreCorrupt, match="jobs database .* (damaged|malformed)"):
        JobStore(tmp_path)
