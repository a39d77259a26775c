"""Timestamped production traces, read into an arrival schedule with the recorded token lengths.

Three public formats, told apart by their content (a renamed or extension-less file still reads):
- Mooncake JSONL: one object a line, {"timestamp": ms from the trace's start, "input_length", "output_length",
  "hash_ids": [...]}; each hash id names one 512-token block of the prompt, shared ids = shared prefixes.
- Azure LLM inference CSV (2023 and 2024): TIMESTAMP (a wall-clock datetime, up to 100 ns ticks, optional
  UTC offset), ContextTokens, GeneratedTokens.
- BurstGPT CSV: Timestamp (seconds from the trace's start), Model, Request tokens, Response tokens, Total tokens,
  Log Type (newer releases add columns; they are located by name). Failed requests have Response tokens 0.

A row that asks for no output or has no input (BurstGPT's failures) cannot be replayed: it is skipped and
counted, never silently dropped. A malformed row is a ConfigError naming the file and line. The file is read through
io.read_user_file, capped at MAX_TRACE_BYTES, so that a wrong path (a model file, a log) fails fast instead of
filling memory.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from mm_orch.errors import ConfigError
from mm_orch.io import json_loads

MAX_TRACE_BYTES = 64 * 2**20
MOONCAKE_BLOCK_TOKENS = 512  # Mooncake hashes prompts in blocks of this many tokens

FORMATS = ("mooncake", "azure", "burstgpt")
_AZURE_COLS = ("timestamp", "contexttokens", "generatedtokens")
_BURST_COLS = ("timestamp", "request tokens", "response tokens")
_MOONCAKE_KEYS = ("timestamp", "input_length", "output_length")
# 2023-11-16 18:15:46.6805900, 2024-05-10 00:00:00.009930+00:00, ISO 'T' and 'Z' too
_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One request of a trace: when it is due after the first one (speed applied) and its token lengths."""

    offset_ns: int
    input_len: int
    output_len: int
    hash_ids: tuple[int, ...] | None = None  # Mooncake's prefix blocks; None for the CSV formats


@dataclass(frozen=True)
class Trace:
    """A trace read for replay: entries in due order, the first due at 0."""

    path: str
    format: str  # one of FORMATS
    entries: list[TraceEntry]
    speed: float = 1.0  # 4 = replayed 4x faster than recorded
    rows: int = 0  # data rows read (kept + skipped)
    skipped: int = 0  # rows that cannot be replayed (no output or no input), counted in skipped_reasons
    skipped_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def offsets_ns(self) -> list[int]:
        return [e.offset_ns for e in self.entries]

    @property
    def duration_s(self) -> float:
        return self.entries[-1].offset_ns / 1e9 if self.entries else 0.0

    @property
    def mean_rate_rps(self) -> float | None:
        """Requests per second over the replayed span (first to last due); None for a single instant."""
        span = self.duration_s
        return (len(self.entries) - 1) / span if span > 0 else None

    def summary(self) -> dict:
        """What a report says about the trace it replayed."""
        ins = [e.input_len for e in self.entries]
        outs = [e.output_len for e in self.entries]
        return {
            "path": self.path,
            "format": self.format,
            "speed": self.speed,
            "requests": len(self.entries),
            "rows": self.rows,
            "skipped": self.skipped,
            "skipped_reasons": dict(self.skipped_reasons),
            "duration_s": self.duration_s,
            "mean_rate_rps": self.mean_rate_rps,
            "mean_input_len": sum(ins) / len(ins) if ins else None,
            "mean_output_len": sum(outs) / len(outs) if outs else None,
            "with_hash_ids": any(e.hash_ids is not None for e in self.entries),
        }


