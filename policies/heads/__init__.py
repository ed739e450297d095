"""Action and value heads."""

from embodied_rl.policies.heads.categorical import CategoricalHead
from embodied_rl.policies.heads.gaussian import DiagGaussianHead
from embodied_rl.policies.heads.value import ValueHead

__all__ = ["CategoricalHead", "DiagGaussianHead", "ValueHead"]
