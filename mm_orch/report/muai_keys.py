"""Reading schema-1 reports (string-keyed dicts, before the typed report): converted to schema 2 on load.

Only what schema 1 recorded is carried over; the guide's flat keys are dropped (schema 2 derives them).
A v1 report that does not convert is refused by the caller with a one-line message.
"""

from __future__ import annotations

from typing import Any

from mm_orch.monitor.system_info import SystemInfo
from mm_orch.report.metrics import PERCENTILE_MIN_COUNT


def _dist(d: dict | None) -> dict | None:
    if not d:
        return None
    return d | {k: d.get(k) if d.get("count", 0) >= n else None for k, n in PERCENTILE_MIN_COUNT.items()}


def _run(name: str, part: dict, input_length: int | None, head: dict) -> dict:
    dists = part.get("distributions") or {}
    return {"name": name, "input_length": input_length, "output_length": part["output_length"],
            "fixed_output_length": head.get("fixed_output_length", True),
            "completed": part.get("completed", part.get("requests", 0)), "failed": part.get("failed") or 0,
            "errors": part.get("errors") or [], "itl_histogram": part.get("itl_histogram"),
            "distributions": {k: _dist(v) for k, v in dists.items()}}


def _latency(lat: dict | None) -> dict | None:
    if not lat or "output_length" not in lat:
        return None
    out = _run("test_prompts", lat, None, lat)
    out["scenarios"] = [_run(s["name"], s, s.get("input_length"), lat) for s in lat.get("scenarios") or []]
    return out


def _figure(mem: dict, key: str, source: str | None) -> dict:
    v = mem.get(key)
    return {"value_gb": v, "source": source} if v is not None else {
        "value_gb": None, "reason": (mem.get("missing") or {}).get(key) or "not measured (schema 1 report)"}


def _memory(mem: dict | None) -> dict | None:
    if not mem:
        return None
    load, inf = mem.get("load"), mem.get("inference")
    src = (inf or {}).get("source")
    out = {"model_load": _figure(mem, "model_load_gb", (load or {}).get("source")),
           "inference_delta": _figure(mem, "inference_delta_gb", src), "peak": _figure(mem, "peak_gb", src),
           "kv_cache": _figure(mem, "kv_cache_gb", "model config"), "load": load, "inference": inf}
    for new, old in (("run_peak", "run_peak_gb"), ("nvml_process", "nvml_process_gb")):
        if mem.get(old) is not None:
            out[new] = {"value_gb": mem[old], "source": "torch allocator" if new == "run_peak" else "NVML"}
    return out


def _throughput(thr: dict | None) -> dict | None:
    if not thr or not thr.get("details"):
        return None
    batch1 = next((d["tokens_per_second"] for d in thr["details"] if d["mode"] == "batch" and d["level"] == 1), None)
    points = []
    for d in thr["details"]:
        eff = None
        if d["mode"] == "batch" and batch1 and d.get("tokens_per_second"):
            eff = d["tokens_per_second"] / (d["level"] * batch1)
        metrics = d["metrics"]
        metrics = metrics | {k: _dist(metrics.get(k)) for k in ("ttft_ms", "tpot_ms", "e2e_latency_ms", "itl_ms",
                                                                  "request_tokens_per_second")}
        points.append({"mode": d["mode"], "level": d["level"], "requests_per_second": d["requests_per_second"],
                       "output_tokens_per_second": d["tokens_per_second"],
                       "total_tokens_per_second": d["total_tokens_per_second"], "batch_efficiency": eff,
                       "serialized": d.get("serialized", False), "tokens_per_request": d["tokens_per_request"],
                       "metrics": metrics})
    goodput = {(g["mode"], g["level"]): g for g in thr.get("goodput") or []}  # reports written before schema 2
    for p in points:
        if (g := goodput.get((p["mode"], p["level"]))) is not None:
            p["goodput"] = {k: v for k, v in g.items() if k not in ("mode", "level")}
    return {"points": points, "tokens_per_request": thr.get("tokens_per_request", points[0]["tokens_per_request"])}


def convert_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 report dict as a schema-2 dict (validate it with Report.model_validate)."""
    info = data.get("system_info")
    if info is not None:
        info = {k: v for k, v in info.items() if k in SystemInfo.model_fields}
    repeat = data.get("repeat")
    if repeat:
        repeat = {"note": "converted from a schema 1 report", **repeat}
        repeat["metrics"] = {k: {f: v[f] for f in ("min", "median", "max", "values")}
                             for k, v in repeat["metrics"].items()}
        repeat["first_run_only"] = ["memory"]
    return {"schema_version": 2, "model_name": data["model_name"], "engine": data["engine"],
            "timestamp": data["timestamp"], "system_info": info, "config": data.get("config") or None,
            "model_info": data.get("model_info"), "latency": _latency(data.get("latency")),
            "memory": _memory(data.get("memory")), "throughput": _throughput(data.get("throughput")),
            "load": data.get("load"),  # schema-1 reports held LoadResult's own dump
            "engine_stats": data.get("engine_stats") or {}, "validation": data.get("validation"),
            "baseline_check": data.get("baseline_check"), "repeat": repeat,
            # the study sections were written from the same models before schema 2: carried over as they are
            **{k: data[k] for k in ("workload", "accuracy", "context_length") if data.get(k) is not None},
            "warnings": ["converted from a schema 1 report"]}
