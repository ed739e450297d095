"""Action chunking: one policy action is a chunk of K env actions (single-env wrapper)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

SUCCESS_KEYS = ("success", "is_success")
"""Info keys that carry a task's success flag (the contract reports it as ``success``)."""


class ActionChunk(gym.Wrapper):
    """Execute K actions per ``step``; the action space ``Box(D)`` becomes ``Box(K, D)``.

    Applied to each sub-env before vectorisation, so the early stop is exact: ``step``
    runs ``action[0], ..., action[K-1]`` in order and stops after the first sub-step
    that terminates or truncates. It returns

    - the observation of the last executed sub-step,
    - the sum of the executed sub-steps' rewards,
    - ``terminated`` / ``truncated`` of the last executed sub-step,
    - that sub-step's ``info``, plus ``info["chunk_rewards"]`` (float32 ``[K]``, the
      reward of each sub-step, 0 for sub-steps not executed), ``info["chunk_steps"]``
      (int, how many were executed) and, when the env reports ``success`` (or
      ``is_success``), that key set to success on *any* executed sub-step (success
      once within the chunk, so a success reached mid-chunk is never lost).

    Bounds are tiled: ``low[k] = low``, ``high[k] = high`` for every ``k``. A time limit of
    ``T`` env steps becomes ``ceil(T / K)`` chunk steps.

    Args:
        env: A single Gymnasium env with a ``Box`` action space.
        chunk_size: K >= 1.
    """

    def __init__(self, env: gym.Env, chunk_size: int) -> None:
        super().__init__(env)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise ValueError(f"action chunk size must be an integer >= 1, got {chunk_size!r}")
        space = env.action_space
        if not isinstance(space, spaces.Box):
            raise TypeError(f"ActionChunk needs a Box action space, got {space}")
        self.chunk_size = int(chunk_size)
        k = self.chunk_size
        self.action_space = spaces.Box(
            np.broadcast_to(space.low, (k, *space.shape)).copy(),
            np.broadcast_to(space.high, (k, *space.shape)).copy(),
            (k, *space.shape),
            space.dtype,
        )

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        actions = np.asarray(action, dtype=self.env.action_space.dtype).reshape(self.action_space.shape)
        rewards = np.zeros(self.chunk_size, dtype=np.float32)
        total = 0.0
        success: dict[str, bool] = {}
        obs: Any = None
        terminated = truncated = False
        info: dict[str, Any] = {}
        executed = 0
        for k in range(self.chunk_size):
            obs, reward, terminated, truncated, info = self.env.step(actions[k])
            executed = k + 1
            rewards[k] = reward
            total += float(reward)
            for key in SUCCESS_KEYS:
                if key in info:
                    success[key] = success.get(key, False) or bool(info[key])
            if terminated or truncated:
                break
        info = {**info, **success, "chunk_rewards": rewards, "chunk_steps": executed}
        return obs, total, bool(terminated), bool(truncated), info
