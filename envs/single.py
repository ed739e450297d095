"""A one-env view of a contract vector env, so Gymnasium's ``check_env`` can run on it."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from embodied_rl.envs.core import index_obs, obs_to_numpy
from gymnasium.envs.registration import EnvSpec


class SingleEnvView(gym.Env):
    """Expose a ``num_envs=1`` contract env as a plain ``gymnasium.Env`` with numpy obs.

    On a finished step the view returns the episode's final observation (from
    ``info["final_obs"]``), as a single env would. ``nondeterministic=True``
    declares (through ``spec.nondeterministic``, as Gymnasium does) a simulator
    whose seeded reset or step is not reproducible, so ``check_env`` skips its
    determinism checks for it and runs all the others.
    """

    def __init__(self, vector_env: gym.vector.VectorEnv, nondeterministic: bool = False) -> None:
        if vector_env.num_envs != 1:
            raise ValueError("SingleEnvView needs num_envs=1")
        self.vector_env = vector_env
        self.observation_space = vector_env.single_observation_space
        self.action_space = vector_env.single_action_space
        self.metadata = dict(vector_env.metadata)
        self.render_mode = getattr(vector_env, "render_mode", None)
        if nondeterministic:
            self.spec = EnvSpec(id="SingleEnvView-v0", nondeterministic=True)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        obs, info = self.vector_env.reset(seed=None if seed is None else [seed], options=options)
        return obs_to_numpy(index_obs(obs, 0)), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        batch = [action] if isinstance(action, str) else torch.as_tensor(np.asarray(action)[None])
        obs, reward, terminated, truncated, info = self.vector_env.step(batch)
        if bool(terminated[0] | truncated[0]):
            obs = info["final_obs"]
        return obs_to_numpy(index_obs(obs, 0)), float(reward[0]), bool(terminated[0]), bool(truncated[0]), {}

    def render(self) -> Any:
        frames = self.vector_env.render()
        return None if frames is None else frames[0]

    def close(self) -> None:
        self.vector_env.close()
