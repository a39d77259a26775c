"""JobStore: job state in one SQLite file (WAL, one connection per thread); every state change is conditional."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mm_orch.errors import ConfigError

log = logging.getLogger(__name__)

DB_NAME = "jobs.sqlite3"
INTERRUPTED = "interrupted"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    model_name TEXT NOT NULL,
    engine TEXT NOT NULL,
    test_types TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    progress TEXT,
    error TEXT,
    result_path TEXT,
    pid INTEGER,
    gpus INTEGER NOT NULL DEFAULT 0,
    devices TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""
# columns added after the first release: a store from before gets them on open
_ADDED = {"gpus": "INTEGER NOT NULL DEFAULT 0", "devices": "TEXT"}


class StoreCorrupt(ConfigError):
    """The jobs database cannot be read (not SQLite, or damaged)."""


class QueueFull(Exception):
    """The bounded queue holds max_queue jobs already."""


def report_path(data_dir: str | Path, job_id: str) -> Path:
    return Path(data_dir) / "reports" / f"{job_id}.json"


def log_path(data_dir: str | Path, job_id: str) -> Path:
    return Path(data_dir) / "logs" / f"{job_id}.log"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(slots=True)
class JobRow:
    id: str
    status: str
    model_name: str
    engine: str
    test_types: list[str]
    config: dict[str, Any]
    created_at: str
    started_at: str | None
    finished_at: str | None
    progress: dict[str, Any] | None
    error: str | None
    result_path: str | None
    pid: int | None
    gpus: int = 0
    devices: list[str] | None = None  # CUDA ids the job was pinned to (local executor)

    @classmethod
    def from_sql(cls, r: sqlite3.Row) -> JobRow:
        return cls(r["id"], r["status"], r["model_name"], r["engine"], json.loads(r["test_types"]),
                   json.loads(r["config"]), r["created_at"], r["started_at"], r["finished_at"],
                   json.loads(r["progress"]) if r["progress"] else None, r["error"], r["result_path"], r["pid"],
                   r["gpus"], json.loads(r["devices"]) if r["devices"] else None)


class JobStore:
    """Thread-safe: each thread gets its own connection; the worker process opens its own store."""

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / DB_NAME
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self._conn().executescript(_SCHEMA)
            (check,) = self._conn().execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError as e:
            self.close()
            raise StoreCorrupt(f"jobs database {self.path}: {e}; move it away to start with an empty job "
                               "list") from None
        if check != "ok":
            self.close()
            raise StoreCorrupt(f"jobs database {self.path} is damaged ({check}); move it away to start afresh")
        self._migrate()

    def _migrate(self) -> None:
        conn = self._conn()
        have = {r["name"] for r in conn.execute("PRAGMA table_info(jobs)")}
        for name, decl in _ADDED.items():
            if name not in have:
                conn.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # an accepted job survives a power cut
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # writes

    def submit(self, model_name: str, engine: str, test_types: Iterable[str], config: dict[str, Any],
               max_queue: int, gpus: int = 0) -> str:
        """Insert a queued job unless max_queue jobs are queued already (checked in the same transaction)."""
        job_id = uuid.uuid4().hex
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            (queued,) = conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()
            if queued >= max_queue:
                raise QueueFull(f"the queue is full ({queued} jobs waiting, api.max_queue={max_queue})")
            conn.execute("INSERT INTO jobs (id, status, model_name, engine, test_types, config, created_at, gpus) "
                         "VALUES (?, 'queued', ?, ?, ?, ?, ?, ?)",
                         (job_id, model_name, engine, json.dumps(list(test_types)), json.dumps(config), utc_now(),
                          gpus))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return job_id

    def _update(self, sql: str, args: tuple[Any, ...]) -> bool:
        return self._conn().execute(sql, args).rowcount > 0

    def mark_running(self, job_id: str, devices: list[str] | None = None) -> bool:
        return self._update("UPDATE jobs SET status = 'running', started_at = ?, devices = ? "
                            "WHERE id = ? AND status = 'queued'",
                            (utc_now(), json.dumps(devices) if devices else None, job_id))

    def set_pid(self, job_id: str, pid: int) -> None:
        self._update("UPDATE jobs SET pid = ? WHERE id = ?", (pid, job_id))

    def set_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        self._update("UPDATE jobs SET progress = ? WHERE id = ? AND status = 'running'",
                     (json.dumps(progress), job_id))

    def finish(self, job_id: str, status: str, error: str | None = None, result_path: str | None = None,
               from_status: tuple[str, ...] = ("running",)) -> bool:
        """Move a job to a final state if it is still in one of from_status; False if someone else won."""
        marks = ", ".join("?" for _ in from_status)
        return self._update(f"UPDATE jobs SET status = ?, error = ?, result_path = ?, finished_at = ? "
                            f"WHERE id = ? AND status IN ({marks})",
                            (status, error, result_path, utc_now(), job_id, *from_status))

    def recover(self) -> int:
        """After a restart: a job left running was interrupted. Queued jobs stay queued and run again."""
        n = self._conn().execute("UPDATE jobs SET status = 'failed', error = ?, finished_at = ? "
                                 "WHERE status = 'running'", (INTERRUPTED, utc_now())).rowcount
        if n:
            log.warning("marked %d interrupted job(s) as failed", n)
        return n

    # reads

    def get(self, job_id: str) -> JobRow | None:
        r = self._conn().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return JobRow.from_sql(r) if r else None

    def next_queued(self) -> JobRow | None:
        r = self._conn().execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
        return JobRow.from_sql(r) if r else None

    def page(self, limit: int, offset: int, status: str | None = None) -> tuple[list[JobRow], int]:
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        conn = self._conn()
        (total,) = conn.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()
        rows = conn.execute(f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                            (*args, limit, offset)).fetchall()
        return [JobRow.from_sql(r) for r in rows], total

    def counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {status: n for status, n in rows}
