"""Categorical action head for Discrete actions."""

from __future__ import annotations

import torch
from torch import nn

from embodied_rl.algorithms.losses import categorical_entropy, categorical_log_prob


class CategoricalHead(nn.Module):
    """``a ~ Categorical(softmax(W h + b))``; deterministic picks the argmax."""

    def __init__(self, in_dim: int, num_actions: int) -> None:
        super().__init__()
        self.logits = nn.Linear(in_dim, num_actions)

    def sample(
        self, features: torch.Tensor, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(actions [B] long, log_prob [B])``."""
        logits = self.logits(features)
        if deterministic:
            actions = logits.argmax(-1)
        else:
            actions = torch.multinomial(torch.softmax(logits, -1), 1).squeeze(-1)
        return actions, categorical_log_prob(logits, actions)

    def evaluate(self, features: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_prob [B], entropy [B])`` of given actions."""
        logits = self.logits(features)
        return categorical_log_prob(logits, actions.long()), categorical_entropy(logits)
