"""The ``vla`` policy: backbone -> action head (tokens or flow) + value head.

One class covers the cheap end (MLP/CNN encoders) and transformers VLMs/LLMs:

==================  =====================================  ======================================
backbone            head = tokens                          head = flow
==================  =====================================  ======================================
mlp / cnn           :class:`ActionTokenHead` on features   :class:`FlowMatchingHead` on features
transformers        the LM's own reserved action tokens    :class:`FlowMatchingHead` on pooled
                    (:class:`LMActionTokens`)              hidden states (+ state)
==================  =====================================  ======================================

Actions are handled in a normalised space: ``a_norm = 2 (a - low) / (high - low) - 1``
with ``low``/``high`` the action-space bounds (or the 1st/99th percentiles of the SFT
demonstrations with ``tokens.action_range=dataset``); bins and flow samples live in
[-1, 1] there. The env receives ``[B, H*A]`` (``H = chunk``) and clips to its bounds.

Deterministic actions (evaluation) are the greedy bins for token heads and, for flow
heads, the ODE integrated from ``x_0 = 0`` (the noise distribution's mean), so an
evaluation is repeatable; stochastic evaluation samples the RL sampler.

Log-probs are aggregated per ``logprob_level``: ``chunk`` ``[B]``, ``action`` ``[B, H]``
or ``dim`` ``[B, H, A]``; the trainers broadcast the advantage over the extra dims.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from embodied_rl.envs.core import EnvSpec, Obs
from embodied_rl.policies.backbones import build_mlp
from embodied_rl.policies.core import ActionOutput, Policy, PolicyEnvMismatch
from embodied_rl.policies.heads.action_tokens import ActionTokenHead, aggregate
from embodied_rl.policies.vla.config import SMALL_BACKBONES, VLAPolicyConfig
from embodied_rl.policies.vla.encoders import LanguageEncoder, SmallEncoder
from torch import nn


class VLAPolicy(Policy):
    """See the module docstring."""

    config_class = VLAPolicyConfig
    config: VLAPolicyConfig

    def __init__(self, config: VLAPolicyConfig, spec: EnvSpec) -> None:
        super().__init__(config, spec)
        space = spec.action_space
        self.chunk = config.chunk
        self.action_dim = int(space.shape[0]) // config.chunk  # A: one action of the chunk
        low, high = _finite_bounds(space.low, space.high)
        self.register_buffer("action_low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("action_high", torch.as_tensor(high, dtype=torch.float32))
        self.is_language = config.backbone.family not in SMALL_BACKBONES
        self.encoder: nn.Module = (
            LanguageEncoder(config.backbone, spec)
            if self.is_language
            else SmallEncoder(config.backbone, spec)
        )
        cond_dim = int(self.encoder.out_dim)
        self.lm_tokens = None
        if config.head == "tokens" and self.is_language:
            from embodied_rl.policies.vla.lm_tokens import LMActionTokens

            bb = self.encoder.backbone
            self.lm_tokens = LMActionTokens(
                bb.vocab_size, bb.pad_token_id, self.action_dim, self.chunk, config.tokens
            )
            self.head: nn.Module | None = None
        elif config.head == "tokens":
            t = config.tokens
            self.head = ActionTokenHead(
                cond_dim,
                self.action_dim,
                self.chunk,
                n_bins=t.n_bins,
                decoding=t.decoding,  # type: ignore[arg-type]
                embed_dim=t.embed_dim,
                temperature=t.temperature,
                top_k=t.top_k,
            )
        else:
            from embodied_rl.policies.heads.flow import FlowMatchingHead

            f = config.flow
            self.head = FlowMatchingHead(
                cond_dim,
                self.action_dim,
                self.chunk,
                num_steps=f.num_steps,
                sampler=f.sampler,
                noise_level=f.noise_level,
                sde_steps=f.sde_steps,
                log_std_min=f.log_std_min,
                log_std_max=f.log_std_max,
                hidden_sizes=tuple(f.hidden_sizes),
            )
        self.value_head: nn.Module | None = None
        if config.value_head:
            trunk, dim = build_mlp(cond_dim, config.value_hidden_sizes, "tanh")
            self.value_head = nn.Sequential(trunk, nn.Linear(dim, 1))

    @classmethod
    def check_spec(cls, config: VLAPolicyConfig, spec: EnvSpec) -> None:  # type: ignore[override]
        if spec.action_kind != "continuous" or len(spec.action_space.shape) != 1:
            raise PolicyEnvMismatch(
                f"policy 'vla' needs 1-D Box actions (robot control); env '{spec.name}' has {spec.action_space}"
            )
        if config.chunk > 1 and spec.action_space.shape[0] % config.chunk:
            raise PolicyEnvMismatch(
                f"policy.chunk={config.chunk} does not divide env '{spec.name}''s action size "
                f"{spec.action_space.shape[0]} (wrap the env to take whole chunks)"
            )

    # ---- actions: normalised <-> env ---------------------------------------------------------

    def normalize(self, actions: torch.Tensor) -> torch.Tensor:
        """Env actions ``[B, H*A]`` -> normalised ``[B, H, A]`` in [-1, 1]."""
        a = 2.0 * (actions.float() - self.action_low) / (self.action_high - self.action_low) - 1.0
        return a.reshape(a.shape[0], self.chunk, -1)

    def denormalize(self, actions: torch.Tensor) -> torch.Tensor:
        """Normalised ``[B, H, A]`` -> env actions ``[B, H*A]``."""
        a = actions.reshape(actions.shape[0], -1)
        return self.action_low + (a + 1.0) / 2.0 * (self.action_high - self.action_low)

    def fit_to_demos(self, actions: torch.Tensor) -> None:
        """With ``tokens.action_range=dataset``, bin over the demos' 1st-99th percentiles."""
        if self.config.head == "tokens" and self.config.tokens.action_range == "dataset":
            self.fit_action_range(actions)

    def fit_action_range(self, actions: torch.Tensor, quantile: float = 0.01) -> None:
        """Set the normalisation range to the demos' ``[q, 1 - q]`` percentiles (OpenVLA's binning)."""
        lo = torch.quantile(actions.float(), quantile, dim=0)
        hi = torch.quantile(actions.float(), 1.0 - quantile, dim=0)
        hi = torch.maximum(hi, lo + 1e-3)
        self.action_low.copy_(lo)
        self.action_high.copy_(hi)

    # ---- the contract ----------------------------------------------------------------------------

    def _encode(self, obs: Obs) -> tuple[Any, torch.Tensor | None]:
        """``(inputs, cond)``: prepared LM inputs (language backbones) and features (when known)."""
        if not self.is_language:
            return None, self.encoder(obs)
        inputs = self.encoder.prepare(obs)
        if self.lm_tokens is not None:
            return inputs, None  # features come from the token pass itself
        out = self.encoder.backbone.forward(inputs, output_logits=False)
        return inputs, self.encoder.features(obs, out)

    def _value(self, cond: torch.Tensor) -> torch.Tensor | None:
        if self.value_head is None:
            return None
        return self.value_head(cond.detach() if self.config.value_detach else cond).squeeze(-1)

    def _level(self, per_token: torch.Tensor) -> torch.Tensor:
        return aggregate(per_token.reshape(per_token.shape[0], self.chunk, -1), self.config.logprob_level)  # type: ignore[arg-type]

    @torch.no_grad()
    def act(self, obs: Obs, deterministic: bool = False) -> ActionOutput:
        inputs, cond = self._encode(obs)
        if self.lm_tokens is not None:
            bins, log_prob, out = self.lm_tokens.sample(self.encoder.backbone, inputs, deterministic)
            cond = self.encoder.features(obs, out)
            actions = self.lm_tokens.tokenizer.decode(bins.reshape(bins.shape[0], self.chunk, -1))
            extras = {"action_bins": bins.reshape(bins.shape[0], self.chunk, -1)}
        elif deterministic and self.config.head == "flow":
            # The flow's "mode": the ODE from the noise distribution's mean x_0 = 0 (repeatable).
            assert self.head is not None and cond is not None
            noise = cond.new_zeros(cond.shape[0], self.chunk, self.action_dim)
            actions = self.head.ode_sample(cond, noise=noise)
            log_prob, extras = torch.zeros_like(actions), {}
        else:
            assert self.head is not None and cond is not None
            actions, log_prob, extras = self.head.sample(cond, deterministic=deterministic)
        return ActionOutput(
            actions=self.denormalize(actions),
            log_prob=self._level(log_prob),
            value=self._value(cond),
            extras=extras,
        )

    def evaluate(
        self, obs: Obs, actions: Any, extras: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if not extras:
            raise ValueError("policy 'vla' needs the extras returned by act() to recompute log-probs")
        inputs, cond = self._encode(obs)
        if self.lm_tokens is not None:
            bins = extras["action_bins"].reshape(extras["action_bins"].shape[0], -1)
            log_prob, entropy, out = self.lm_tokens.log_prob(self.encoder.backbone, inputs, bins)
            cond = self.encoder.features(obs, out)
        else:
            assert self.head is not None and cond is not None
            log_prob, entropy = self.head.log_prob(cond, extras)
        return self._level(log_prob), self._level(entropy), self._value(cond)

    def value(self, obs: Obs) -> torch.Tensor | None:
        if self.value_head is None:
            return None
        inputs, cond = self._encode(obs)
        if cond is None:  # LM tokens: pool the prompt's hidden states
            cond = self.encoder.features(obs, self.encoder.backbone.forward(inputs, output_logits=False))
        return self._value(cond)

    def sft_loss(self, obs: Obs, actions: torch.Tensor) -> torch.Tensor:
        target = self.normalize(actions).clamp(-1.0, 1.0)
        inputs, cond = self._encode(obs)
        if self.lm_tokens is not None:
            bins = self.lm_tokens.tokenizer.encode(target).reshape(target.shape[0], -1)
            loss, _ = self.lm_tokens.sft_loss(self.encoder.backbone, inputs, bins)
            return loss
        assert self.head is not None and cond is not None
        return self.head.sft_loss(cond, target)

    # ---- saving and loading ------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Weights + ``policy.json``; transformers backbones also write ``backbone/`` (config,
        tokenizer, processor, LoRA adapters) so the directory reloads with no other file."""
        directory = super().save_pretrained(directory)
        if self.is_language:
            from embodied_rl.policies.backbones.hf import save_backbone

            save_backbone(self.encoder.backbone, directory)
        return directory

    @classmethod
    def build_from_directory(cls, config: VLAPolicyConfig, spec: EnvSpec, directory: Path) -> VLAPolicy:  # type: ignore[override]
        """Build the backbone from ``directory/backbone`` when the policy saved one (config unchanged)."""
        if config.backbone.family in SMALL_BACKBONES:
            return cls(config, spec)
        from embodied_rl.policies.backbones.hf import saved_backbone_path

        with saved_backbone_path(config.backbone, directory):
            return cls(config, spec)


def _finite_bounds(low: np.ndarray, high: np.ndarray, default: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    low = np.where(np.isfinite(low), low, -default).astype(np.float32)
    high = np.where(np.isfinite(high), high, default).astype(np.float32)
    return low, high