def load_trace(
    path: str | os.PathLike, speed: float = 1.0, limit: int | None = None, max_bytes: int = MAX_TRACE_BYTES
) -> Trace:
    """Read a Mooncake, Azure or BurstGPT trace (format told by content).

    speed > 1 compresses time (4 = four times the recorded rate); limit keeps the first N replayable requests
    of the file (reading stops there, so a limit makes a huge trace cheap). Offsets count from the earliest
    kept request; rows out of time order are sorted (stable)."""
    name = str(path)
    if isinstance(speed, bool) or not (isinstance(speed, int | float) and math.isfinite(speed) and speed > 0):
        raise ConfigError(f"trace speed must be a positive number, got {speed!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"trace limit must be a positive integer, got {limit!r}")
    text = _read_text(name, max_bytes)
    fmt = detect_format(text, name)
    parse = {"mooncake": _mooncake_rows, "azure": _azure_rows, "burstgpt": _burst_rows}[fmt]
    kept: list[tuple[int, int, int, tuple[int, ...] | None]] = []
    reasons: dict[str, int] = {}
    rows = 0
    for t_ns, n_in, n_out, hashes in parse(text, name):
        rows += 1
        why = "no output tokens" if n_out < 1 else "no input tokens" if n_in < 1 else None
        if why:
            reasons[why] = reasons.get(why, 0) + 1
            continue
        kept.append((t_ns, n_in, n_out, hashes))
        if limit is not None and len(kept) >= limit:
            break
    if not kept:
        raise ConfigError(
            f"{name}: no replayable request in the {fmt} trace ({rows} rows, {sum(reasons.values())} skipped)"
        )
    kept.sort(key=lambda r: r[0])  # stable: equal timestamps keep file order
    t0 = kept[0][0]
    entries = [TraceEntry(round((t - t0) / speed), n_in, n_out, h) for t, n_in, n_out, h in kept]
    return Trace(name, fmt, entries, float(speed), rows, sum(reasons.values()), reasons)


def detect_format(text: str, name: str = "trace") -> str:
    """The trace format from the first non-blank line: a JSON object with Mooncake's keys, or a CSV header."""
    text = text.removeprefix("\ufeff")  # a BOM, as spreadsheet programs write CSV
    first = next((ln for ln in text.splitlines() if ln.strip()), None)
    if first is None:
        raise ConfigError(f"{name}: the trace is empty")
    line_no = text.splitlines().index(first) + 1
    if first.lstrip().startswith("{"):
        try:
            obj = json_loads(first, f"{name}: line {line_no}")  # nesting capped: a ConfigError, one line
        except ValueError as e:
            raise ConfigError(f"{name}: line {line_no}: not JSON ({e.msg})") from None
        if isinstance(obj, dict) and all(k in obj for k in _MOONCAKE_KEYS):
            return "mooncake"
        raise ConfigError(f"{name}: line {line_no}: a JSON line without Mooncake's keys {', '.join(_MOONCAKE_KEYS)}")
    cols = {c.strip().lower() for c in next(csv.reader([first]))}
    if all(c in cols for c in _AZURE_COLS):
        return "azure"
    if all(c in cols for c in _BURST_COLS):
        return "burstgpt"
    raise ConfigError(
        f"{name}: not a known trace (Mooncake JSONL, Azure CSV 'TIMESTAMP,ContextTokens,"
        f"GeneratedTokens' or BurstGPT CSV 'Timestamp,...,Request tokens,Response tokens'); "
        f"line {line_no} is {first[:80]!r}"
    )


def send_time_error(trace_offsets_ns: Sequence[int], actual_send_offsets_ns: Sequence[int]) -> dict:
    """How far each request was sent from its trace time (both measured from the replay's start), in ms.

    The absolute error: a request sent early distorts the trace as much as a late one. p50/p99 are numpy's
    linear percentiles, as the report's distributions."""
    import numpy as np

    if len(trace_offsets_ns) != len(actual_send_offsets_ns):
        raise ValueError(f"{len(trace_offsets_ns)} trace offsets but {len(actual_send_offsets_ns)} send offsets")
    if not len(trace_offsets_ns):
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    due = np.asarray(trace_offsets_ns, dtype=np.int64)
    err = np.abs(np.asarray(actual_send_offsets_ns, dtype=np.int64) - due) / 1e6
    return {
        "count": int(err.size),
        "p50_ms": float(np.percentile(err, 50)),
        "p99_ms": float(np.percentile(err, 99)),
        "max_ms": float(err.max()),
    }


class PrefixBlocks:
    """Synthetic prompt token ids for Mooncake hash ids: requests that share hash ids share prefixes.

    Each hash id stands for one fixed block of block_size token ids drawn (seeded by seed and the id) from
    vocab_ids, so the same id gives the same block in every request and every run; a prefix cache on the server
    then sees the trace's reuse. Tokens past the last block (a trace whose ids do not cover input_len) are
    drawn per request (salt) and so are never shared. Blocks are cached (bounded) since traces reuse few ids
    many times."""

    def __init__(
        self, vocab_ids: Sequence[int], seed: int = 0, block_size: int = MOONCAKE_BLOCK_TOKENS, cache_blocks: int = 4096
    ) -> None:
        import numpy as np

        self.vocab = np.asarray(list(vocab_ids), dtype=np.int64)
        if self.vocab.ndim != 1 or self.vocab.size == 0:
            raise ConfigError("PrefixBlocks needs a non-empty list of vocabulary token ids")
        if block_size < 1:
            raise ConfigError(f"block_size must be >= 1, got {block_size}")
        self.seed, self.block_size, self.cache_blocks = int(seed), int(block_size), int(cache_blocks)
        self._cache: dict[int, list[int]] = {}

    def block(self, hash_id: int) -> list[int]:
        """The block_size token ids of one hash id."""
        hit = self._cache.get(hash_id)
        if hit is None:
            import numpy as np

            if hash_id < 0:
                raise ConfigError(f"hash ids must be >= 0, got {hash_id}")
            rng = np.random.default_rng([self.seed, 0, hash_id])
            hit = self.vocab[rng.integers(0, self.vocab.size, self.block_size)].tolist()
            if len(self._cache) >= self.cache_blocks:
                self._cache.pop(next(iter(self._cache)))  # oldest first: cheap, and traces reuse recent ids
            self._cache[hash_id] = hit
        return hit

    def token_ids(self, hash_ids: Sequence[int] | None, input_len: int, salt: int = 0) -> list[int]:
        """input_len token ids: the hash ids' blocks in order (cut at input_len), then per-request filler."""
        import numpy as np

        out: list[int] = []
        for h in hash_ids or ():
            if len(out) >= input_len:
                break
            out.extend(self.block(int(h)))
        del out[input_len:]
        if len(out) < input_len:
            rng = np.random.default_rng([self.seed, 1, int(salt), len(hash_ids or ())])
            out.extend(self.vocab[rng.integers(0, self.vocab.size, input_len - len(out))].tolist())
        return out


def prefix_token_ids(
    hash_ids: Sequence[int] | None,
    input_len: int,
    vocab_ids: Sequence[int],
    seed: int = 0,
    block_size: int = MOONCAKE_BLOCK_TOKENS,
    salt: int = 0,
) -> list[int]:
    """One request's synthetic prompt token ids from its Mooncake hash ids (see PrefixBlocks; for many requests
    build one PrefixBlocks and reuse it)."""
    return PrefixBlocks(vocab_ids, seed, block_size).token_ids(hash_ids, input_len, salt)


# ---- reading ----------------------------------------------------------------------------------------------


def _read_text(name: str, max_bytes: int) -> str:
    """The project's one capped reader (io.read_user_file): size checked before reading, UTF-8, one-line errors."""
    from mm_orch.io import read_user_file

    return read_user_file(name, "trace", max_bytes)


def _count(value: object, what: str) -> int:
    """A token count: a non-negative integer (an integral float such as 4808.0 is accepted)."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if isinstance(value, str):
        value = value.strip()
        try:
            value = int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"{what} must be an integer, got {value!r}") from None
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{what} must be an integer, got {value!r}")
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return value


def _seconds_ns(value: object, what: str, scale: float) -> int:
    """A finite number of (scale x 1e-9) seconds as integer ns."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return round(x * scale)


def _datetime_ns(value: str) -> int:
    """Epoch ns of an Azure TIMESTAMP, exact to its 100 ns ticks (datetime itself stops at microseconds)."""
    m = _DATETIME.fullmatch(value.strip())
    if not m:
        raise ValueError(f"TIMESTAMP {value!r} is not a date and time like 2023-11-16 18:15:46.6805900")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        t = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=timezone.utc)
    except ValueError as e:
        raise ValueError(f"TIMESTAMP {value!r}: {e}") from None
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        t -= sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[-2:]))
    whole = (t - _EPOCH) // timedelta(seconds=1)
    return whole * 10**9 + int((frac or "0").ljust(9, "0"))


