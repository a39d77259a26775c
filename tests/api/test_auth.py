"""MM_ORCH_API_TOKEN: every endpoint but /api/health needs the bearer token."""

from __future__ import annotations

import pytest

from mm_orch.api.auth import token_matches
from tests.api.conftest import FAST_JOB, Server

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def secured(tmp_path_factory, server_config):
    srv = Server(tmp_path_factory.mktemp("api_auth") / "data", server_config, token=TOKEN).start()
    yield srv
    srv.stop()


def test_health_is_open(secured):
    with secured.client() as c:
        assert c.get("/api/health").status_code == 200


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", ""])
def test_missing_or_wrong_token_is_401(secured, token):
    with secured.client(token) as c:
        for r in (c.get("/api/benchmarks"), c.get("/api/benchmark/abc"), c.delete("/api/benchmark/abc"),
                  c.post("/api/benchmark", json=FAST_JOB)):
            assert r.status_code == 401, (r.request.method, r.request.url, r.text)
            assert "bearer token" in r.json()["detail"] and r.headers["WWW-Authenticate"] == "Bearer"


def test_right_token_passes(secured):
    with secured.client(TOKEN) as c:
        assert c.get("/api/benchmarks").status_code == 200
        assert c.get("/api/benchmark/abc").status_code == 404
        r = c.post("/api/benchmark", json=FAST_JOB)
        assert r.status_code == 202
        assert c.delete(f"/api/benchmark/{r.json()['job_id']}").status_code == 200


def test_token_comparison():
    assert token_matches("abc", "abc") and not token_matches("abc", "abd") and not token_matches("abc", "ab")
    assert token_matches("ünï", "ünï")
