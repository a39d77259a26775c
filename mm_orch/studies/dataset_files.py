"""Dataset files, their format told by their content: JSONL prompts, JSONL tasks, ShareGPT conversations.

    prompts   JSONL, one {"prompt": str, "output_len": int} per line
    tasks     JSONL, one {"prompt": str, "answer": str | number} per line (accuracy)
    sharegpt  a JSON list (or JSONL) of {"conversations": [{"from": "human", "value": ...}, ...]}

A bad file raises ConfigError naming the file and the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mm_orch.errors import ConfigError
from mm_orch.io import MAX_DATASET_BYTES, MAX_NESTING, json_loads, nesting_depth_exceeds, read_user_file

USER_ROLES = {"human", "user"}
REPLY_ROLES = {"gpt", "assistant", "chatgpt", "bard", "model"}


class PromptRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, description="The prompt text.")
    output_len: int = Field(ge=1, description="Output tokens to generate for it.")


class TaskRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, description="The question as sent to the model.")
    answer: str | int | float = Field(description="The expected answer (exact or numeric match).")


class ShareGPTTurn(BaseModel):
    model_config = ConfigDict(extra="ignore")  # ShareGPT dumps carry extra keys (markdown, ...)
    from_: str = Field(alias="from", description="Speaker: human/user, gpt/assistant, system.")
    value: str = Field(description="The turn's text.")


class ShareGPTRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")  # id, model, ... are not ours to police
    conversations: list[ShareGPTTurn] = Field(min_length=1, description="The turns, in order.")


@dataclass(slots=True)
class Conversation:
    """A ShareGPT conversation as (user turn, reference reply or None) pairs; system turns dropped."""

    turns: list[tuple[str, str | None]]
    line: int


@dataclass(slots=True)
class DatasetFile:
    path: str
    format: Literal["prompts", "tasks", "sharegpt"]
    prompts: list[PromptRow] = field(default_factory=list)
    tasks: list[TaskRow] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _json_array(path: str, text: str) -> Iterator[tuple[int, object]]:
    """Elements of a top-level JSON list with the line each starts on."""
    dec = json.JSONDecoder()
    pos = text.index("[") + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise ConfigError(f"{path}:{_line_of(text, pos)}: invalid JSON: the list is not closed")
        if text[pos] == "]":
            return
        try:
            obj, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
        except RecursionError:
            obj = too_deep = True
        else:
            too_deep = nesting_depth_exceeds(obj, MAX_NESTING - 1)  # one level is the list around it
        if too_deep:
            raise ConfigError(f"{path}:{_line_of(text, pos)}: nested deeper than {MAX_NESTING} levels "
                              "(lists/objects within each other)")
        yield _line_of(text, pos), obj
        pos = end


def _json_lines(path: str, text: str) -> Iterator[tuple[int, object]]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield n, json_loads(line, f"{path}:{n}")
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{n}: invalid JSON: {e.msg}") from None


def _kind(obj: object) -> str | None:
    if not isinstance(obj, dict):
        return None
    if "conversations" in obj:
        return "sharegpt"
    if "answer" in obj:
        return "tasks"
    if "output_len" in obj:
        return "prompts"
    return None


def _problem(err: ValidationError) -> str:
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"]) or "<record>"
    return f"{key}: {'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"


def _conversation(rec: ShareGPTRecord, line: int, path: str) -> Conversation:
    turns: list[tuple[str, str | None]] = []
    for t in rec.conversations:
        role = t.from_.lower()
        if role in USER_ROLES:
            turns.append((t.value, None))
        elif role in REPLY_ROLES and turns and turns[-1][1] is None:
            turns[-1] = (turns[-1][0], t.value)
    if not turns or not turns[0][0].strip():
        raise ConfigError(f"{path}:{line}: the conversation has no (non-empty) user turn")
    return Conversation(turns, line)


def parse_dataset(path: str | Path) -> DatasetFile:
    """Read and validate a dataset file; the format is told by its first record."""
    path = str(path)
    text = read_user_file(path, "dataset file", MAX_DATASET_BYTES)
    stripped = text.lstrip()
    if not stripped:
        raise ConfigError(f"{path}: the dataset file is empty")
    records = _json_array(path, text) if stripped[0] == "[" else _json_lines(path, text)
    out: DatasetFile | None = None
    models = {"prompts": PromptRow, "tasks": TaskRow, "sharegpt": ShareGPTRecord}
    for line, obj in records:
        kind = _kind(obj)
        if out is None:
            if kind is None:
                raise ConfigError(f"{path}:{line}: unknown record: expected an object with prompt + output_len, "
                                  "prompt + answer, or conversations (ShareGPT)")
            out = DatasetFile(path, kind)  # type: ignore[arg-type]
        if kind != out.format:
            raise ConfigError(f"{path}:{line}: expected a {out.format} record like the first one")
        try:
            row = models[out.format].model_validate(obj)
        except ValidationError as e:
            raise ConfigError(f"{path}:{line}: {_problem(e)}") from None
        if out.format == "prompts":
            out.prompts.append(row)
        elif out.format == "tasks":
            out.tasks.append(row)
        else:
            out.conversations.append(_conversation(row, line, path))
    if out is None:
        raise ConfigError(f"{path}: the dataset file holds no records")
    return out
