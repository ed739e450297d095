"""Evaluate a policy on fixed seeds: episode ``k`` always starts from ``seed + k``.

Episodes run in waves of ``num_envs``; each env plays exactly one episode per wave,
so which seed an episode gets never depends on ``num_envs``. With a deterministic
policy the outcomes are then the same for any ``num_envs`` up to floating point: a
batched matmul may round differently from a single-row one, and chaotic continuous
control (MuJoCo) can amplify that last-bit difference over hundreds of steps. Use
``num_envs=1`` where bit-exact comparisons across runs matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from embodied_rl.envs import make
from embodied_rl.envs.core import check_finite
from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics
from embodied_rl.policies.core import Policy


@dataclass
class EvalResult:
    """Per-episode outcomes, in seed order."""

    seeds: list[int] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    successes: list[bool] = field(default_factory=list)

    @property
    def mean_return(self) -> float:
        return float(torch.tensor(self.returns, dtype=torch.float64).mean()) if self.returns else math.nan

    @property
    def std_return(self) -> float:
        if len(self.returns) < 2:
            return 0.0
        return float(torch.tensor(self.returns, dtype=torch.float64).std(unbiased=False))

    @property
    def success_rate(self) -> float | None:
        return sum(self.successes) / len(self.successes) if self.successes else None

    def metrics(self, prefix: str = "eval") -> dict[str, float]:
        out = {
            f"{prefix}/episode_return_mean": self.mean_return,
            f"{prefix}/episode_return_std": self.std_return,
            f"{prefix}/episode_length_mean": sum(self.lengths) / max(len(self.lengths), 1),
        }
        if self.success_rate is not None:
            out[f"{prefix}/success_rate"] = self.success_rate
        return out


@torch.no_grad()
def evaluate_policy(
    policy: Policy,
    env_name: str,
    episodes: int,
    seed: int = 10_000,
    num_envs: int = 8,
    deterministic: bool = True,
    env_kwargs: dict[str, Any] | None = None,
    max_steps: int = 100_000,
) -> EvalResult:
    """Run ``episodes`` episodes from seeds ``seed .. seed+episodes-1`` and collect outcomes.

    Args:
        policy: Any contract policy.
        env_name: Registered env name or Gymnasium id.
        episodes: Number of episodes.
        seed: Seed of the first episode.
        num_envs: Parallel envs per wave (does not change the outcomes).
        deterministic: Use the policy's mode instead of sampling.
        env_kwargs: Passed to :func:`embodied_rl.envs.make`.
        max_steps: Safety cap on steps per wave (an env that never ends is an error).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    num_envs = max(1, min(num_envs, episodes))
    env = EpisodeStatistics(make(env_name, num_envs=num_envs, **(env_kwargs or {})))
    result = EvalResult()
    was_training = policy.training
    policy.eval()
    try:
        for first in range(0, episodes, num_envs):
            wave = list(range(first, min(first + num_envs, episodes)))
            seeds = [seed + k for k in range(first, first + num_envs)]  # spare envs run unused seeds
            obs, _ = env.reset(seed=seeds)
            outcome: dict[int, tuple[float, int, bool | None]] = {}
            for _ in range(max_steps):
                check_finite(obs, f"env '{env_name}'")
                actions = policy.act(obs, deterministic=deterministic).actions
                obs, _, _, _, info = env.step(actions)
                episode = info.get("episode")
                if episode is not None:
                    for j, i in enumerate(episode["env_idx"].tolist()):
                        if i not in outcome:
                            success = bool(episode["success"][j]) if "success" in episode else None
                            outcome[i] = (float(episode["return"][j]), int(episode["length"][j]), success)
                if all(i - first in outcome for i in wave):
                    break
            else:
                raise RuntimeError(
                    f"evaluation on '{env_name}' did not finish an episode within {max_steps} steps"
                )
            for k in wave:
                ret, length, success = outcome[k - first]
                result.seeds.append(seed + k)
                result.returns.append(ret)
                result.lengths.append(length)
                if success is not None:
                    result.successes.append(success)
    finally:
        env.close()
        policy.train(was_training)
    return result
