"""serve(): python -m mm_orch.main --serve runs the job service under uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from pathlib import Path
from typing import IO, Any

from mm_orch.api.auth import TOKEN_ENV
from mm_orch.config import load_config
from mm_orch.errors import ConfigError
from mm_orch.io import check_writable_dir
from mm_orch.jobs.store import JobStore

log = logging.getLogger(__name__)

DATA_DIR_ENV = "MM_ORCH_DATA_DIR"
DEFAULT_DATA_DIR = "data/benchmarks"


def data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser().resolve()


def _lock_data_dir(path: Path) -> IO:
    """One server per data dir: two schedulers would run two jobs on one GPU."""
    path.mkdir(parents=True, exist_ok=True)
    handle = open(path / "server.lock", "w")  # noqa: SIM115 - held for the life of the server
    try:
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # not POSIX: no lock
        pass
    except OSError:
        handle.close()
        raise ConfigError(f"another mm_orch server is using the data dir {path} ({DATA_DIR_ENV})") from None
    return handle


def bind_address(host: str, port: int) -> socket.socket:
    """The listening socket for host:port, bound before anything starts: a bad port or a host that cannot
    be bound is a one-line error, and no other process can take the port between the check and serving."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port}: a port must be between 1 and 65535")
    sock = None
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        if sock is not None:
            sock.close()
        raise ConfigError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def api_token(host: str, allow_no_auth: bool = False, warn: bool = True) -> str | None:
    """MM_ORCH_API_TOKEN, checked: set-but-empty is a mistake, and no token off loopback needs an explicit flag."""
    token = os.environ.get(TOKEN_ENV)
    if token is not None and not token.strip():
        raise ConfigError(f"{TOKEN_ENV} is set but empty: set a token, or unset it to serve without auth")
    if token is None and not is_loopback(host):
        if not allow_no_auth:
            raise ConfigError(f"--host {host}: serving off loopback without {TOKEN_ENV} lets anyone who reaches "
                              "the port run jobs; set a token, or pass --allow-no-auth to do it anyway")
        if warn:
            warn_no_auth(host)
    return token


def warn_no_auth(host: str) -> None:
    log.warning("serving on %s without %s (--allow-no-auth): anyone who reaches this port can run jobs",
                host, TOKEN_ENV)


def serve(config_path: str | None, host: str = "127.0.0.1", port: int = 8000, allow_no_auth: bool = False,
          ray: Any = None) -> int:
    """ray: a connected RayCluster to run the jobs on (--executor ray), else local child processes."""
    token = api_token(host, allow_no_auth, warn=False)  # before binding: a refused start never opens the port
    with bind_address(host, port) as sock:
        if token is None and not is_loopback(host):  # --allow-no-auth, once the port is ours
            warn_no_auth(host)
        try:
            import uvicorn

            from mm_orch.api.app import create_app
        except ImportError as e:
            raise ConfigError(f"the API needs its extra: pip install 'mm_orch[api]' ({e})") from None
        cfg = load_config(config_path)
        pkg_log = logging.getLogger("mm_orch")
        if pkg_log.getEffectiveLevel() > logging.INFO:  # job events are the service's log
            pkg_log.setLevel(logging.INFO)
        folder = check_writable_dir(data_dir(), DATA_DIR_ENV)
        lock = _lock_data_dir(folder)
        try:
            JobStore(folder).close()  # a corrupt jobs database: one line now, not a traceback from the app's startup
            config = uvicorn.Config(create_app(cfg, folder, token, ray), log_level="info")
            shown = f"[{host}]" if ":" in host else host
            log.info("serving on http://%s:%d (API docs at /docs; Ctrl+C to stop)", shown, port)
            uvicorn.Server(config).run(sockets=[sock])  # the socket bound above; uvicorn does not log its address
        finally:
            lock.close()
    return 0
