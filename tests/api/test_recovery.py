"""Restart recovery: a job running when the server went away fails as "interrupted"; queued jobs still run."""

from __future__ import annotations

import signal
import time

import pytest

from mm_orch.jobs.store import JobStore
from tests.api.conftest import FAST_JOB, SLOW_JOB, Server, pid_alive, wait_for, worker_pid


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["crash", "graceful-stop"])
def test_restart_fails_the_running_job_and_resumes_the_queued_one(tmp_path, server_config, sig):
    srv = Server(tmp_path / "data", server_config).start()
    try:
        with srv.client() as c:
            running = c.post("/api/benchmark", json=SLOW_JOB).json()["job_id"]
            queued = c.post("/api/benchmark", json=FAST_JOB).json()["job_id"]
            wait_for(c, running, {"running"})
        worker = worker_pid(srv.data_dir, running)
        srv.stop(sig)

        deadline = time.monotonic() + 10  # an orphaned worker stops itself and frees the GPU
        while pid_alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(worker)
        rows = JobStore(srv.data_dir)
        assert rows.get(queued).status == "queued"  # accepted, not lost

        srv.start()
        with srv.client() as c:
            job = c.get(f"/api/benchmark/{running}").json()
            assert job["status"] == "failed" and job["error"] == "interrupted" and job["finished_at"]
            done = wait_for(c, queued, {"succeeded", "failed"}, timeout=90)
            assert done["status"] == "succeeded", done["error"]
            assert done["result"]["latency"]["ttft_ms"] > 0
            assert c.get("/api/benchmarks").json()["total"] == 2
    finally:
        srv.stop()
