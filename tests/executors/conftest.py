"""A real Ray head on this machine for the executor tests (`ray start --head --block`, ended by SIGTERM)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from tests.api.conftest import free_port

# A loopback test cluster without token auth; the CLI and the server under test get the same setting.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="package")
def ray_head():
    """The address of a one-node Ray cluster with 2 CPUs, shared by the Ray tests of this folder (stopped after
    them; under xdist they run on one worker, tests/conftest.py): a head takes 10-15 s to start on 2 cores, and two
    at once would compete for Ray's fixed ports."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'mm_orch[ray]')")
    exe = shutil.which("ray")
    if exe is None:
        pytest.skip("the ray command is not on PATH")
    port = free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live under it
    log_file = os.path.join(temp, "head.log")
    cmd = [exe, "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
           "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"]
    with open(log_file, "wb") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **RAY_ENV}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while b"Ray runtime started" not in open(log_file, "rb").read():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head did not start:\n{open(log_file, errors='replace').read()}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(temp, ignore_errors=True)
