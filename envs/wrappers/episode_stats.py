"""Episode statistics for contract vector envs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from embodied_rl.envs.core import env_idx_to_mask
from embodied_rl.envs.wrappers.base import find_env_spec

COUNTED_EVENTS = (
    "invalid_action",
    "tool_call",
    "tool_error",
    "action_clipped",
    "action_nonfinite",
    "sim_error",
)
"""Boolean per-step ``info`` flags counted per episode when an env reports them."""


def np_bool(x: Any) -> np.ndarray:
    """A bool numpy array of an info flag (tensor, array or list)."""
    return np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x, dtype=bool)


class EpisodeStatistics(gym.vector.VectorWrapper):
    """Track each env's running return and length; report finished episodes in ``info``.

    On a step where some envs finish, ``info["episode"]`` is a dict of 1-D tensors over
    the finished envs only: ``env_idx``, ``return``, ``length`` and, for envs that
    report ``info["success"]``, ``success_at_end`` (success on the episode's last step),
    ``success_once`` (success on any step of the episode) and ``success`` (the same as
    ``success_at_end``, the key existing callers read).
    Per-step event flags the env reports (:data:`COUNTED_EVENTS`, e.g. a GUI or tool
    env's ``invalid_action``) are summed over the episode under the same key.
    """

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        spec = find_env_spec(env)
        if spec is not None:  # embodied_rl.envs.env_spec() reads it from each layer's own attributes
            self.env_spec = spec
        self.metadata = dict(env.metadata)
        self._return = torch.zeros(self.num_envs, dtype=torch.float64)
        self._length = torch.zeros(self.num_envs, dtype=torch.long)
        self._events = {key: torch.zeros(self.num_envs, dtype=torch.long) for key in COUNTED_EVENTS}
        self._seen: set[str] = set()
        self._success_once = torch.zeros(self.num_envs, dtype=torch.bool)

    def reset(self, *, seed: Any = None, options: dict | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        if options and "env_idx" in options:
            mask = torch.from_numpy(env_idx_to_mask(options["env_idx"], self.num_envs))
        else:
            mask = torch.ones(self.num_envs, dtype=torch.bool)
        self._return[mask] = 0.0
        self._length[mask] = 0
        self._success_once[mask] = False
        for counts in self._events.values():
            counts[mask] = 0
        return obs, info

    def step(self, actions: Any) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        self._return += reward.detach().cpu().double()
        self._length += 1
        # Sparse flags (a clipped action, a simulator fault) appear only on the steps they happen:
        # once a key has been seen, every finished episode reports its count (0 included).
        self._seen.update(key for key in COUNTED_EVENTS if key in info)
        for key in self._seen.intersection(info):
            self._events[key] += torch.as_tensor(np_bool(info[key])).long()
        success = torch.as_tensor(np_bool(info["success"])) if "success" in info else None
        if success is not None:
            self._success_once |= success
        done = (terminated | truncated).cpu()
        if done.any():
            idx = done.nonzero().flatten()
            episode = {
                "env_idx": idx,
                "return": self._return[idx].clone(),
                "length": self._length[idx].clone(),
            }
            if success is not None:
                episode["success"] = success[idx]
                episode["success_at_end"] = success[idx]
                episode["success_once"] = self._success_once[idx].clone()
            for key in sorted(self._seen):
                episode[key] = self._events[key][idx].clone()
            info["episode"] = episode
            self._return[idx] = 0.0
            self._length[idx] = 0
            self._success_once[idx] = False
            for counts in self._events.values():
                counts[idx] = 0
        return obs, reward, terminated, truncated, info
