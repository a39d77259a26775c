"""--serve refuses unsafe or broken starts with exit 2 and one line, before serving anything."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.api.conftest import REPO, Server, free_port


def _serve(tmp_path, config, *flags: str, token: str | None = None, timeout: float = 60):
    env = {**os.environ, "MM_ORCH_DATA_DIR": str(tmp_path / "data")}
    env.pop("MM_ORCH_API_TOKEN", None)
    if token is not None:
        env["MM_ORCH_API_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "mm_orch.main", "--serve", "--config", str(config), *flags],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _one_line_error(r, *words: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mm_orch: error: "), r.stderr
    assert all(w in lines[0] for w in words), lines[0]


def test_an_empty_token_is_an_error_not_no_auth(tmp_path, server_config):
    for token in ("", "   "):
        _one_line_error(_serve(tmp_path, server_config, "--port", str(free_port()), token=token),
                        "MM_ORCH_API_TOKEN is set but empty")


def test_no_token_off_loopback_is_refused(tmp_path, server_config):
    _one_line_error(_serve(tmp_path, server_config, "--host", "0.0.0.0", "--port", str(free_port())),
                    "--host 0.0.0.0", "without MM_ORCH_API_TOKEN", "--allow-no-auth")


def test_allow_no_auth_serves_off_loopback(tmp_path, server_config):
    srv = Server(tmp_path / "data", server_config)
    srv.extra_args = ["--host", "0.0.0.0", "--allow-no-auth"]
    srv.start()
    try:
        assert httpx.get(f"{srv.url}/api/benchmarks", timeout=10).status_code == 200
        assert "--allow-no-auth" in srv.log.read_text()  # the warning names the choice
    finally:
        srv.stop()


def test_a_refused_start_never_binds_the_port(monkeypatch, server_config):
    """The token check comes before the socket: not even for a moment is 0.0.0.0 bound without a token."""
    import socket

    import pytest

    from mm_orch.api.server import serve
    from mm_orch.errors import ConfigError

    port = free_port()
    bound: list[object] = []
    real_bind = socket.socket.bind
    monkeypatch.setattr(socket.socket, "bind", lambda self, addr: (bound.append(addr), real_bind(self, addr))[1])
    monkeypatch.delenv("MM_ORCH_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="without MM_ORCH_API_TOKEN"):
        serve(str(server_config), "0.0.0.0", port)
    assert bound == []
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens there
