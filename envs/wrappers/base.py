"""Shared plumbing of the contract vector wrappers: finding the spec, publishing a new one.

``embodied_rl.envs.env_spec(env)`` walks the wrapper layers and returns the first
``env_spec`` found in a layer's own attributes (``vars(layer)``). A wrapper that changes
what a policy sees (image size, stacked frames, normalised state, action bounds) therefore
stores an updated :class:`EnvSpec` on itself, and its Gymnasium spaces follow the spec.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
from embodied_rl.envs.core import EnvSpec, Obs
from gymnasium import spaces
from gymnasium.vector.utils import batch_space


def find_env_spec(env: Any) -> EnvSpec | None:
    """The :class:`EnvSpec` of ``env`` or of the first wrapped layer that has one, else ``None``."""
    current = env
    while current is not None:
        if "env_spec" in vars(current):
            return current.env_spec
        current = getattr(current, "env", None)
    return None


def require_env_spec(env: Any, wrapper: str) -> EnvSpec:
    """Like :func:`find_env_spec`, but a ``TypeError`` naming ``wrapper`` when there is none."""
    spec = find_env_spec(env)
    if spec is None:
        raise TypeError(
            f"{wrapper} wraps contract envs (made by embodied_rl.envs.make); {env} has no env_spec"
        )
    return spec


class ContractVectorWrapper(gym.vector.VectorWrapper):
    """A vector wrapper that keeps the contract metadata and may publish a changed spec.

    Args:
        env: A contract vector env (any wrapper layers over one).
        observation_space: The new single-env observation space, or ``None`` to keep it.
        action_space: The new single-env action space, or ``None`` to keep it.
    """

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        observation_space: spaces.Dict | None = None,
        action_space: spaces.Space | None = None,
    ) -> None:
        super().__init__(env)
        spec = require_env_spec(env, type(self).__name__)
        self.metadata = dict(env.metadata)
        changes: dict[str, Any] = {}
        if observation_space is not None:
            changes["observation_space"] = observation_space
            self.single_observation_space = observation_space
            self.observation_space = batch_space(observation_space, self.num_envs)
        if action_space is not None:
            changes["action_space"] = action_space
            self.single_action_space = action_space
            self.action_space = batch_space(action_space, self.num_envs)
        self.env_spec: EnvSpec = dataclasses.replace(spec, **changes) if changes else spec


class ObservationTransform(ContractVectorWrapper):
    """A stateless per-batch observation map applied to reset obs, step obs and ``info["final_obs"]``.

    Subclasses implement :meth:`transform` (a pure function of one batched observation).
    """

    def transform(self, obs: Obs) -> Obs:
        raise NotImplementedError

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        return self.transform(obs), info

    def step(self, actions: Any) -> tuple[Obs, Any, Any, Any, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        if "final_obs" in info:
            info["final_obs"] = self.transform(info["final_obs"])
        return self.transform(obs), reward, terminated, truncated, info