def _mooncake_rows(text: str, name: str):
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json_loads(line, f"{name}: line {i}")
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            missing = [k for k in _MOONCAKE_KEYS if k not in obj]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            hashes = obj.get("hash_ids")
            if hashes is not None:
                if not isinstance(hashes, list):
                    raise ValueError("hash_ids must be a list of integers")
                hashes = tuple(_count(h, "each hash id") for h in hashes)
            row = (
                _seconds_ns(obj["timestamp"], "timestamp (ms)", 1e6),
                _count(obj["input_length"], "input_length"),
                _count(obj["output_length"], "output_length"),
                hashes,
            )
        except ValueError as e:
            msg = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
            raise ConfigError(f"{name}: line {i}: {msg}") from None
        yield row


def _csv_rows(text: str, name: str, cols: tuple[str, str, str], parse_time):
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    try:
        for row in reader:
            if not any(c.strip() for c in row):
                continue
            if header is None:
                header = [c.strip() for c in row]
                idx = [[h.lower() for h in header].index(c) for c in cols]
                continue
            try:
                if len(row) != len(header):
                    raise ValueError(f"{len(row)} fields where the header has {len(header)}")
                t, n_in, n_out = (row[j] for j in idx)
                out = (parse_time(t), _count(n_in, header[idx[1]]), _count(n_out, header[idx[2]]), None)
            except ValueError as e:
                raise ConfigError(f"{name}: line {reader.line_num}: {e}") from None
            yield out
    except csv.Error as e:
        raise ConfigError(f"{name}: line {reader.line_num}: not CSV ({e})") from None


def _azure_rows(text: str, name: str):
    return _csv_rows(text, name, _AZURE_COLS, _datetime_ns)


def _burst_rows(text: str, name: str):
    return _csv_rows(text, name, _BURST_COLS, lambda v: _seconds_ns(v.strip(), "Timestamp (s)", 1e9))
