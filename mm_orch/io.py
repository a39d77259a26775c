"""The one reader and writer of user files.

Writes are atomic: a temporary sibling, fsync, rename; a crash never leaves half a file, a failed write never
leaves the temporary file, and a path that exists but is not a regular file (a device such as /dev/null, a
FIFO, a folder) is refused, never replaced. Reads are capped: the size is checked (stat, then at most cap + 1
bytes read) before anything is parsed, the text must be UTF-8, and JSON / YAML may nest at most MAX_NESTING
levels; each problem is a one-line ConfigError naming the file.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MiB = 2**20
# A config is settings plus test prompts; prompt files are capped at 8 MiB, so twice that is already absurd
# (and PyYAML, pure Python, needs ~10 s for it).
MAX_CONFIG_BYTES = 16 * MiB
# A report holds distributions, never per-request records: the largest written so far are ~60 KB, so 64 MiB
# is a thousand times that, and still parses in well under 1 GB of memory.
MAX_REPORT_BYTES = 64 * MiB
# A dataset is read whole into memory: ShareGPT_V3_unfiltered_cleaned_split.json (642 MB), the largest common
# serving benchmark set, fits; a bigger file wants cutting (head -n) first.
MAX_DATASET_BYTES = 1024 * MiB
# Reports nest 9 levels deep, configs 6, ShareGPT records 4; deeper input is a mistake or an attack (and
# Python's parsers recurse: ~1000 levels end in a RecursionError).
MAX_NESTING = 64


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


SYSTEM_DIRS = ("/dev", "/proc", "/sys")  # device nodes and kernel files: never an output, whatever their type


def not_a_regular_file(path: str | Path) -> str | None:
    """What path is when it is not somewhere a regular file can be replaced: an existing device, FIFO, folder
    or socket, or anything under /dev, /proc or /sys (after following links: /dev/stdout is /proc/self/fd/1);
    None for a regular file or a new file elsewhere."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # missing (or unreadable: the write itself will say)
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                 (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))
        return next((name for test, name in kinds if test(mode)), "not a regular file")
    named, real = os.path.abspath(path), os.path.realpath(path)
    for where in (named, real):  # /dev/stdout names a device even when the shell sends it to a file
        system = next((d for d in SYSTEM_DIRS if where == d or where.startswith(d + "/")), None)
        if system is not None:
            via = f" (a link to {real})" if where == real and real != named else ""
            return f"a path under {system}{via}"
    return None


def check_output_file(path: str | Path, what: str) -> Path:
    """A file we will replace atomically: refused (one line, exit 2) when it is not a regular file or lies under
    /dev, /proc or /sys, since renaming over a device node or a FIFO would destroy it (and write nothing where
    the user meant)."""
    from mm_orch.errors import ConfigError

    kind = not_a_regular_file(path)
    if kind is not None:
        raise ConfigError(f"{what} {path}: is {kind}, not a regular file (outputs are replaced atomically, never "
                          "written through or over a device, FIFO, folder or kernel file): name a file")
    return Path(path)


def atomic_write(path: str | Path, write: Callable[[str], None], what: str = "output") -> Path:
    """Call write(tmp_path) on a temporary sibling of path, then rename it into place (mode as open() would).
    A path that exists and is not a regular file is refused (ConfigError), never replaced; the temporary
    file is removed whatever goes wrong."""
    path = Path(path)
    check_output_file(path, what)
    target = Path(os.path.realpath(path))  # through a symbolic link to its file: the link itself is kept
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; reports are as readable as any file
        os.replace(tmp, target)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno and e.filename in (None, tmp):  # name the file asked for
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise
    return path


def read_user_bytes(path: str | Path, what: str, max_bytes: int) -> bytes:
    """The bytes of a user-named file, at most max_bytes, or a one-line ConfigError naming what it was meant
    to be and the path. The size is checked before reading (a 100 GB sparse file is refused, not read), and
    at most max_bytes + 1 bytes are ever read (a file that grows, a device, a FIFO)."""
    from mm_orch.errors import ConfigError

    def too_big(size: str) -> ConfigError:
        return ConfigError(f"{what} {path}: {size} is more than the {max_bytes} bytes accepted")

    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size > max_bytes:
                raise too_big(f"{st.st_size} bytes")
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path}: is a folder, not a file") from None
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise too_big("its content")
    return data


def decode_user_text(data: bytes, path: str | Path, what: str) -> str:
    """UTF-8 text (a leading byte-order mark dropped), or a one-line ConfigError naming the line."""
    from mm_orch.errors import ConfigError

    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"{what} {path}: line {line}: not UTF-8 text (byte {e.start}: {e.reason})") from None


def read_user_file(path: str | Path, what: str, max_bytes: int = MAX_REPORT_BYTES) -> str:
    """A user-named UTF-8 text file (read_user_bytes, then decode_user_text): every problem is one line."""
    return decode_user_text(read_user_bytes(path, what, max_bytes), path, what)


def nesting_depth_exceeds(obj: Any, limit: int = MAX_NESTING) -> bool:
    """Whether lists/dicts nest deeper than limit levels; iterative (no recursion), shared and cyclic
    containers (YAML aliases) visited at most once per depth, so a billion laughs costs nothing."""
    seen: dict[int, int] = {}
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list | tuple):
            continue
        if depth > limit:
            return True
        if seen.get(id(node), 0) >= depth:
            continue
        seen[id(node)] = depth
        stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def _too_deep(source: str, limit: int, line: int | None = None) -> Exception:
    from mm_orch.errors import ConfigError

    where = f"{source}:{line}" if line else source
    return ConfigError(f"{where}: nested deeper than {limit} levels (lists/objects within each other)")


def json_loads(text: str | bytes, source: str, limit: int = MAX_NESTING) -> Any:
    """json.loads with a nesting cap (ConfigError naming source); a JSONDecodeError (a ValueError) is left to
    the caller, who knows how to name the file and line."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise _too_deep(source, limit) from None
    if nesting_depth_exceeds(data, limit):
        raise _too_deep(source, limit)
    return data


def yaml_loads(text: str, source: str, limit: int = MAX_NESTING, lines: bool = True) -> Any:
    """yaml.safe_load with a nesting cap: the parser's events are counted first (no recursion, unlike the
    composer that a deep document sends into a RecursionError); a yaml.YAMLError is left to the caller."""
    import yaml

    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limit:
                raise _too_deep(source, limit, event.start_mark.line + 1 if lines else None)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise _too_deep(source, limit) from None
    if nesting_depth_exceeds(data, limit):  # aliases can nest deeper than the text does
        raise _too_deep(source, limit)
    return data


def atomic_write_text(path: str | Path, text: str, what: str = "output") -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), what)


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
    check_output_file(p, what)
    check_writable_dir(p.parent, f"{what} {p}: folder")
    return p
