"""The child process that runs one job: python -m mm_orch.api.worker <data_dir> <job_id> <parent_pid>.

It reads the job (with its effective config) from the store, runs run_session() (report, Markdown and plots)
atomically and moves the job to succeeded or failed. Torch and the engines load here, never in the server.
A crash or an out-of-memory kill ends this process only; the scheduler then fails the job.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from datetime import datetime, timezone

from mm_orch.jobs.store import JobStore, report_path

log = logging.getLogger(__name__)


class StoreProgress:
    """The Progress hook of run_benchmark, written to the job row (at most every `interval` seconds)."""

    def __init__(self, store: JobStore, job_id: str, interval: float = 0.5):
        self.store, self.job_id, self.interval = store, job_id, interval
        self._phase: str | None = None
        self._total: int | None = None
        self._done = 0
        self._last = 0.0

    def phase(self, name: str, total: int | None) -> None:
        self._phase, self._total, self._done = name, total, 0
        self._write()

    def advance(self, n: int = 1) -> None:
        self._done += n
        if time.monotonic() - self._last >= self.interval or self._done == self._total:
            self._write()

    def _write(self) -> None:
        self._last = time.monotonic()
        self.store.set_progress(self.job_id, {"phase": self._phase, "completed": self._done, "total": self._total,
                                              "updated_at": datetime.now(timezone.utc).isoformat()})


def _exit_with_parent(parent_pid: int) -> None:
    """If the server dies (even by SIGKILL) this job is orphaned: stop it so it frees the GPU."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        log.error("server process %d is gone; stopping the job", parent_pid)
        os._exit(70)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_job(store: JobStore, job_id: str) -> None:
    from mm_orch.config import Config
    from mm_orch.errors import MmOrchError
    from mm_orch.run.session import SessionOptions, run_session

    row = store.get(job_id)
    if row is None or row.status != "running":
        log.info("job %s is %s; nothing to do", job_id, row.status if row else "unknown")
        return
    try:
        cfg = Config.model_validate(row.config)
        path = report_path(store.data_dir, job_id)
        opts = SessionOptions(model_name=row.model_name, tests=row.test_types, report_path=path)
        run_session(cfg, opts, StoreProgress(store, job_id))  # the report, its Markdown and plots
    except MmOrchError as e:
        log.error("job %s failed: %s", job_id, e)
        store.finish(job_id, "failed", error=str(e))
        return
    except Exception as e:  # a bug or a device error: the job fails with the cause, the log has the traceback
        log.exception("job %s failed", job_id)
        store.finish(job_id, "failed", error=f"{type(e).__name__}: {e}")
        return
    if not store.finish(job_id, "succeeded", result_path=str(path)):
        log.info("job %s was cancelled before it could finish", job_id)


def main(argv: list[str] | None = None) -> int:
    data_dir, job_id, parent_pid = argv if argv is not None else sys.argv[1:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _exit_with_parent(int(parent_pid))
    store = JobStore(data_dir)
    try:
        run_job(store, job_id)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
