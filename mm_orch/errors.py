"""Project errors. Each maps to a CLI exit code and an HTTP status; messages are one line."""


class MmOrchError(Exception):
    """Base of every error mm_orch raises on purpose."""

    exit_code = 2


class ConfigError(MmOrchError):
    """Bad configuration, CLI flag, request body or input file (exit 2)."""


class ModelNotFoundError(ConfigError):
    """A model name that is neither registered nor a local Hugging Face folder (exit 2)."""


class EngineError(MmOrchError):
    """The engine failed at run time (exit 3)."""

    exit_code = 3

    def __init__(self, engine: str, cause: str):
        super().__init__(f"engine '{engine}' failed: {cause}")
        self.engine = engine
        self.cause = cause


class BenchmarkInterrupted(MmOrchError):
    """Ctrl-C during a run (exit 130); `report` holds the tests that finished, marked incomplete, or None."""

    exit_code = 130

    def __init__(self, report: object, finished: list[str], missing: list[str]):
        done = ", ".join(finished) or "no test"
        left = f"; missing: {', '.join(missing)}" if missing else ""
        super().__init__(f"interrupted: {done} finished{left}")
        self.report, self.finished, self.missing = report, finished, missing
        self.path = None  # where the session wrote the partial report


class OutputError(MmOrchError):
    """An output could not be written after the run (disk full, a device or FIFO where a file goes ...): exit 2,
    as when the same problem is found before the run. `written` lists (label, path) of what was kept."""

    def __init__(self, message: str, written: list[tuple[str, object]]):
        super().__init__(message)
        self.written = written


class PartialInterrupt(KeyboardInterrupt):
    """Ctrl-C inside a test that keeps what it finished (the load test's ended requests): `section` is that
    test's result, marked incomplete; the runner puts it in the partial report."""

    def __init__(self, section: object):
        super().__init__("interrupted")
        self.section = section
