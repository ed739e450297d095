"""Small MLP trunks."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "elu": nn.ELU}


def build_mlp(in_dim: int, hidden_sizes: Sequence[int], activation: str = "tanh") -> tuple[nn.Module, int]:
    """``Linear -> act`` per hidden size; returns ``(module, out_dim)`` (identity when empty)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    dim = in_dim
    for size in hidden_sizes:
        layers += [nn.Linear(dim, int(size)), ACTIVATIONS[activation]()]
        dim = int(size)
    return (nn.Sequential(*layers) if layers else nn.Identity()), dim


def orthogonal_init(module: nn.Module, gain: float) -> None:
    """Orthogonal weights with ``gain`` and zero biases on every Linear/Conv (PPO practice).

    See Engstrom et al. 2020, "Implementation Matters in Deep Policy Gradients".
    """
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(m.weight, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
