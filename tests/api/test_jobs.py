"""Job lifecycle against a real server: submit, poll, fetch the report, list, cancel."""

from __future__ import annotations

import os
import time

import pytest

from mm_orch.jobs.store import report_path
from tests.api.conftest import FAST_JOB, SLOW_JOB, pid_alive, wait_for, worker_pid


def test_submit_poll_and_fetch_the_report(server, client):
    r = client.post("/api/benchmark", json=FAST_JOB)
    assert r.status_code == 202, r.text
    created = r.json()
    assert created["status"] == "queued" and len(created["job_id"]) == 32

    job = wait_for(client, created["job_id"], {"succeeded", "failed"}, timeout=90)
    assert job["status"] == "succeeded", job["error"]
    assert job["error"] is None and job["started_at"] and job["finished_at"]
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    # the last phase a job reports is writing its report (the measured phases end before it)
    assert job["progress"]["phase"].startswith("report: ") and job["progress"]["total"] is None

    report = job["result"]
    assert report["model_name"] == "tiny-qwen2" and report["engine"] == "hf"
    assert report["latency"]["ttft_ms"] > 0 and report["latency"]["tokens_per_second"] > 0
    assert report["memory"] is None and report["throughput"] is None
    assert report["config"]["benchmark"]["latency"]["test_runs"] == 2  # the override reached the job
    assert report["config"]["benchmark"]["latency"]["output_length"] == 3
    path = report_path(server.data_dir, created["job_id"])
    assert path.is_file() and report["schema_version"] == 2
    assert "## Summary" in path.with_suffix(".md").read_text()  # API jobs write the Markdown and plots too
    assert path.with_name(f"{path.stem}_itl.png").read_bytes()[:4] == b"\x89PNG"

    listed = client.get("/api/benchmarks", params={"status": "succeeded"}).json()
    assert created["job_id"] in [j["job_id"] for j in listed["items"]]
    assert "result" not in listed["items"][0]


def test_cancel_a_running_and_a_queued_job(server, client):
    slow = client.post("/api/benchmark", json=SLOW_JOB).json()["job_id"]
    queued = client.post("/api/benchmark", json=FAST_JOB).json()["job_id"]
    wait_for(client, slow, {"running"})
    assert client.get(f"/api/benchmark/{queued}").json()["status"] == "queued"  # one job at a time
    pid = worker_pid(server.data_dir, slow)
    assert pid and pid_alive(pid)

    r = client.delete(f"/api/benchmark/{queued}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = client.delete(f"/api/benchmark/{slow}")
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "cancelled" and job["error"] == "cancelled by request" and job["finished_at"]

    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid), "the worker process survived the cancel"
    assert client.get(f"/api/benchmark/{slow}").json()["status"] == "cancelled"  # not overwritten as failed
    r = client.delete(f"/api/benchmark/{slow}")
    assert r.status_code == 409 and "already cancelled" in r.json()["detail"]
    health = client.get("/api/health").json()
    assert health["running"] == 0 and health["queued"] == 0


def test_list_is_paginated_newest_first(client):
    ids = [client.post("/api/benchmark", json=FAST_JOB).json()["job_id"] for _ in range(3)]
    for job_id in ids:
        client.delete(f"/api/benchmark/{job_id}")
    page = client.get("/api/benchmarks", params={"limit": 2, "offset": 0}).json()
    assert page["limit"] == 2 and page["offset"] == 0 and page["total"] >= 3
    assert [j["job_id"] for j in page["items"]] == ids[::-1][:2]
    nxt = client.get("/api/benchmarks", params={"limit": 2, "offset": 1}).json()
    assert nxt["items"][0]["job_id"] == ids[1]
    assert client.get("/api/benchmarks", params={"offset": 10_000}).json()["items"] == []


def test_a_crashed_worker_fails_its_job_only(server, client):
    import signal

    slow = client.post("/api/benchmark", json=SLOW_JOB).json()["job_id"]
    wait_for(client, slow, {"running"})
    os.kill(worker_pid(server.data_dir, slow), signal.SIGKILL)  # as the kernel's OOM killer would
    job = wait_for(client, slow, {"failed"}, timeout=10)
    assert job["error"].startswith("worker killed by SIGKILL")
    assert client.get("/api/health").json() == {**client.get("/api/health").json(), "status": "ok", "running": 0}


def test_the_server_process_never_loads_torch(server):
    maps = f"/proc/{server.proc.pid}/maps"
    if not os.path.exists(maps):
        pytest.skip("needs /proc (Linux)")
    with open(maps) as f:
        assert "libtorch" not in f.read()
