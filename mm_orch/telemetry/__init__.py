"""What the server and the GPUs did during a run, on the run's clock: server metrics, GPU telemetry, phases."""
