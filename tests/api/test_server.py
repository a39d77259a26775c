"""Server-level guarantees: one server per data dir, a job that runs too long is killed and failed."""

from __future__ import annotations

import pytest

from tests.api.conftest import SERVER_YAML, SLOW_JOB, Server, pid_alive, wait_for, worker_pid


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path, server_config):
    first = Server(tmp_path / "data", server_config).start()
    try:
        with pytest.raises(RuntimeError, match="another mm_orch server is using the data dir"):
            Server(tmp_path / "data", server_config).start()
    finally:
        first.stop()


def test_a_job_past_its_timeout_is_killed_and_failed(tmp_path):
    config = tmp_path / "timeout.yaml"
    config.write_text(SERVER_YAML.replace("api: {", "api: {job_timeout_seconds: 1, "))
    srv = Server(tmp_path / "data", config).start()
    try:
        with srv.client() as c:
            job_id = c.post("/api/benchmark", json=SLOW_JOB).json()["job_id"]
            wait_for(c, job_id, {"running"})
            pid = worker_pid(srv.data_dir, job_id)
            job = wait_for(c, job_id, {"failed"}, timeout=20)
            assert job["error"] == "timed out after 1 s (api.job_timeout_seconds)"
            assert not pid_alive(pid)
    finally:
        srv.stop()
