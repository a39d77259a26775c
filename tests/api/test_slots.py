"""Worker slots against a real server: jobs overlap on two slots, a third waits; cancel and restart recovery
per slot; GPU pinning through CUDA_VISIBLE_DEVICES (here a made-up list: the jobs themselves run on CPU)."""

from __future__ import annotations

import logging
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest

from mm_orch.jobs.store import JobStore
from tests.api.conftest import FAST_JOB, SERVER_YAML, SLOW_JOB, Server, pid_alive, wait_for, worker_pid

log = logging.getLogger(__name__)

# Timed throughput phases (single, concurrent 1, batch 1, 1.5 s each): a job that lasts several seconds.
TIMED_JOB = {"model_name": "tiny-qwen2", "test_types": ["throughput"],
             "overrides": {"benchmark": {"throughput": {"duration_seconds": 1.5}}}}


@pytest.fixture(scope="module")
def two_slots(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("slots_config") / "server.yaml"
    path.write_text(SERVER_YAML.replace("api: {max_queue: 3,", "api: {slots: 2, max_queue: 3,"))
    return path


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _dead(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not pid_alive(pid)


def test_two_jobs_overlap_on_two_slots_and_a_third_waits(tmp_path, two_slots):
    srv = Server(tmp_path / "data", two_slots).start()
    try:
        with srv.client() as c:
            assert c.get("/api/health").json()["slots"] == 2
            a, b, third = (c.post("/api/benchmark", json=job).json()["job_id"]
                           for job in (TIMED_JOB, TIMED_JOB, FAST_JOB))
            wait_for(c, a, {"running"}), wait_for(c, b, {"running"})
            assert c.get(f"/api/benchmark/{third}").json()["status"] == "queued"  # both slots busy
            jobs = {j: wait_for(c, j, {"succeeded", "failed"}, timeout=180) for j in (a, b, third)}
        for j, job in jobs.items():
            assert job["status"] == "succeeded", job["error"]
            assert job["gpus"] == 0 and job["devices"] is None  # a CPU-only server
            log.info("job %s: started %s finished %s", j[:8], job["started_at"], job["finished_at"])
        (a0, a1), (b0, b1), (t0, _) = ((_at(jobs[j]["started_at"]), _at(jobs[j]["finished_at"])) for j in (a, b, third))
        assert max(a0, b0) < min(a1, b1), "the two jobs did not run at the same time"
        log.info("overlap: %.2f s", (min(a1, b1) - max(a0, b0)).total_seconds())
        assert t0 >= min(a1, b1), "the third job did not wait for a free slot"
        ja, jb, j3 = jobs[a], jobs[b], jobs[third]
        for job in (ja, jb):
            assert job["result"]["throughput"]["single_request_tps"] > 0
        assert j3["result"]["latency"]["ttft_ms"] > 0
    finally:
        srv.stop()


def test_cancel_one_of_two_running_jobs(tmp_path, two_slots):
    srv = Server(tmp_path / "data", two_slots).start()
    try:
        with srv.client() as c:
            keep, drop = (c.post("/api/benchmark", json=SLOW_JOB).json()["job_id"] for _ in range(2))
            queued = c.post("/api/benchmark", json=FAST_JOB).json()["job_id"]
            wait_for(c, keep, {"running"}), wait_for(c, drop, {"running"})
            keep_pid, drop_pid = worker_pid(srv.data_dir, keep), worker_pid(srv.data_dir, drop)

            r = c.delete(f"/api/benchmark/{drop}")
            assert r.status_code == 200 and r.json()["status"] == "cancelled"
            assert _dead(drop_pid), "the cancelled job's worker survived"
            assert pid_alive(keep_pid) and c.get(f"/api/benchmark/{keep}").json()["status"] == "running"
            done = wait_for(c, queued, {"succeeded", "failed"}, timeout=120)  # the freed slot took it
            assert done["status"] == "succeeded", done["error"]
            assert c.get(f"/api/benchmark/{keep}").json()["status"] == "running"
            assert c.delete(f"/api/benchmark/{keep}").json()["status"] == "cancelled"
            assert _dead(keep_pid)
            assert c.get(f"/api/benchmark/{drop}").json()["status"] == "cancelled"
    finally:
        srv.stop()


def test_restart_with_two_slots_fails_both_running_jobs_and_resumes_the_queued_one(tmp_path, two_slots):
    srv = Server(tmp_path / "data", two_slots).start()
    try:
        with srv.client() as c:
            running = [c.post("/api/benchmark", json=SLOW_JOB).json()["job_id"] for _ in range(2)]
            queued = c.post("/api/benchmark", json=FAST_JOB).json()["job_id"]
            for j in running:
                wait_for(c, j, {"running"})
        workers = [worker_pid(srv.data_dir, j) for j in running]
        srv.stop(signal.SIGKILL)
        assert all(_dead(pid) for pid in workers), "an orphaned worker kept running"
        store = JobStore(srv.data_dir)
        assert store.get(queued).status == "queued"
        store.close()

        srv.start()
        with srv.client() as c:
            for j in running:
                job = c.get(f"/api/benchmark/{j}").json()
                assert job["status"] == "failed" and job["error"] == "interrupted"
            done = wait_for(c, queued, {"succeeded", "failed"}, timeout=120)
            assert done["status"] == "succeeded", done["error"]
            assert done["result"]["latency"]["ttft_ms"] > 0
    finally:
        srv.stop()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads a worker's environment from /proc")
def test_jobs_are_pinned_to_their_gpus(tmp_path, server_config):
    """Two visible GPUs -> two slots; each job's worker sees only its own; a 2-GPU job waits for both."""
    srv = Server(tmp_path / "data", server_config, env={"CUDA_VISIBLE_DEVICES": "0,1"}).start()
    pinned = {**SLOW_JOB, "gpus": 1}  # engine.device is cpu: the job runs, holding a GPU id
    try:
        with srv.client() as c:
            assert c.get("/api/health").json()["slots"] == 2
            r = c.post("/api/benchmark", json={**FAST_JOB, "gpus": 3})
            assert r.status_code == 422 and "gpus: 3 GPU(s) asked" in r.json()["detail"]
            one, two = (c.post("/api/benchmark", json=pinned).json()["job_id"] for _ in range(2))
            both = c.post("/api/benchmark", json={**FAST_JOB, "gpus": 2}).json()["job_id"]
            jobs = [wait_for(c, j, {"running"}) for j in (one, two)]
            assert sorted(d for j in jobs for d in j["devices"]) == ["0", "1"]
            for j in jobs:
                env = _environ(worker_pid(srv.data_dir, j["job_id"]))
                assert env["CUDA_VISIBLE_DEVICES"] == j["devices"][0]
            assert c.get(f"/api/benchmark/{both}").json()["status"] == "queued"
            c.delete(f"/api/benchmark/{one}")
            time.sleep(1.0)  # one GPU free is not enough for it
            assert c.get(f"/api/benchmark/{both}").json()["status"] == "queued"
            c.delete(f"/api/benchmark/{two}")
            done = wait_for(c, both, {"succeeded", "failed"}, timeout=120)
            assert done["status"] == "succeeded", done["error"]
            assert done["gpus"] == 2 and done["devices"] == ["0", "1"]
    finally:
        srv.stop()


def test_a_cpu_only_server_refuses_a_gpu_job(client):
    r = client.post("/api/benchmark", json={**FAST_JOB, "gpus": 1})
    assert r.status_code == 422
    assert r.json()["detail"] == "gpus: 1 GPU(s) asked, but this server (local executor) has no GPUs"
