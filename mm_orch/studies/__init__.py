"""Studies beyond the three standard tests: workloads from datasets, accuracy, goodput, sweeps, context length.

Each study is a self-contained module with its own pydantic result model; run_benchmark() adds a study's
result to the report as one optional section (report["workload"], report["accuracy"], ...).
"""
