"""Running normalisation of ``obs["state"]`` and rescaling of continuous actions to ``[-1, 1]``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from embodied_rl.envs.core import Obs, env_idx_to_mask
from embodied_rl.envs.wrappers.base import ContractVectorWrapper, require_env_spec
from gymnasium import spaces


def welford_merge(
    mean: torch.Tensor,
    var: torch.Tensor,
    count: float,
    batch_mean: torch.Tensor,
    batch_var: torch.Tensor,
    batch_count: float,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Merge running moments with a batch's (Chan et al.'s parallel Welford update).

    With ``n = count + batch_count`` and ``delta = batch_mean - mean``::

        mean' = mean + delta * batch_count / n
        var'  = (var * count + batch_var * batch_count + delta**2 * count * batch_count / n) / n
        count' = n

    ``var`` and ``batch_var`` are population variances (divide by the count), so the result
    equals the mean and population variance of all samples seen. ``count = 0`` gives the
    batch's moments; ``batch_count = 0`` leaves the moments unchanged.
    """
    total = count + batch_count
    if total == 0:
        return mean, var, 0.0
    delta = batch_mean - mean
    new_mean = mean + delta * (batch_count / total)
    m2 = var * count + batch_var * batch_count + delta.square() * (count * batch_count / total)
    return new_mean, m2 / total, float(total)


def normalize(
    x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, clip: float, eps: float
) -> torch.Tensor:
    """``clip((x - mean) / sqrt(var + eps), -clip, clip)``."""
    return ((x - mean) / torch.sqrt(var + eps)).clamp(-clip, clip)


def rescale_action(action: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Map ``[-1, 1]`` affinely onto ``[low, high]``: ``low + (action + 1) * (high - low) / 2``.

    ``-1 -> low``, ``0 -> (low + high) / 2``, ``1 -> high``; values outside ``[-1, 1]`` map
    outside the bounds (the env's own action clipping, if any, applies afterwards).
    """
    return low + (action + 1.0) * (high - low) / 2.0


class NormalizeObservation(ContractVectorWrapper):
    """Normalise ``obs["state"]`` with running moments: ``clip((s - mean) / sqrt(var + eps), ±clip)``.

    The moments (float64, population variance) are updated with every observation the
    policy is given: all rows of each step obs, and only the reset rows of a ``reset``
    (the others repeat their current obs). The update happens before normalising, so the
    first batch is normalised by its own moments. ``info["final_obs"]["state"]`` is
    normalised with the same moments and never updates them. With ``update=False`` (set it
    on the wrapper for evaluation) the moments are frozen. :meth:`state_dict` /
    :meth:`load_state_dict` save and restore them (e.g. with a checkpoint).

    The spec's ``state`` space becomes ``Box(-clip, clip, (D,))``.

    Args:
        env: A contract vector env with a ``state`` observation.
        clip: Normalised values are clipped to ``[-clip, clip]``.
        eps: Added to the variance before the square root.
        update: Whether ``reset``/``step`` update the moments.
    """

    def __init__(
        self, env: gym.vector.VectorEnv, clip: float = 10.0, eps: float = 1e-8, update: bool = True
    ) -> None:
        spec = require_env_spec(env, "NormalizeObservation")
        dim = spec.state_dim
        if dim is None:
            raise ValueError(f"NormalizeObservation: env {spec.name} has no state observation")
        if clip <= 0:
            raise ValueError(f"NormalizeObservation clip must be > 0, got {clip}")
        space = spaces.Dict(
            {**spec.observation_space.spaces, "state": spaces.Box(-clip, clip, (dim,), np.float32)}
        )
        super().__init__(env, observation_space=space)
        self.clip = float(clip)
        self.eps = float(eps)
        self.update = update
        self.mean = torch.zeros(dim, dtype=torch.float64)
        self.var = torch.ones(dim, dtype=torch.float64)
        self.count = 0.0

    def _update(self, state: torch.Tensor) -> None:
        if not self.update or state.shape[0] == 0:
            return
        x = state.detach().to("cpu", torch.float64)
        self.mean, self.var, self.count = welford_merge(
            self.mean, self.var, self.count, x.mean(0), x.var(0, unbiased=False), x.shape[0]
        )

    def _normalize(self, obs: Obs) -> Obs:
        state = obs["state"]
        mean, var = self.mean.to(state.device), self.var.to(state.device)
        out = normalize(state.to(torch.float64), mean, var, self.clip, self.eps).to(state.dtype)
        return {**obs, "state": out}

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        state = obs["state"]
        if options and "env_idx" in options:
            state = state[
                torch.from_numpy(env_idx_to_mask(options["env_idx"], self.num_envs)).to(state.device)
            ]
        self._update(state)
        return self._normalize(obs), info

    def step(self, actions: Any) -> tuple[Obs, Any, Any, Any, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        self._update(obs["state"])
        if "final_obs" in info:
            info["final_obs"] = self._normalize(info["final_obs"])
        return self._normalize(obs), reward, terminated, truncated, info

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The moments as float64 tensors: ``mean [D]``, ``var [D]``, ``count []`` (copies)."""
        return {
            "mean": self.mean.clone(),
            "var": self.var.clone(),
            "count": torch.tensor(self.count, dtype=torch.float64),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore moments saved by :meth:`state_dict` (shapes must match the state dim)."""
        mean = torch.as_tensor(state["mean"], dtype=torch.float64).clone()
        var = torch.as_tensor(state["var"], dtype=torch.float64).clone()
        if mean.shape != self.mean.shape or var.shape != self.var.shape:
            raise ValueError(
                f"NormalizeObservation: saved moments have shapes {tuple(mean.shape)}/{tuple(var.shape)}, "
                f"expected {tuple(self.mean.shape)}"
            )
        self.mean, self.var, self.count = mean, var, float(torch.as_tensor(state["count"]))


class RescaleAction(ContractVectorWrapper):
    """Let the policy act in ``[-1, 1]^D``; actions are mapped affinely onto the env's ``Box`` bounds.

    ``env_action = low + (a + 1) * (high - low) / 2`` (:func:`rescale_action`). The spec's and
    the wrapper's action space become ``Box(-1, 1)`` of the same shape. The env's bounds
    must be finite.

    Args:
        env: A contract vector env with a ``Box`` action space.
    """

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        spec = require_env_spec(env, "RescaleAction")
        space = spec.action_space
        if not isinstance(space, spaces.Box):
            raise TypeError(f"RescaleAction needs a Box action space, got {space}")
        if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
            raise ValueError(f"RescaleAction needs finite action bounds, got {space}")
        super().__init__(env, action_space=spaces.Box(-1.0, 1.0, space.shape, np.float32))
        self.low = torch.as_tensor(space.low, dtype=torch.float32)
        self.high = torch.as_tensor(space.high, dtype=torch.float32)

    def step(self, actions: Any) -> tuple[Obs, Any, Any, Any, dict[str, Any]]:
        a = torch.as_tensor(actions, dtype=torch.float32)
        a = a.reshape(-1, *self.low.shape)
        return self.env.step(rescale_action(a, self.low.to(a.device), self.high.to(a.device)))
