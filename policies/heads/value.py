"""Value head: a linear read-out of pooled features."""

from __future__ import annotations

import torch
from torch import nn


class ValueHead(nn.Module):
    """``V(s) = w^T h + b``, returned as ``[B]``."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features).squeeze(-1)
