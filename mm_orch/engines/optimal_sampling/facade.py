"""OptimalSamplingV1: the seed package's API on our dual decoder (users switch without edits)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mm_orch.engines.optimal_sampling.alpha import check_alpha_args
from mm_orch.engines.optimal_sampling.decoder import DecodeResult, DualDecoder
from mm_orch.engines.optimal_sampling.head import MODES, StepParams
from mm_orch.engines.optimal_sampling.loader import LoadedLM, check_same_vocabulary, load_lm
from mm_orch.engines.optimal_sampling.prompts import check_prompts, encode_prompts
from mm_orch.engines.optimal_sampling.summary import alpha_summary
from mm_orch.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class OptimalSamplingOutput:
    generated_texts: list[str]
    generated_ids: list[list[int]]
    alpha_values: list[list[float]]  # per sequence, one per generated token
    alpha_stats: dict[str, Any]
    token_records: list[dict[str, list]] | None = None  # token_id, alpha, logq, logp_theta, logp_teacher
    timing: dict[str, float] = field(default_factory=dict)


def decode_text(tokenizer: Any, ids: list[int]) -> str:
    """Text of ids the tokenizer knows (dummy models sample ids beyond the stand-in tokenizer)."""
    n = len(tokenizer)
    return tokenizer.decode([i for i in ids if i < n], skip_special_tokens=True)


def row_seeds(seed: int, n: int) -> list[int]:
    return [(seed * 1_000_003 + i) & 0x7FFFFFFF for i in range(n)]


class OptimalSamplingV1:
    def __init__(self, model_teacher: str, model_theta: str | None = None, alpha_method: str = "kl_symmetry",
                 teacher_system_prompt: str | None = None, theta_system_prompt: str | None = None,
                 enable_chat_template: bool = False, gpu_memory_utilization: float = 0.5,
                 track_alpha_stats: bool = True, *, fixed_alpha: float = 0.5, alpha_iterations: int = 20,
                 device: str = "auto", dtype: str = "auto", load_format: str = "auto", seed: int = 0,
                 sync_every: int = 32, cuda_graphs: bool = True, compile: bool = True,
                 compile_layers: bool | None = None, overlap: bool = True, theta_device: str | None = None,
                 attention: str = "auto", head: str = "auto", user_models: dict[str, Any] | None = None,
                 **ignored: Any) -> None:
        check_alpha_args(alpha_method, fixed_alpha, alpha_iterations)
        if ignored:
            log.info("OptimalSamplingV1 ignores seed-only options: %s", ", ".join(sorted(ignored)))
        # gpu_memory_utilization is accepted for compatibility: static caches are sized per batch
        self.alpha_method, self.fixed_alpha, self.iterations = alpha_method, fixed_alpha, alpha_iterations
        self.teacher_system_prompt, self.theta_system_prompt = teacher_system_prompt, theta_system_prompt
        self.enable_chat_template, self.track_alpha_stats = enable_chat_template, track_alpha_stats
        self.seed, self.sync_every = seed, sync_every
        self.teacher: LoadedLM = load_lm(model_teacher, device, dtype, load_format, seed, user_models)
        self.theta: LoadedLM | None = None
        if model_theta is not None:
            self.theta = load_lm(model_theta, theta_device or device, dtype, load_format, seed + 1, user_models)
            vocab = check_same_vocabulary(self.teacher, self.theta)
        else:
            vocab = self.teacher.vocab
        tok = self.teacher.tokenizer
        eos = [i for i in {tok.eos_token_id, self.teacher.spec.architecture.get("eos_token_id")} if i is not None]
        dev = self.teacher.weights.embed.device
        own = str(self.theta.weights.embed.device) if self.theta and theta_device else None
        main = str(dev) if own else dev.type  # an explicit index only where two devices are in play
        self.decoder = DualDecoder(self.teacher.weights, self.theta.weights if self.theta else None, vocab,
                                   tok.pad_token_id, sorted(eos), main, cuda_graphs, compile,
                                   compile if compile_layers is None else compile_layers, overlap, own,
                                   attention, head)

    @property
    def tokenizer(self) -> Any:
        return self.teacher.tokenizer

    def encode_pair(self, prompts: list[str], theta_prompts: list[str] | None) -> tuple[list, list]:
        check_prompts(prompts, theta_prompts)
        chat = self.enable_chat_template
        t_ids = encode_prompts(self.teacher.tokenizer, prompts, self.teacher_system_prompt, chat)
        th_tok = (self.theta or self.teacher).tokenizer
        th_ids = encode_prompts(th_tok, theta_prompts or prompts, self.theta_system_prompt, chat)
        return t_ids, th_ids

    def params(self, max_tokens: int, temperature: float, top_p: float, top_k: int, mode: str,
               stop_at_eos: bool) -> StepParams:
        if mode not in MODES:
            raise ConfigError(f"unknown mode '{mode}' (choose from {', '.join(MODES)})")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
        if temperature < 0 or not 0 < top_p <= 1:
            raise ConfigError(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature} and {top_p}")
        if mode != "teacher_only" and self.theta is None:
            raise ConfigError(f"mode '{mode}' needs a theta model")
        return StepParams(max_tokens, float(temperature), max(int(top_k), 0), float(top_p), self.alpha_method,
                          float(self.fixed_alpha), int(self.iterations), mode, stop_at_eos,
                          self.track_alpha_stats)

    def generate(self, prompts: list[str], theta_prompts: list[str] | None = None, max_tokens: int = 512,
                 temperature: float = 0.8, top_p: float = 1.0, top_k: int = -1, seed: int | None = None,
                 return_token_records: bool = False, *, mode: str = "optimal_sampling",
                 stop_at_eos: bool = True) -> OptimalSamplingOutput:
        p = self.params(max_tokens, temperature, top_p, top_k, mode, stop_at_eos)
        t_ids, th_ids = self.encode_pair(prompts, theta_prompts)
        seeds = row_seeds(self.seed if seed is None else seed, len(t_ids))
        res = self.decoder.generate(t_ids, th_ids, seeds, p, self.sync_every)
        return self.to_output(res, return_token_records)

    def to_output(self, res: DecodeResult, records: bool) -> OptimalSamplingOutput:
        ids = [res.tokens[:n, i].tolist() for i, n in enumerate(res.lengths)]
        texts = [decode_text(self.tokenizer, x) for x in ids]
        alphas = [res.alpha[:n, i].tolist() for i, n in enumerate(res.lengths)]
        recs = None
        if records:
            recs = [{"token_id": ids[i], "alpha": alphas[i], "logq": res.logq[:n, i].tolist(),
                     "logp_theta": res.logp_theta[:n, i].tolist(), "logp_teacher": res.logp_teacher[:n, i].tolist()}
                    for i, n in enumerate(res.lengths)]
        timing = {"total_s": (res.end_ns - res.start_ns) / 1e9, "first_token_s": (res.first_token_ns - res.start_ns)
                  / 1e9, "capture_s": res.capture_s}
        return OptimalSamplingOutput(texts, ids, alphas, alpha_summary(res.alpha, res.stats, res.lengths), recs,
                                     timing)
