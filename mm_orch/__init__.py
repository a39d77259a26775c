"""mm_orch: latency, memory and throughput benchmarks for LLM inference engines."""

__version__ = "0.1.0"
