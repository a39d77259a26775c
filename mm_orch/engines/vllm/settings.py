"""The vllm engine's plug-in record: its settings (engine.vllm) and registration; the engine is vllm.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt

from mm_orch.settings.strict import Strict


class VLLMCompilationSettings(Strict):
    """The vLLM compilation options mm_orch passes through (a fixed list: the config never reaches an import)."""

    fuse_allreduce_rms: bool | None = Field(None, description="vLLM's all-reduce + RMSNorm fusion pass. "
                                            "False is needed for tensor parallel 2 with vLLM 0.26 on the H200s "
                                            "here (else an illegal memory access at start-up); None = vLLM's.")
    cudagraph_capture_sizes: list[Annotated[int, Field(ge=1, le=4096)]] | None = Field(
        None, max_length=64, description="Batch sizes to capture CUDA graphs for; fewer sizes start faster. "
        "None = vLLM's list.")

    def vllm_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.fuse_allreduce_rms is not None:
            out["pass_config"] = {"fuse_allreduce_rms": self.fuse_allreduce_rms}
        if self.cudagraph_capture_sizes:
            out["cudagraph_capture_sizes"] = sorted(self.cudagraph_capture_sizes)
        return out


class VLLMEngineSettings(Strict):
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="Share of GPU memory vLLM preallocates "
                                          "for weights, activations and KV cache.")
    # 2**24 = 16M tokens: above the longest context any model offers (10M); 2**32 overflows vLLM's int32 positions
    max_model_len: StrictInt | None = Field(None, ge=1, le=2**24, description="Context length; None = the "
                                            "model's own.")
    enforce_eager: bool = Field(False, description="No CUDA graphs (faster start, slower decode).")
    tensor_parallel_size: StrictInt = Field(1, ge=1, description="GPUs a layer is split over (vLLM's executor).")
    pipeline_parallel_size: StrictInt = Field(1, ge=1, description="GPUs the layers are staged over.")
    enable_prefix_caching: bool = Field(True, description="Reuse KV blocks of shared prompt prefixes.")
    max_num_seqs: StrictInt | None = Field(None, ge=1, description="Most requests per step; None = vLLM's default.")
    # 1024 GiB: more RAM than all but the largest hosts have; a bigger value is a unit slip (MiB for GiB), and
    # vLLM would try to allocate it all up front
    cpu_kvcache_space_gb: StrictInt = Field(1, ge=1, le=1024, description="KV cache on CPU in GiB "
                                            "(VLLM_CPU_KVCACHE_SPACE), at most 1024.")
    distributed_executor_backend: Literal["mp", "ray"] | None = Field(
        None, description="Executor for tensor/pipeline parallel > 1: mp (processes on one node) or ray (a Ray "
        "cluster, several nodes). None = vLLM's choice (mp on one node).")
    compilation_config: VLLMCompilationSettings | None = Field(None, description="vLLM compilation options "
                                                               "(see VLLMCompilationSettings).")
    multiprocessing: bool | None = Field(None, description="Engine core in a child process "
                                         "(VLLM_ENABLE_V1_MULTIPROCESSING). None = auto: off on CPU (3x faster "
                                         "start), on with CUDA (host work overlaps the GPU: +5-48% tokens/s).")
    log_stats: bool = Field(False, description="vLLM's statistics on (disable_log_stats=False): with the engine "
                            "core in a child process (CUDA) its scheduler's running/waiting requests and KV-cache "
                            "usage then reach the telemetry timeline; in-process they are read directly either way.")
