"""Keep one failing simulator step from ending a run (single-env wrapper, applied per sub-env)."""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np

log = logging.getLogger(__name__)


def is_finite_tree(x: Any) -> bool:
    """True when every float array/number in a (nested) observation is finite."""
    if isinstance(x, dict):
        return all(is_finite_tree(v) for v in x.values())
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
        return bool(np.isfinite(x).all())
    if isinstance(x, float):
        return bool(np.isfinite(x))
    return True


class SimulatorGuard(gym.Wrapper):
    """Turn a simulator that raises, or returns a non-finite state or reward, into a truncation.

    On such a step the episode ends as *truncated* with reward 0; the observation returned
    is the last good one (so a vector env stores it as the final observation and
    bootstraps from a real state), and ``info["sim_error"]`` is True with the reason in
    ``info["sim_error_msg"]``. The vector env's autoreset then resets this env; the other
    envs go on. A reset that fails is retried once; a second failure raises, naming the env
    and both errors. Every event is logged as a warning and counted in :attr:`errors`.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.errors = 0
        self._last_obs: Any = None

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        try:
            obs, info = self.env.reset(seed=seed, options=options)
        except Exception as first:  # noqa: BLE001  (any simulator failure; retried once)
            log.warning("%s: reset failed (%s); retrying once", self._name(), first)
            try:
                obs, info = self.env.reset(seed=seed, options=options)
            except Exception as second:
                raise RuntimeError(
                    f"{self._name()}: the simulator failed to reset twice ({first!r}, then {second!r})"
                ) from second
        self._last_obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
            problem = None
            if not is_finite_tree(obs):
                problem = "non-finite observation"
            elif not np.isfinite(reward):
                problem = "non-finite reward"
        except Exception as err:  # noqa: BLE001  (a simulator crash must not end the run)
            problem = f"step raised {type(err).__name__}: {err}"
        if problem is None:
            self._last_obs = obs
            info["sim_error"] = False
            return obs, reward, terminated, truncated, info
        self.errors += 1
        log.warning("%s: %s; the episode is truncated and the env reset", self._name(), problem)
        return self._last_obs, 0.0, False, True, {"sim_error": True, "sim_error_msg": problem}

    def _name(self) -> str:
        spec = self.env.spec
        return spec.id if spec is not None else type(self.env.unwrapped).__name__
