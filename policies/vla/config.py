"""Config of the ``vla`` policy: backbone, action head (tokens or flow) and value head."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from embodied_rl.config.schema import PolicyConfig

SMALL_BACKBONES = ("mlp", "cnn")
HF_BACKBONES = ("qwen2_5_vl", "qwen2_vl", "qwen3_vl", "paligemma", "idefics3", "smolvlm", "qwen2", "llama")
HEADS = ("tokens", "flow")
LOGPROB_LEVELS = ("chunk", "action", "dim")


@dataclass
class BackboneConfig:
    """What turns an observation into features (and, for language models, token logits)."""

    family: str = "mlp"
    """mlp | cnn (small encoders) or a transformers family: qwen2_5_vl, qwen2_vl, qwen3_vl, paligemma, idefics3 (= smolvlm), qwen2, llama."""
    preset: str = "tiny"
    """Size preset of a transformers family: tiny (1-20M params, tests and CPU runs) or large (published sizes)."""
    path: str = ""
    """Local directory with a transformers checkpoint to load (from_pretrained); never a hub name."""
    image_size: int = 0
    """Resize camera images to this size for the VLM processor (0 = the preset's size)."""
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])
    """MLP sizes of the small encoders (mlp: over state; cnn: on top of image features)."""
    cnn_channels: list[int] = field(default_factory=lambda: [16, 32, 32])
    """Conv channels of the cnn encoder."""
    prompt: str = "In: What action should the robot take to {instruction}?\nOut:"
    """Prompt template for language backbones ({instruction} is the env's instruction; OpenVLA's default)."""
    state_in_prompt: bool = False
    """Write the binned proprio state into the prompt as text (pi0.5 style) for language backbones."""
    lora_rank: int = 0
    """LoRA rank on the language model's projections (0 = full fine-tuning)."""
    lora_alpha: int = 16
    """LoRA alpha (scale = alpha / rank)."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward to save memory (transformers backbones)."""
    freeze: bool = False
    """Freeze the backbone (train heads only)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Extra config kwargs for the transformers preset (e.g. {num_hidden_layers: 4})."""


@dataclass
class TokenHeadConfig:
    """Autoregressive action tokens (OpenVLA / OpenVLA-OFT)."""

    n_bins: int = 256
    """Bins per action dimension."""
    decoding: str = "parallel"
    """parallel (OFT: one pass for the whole chunk) or sequential (one token at a time)."""
    temperature: float = 1.0
    """Sampling temperature (log-probs are of the temperature-scaled distribution)."""
    top_k: int = 0
    """Sample only among the k most likely bins (0 = off; log-probs stay over all bins)."""
    action_range: str = "spec"
    """Bin range: spec (action-space bounds) or dataset (1st-99th percentile of SFT demos)."""
    embed_dim: int = 64
    """Width of the small token decoder used with mlp/cnn backbones."""


@dataclass
class FlowHeadConfig:
    """Flow-matching action expert (pi0 style) with exact-likelihood samplers."""

    num_steps: int = 5
    """Denoising steps K."""
    sampler: str = "sde"
    """RL sampler: sde (Flow-SDE), noise (Flow-Noise) or ode (deterministic; no likelihood)."""
    noise_level: float = 0.5
    """Flow-SDE noise level a in sigma_t = a * sqrt(t / (1 - t))."""
    sde_steps: str = "one"
    """Flow-SDE: one random stochastic step per sample, or all steps."""
    log_std_min: float = -5.0
    """Flow-Noise lower bound of the learned log-std."""
    log_std_max: float = -1.0
    """Flow-Noise upper bound of the learned log-std."""
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])
    """Hidden sizes of the action expert (and the noise network)."""


@dataclass
class VLAPolicyConfig(PolicyConfig):
    """A backbone, an action head (tokens or flow) and an optional value head."""

    name: str = "vla"
    """Registered policy name."""
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    """The feature extractor / language model."""
    head: str = "flow"
    """Action head: tokens (autoregressive bins) or flow (flow matching)."""
    tokens: TokenHeadConfig = field(default_factory=TokenHeadConfig)
    """Settings of the tokens head."""
    flow: FlowHeadConfig = field(default_factory=FlowHeadConfig)
    """Settings of the flow head."""
    chunk: int = 1
    """Actions per chunk H (the env must take H*A-dim actions, e.g. through an action-chunk wrapper)."""
    logprob_level: str = "chunk"
    """PPO ratio granularity: chunk (one per sample), action (per action of the chunk) or dim (per token/dimension)."""
    value_hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])
    """MLP of the value head on the pooled features."""
    value_detach: bool = False
    """Stop value-loss gradients at the backbone features (critic trains only its own head)."""

    def check(self, cfg: Any) -> Iterator[tuple[str, str]]:
        families = SMALL_BACKBONES + HF_BACKBONES
        if self.backbone.family not in families:
            yield "policy.backbone.family", f"must be one of {families}, got {self.backbone.family!r}"
        if self.head not in HEADS:
            yield "policy.head", f"must be one of {HEADS}, got {self.head!r}"
        if self.logprob_level not in LOGPROB_LEVELS:
            yield "policy.logprob_level", f"must be one of {LOGPROB_LEVELS}, got {self.logprob_level!r}"
        if self.chunk < 1:
            yield "policy.chunk", f"must be >= 1, got {self.chunk}"
        if self.tokens.decoding not in ("parallel", "sequential"):
            yield "policy.tokens.decoding", f"must be parallel or sequential, got {self.tokens.decoding!r}"
        if self.tokens.action_range not in ("spec", "dataset"):
            yield "policy.tokens.action_range", f"must be spec or dataset, got {self.tokens.action_range!r}"
        if self.flow.sampler not in ("sde", "noise", "ode"):
            yield "policy.flow.sampler", f"must be sde, noise or ode, got {self.flow.sampler!r}"
        if self.flow.sde_steps not in ("one", "all"):
            yield "policy.flow.sde_steps", f"must be one or all, got {self.flow.sde_steps!r}"
        if self.flow.num_steps < 1:
            yield "policy.flow.num_steps", f"must be >= 1, got {self.flow.num_steps}"
        if not self.flow.log_std_min < self.flow.log_std_max:
            yield "policy.flow.log_std_min", "must be < policy.flow.log_std_max"
        if self.backbone.path and self.backbone.family in SMALL_BACKBONES:
            yield (
                "policy.backbone.path",
                f"only transformers families load from a path, not {self.backbone.family}",
            )
