"""Fuzz the OpenAPI spec of a real server with schemathesis (bounded): no 5xx, responses match the schema.

Left out on purpose, as they flag design choices: use_after_free (DELETE cancels and keeps the job),
positive_data_acceptance (a schema-valid body can still break a cap or name no prompt: 422),
negative_data_rejection (config numbers are lax as in the YAML; a body over the limit is 413).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.api.conftest import Server

pytest.importorskip("schemathesis")

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "response_headers_conformance,ignored_auth,missing_required_header,unsupported_method")


def test_openapi_fuzz_finds_no_server_error(tmp_path, server_config):
    srv = Server(tmp_path / "data", server_config, token="fuzz-token").start()
    try:
        cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{srv.url}/openapi.json", "-H",
               "Authorization: Bearer fuzz-token", "-c", CHECKS, "-n", "25", "--seed", "0",
               "--generation-database", "none", "--no-color"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
        assert " 500 " not in srv.log.read_text()
    finally:
        srv.stop()


# -- edge bodies: every route, every field of the request schema --------------------------------------------
SURROGATE = '"\\ud800"'  # JSON text of a lone surrogate: valid JSON, not valid Unicode text
DEEP = "[" * 960 + "]" * 960  # just under the JSON parser's own recursion limit: the case that was a 500
DEEP_OBJ = '{"a": ' * 200 + "1" + "}" * 200
EDGE_VALUES = (SURROGATE, DEEP, DEEP_OBJ, "1" + "0" * 400, "-1" + "0" * 400, "1e400", "1e-400", "9007199254740993")


def _fields(schema: dict, components: dict, prefix: tuple[str, ...] = (), depth: int = 0) -> list[tuple[str, ...]]:
    """Every property path of a JSON schema (through $ref, anyOf, arrays and maps), the path itself included."""
    out = [prefix] if prefix else []
    if depth > 6:
        return out
    if "$ref" in schema:
        return _fields(components[schema["$ref"].rsplit("/", 1)[1]], components, prefix, depth) or out
    for alt in schema.get("anyOf", []) + schema.get("allOf", []):
        out += [p for p in _fields(alt, components, prefix, depth + 1) if p != prefix]
    for key, sub in schema.get("properties", {}).items():
        out += _fields(sub, components, (*prefix, key), depth + 1)
    if isinstance(schema.get("additionalProperties"), dict):  # a map: targets.<model>
        out += _fields(schema["additionalProperties"], components, (*prefix, "tiny-qwen2"), depth + 1)
        out.append((*prefix, "\\ud800"))  # a key with a lone surrogate
    if isinstance(schema.get("items"), dict):
        out += [(*p[:len(prefix)], "[]", *p[len(prefix):]) for p in _fields(schema["items"], components, (), depth + 1)]
        out.append((*prefix, "[]"))
    return list(dict.fromkeys(out))


def _body(path: tuple[str, ...], literal: str) -> str:
    """A request body as JSON text with `literal` at `path` ("[]": inside a one-element list)."""
    value = literal
    for key in reversed(path):
        value = f"[{value}]" if key == "[]" else f'{{"{key}": {value}}}'
    if path and path[0] in ("model_name", "test_types"):
        return value
    return value[:-1] + ', "model_name": "tiny-qwen2"}' if value.startswith("{") else value


def test_every_route_and_field_with_edge_values_gets_no_5xx(tmp_path, server_config):
    """Lone surrogates, deep nesting and huge numbers at every field of the request body (and its map keys),
    in the path and the query of every route: 4xx each, never a 5xx (and the server keeps serving)."""
    import httpx

    srv = Server(tmp_path / "data", server_config).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=15) as c:
            spec = c.get("/openapi.json").json()
            components = spec["components"]["schemas"]
            request = spec["paths"]["/api/benchmark"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            paths = _fields(request, components)
            assert ("overrides", "engine", "name") in paths and ("overrides", "targets", "tiny-qwen2",
                                                                 "max_ttft_ms") in paths
            bodies = [_body(p, v) for p in paths for v in EDGE_VALUES]
            bodies += [SURROGATE, DEEP, DEEP_OBJ, "[" * 5000, '{"\\ud800": 1}']
            seen = {}
            for text in bodies:
                r = c.post("/api/benchmark", content=text, headers={"Content-Type": "application/json"})
                assert r.status_code < 500, (text[:200], r.status_code, r.text[:300])
                if r.status_code == 202:  # a huge-but-representable value a job may carry: cancel it
                    c.delete(f"/api/benchmark/{r.json()['job_id']}")
                seen[r.status_code] = seen.get(r.status_code, 0) + 1
            for bad in ("%ED%A0%80", "%F0%28%8C%28", "%00", "x" * 3000, "..%2F..%2Fetc"):
                for method in ("GET", "DELETE"):
                    r = c.request(method, f"/api/benchmark/{bad}")
                    assert r.status_code < 500, (method, bad, r.status_code, r.text[:300])
            for query in ("limit=1e400", "offset=" + "9" * 400, "status=%ED%A0%80", "limit=-1", "status=" + "[" * 900):
                r = c.get(f"/api/benchmarks?{query}")
                assert r.status_code < 500, (query, r.status_code, r.text[:300])
            r = c.post("/api/benchmark", content=_body(("overrides", "engine", "name"), SURROGATE),
                       headers={"Content-Type": "application/json"})
            assert r.status_code == 422 and "lone surrogate" in r.json()["detail"], r.text
            r = c.post("/api/benchmark", content=_body(("overrides", "targets", "tiny-qwen2"), DEEP),
                       headers={"Content-Type": "application/json"})
            assert r.status_code == 422 and "nested deeper than 64 levels" in r.json()["detail"], r.text
            assert c.get("/api/health").status_code == 200
        assert len(bodies) > 300 and set(seen) <= {202, 400, 413, 422}, seen
        assert " 500 " not in srv.log.read_text() and "Traceback" not in srv.log.read_text()
    finally:
        srv.stop()
