"""Small actor-critic policies: ``mlp`` (state observations) and ``cnn`` (camera images).

Layout follows Stable-Baselines3's on-policy defaults so benchmarks compare like
with like: an encoder (identity on ``state`` / a CNN on ``images``), separate actor
and critic MLP trunks (or one shared trunk), a Gaussian head for ``Box`` actions or
a categorical head for ``Discrete`` ones, and an optional value head.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from embodied_rl.envs.core import EnvSpec, Obs
from embodied_rl.policies.backbones import ACTIVATIONS, ImageEncoder, build_mlp, orthogonal_init
from embodied_rl.policies.core import ActionOutput, Policy, PolicyEnvMismatch
from embodied_rl.policies.heads import CategoricalHead, DiagGaussianHead, ValueHead
from torch import nn

from embodied_rl.config.schema import PolicyConfig, TrainConfig


@dataclass
class MLPPolicyConfig(PolicyConfig):
    """An MLP actor-critic over the ``state`` observation."""

    name: str = "mlp"
    """Registered policy name."""
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])
    """Hidden layer sizes of the actor and critic trunks."""
    activation: str = "tanh"
    """Trunk activation: tanh, relu, gelu or elu."""
    init_log_std: float = 0.0
    """Initial log standard deviation of the Gaussian head (Box actions)."""
    ortho_init: bool = True
    """Orthogonal init (gain sqrt(2) trunk, 0.01 action head, 1 value head)."""
    share_trunk: bool = False
    """Actor and critic share one trunk (False: separate trunks, as in SB3's MlpPolicy)."""

    def check(self, cfg: TrainConfig) -> Iterator[tuple[str, str]]:
        if self.activation not in ACTIVATIONS:
            yield "policy.activation", f"must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
        if any(h < 1 for h in self.hidden_sizes):
            yield "policy.hidden_sizes", f"sizes must be >= 1, got {self.hidden_sizes}"


@dataclass
class CNNPolicyConfig(MLPPolicyConfig):
    """A CNN encoder over ``images`` (plus ``state`` when present), then MLP trunks."""

    name: str = "cnn"
    """Registered policy name."""
    hidden_sizes: list[int] = field(default_factory=lambda: [64])
    """Hidden layer sizes of the trunks on top of the image features."""
    activation: str = "relu"
    """Trunk activation: tanh, relu, gelu or elu."""
    share_trunk: bool = True
    """Actor and critic share the CNN encoder and trunk."""
    cnn_channels: list[int] = field(default_factory=lambda: [16, 32, 32])
    """Output channels of each stride-2 3x3 conv layer."""
    cnn_feature_dim: int = 128
    """Feature size of each camera's encoder."""


class ActorCriticPolicy(Policy):
    """Encoder -> actor trunk -> action head, and encoder -> critic trunk -> value head."""

    config: MLPPolicyConfig

    def __init__(self, config: MLPPolicyConfig, spec: EnvSpec) -> None:
        super().__init__(config, spec)
        self.encoder, feat_dim = self.build_encoder(config, spec)
        self.actor_trunk, actor_dim = build_mlp(feat_dim, config.hidden_sizes, config.activation)
        self.critic_trunk: nn.Module | None = None
        critic_dim = actor_dim
        if config.value_head and not config.share_trunk:
            self.critic_trunk, critic_dim = build_mlp(feat_dim, config.hidden_sizes, config.activation)
        if spec.action_kind == "continuous":
            self.head: nn.Module = DiagGaussianHead(
                actor_dim, int(spec.action_space.shape[0]), config.init_log_std
            )
        else:
            self.head = CategoricalHead(actor_dim, int(spec.action_space.n))
        self.value_head = ValueHead(critic_dim) if config.value_head else None
        if config.ortho_init:
            orthogonal_init(self.encoder, 2**0.5)
            orthogonal_init(self.actor_trunk, 2**0.5)
            if self.critic_trunk is not None:
                orthogonal_init(self.critic_trunk, 2**0.5)
            orthogonal_init(self.head, 0.01)
            if self.value_head is not None:
                orthogonal_init(self.value_head, 1.0)

    @classmethod
    def check_spec(cls, config: PolicyConfig, spec: EnvSpec) -> None:
        if spec.action_kind not in ("continuous", "discrete"):
            raise PolicyEnvMismatch(
                f"policy '{config.name}' supports Box and Discrete actions; env '{spec.name}' has "
                f"{spec.action_space} (text actions need a text policy)"
            )
        if spec.action_kind == "continuous" and len(spec.action_space.shape) != 1:
            raise PolicyEnvMismatch(
                f"policy '{config.name}' needs 1-D Box actions, env '{spec.name}' has {spec.action_space}"
            )

    def build_encoder(self, config: MLPPolicyConfig, spec: EnvSpec) -> tuple[nn.Module, int]:
        raise NotImplementedError

    def encode(self, obs: Obs) -> torch.Tensor:
        raise NotImplementedError

    def _features(self, obs: Obs) -> tuple[torch.Tensor, torch.Tensor | None]:
        feats = self.encode(obs)
        actor = self.actor_trunk(feats)
        if self.value_head is None:
            return actor, None
        critic = actor if self.critic_trunk is None else self.critic_trunk(feats)
        return actor, self.value_head(critic)

    @torch.no_grad()
    def act(self, obs: Obs, deterministic: bool = False) -> ActionOutput:
        actor, value = self._features(obs)
        actions, log_prob = self.head.sample(actor, deterministic)
        return ActionOutput(actions=actions, log_prob=log_prob, value=value)

    def evaluate(
        self, obs: Obs, actions: Any, extras: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        actor, value = self._features(obs)
        log_prob, entropy = self.head.evaluate(actor, actions)
        return log_prob, entropy, value

    def sft_loss(self, obs: Obs, actions: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of the expert actions (Gaussian or categorical)."""
        actor, _ = self._features(obs)
        log_prob, _ = self.head.evaluate(actor, actions)
        return -log_prob.mean()

    def value(self, obs: Obs) -> torch.Tensor | None:
        if self.value_head is None:
            return None
        feats = self.encode(obs)
        trunk = self.actor_trunk if self.critic_trunk is None else self.critic_trunk
        return self.value_head(trunk(feats))


class MLPPolicy(ActorCriticPolicy):
    """MLP actor-critic over ``obs["state"]``."""

    config_class = MLPPolicyConfig

    @classmethod
    def check_spec(cls, config: PolicyConfig, spec: EnvSpec) -> None:
        super().check_spec(config, spec)
        if spec.state_dim is None:
            raise PolicyEnvMismatch(
                f"policy 'mlp' reads obs['state'], but env '{spec.name}' has only "
                f"{sorted(spec.observation_space.spaces)}; use policy.name=cnn for images"
            )

    def build_encoder(self, config: MLPPolicyConfig, spec: EnvSpec) -> tuple[nn.Module, int]:
        return nn.Identity(), int(spec.state_dim or 0)

    def encode(self, obs: Obs) -> torch.Tensor:
        return obs["state"]


class CNNPolicy(ActorCriticPolicy):
    """CNN encoder over ``obs["images"]`` (all cameras), concatenated with ``obs["state"]`` if present."""

    config_class = CNNPolicyConfig

    @classmethod
    def check_spec(cls, config: PolicyConfig, spec: EnvSpec) -> None:
        super().check_spec(config, spec)
        if not spec.image_shapes:
            raise PolicyEnvMismatch(
                f"policy 'cnn' reads obs['images'], but env '{spec.name}' has no cameras; use policy.name=mlp"
            )

    def build_encoder(self, config: MLPPolicyConfig, spec: EnvSpec) -> tuple[nn.Module, int]:
        assert isinstance(config, CNNPolicyConfig)
        encoder = ImageEncoder(spec.image_shapes, config.cnn_channels, config.cnn_feature_dim)
        self.uses_state = spec.state_dim is not None
        return encoder, encoder.out_dim + int(spec.state_dim or 0)

    def encode(self, obs: Obs) -> torch.Tensor:
        feats = self.encoder(obs["images"])
        return torch.cat([feats, obs["state"]], -1) if self.uses_state else feats
