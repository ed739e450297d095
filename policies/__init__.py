"""Policies behind one contract (``act`` / ``evaluate``); see ``embodied-rl policies``."""

from __future__ import annotations

from typing import Any

from embodied_rl.envs.core import EnvSpec
from embodied_rl.policies.core import ActionOutput, Policy, PolicyEnvMismatch

from embodied_rl.registry import Registry

POLICIES: Registry[Any] = Registry("policy")
"""name -> Policy subclass (with ``config_class``)."""

POLICIES.register(
    "mlp",
    "embodied_rl.policies.mlp.policy:MLPPolicy",
    description="MLP actor-critic on obs['state']; Gaussian (Box) or categorical (Discrete) head",
    test_env="CartPole-v1",
)
POLICIES.register(
    "cnn",
    "embodied_rl.policies.mlp.policy:CNNPolicy",
    description="CNN encoder on obs['images'] (+ state), MLP trunks, Gaussian/categorical head",
    test_env="GridGoalPixels-v0",
)
POLICIES.register(
    "vla",
    "embodied_rl.policies.vla.policy:VLAPolicy",
    description="backbone (mlp/cnn or a transformers VLM/LLM) + action tokens or flow-matching head + value head",
    test_env="PointReach-v0",
)

POLICIES.register(
    "text_agent",
    "embodied_rl.policies.text_agent.policy:TextAgentPolicy",
    description="transformers LM writing one free-text turn per step (tool calls, answers); GRPO",
    test_env="ToolArithmetic-v0",
    actions="text",
)


def build_policy(config: Any, spec: EnvSpec) -> Policy:
    """Build the registered policy ``config.name`` for an env spec."""
    return POLICIES.get(config.name)(config, spec)


__all__ = ["POLICIES", "ActionOutput", "Policy", "PolicyEnvMismatch", "build_policy"]
