"""What a request body may not do: pick an environment variable, call an unlisted URL, name a path or a kernel repo.

A real server on loopback; the "remote" OpenAI server is a real listener that records what reaches it.
"""

from __future__ import annotations

import http.server
import threading

import pytest

from tests.api.conftest import SERVER_YAML, Server, free_port, wait_for

TOKEN = "server-s3cret"


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        Recorder.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def listener():
    """An 'OpenAI server' on loopback that answers 404 and remembers every request's headers."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Recorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, listener):
    config = tmp_path_factory.mktemp("api_sec") / "server.yaml"
    config.write_text(SERVER_YAML.replace("api: {", f"api: {{allowed_base_urls: ['{listener}/'], "))
    srv = Server(config.parent / "data", config, token=TOKEN).start()
    yield srv
    srv.stop()


def _openai(**settings) -> dict:
    return {"model_name": "tiny-qwen2", "test_types": ["latency"], "engine": "openai",
            "overrides": {"engine": {"openai": settings}}}


@pytest.mark.parametrize(("body", "named"), [
    (_openai(base_url="http://evil.example/v1", api_key_env="MM_ORCH_API_TOKEN"),
     "overrides.engine.openai.api_key_env: unknown field"),
    (_openai(api_key_env="HOME"), "api_key_env: unknown field"),
    (_openai(base_url="http://10.1.2.3/v1"),
     "'http://10.1.2.3/v1' is not in the server config's api.allowed_base_urls"),
    (_openai(base_url="file:///etc/passwd"), "is not in the server config's api.allowed_base_urls"),
    (_openai(tokenizer="/etc"), "overrides.engine.openai.tokenizer: unknown model '/etc'"),
    (_openai(tokenizer="../../models/x"), "overrides.engine.openai.tokenizer: unknown model"),
    ({"model_name": "tiny-qwen2", "overrides": {"engine": {"hf": {"attn_implementation": "kernels-community/x"}}}},
     "overrides.engine.hf.attn_implementation: Input should be 'eager'"),
    ({"model_name": "tiny-qwen2", "overrides": {"test_prompts": {"short": ["ok", ""]}}},
     "overrides.test_prompts.short: prompt 1 is empty"),
    ({"model_name": "tiny-qwen2", "overrides": {"test_prompts": {"medium": ["  \n "]}}},
     "overrides.test_prompts.medium: prompt 0 is empty"),
    ({"model_name": "tiny-qwen2", "overrides": {"engine": {"seed": -1}}}, "overrides.engine.seed: -1 is out of range"),
])
def test_refused_at_submission_with_422(guarded, body, named):
    with guarded.client(TOKEN) as c:
        r = c.post("/api/benchmark", json=body)
    assert r.status_code == 422, r.text
    assert named in r.json()["detail"]


def test_openai_engine_is_off_when_no_url_is_allowed(client):
    """The default server config allows no URL: the openai engine is refused whatever the body says."""
    for body in (_openai(), _openai(base_url="http://127.0.0.1:8000/v1")):
        r = client.post("/api/benchmark", json=body)
        assert r.status_code == 422 and "api.allowed_base_urls is empty" in r.json()["detail"], r.text


def test_an_allowed_url_never_receives_the_servers_token(guarded, listener):
    Recorder.seen.clear()
    with guarded.client(TOKEN) as c:
        r = c.post("/api/benchmark", json=_openai(base_url=listener, served_model="m", tokenizer="tiny-qwen2"))
        assert r.status_code == 202, r.text
        job = wait_for(c, r.json()["job_id"], {"failed", "succeeded"}, timeout=60)
    assert job["status"] == "failed" and listener in job["error"]  # the listener answers 404 to /models
    assert [s["path"] for s in Recorder.seen] == ["/v1/models"]
    assert all(TOKEN not in value for s in Recorder.seen for value in s.values())
    assert "authorization" not in Recorder.seen[0]  # the server config's OPENAI_API_KEY is unset here


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_docs_and_schema_need_the_token(guarded, path):
    with guarded.client() as c:
        r = c.get(path)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        assert "mm_orch" not in r.text and "/api/benchmark" not in r.text
    with guarded.client("wrong") as c:
        assert c.get(path).status_code == 401
    with guarded.client(TOKEN) as c:
        r = c.get(path)
        assert r.status_code == 200 and "mm_orch benchmark API" in r.text
    if path == "/openapi.json":
        props = r.json()["components"]["schemas"]["HttpOpenAISettings"]["properties"]
        assert "api_key_env" not in props and set(props) == {"base_url", "served_model", "timeout_s", "tokenizer"}


def test_docs_are_open_without_a_token(client):
    assert client.get("/openapi.json").status_code == 200 and client.get("/docs").status_code == 200


def test_a_jobs_process_gets_no_secret_from_the_server_environment(tmp_path, server_config):
    """Read from /proc/<pid>/environ of a real job's worker: the allow-list passes PATH and the cache, never the API
    token or a variable the job does not need."""
    from tests.api.conftest import SLOW_JOB, worker_pid

    secrets = {"MY_CLOUD_SECRET": "hunter2", "AWS_SECRET_ACCESS_KEY": "abc", "OPENAI_API_KEY": "sk-x"}
    srv = Server(tmp_path / "data", server_config, token=TOKEN, env=secrets).start()
    try:
        with srv.client(TOKEN) as c:
            r = c.post("/api/benchmark", json=SLOW_JOB)
            assert r.status_code == 202, r.text
            job_id = r.json()["job_id"]
            wait_for(c, job_id, {"running"}, timeout=60)
            pid = worker_pid(srv.data_dir, job_id)
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
            c.delete(f"/api/benchmark/{job_id}")
        names = {k.decode() for k in env}
        assert "MM_ORCH_API_TOKEN" not in names and not any(TOKEN.encode() in v for v in env.values())
        assert not names & set(secrets)  # the hf engine reads no key: not even OPENAI_API_KEY
        assert {"PATH", "MM_ORCH_CACHE", "CUDA_VISIBLE_DEVICES"} <= names
    finally:
        srv.stop()


def test_only_the_engines_own_key_variable_is_passed():
    from mm_orch.executors.local import job_environment
    from mm_orch.jobs.store import JobRow

    def row(config: dict) -> JobRow:
        return JobRow("j", "running", "tiny-qwen2", "openai", ["latency"], config, "", None, None, None, None, None,
                      None, 0, None)

    environ = {"PATH": "/bin", "MM_ORCH_API_TOKEN": "t", "OPENAI_API_KEY": "k", "MY_KEY": "m", "LC_ALL": "C"}
    assert job_environment(row({"engine": {"name": "openai"}}), ["0"], environ) == {
        "PATH": "/bin", "OPENAI_API_KEY": "k", "LC_ALL": "C", "CUDA_VISIBLE_DEVICES": "0"}
    openai = {"engine": {"name": "openai", "openai": {"api_key_env": "MY_KEY"}}}
    assert set(job_environment(row(openai), [], environ)) == {"PATH", "MY_KEY", "LC_ALL", "CUDA_VISIBLE_DEVICES"}
    token = {"engine": {"name": "openai", "openai": {"api_key_env": "MM_ORCH_API_TOKEN"}}}
    assert "MM_ORCH_API_TOKEN" not in job_environment(row(token), [], environ)
    assert set(job_environment(row({}), [], environ)) == {"PATH", "LC_ALL", "CUDA_VISIBLE_DEVICES"}
