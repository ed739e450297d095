"""The policy contract (DESIGN.md, "The policy contract").

::

    act(obs) -> ActionOutput(actions, log_prob, value, extras)    # sampling, no grad
    evaluate(obs, actions, extras) -> (log_prob, entropy, value)   # with grad, for the loss

``extras`` carries what a head needs to recompute its likelihood exactly (empty for
Gaussian / categorical heads; the denoising chain for flow heads; token ids for
autoregressive heads). A policy is built from its config and the env's
:class:`~embodied_rl.envs.core.EnvSpec`, and saves/loads as a directory with
``save_pretrained`` / ``from_pretrained(local_dir)``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from embodied_rl.envs.core import EnvSpec, Obs, spec_from_dict, spec_to_dict
from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file
from torch import nn

from embodied_rl.checkpoint import safetensors_ready
from embodied_rl.config.schema import PolicyConfig

WEIGHTS_NAME = "model.safetensors"
POLICY_NAME = "policy.json"


class PolicyEnvMismatch(ValueError):
    """A policy cannot be built for an env's spec (missing observation key, action type, ...)."""


@dataclass
class ActionOutput:
    """What :meth:`Policy.act` returns for a batch of N observations.

    Attributes:
        actions: ``[N, A]`` float (continuous), ``[N]`` long (discrete) or N strings (text).
        log_prob: ``[N]`` log-probability of the sampled actions (summed over dims/tokens).
        value: ``[N]`` value estimate, or None without a value head.
        extras: Tensors ``evaluate`` needs to recompute ``log_prob`` exactly (``[N, ...]``).
    """

    actions: Any
    log_prob: torch.Tensor
    value: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


class Policy(nn.Module, ABC):
    """Base of every policy. Subclasses set ``config_class`` and implement the contract."""

    config_class: ClassVar[type[PolicyConfig]] = PolicyConfig

    def __init__(self, config: PolicyConfig, spec: EnvSpec) -> None:
        super().__init__()
        self.config = config
        self.spec = spec
        self.check_spec(config, spec)

    @classmethod
    def check_spec(cls, config: PolicyConfig, spec: EnvSpec) -> None:
        """Raise :class:`PolicyEnvMismatch` when the policy cannot serve ``spec``."""

    @abstractmethod
    def act(self, obs: Obs, deterministic: bool = False) -> ActionOutput:
        """Sample (or, if deterministic, pick the mode of) actions for a batch; no grad."""

    @abstractmethod
    def evaluate(
        self, obs: Obs, actions: Any, extras: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(log_prob [B], entropy [B], value [B] or None)`` of given actions, with grad."""

    @abstractmethod
    def value(self, obs: Obs) -> torch.Tensor | None:
        """``[B]`` value estimates (None without a value head); used to bootstrap truncations."""

    def logprob_mask(self, extras: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Which entries of a ``[B, ...]`` log-prob are real (e.g. generated tokens, not padding).

        None (the default) means all; the trainer's objective takes masked means otherwise.
        """
        return None

    def sft_loss(self, obs: Obs, actions: torch.Tensor) -> torch.Tensor:
        """Supervised loss of expert ``actions`` (behaviour cloning), 0-d, with grad.

        Each head defines its own: token cross-entropy, the flow-matching loss, or the
        negative log-likelihood for Gaussian / categorical heads.
        """
        raise NotImplementedError(f"policy '{self.config.name}' does not implement sft_loss")

    def fit_to_demos(self, actions: torch.Tensor) -> None:
        """Hook called with the demonstration actions before SFT (e.g. to set action-bin ranges)."""

    @classmethod
    def build_from_directory(cls, config: PolicyConfig, spec: EnvSpec, directory: Path) -> Policy:
        """Build the (untrained) policy a saved directory describes; weights are loaded after.

        Policies that save more than weights (e.g. a transformers backbone's tokenizer and
        config) read them from ``directory`` here.
        """
        return cls(config, spec)

    def parameter_counts(self) -> dict[str, int]:
        """``{"total": ..., "trainable": ...}`` parameter counts."""
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"total": total, "trainable": trainable}

    @property
    def has_value_head(self) -> bool:
        return bool(self.config.value_head)

    # ---- saving and loading -------------------------------------------------------------

    def policy_info(self) -> dict[str, Any]:
        """What :meth:`from_pretrained` needs besides the weights."""
        config = OmegaConf.to_container(OmegaConf.structured(self.config))
        return {"config": config, "spec": spec_to_dict(self.spec)}

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` and ``policy.json`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file(safetensors_ready(self.state_dict()), str(directory / WEIGHTS_NAME))
        (directory / POLICY_NAME).write_text(json.dumps(self.policy_info(), indent=2))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> Policy:
        """Load a policy saved by :meth:`save_pretrained` (or a checkpoint dir) from a local directory.

        No hub access: ``directory`` must exist locally.
        """
        from embodied_rl.policies import POLICIES

        directory = Path(directory)
        if not (directory / POLICY_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(
                f"'{directory}' is not a local policy directory (expected {POLICY_NAME} and {WEIGHTS_NAME}); "
                "embodied-rl never downloads weights, point it at a directory on disk"
            )
        info = json.loads((directory / POLICY_NAME).read_text())
        policy_cls = POLICIES.get(info["config"]["name"])
        if cls is not Policy and not issubclass(policy_cls, cls):
            raise TypeError(f"{directory} holds a {policy_cls.__name__}, not a {cls.__name__}")
        config = OmegaConf.to_object(
            OmegaConf.merge(OmegaConf.structured(policy_cls.config_class), info["config"])
        )
        policy = policy_cls.build_from_directory(config, spec_from_dict(info["spec"]), directory)
        policy.load_state_dict(load_file(str(directory / WEIGHTS_NAME)))
        return policy.to(device)
