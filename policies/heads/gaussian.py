"""Diagonal Gaussian action head for continuous (Box) actions."""

from __future__ import annotations

import torch
from torch import nn

from embodied_rl.algorithms.losses import gaussian_entropy, gaussian_log_prob


class DiagGaussianHead(nn.Module):
    """``a ~ N(mean(h), diag(exp(log_std))^2)`` with a state-independent learned ``log_std``.

    Log-probs are summed over action dimensions (per action). Actions are not squashed;
    the env adapter clips them to the action bounds (the log-prob is of the unclipped
    sample, as in Stable-Baselines3 and CleanRL).
    """

    def __init__(self, in_dim: int, action_dim: int, init_log_std: float = 0.0) -> None:
        super().__init__()
        self.mean = nn.Linear(in_dim, action_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(init_log_std)))

    def sample(
        self, features: torch.Tensor, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(actions [B, A], log_prob [B])``."""
        mean = self.mean(features)
        log_std = self.log_std.expand_as(mean)
        actions = mean if deterministic else mean + torch.randn_like(mean) * log_std.exp()
        return actions, gaussian_log_prob(mean, log_std, actions)

    def evaluate(self, features: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_prob [B], entropy [B])`` of given actions."""
        mean = self.mean(features)
        log_prob = gaussian_log_prob(mean, self.log_std.expand_as(mean), actions.to(mean.dtype))
        return log_prob, gaussian_entropy(self.log_std, mean.shape[:-1])
