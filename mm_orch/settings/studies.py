"""YAML `studies:` section: the workload, accuracy and context-length studies and the SLOs for goodput."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt, model_validator

from mm_orch.settings.lengths import LengthSpec
from mm_orch.settings.slo import SLO
from mm_orch.settings.strict import Strict

STUDY_TESTS = ("workload", "accuracy", "context_length")  # selectable with --tests beside the standard three


class SharedPrefixSpec(Strict):
    groups: StrictInt = Field(4, ge=1, description="Distinct prefixes (N).")
    suffixes: StrictInt = Field(4, ge=1, description="Prompts per prefix (M).")
    prefix_len: StrictInt = Field(256, ge=1, description="Tokens of each shared prefix.")
    suffix_len: StrictInt = Field(32, ge=1, description="Tokens of each prompt's own suffix.")


class MultiTurnSpec(Strict):
    conversations: StrictInt = Field(2, ge=1, description="Synthetic conversations.")
    turns: StrictInt = Field(3, ge=1, description="User turns per conversation; each prompt is the whole history.")


class WorkloadSettings(Strict):
    kind: Literal["synthetic", "dataset", "shared_prefix", "multi_turn"] = Field(
        "synthetic", description="synthetic: lengths from input_len/output_len; dataset: the file `dataset`; "
        "shared_prefix: groups x suffixes; multi_turn: conversations (synthetic, or a ShareGPT `dataset`).")
    dataset: str | None = Field(None, description="JSONL prompts or ShareGPT file (format told by content).")
    num_requests: StrictInt | None = Field(16, ge=1, description="Synthetic: requests; dataset: the first N records "
                                     "(None = all).")
    input_len: LengthSpec = Field(LengthSpec(mean=128), description="Synthetic prompt and user-turn lengths.")
    output_len: LengthSpec = Field(LengthSpec(mean=32), description="Output lengths; for ShareGPT replies, "
                                   "the bounds (min, max) the reference reply's length is clipped to.")
    shared_prefix: SharedPrefixSpec = SharedPrefixSpec()
    multi_turn: MultiTurnSpec = MultiTurnSpec()
    concurrency: StrictInt = Field(1, ge=1, description="Requests (or conversations) in flight; engines that serve "
                             "one request at a time run them in order.")
    seed: StrictInt | None = Field(None, description="Workload seed; None = engine.seed.")

    @model_validator(mode="after")
    def _dataset_given(self) -> WorkloadSettings:
        if self.kind == "dataset" and not self.dataset:
            raise ValueError("kind 'dataset' needs dataset: PATH")
        return self


class AccuracySettings(Strict):
    tasks: str = Field("builtin", description="'builtin' (generated arithmetic and short-answer items) or a "
                       "JSONL file of {prompt, answer}.")
    limit: StrictInt | None = Field(None, ge=1, description="Score only the first N tasks (None = all).")
    max_new_tokens: StrictInt = Field(12, ge=1, description="Tokens generated per answer (greedy, stops at EOS).")
    dual_modes: bool = Field(True, description="dual engine: also score teacher-only (alpha=1) and "
                             "theta-only (alpha=0) beside the configured mode.")


class ContextLengthSettings(Strict):
    start: StrictInt = Field(128, ge=1, description="Shortest context (tokens); doubled up to the model's limit.")
    max: StrictInt | None = Field(None, ge=1, description="Longest context; None = the model's limit.")
    runs: StrictInt = Field(3, ge=1, description="Measured requests per length (after one warm-up).")
    output_length: StrictInt = Field(4, ge=1, description="Output tokens per request (TTFT needs one).")


class StudySettings(Strict):
    workload: WorkloadSettings = WorkloadSettings()
    accuracy: AccuracySettings = AccuracySettings()
    context_length: ContextLengthSettings = ContextLengthSettings()
    slo: SLO | None = Field(None, description="Objectives for goodput (ttft_ms, tpot_ms, e2e_ms); None = off.")
