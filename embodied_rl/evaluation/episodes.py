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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from embodied_rl.envs import make
from embodied_rl.envs.core import check_finite
from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics
from embodied_rl.evaluation.stats import wilson_interval


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
            low, high = wilson_interval(sum(self.successes), len(self.successes))
            out[f"{prefix}/success_rate"] = self.success_rate
            out[f"{prefix}/success_rate_ci_low"] = low
            out[f"{prefix}/success_rate_ci_high"] = high
        return out


class Actor(Protocol):
    """What evaluation needs from a policy: ``act`` and the train/eval switch."""

    training: bool

    def act(self, obs: Any, deterministic: bool = False) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...


@dataclass
class FinishedEpisode:
    """One episode as it finishes: its index ``k`` (seed ``seed + k``), outcome and frames."""

    index: int
    seed: int
    episode_return: float
    length: int
    success: bool | None
    instruction: str | None = None
    frames: list[np.ndarray] | None = None


def _instruction(obs: Any, i: int) -> str | None:
    text = obs.get("instruction") if isinstance(obs, dict) else None
    return None if text is None else str(text[i])


def _frames(env: Any) -> list[np.ndarray]:
    frames = env.render()
    if frames is None:
        raise RuntimeError("env.render() returned None; videos need render_mode='rgb_array'")
    return [np.asarray(f) for f in frames]


@torch.no_grad()
def play_episodes(
    policy: Actor,
    env: Any,
    episodes: int,
    seed: int = 10_000,
    deterministic: bool = True,
    record_frames: int = 0,
    max_steps: int = 100_000,
    env_name: str = "env",
) -> Iterator[FinishedEpisode]:
    """Play episodes ``k = 0..episodes-1`` from seeds ``seed + k`` and yield each as it finishes.

    Episodes run in waves of ``env.num_envs``; env ``i`` of wave ``w`` plays episode
    ``w * num_envs + i``, so which seed an episode gets never depends on ``num_envs``.
    Episodes finish in any order within a wave; each is yielded once.

    Args:
        policy: Anything with ``act(obs, deterministic)`` returning ``.actions``.
        env: A contract vector env wrapped in :class:`EpisodeStatistics` (made with
            ``render_mode="rgb_array"`` when ``record_frames > 0``).
        episodes: Number of episodes.
        seed: Seed of episode 0.
        deterministic: Use the policy's mode instead of sampling.
        record_frames: Keep the rendered frames of episodes ``k < record_frames``.
        max_steps: Safety cap on steps per wave (an env that never ends is an error).
        env_name: For error messages.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    num_envs = env.num_envs
    for first in range(0, episodes, num_envs):
        wave = range(first, min(first + num_envs, episodes))
        obs, _ = env.reset(seed=[seed + first + i for i in range(num_envs)])  # spare envs run unused seeds
        instructions = [_instruction(obs, i) for i in range(num_envs)]
        recording = [first + i < min(record_frames, episodes) for i in range(num_envs)]
        frames: list[list[np.ndarray]] = [[] for _ in range(num_envs)]
        if any(recording):
            for i, frame in enumerate(_frames(env)):
                if recording[i]:
                    frames[i].append(frame)
        done: set[int] = set()
        for _ in range(max_steps):
            check_finite(obs, f"env '{env_name}'")
            actions = policy.act(obs, deterministic=deterministic).actions
            obs, _, _, _, info = env.step(actions)
            episode = info.get("episode")
            ended = set()
            if episode is not None:
                for j, i in enumerate(episode["env_idx"].tolist()):
                    ended.add(i)
                    if i in done or first + i not in wave:
                        continue
                    done.add(i)
                    success = bool(episode["success"][j]) if "success" in episode else None
                    yield FinishedEpisode(
                        index=first + i,
                        seed=seed + first + i,
                        episode_return=float(episode["return"][j]),
                        length=int(episode["length"][j]),
                        success=success,
                        instruction=instructions[i],
                        frames=frames[i] if recording[i] else None,
                    )
            if len(done) == len(wave):
                break
            if any(recording[i] and i not in done for i in range(num_envs)):
                # SAME_STEP autoreset: an env that just ended already shows its next episode
                for i, frame in enumerate(_frames(env)):
                    if recording[i] and i not in done and i not in ended:
                        frames[i].append(frame)
        else:
            raise RuntimeError(
                f"evaluation on '{env_name}' did not finish an episode within {max_steps} steps"
            )


def evaluate_policy(
    policy: Actor,
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
    finished: list[FinishedEpisode] = []
    was_training = policy.training
    policy.train(False)
    try:
        finished.extend(
            play_episodes(policy, env, episodes, seed, deterministic, max_steps=max_steps, env_name=env_name)
        )
    finally:
        env.close()
        policy.train(was_training)
    finished.sort(key=lambda e: e.index)
    result = EvalResult()
    for e in finished:
        result.seeds.append(e.seed)
        result.returns.append(e.episode_return)
        result.lengths.append(e.length)
        if e.success is not None:
            result.successes.append(e.success)
    return result
