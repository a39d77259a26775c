"""The dual (optimal sampling) engine's plug-in record: its settings (engine.dual), flags and registration;
the engine is optimal_sampling/."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mm_orch.settings.strict import Strict


class OptimalSamplingSettings(Strict):
    """The dual engine (--engine dual): the teacher is --model, the theta (student) model is set here."""

    theta_model: str = Field("tiny-qwen2-small", description="Theta (student) model; must share the tokenizer.")
    alpha_method: Literal["fixed", "kl_symmetry", "ess_balance", "entropy"] = Field(
        "kl_symmetry", description="How the teacher weight alpha of q ∝ theta^(1-a) teacher^a is chosen.")
    fixed_alpha: float = Field(0.5, ge=0.0, le=1.0, description="alpha for alpha_method=fixed.")
    iterations: int = Field(20, ge=1, le=64, description="Bisection steps of the alpha solver (20: 1e-6).")
    teacher_system_prompt: str | None = Field(None, description="System prompt of the teacher only.")
    theta_system_prompt: str | None = Field(None, description="System prompt of the theta model only.")
    enable_chat_template: bool = Field(False, description="Wrap each model's prompt in its chat template.")
    mode: Literal["optimal_sampling", "teacher_only", "theta_only"] = Field(
        "optimal_sampling", description="teacher_only / theta_only: alpha 1 / 0 through the same path.")
    sync_every: int = Field(32, ge=1, description="Decode steps between host syncs (EOS check, timestamps).")
    cuda_graphs: bool = Field(True, description="Capture the decode step as CUDA graphs (CUDA only).")
    compile: bool = Field(True, description="torch.compile the alpha/sampling head (CUDA only).")
    track_alpha_stats: bool = Field(True, description="Log KL*, KLs, entropies and ESS per token.")
    overlap: bool = Field(True, description="Run the two forwards as parallel branches of one CUDA graph "
                          "(measured faster on the H200; false = one after the other).")
    theta_device: str | None = Field(None, pattern=r"^cuda:\d{1,2}$", description="Put theta on its own GPU "
                                     "(e.g. cuda:1), stepping in parallel with the teacher; None = the teacher's.")
