"""Algorithms: pure math (advantages, losses) and the registry of trainers by name."""

from __future__ import annotations

from typing import Any

from embodied_rl.registry import Registry

ALGORITHMS: Registry[Any] = Registry("algorithm")
"""name -> trainer class; each trainer class has a ``config_class`` (an AlgoConfig subclass)."""

ALGORITHMS.register(
    "ppo", "embodied_rl.trainers.ppo:PPOTrainer", description="PPO with GAE, clipped ratio and value loss"
)
ALGORITHMS.register(
    "grpo",
    "embodied_rl.trainers.grpo:GRPOTrainer",
    description="GRPO: group-normalised episode returns from same-seed groups, no critic",
)
