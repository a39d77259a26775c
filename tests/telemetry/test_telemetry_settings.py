"""The telemetry flags and settings, the default /metrics URL, and the sections' schema (every field described)."""

from __future__ import annotations

import argparse

import pytest

from mm_orch.cli.parser import build_parser, overrides_from_args
from mm_orch.config import Config
from mm_orch.engines.registry import capabilities
from mm_orch.report.model import Report
from mm_orch.telemetry.server_metrics import default_metrics_url


def overrides(*argv: str) -> dict:
    return overrides_from_args(build_parser().parse_args(["--benchmark", *argv])).get("benchmark", {}).get(
        "telemetry", {})


def test_flags_become_benchmark_telemetry_settings():
    assert overrides() == {}
    assert overrides("--server-metrics") == {"server_metrics": True}
    assert overrides("--server-metrics", "http://h:9/metrics", "--server-metrics-interval", "0.5",
                     "--server-metrics-series", "a_total", "--server-metrics-series", "b") == {
        "server_metrics": True, "server_metrics_url": "http://h:9/metrics", "server_metrics_interval_s": 0.5,
        "server_metrics_series": ["a_total", "b"]}
    assert overrides("--no-server-metrics", "--no-gpu-telemetry") == {"server_metrics": False, "gpu_telemetry": False}
    assert overrides("--gpu-telemetry") == {"gpu_telemetry": True}
    assert overrides("--gpu-telemetry", "50") == {"gpu_telemetry": True, "gpu_telemetry_hz": 50.0}
    # a namespace built elsewhere (jobs) without the flags
    from mm_orch.cli.telemetry_flags import overrides as flag_overrides

    assert flag_overrides(argparse.Namespace()) == {}


@pytest.mark.parametrize("argv", [["--gpu-telemetry", "500"], ["--server-metrics", "ftp://x/metrics"],
                                  ["--server-metrics-interval", "0"], ["--server-metrics", "--no-server-metrics"],
                                  ["--gpu-telemetry", "--no-gpu-telemetry"]])
def test_bad_flags_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["--benchmark", *argv])
    assert e.value.code == 2


def test_settings_are_validated_and_default_to_auto():
    t = Config().benchmark.telemetry
    got = (t.server_metrics, t.gpu_telemetry, t.server_metrics_interval_s, t.gpu_telemetry_hz)
    assert got == (None, None, 1.0, 20.0)
    from pydantic import ValidationError

    from mm_orch.settings.telemetry import TelemetrySettings

    for bad in ({"server_metrics_url": "file:///etc/passwd"}, {"gpu_telemetry_hz": 0.5}, {"nope": 1}):
        with pytest.raises(ValidationError):
            TelemetrySettings(**bad)


def test_the_openai_plug_in_names_its_servers_metrics():
    from mm_orch.engines.openai.settings import OpenAIEngineSettings

    for base in ("http://h:8000/v1", "http://h:8000/v1/", "https://h/api/v1", "http://h:8000"):
        s = OpenAIEngineSettings(base_url=base)
        assert capabilities("openai").metrics_url(s) == default_metrics_url(base)
    assert capabilities("openai").metrics_url(OpenAIEngineSettings(base_url="http://h:8000/v1")) == \
        "http://h:8000/metrics"
    assert capabilities("hf").metrics_url(None) is None


def test_every_field_of_the_telemetry_sections_is_described():
    schema = Report.model_json_schema(mode="serialization")
    defs = ("ServerMetricsSection", "SeriesSummary", "TimelinePoint", "TokenCountCheck", "ServerWindow",
            "GpuTelemetrySection", "GpuTimeline", "GpuSample", "PhaseEnergy", "RunTimeline", "RunPhase",
            "EngineScheduler")
    missing = [f"{name}.{field}" for name in defs
               for field, spec in schema["$defs"][name]["properties"].items() if not spec.get("description")]
    assert missing == []
    for field in ("server_metrics", "gpu_telemetry", "timeline"):
        assert schema["properties"][field]["description"]
