"""Observation encoders of the ``vla`` policy.

- :class:`SmallEncoder`: the cheap end, an MLP over ``state`` or a CNN over ``images``
  (+ ``state``), giving one feature vector per sample.
- :class:`LanguageEncoder`: a transformers VLM/LLM (:class:`HFBackbone`). The prompt is
  the config's template filled with the env's instruction (plus the binned state as
  text with ``state_in_prompt``, pi0.5 style); cameras go through the family's image
  processor. Its features are the last hidden layer mean-pooled over the prompt tokens,
  concatenated with ``state`` when the env has one (pi0 feeds proprio to the expert the
  same way). Action-token heads read the language model's logits directly.
"""

from __future__ import annotations

from typing import Any

import torch
from embodied_rl.envs.core import EnvSpec, Obs
from embodied_rl.policies.backbones import ImageEncoder, build_mlp
from embodied_rl.policies.core import PolicyEnvMismatch
from embodied_rl.policies.vla.config import BackboneConfig
from torch import nn

STATE_BINS = 256


class SmallEncoder(nn.Module):
    """``mlp``: MLP(state); ``cnn``: MLP(concat(CNN(images), state))."""

    def __init__(self, config: BackboneConfig, spec: EnvSpec) -> None:
        super().__init__()
        self.family = config.family
        self.uses_state = spec.state_dim is not None
        if config.family == "mlp":
            if spec.state_dim is None:
                raise PolicyEnvMismatch(f"backbone 'mlp' reads obs['state']; env '{spec.name}' has none")
            self.images: ImageEncoder | None = None
            in_dim = int(spec.state_dim)
        else:
            if not spec.image_shapes:
                raise PolicyEnvMismatch(
                    f"backbone 'cnn' reads obs['images']; env '{spec.name}' has no cameras"
                )
            self.images = ImageEncoder(spec.image_shapes, config.cnn_channels, 128)
            in_dim = self.images.out_dim + int(spec.state_dim or 0)
        self.trunk, self.out_dim = build_mlp(in_dim, config.hidden_sizes, "gelu")

    def forward(self, obs: Obs) -> torch.Tensor:
        parts = []
        if self.images is not None:
            parts.append(self.images(obs["images"]))
        if self.uses_state:
            parts.append(obs["state"])
        return self.trunk(torch.cat(parts, -1) if len(parts) > 1 else parts[0])


def state_as_text(state: torch.Tensor, bins: int = STATE_BINS) -> list[str]:
    """pi0.5-style discretised state: each entry of ``clip(state, -1, 1)`` as an integer bin in [0, bins)."""
    idx = ((state.clamp(-1.0, 1.0) + 1.0) / 2.0 * (bins - 1)).round().long()
    return [" ".join(str(v) for v in row.tolist()) for row in idx]


class LanguageEncoder(nn.Module):
    """A transformers backbone with prompt building; see the module docstring."""

    def __init__(self, config: BackboneConfig, spec: EnvSpec) -> None:
        super().__init__()
        from embodied_rl.policies.backbones.hf import backbone_from_config

        self.config = config
        self.backbone = backbone_from_config(config)
        self.is_vlm = self.backbone.processor is not None
        self.cameras = sorted(spec.image_shapes) if self.is_vlm else []
        self.uses_state = spec.state_dim is not None
        self.out_dim = self.backbone.hidden_size + int(spec.state_dim or 0)

    def prompts(self, obs: Obs, batch_size: int) -> list[str]:
        instructions = obs.get("instruction") or [""] * batch_size
        texts = [self.config.prompt.format(instruction=text) for text in instructions]
        if self.config.state_in_prompt and self.uses_state:
            texts = [f"{t} State: {s}." for t, s in zip(texts, state_as_text(obs["state"]), strict=True)]
        return texts

    def prepare(self, obs: Obs) -> Any:
        batch = _batch_size(obs)
        images = None
        if self.is_vlm and self.cameras:
            images = [[obs["images"][cam][i] for cam in self.cameras] for i in range(batch)]
        inputs = self.backbone.prepare(self.prompts(obs, batch), images)
        return inputs.to(self.device)

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    def features(self, obs: Obs, output: Any) -> torch.Tensor:
        pooled = self.backbone.pooled(output).float()
        return torch.cat([pooled, obs["state"]], -1) if self.uses_state else pooled


def _batch_size(obs: Obs) -> int:
    for value in obs.values():
        if isinstance(value, dict):
            return _batch_size(value)
        return len(value)
    raise ValueError("empty observation")
