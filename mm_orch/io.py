"""Atomic file writes: write a temporary sibling, fsync, rename. A crash never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call write(tmp_path) on a temporary sibling of path, then rename it into place (mode as open() would)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; reports are as readable as any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_user_file(path: str | Path, what: str, max_bytes: int | None = None) -> str:
    """A user-named text file, or a one-line ConfigError naming what it was meant to be and the path.

    With max_bytes the size is checked (stat) before reading: a huge file is refused, not read whole."""
    from mm_orch.errors import ConfigError

    try:
        if max_bytes is not None and (size := Path(path).stat().st_size) > max_bytes:
            raise ConfigError(f"{what} {path}: {size} bytes is more than the {max_bytes} bytes accepted")
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {what} {path}: {e}") from None


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def check_writable_dir(path: str | Path, what: str) -> Path:
    """Create the folder if needed and prove a file can be made in it, before any work whose result goes there."""
    from mm_orch.errors import ConfigError

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{what} {p}: exists and is not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".mm_orch-write-check.", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"{what} {p}: cannot write there ({e.strerror or e})") from None
    return p


def check_writable_file(path: str | Path, what: str) -> Path:
    """A file we will write atomically (a sibling renamed into place): its folder must take new files."""
    from mm_orch.errors import ConfigError

    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{what} {p}: is a folder, not a file")
    check_writable_dir(p.parent, f"{what} {p}: folder")
    return p
