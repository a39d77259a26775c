"""A real server for the API tests: `python -m mm_orch.main --serve` on a free loopback port, in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

REPO = Path(__file__).resolve().parents[2]

# Every job on the embedded tiny-qwen2 takes a few seconds on a 2-core CPU.
SERVER_YAML = """
benchmark:
  latency: {warmup_runs: 0, test_runs: 1, input_lengths: [8], output_lengths: [4], output_length: 4}
  memory: {output_length: 4}
  throughput: {duration_seconds: 0.2, concurrent_requests: [1], batch_sizes: [1], tokens_per_request: 4}
  report: {include_system_info: false}
engine: {device: cpu}
test_prompts:
  short: ["What is the capital of France?"]
api: {max_queue: 3, max_body_bytes: 4096}
"""

FAST_JOB = {"model_name": "tiny-qwen2", "test_types": ["latency"],
            "overrides": {"benchmark": {"latency": {"test_runs": 2, "output_length": 3}}}}
# Runs until cancelled or killed (throughput phases are timed).
SLOW_JOB = {"model_name": "tiny-qwen2", "test_types": ["throughput"],
            "overrides": {"benchmark": {"throughput": {"duration_seconds": 120}}}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process over a data dir; stop() and start() again to test a restart."""

    def __init__(self, data_dir: Path, config: Path, token: str | None = None, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()):
        self.data_dir, self.config, self.token = data_dir, config, token
        self.env, self.args = env or {}, args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"
        self.extra_args: list[str] = []

    def start(self) -> Server:
        env = {**os.environ, "MM_ORCH_DATA_DIR": str(self.data_dir), **self.env}
        env.pop("MM_ORCH_API_TOKEN", None)
        if self.token:
            env["MM_ORCH_API_TOKEN"] = self.token
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mm_orch.main", "--serve", "--port", str(self.port), "--config",
                 str(self.config), *self.args, *self.extra_args], cwd=REPO, env=env, stdout=out,
                 stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90  # --executor ray connects to the cluster first
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, timeout=15, headers=headers)


def wait_for(client, job_id: str, states: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/benchmark/{job_id}").json()
        if job["status"] in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not reach {states} in {timeout} s: {job}")


def worker_pid(data_dir: Path, job_id: str, timeout: float = 10) -> int:
    """The pid of a running job's worker (recorded just after the job turns running)."""
    from mm_orch.jobs.store import JobStore

    store = JobStore(data_dir)
    deadline = time.monotonic() + timeout
    try:
        while (pid := store.get(job_id).pid) is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        store.close()
    assert pid, f"job {job_id} has no worker pid"
    return pid


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def server_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("api_config") / "server.yaml"
    path.write_text(SERVER_YAML)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory, server_config):
    srv = Server(tmp_path_factory.mktemp("api") / "data", server_config).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with server.client() as c:
        yield c
