"""Studies beyond the three standard tests: workloads from datasets, accuracy, goodput, sweeps, context length.

Each study is a self-contained module with its own pydantic result model; that model is an optional typed
section of the schema-2 Report (report.workload, report.accuracy, report.context_length; goodput on each
throughput point), filled by run_benchmark() (hooks.STUDY_RUNNERS) and its metrics registered in the
catalogue (report_metrics.py). The sweep drives one session per cell and reads the cells' typed reports.
"""
