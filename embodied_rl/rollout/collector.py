"""The synchronous reference collector: obs -> policy -> env, one batch at a time.

Two ways of filling a :class:`RolloutBuffer`:

- :meth:`SyncCollector.collect_steps` (PPO): ``T`` steps of all ``N`` envs, episodes
  continuing across rollouts, truncations bootstrapped from V(final obs).
- :meth:`SyncCollector.collect_episodes` (GRPO): reset every env with the given
  seeds (same seed = same group) and run until each env has finished one episode;
  ``buffer.mask`` marks the steps of that first episode.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import torch

from embodied_rl.envs.core import Obs, check_finite
from embodied_rl.envs.wrappers.episode_stats import COUNTED_EVENTS
from embodied_rl.policies.core import Policy
from embodied_rl.rollout.buffer import RolloutBuffer


@dataclass
class RolloutStats:
    """What one rollout produced, for logging."""

    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    episode_successes: list[bool] = field(default_factory=list)
    episode_events: dict[str, list[int]] = field(default_factory=dict)
    """Per-episode counts of env events (``invalid_action``, ``tool_call``, ...)."""
    env_steps: int = 0
    env_time: float = 0.0
    """Seconds the simulators spent stepping (summed over pipeline stages)."""
    inference_time: float = 0.0
    """Seconds in ``policy.act`` during the rollout."""
    wall_time: float = 0.0
    """Wall-clock seconds of the whole rollout."""
    wait_time: float = 0.0
    """Seconds the collector sat waiting for env workers (pipelined collector)."""
    stages: int = 1
    stage_env_time: list[float] = field(default_factory=list)
    """Per-stage simulator seconds (pipelined collector)."""
    policy_version: int = 0
    """Version of the policy weights that produced the rollout (updates so far)."""
    workers_restarted: int = 0
    episodes_dropped: int = 0
    """Unfinished episodes thrown away because their env worker failed."""
    dropped_envs: list[int] = field(default_factory=list)
    """Envs whose episode was dropped in an episode rollout (GRPO excludes their groups)."""

    def add_episodes(self, info: dict[str, Any]) -> None:
        episode = info.get("episode")
        if episode is None:
            return
        self.episode_returns += episode["return"].tolist()
        self.episode_lengths += episode["length"].tolist()
        if "success" in episode:
            self.episode_successes += episode["success"].tolist()
        for key in COUNTED_EVENTS:
            if key in episode:
                self.episode_events.setdefault(key, []).extend(episode[key].tolist())


class PolicyActing:
    """What every collector shares: the policy, how it is called, and the weights' version."""

    def __init__(
        self,
        policy: Policy,
        env_name: str = "env",
        autocast: Callable[[], Any] = contextlib.nullcontext,
        deterministic: bool = False,
    ) -> None:
        self.policy = policy
        self.env_name = env_name
        self.autocast = autocast
        self.deterministic = deterministic
        self.policy_version = 0
        """Version of the policy weights acting now (the trainer bumps it after each update)."""

    def _act(self, obs: Obs, stats: RolloutStats) -> Any:
        """``policy.act`` on a batch (obs checked finite), its time added to ``stats.inference_time``."""
        check_finite(obs, f"env '{self.env_name}'")
        start = time.perf_counter()
        with self.autocast():
            out = self.policy.act(obs, deterministic=self.deterministic)
        stats.inference_time += time.perf_counter() - start
        served = getattr(self.policy, "served_version", None)  # an inference worker says which weights acted
        if served is not None:
            stats.policy_version = served
        return out


class SyncCollector(PolicyActing):
    """Steps a contract vector env with a policy and fills rollout buffers."""

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        policy: Policy,
        env_name: str = "env",
        autocast: Callable[[], Any] = contextlib.nullcontext,
        deterministic: bool = False,
    ) -> None:
        super().__init__(policy, env_name, autocast, deterministic)
        self.env = env
        self.obs: Obs | None = None

    @property
    def num_envs(self) -> int:
        return self.env.num_envs

    def close(self) -> None:
        self.env.close()

    def reset(self, seed: int | list[int] | None = None) -> Obs:
        self.obs, _ = self.env.reset(seed=seed)
        return self.obs

    def _step(self, actions: Any, stats: RolloutStats) -> tuple:
        start = time.perf_counter()
        result = self.env.step(actions)
        stats.env_time += time.perf_counter() - start
        stats.env_steps += self.env.num_envs
        stats.add_episodes(result[4])
        return result

    @torch.no_grad()
    def collect_steps(self, buffer: RolloutBuffer) -> RolloutStats:
        """Fill ``buffer`` with ``buffer.num_steps`` steps of every env (PPO)."""
        if self.obs is None:
            raise RuntimeError("call reset(seed) before collecting")
        stats = RolloutStats(policy_version=self.policy_version)
        start = time.perf_counter()
        obs = self.obs
        buffer.final_values.zero_()
        buffer.mask.fill_(True)
        for t in range(buffer.num_steps):
            out = self._act(obs, stats)
            next_obs, reward, terminated, truncated, info = self._step(out.actions, stats)
            buffer.add(
                t, obs, out.actions, out.log_prob, out.value, reward, terminated, truncated, out.extras
            )
            if truncated.any() and self.policy.has_value_head:
                # Bootstrapping a time-limit cut needs V of the episode's real last obs.
                final_values = self.policy.value(info["final_obs"])
                buffer.final_values[t] = torch.where(truncated.to(final_values.device), final_values, 0.0)
            obs = next_obs
        self.obs = obs
        if self.policy.has_value_head:
            check_finite(obs, f"env '{self.env_name}'")
            buffer.last_values.copy_(self.policy.value(obs))
        stats.wall_time = time.perf_counter() - start
        return stats

    @torch.no_grad()
    def collect_episodes(self, buffer: RolloutBuffer, seeds: list[int]) -> tuple[RolloutStats, torch.Tensor]:
        """Run one episode per env from ``seeds`` (GRPO); returns stats and per-env returns ``[N]``.

        Steps after an env's first episode are masked out (``buffer.mask``). An episode
        still running after ``buffer.num_steps`` steps is cut there (its return so far).
        """
        stats = RolloutStats(policy_version=self.policy_version)
        start = time.perf_counter()
        obs = self.reset(seed=seeds)
        active = torch.ones(self.env.num_envs, dtype=torch.bool, device=buffer.device)
        buffer.mask.zero_()
        buffer.final_values.zero_()
        for t in range(buffer.num_steps):
            out = self._act(obs, stats)
            obs, reward, terminated, truncated, info = self._step(out.actions, stats)
            buffer.add(
                t, self.obs, out.actions, out.log_prob, out.value, reward, terminated, truncated, out.extras
            )
            buffer.mask[t] = active
            active = active & ~(terminated | truncated).to(active.device)
            self.obs = obs
            if not active.any():
                break
        returns = (buffer.rewards * buffer.mask).sum(0)
        stats.wall_time = time.perf_counter() - start
        return stats, returns
