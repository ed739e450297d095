"""GRPO (Shao et al. 2024, DeepSeekMath): group-normalised episode returns, no critic.

Each rollout resets the N envs in groups of G that share a seed (same initial state
and task), plays one episode per env, and gives every step of episode i the
advantage ``(R_i - mean_group) / (std_group + eps)``. Groups whose returns are all
equal carry no signal and are dropped when ``filter_groups`` is on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from embodied_rl.algorithms.advantages import (
    group_has_signal,
    grpo_advantages,
    per_step_advantages,
)
from embodied_rl.config.schema import AlgoConfig, TrainConfig
from embodied_rl.envs.core import group_seeds
from embodied_rl.rollout.buffer import Batch
from embodied_rl.rollout.collector import RolloutStats
from embodied_rl.trainers.base import OnPolicyTrainer


@dataclass
class GRPOConfig(AlgoConfig):
    """GRPO: the shared on-policy fields plus group settings."""

    name: str = "grpo"
    """Registered algorithm name."""
    num_steps: int = 500
    """Longest episode collected per rollout (episodes still running are cut here)."""
    group_size: int = 8
    """Rollouts per group G (same seed); env.num_envs must be a multiple of it."""
    scale_by_std: bool = True
    """Divide by the group's std (False: Dr. GRPO, only subtract the group mean)."""
    filter_groups: bool = True
    """Drop groups whose returns are all equal (zero advantage, no signal)."""
    norm_adv: bool = False
    """Normalise advantages per minibatch (GRPO's advantages are already normalised per group)."""
    per_episode: bool = False
    """Multi-turn episodes: weigh every episode the same in the loss, each step getting
    ``A_i * L_mean / L_i`` (see ``per_step_advantages``), instead of ``A_i`` per step."""

    def check(self, cfg: TrainConfig) -> Iterator[tuple[str, str]]:
        yield from super().check(cfg)
        if cfg.policy.value_head:
            yield "policy.value_head", "GRPO uses no critic: set policy.value_head=false"
        if self.group_size < 2:
            yield "algo.group_size", f"must be >= 2, got {self.group_size}"
        elif cfg.env.num_envs % self.group_size:
            yield (
                "env.num_envs",
                (
                    f"{cfg.env.num_envs} is not divisible by algo.group_size={self.group_size} "
                    "(each group is group_size envs sharing a seed)"
                ),
            )


class GRPOTrainer(OnPolicyTrainer):
    """GRPO over the shared on-policy loop."""

    config_class = GRPOConfig
    algo: GRPOConfig

    def rollout(self) -> tuple[Batch | None, RolloutStats, dict[str, float]]:
        n, g = self.cfg.env.num_envs, self.algo.group_size
        seeds = group_seeds(
            self.env_seed(self.update), n, g
        )  # new tasks every update, reproducible on resume
        stats, returns = self.collector.collect_episodes(self.buffer, seeds)
        advantages = grpo_advantages(returns, g, scale_by_std=self.algo.scale_by_std)
        keep = (
            group_has_signal(returns, g)
            if self.algo.filter_groups
            else torch.ones_like(returns, dtype=torch.bool)
        )
        if stats.dropped_envs:  # an env worker failed: its groups have no fair baseline
            for i in stats.dropped_envs:
                keep[(i // g) * g : (i // g + 1) * g] = False
        self.buffer.mask &= keep.to(self.buffer.mask.device)[None]
        extra = {
            "rollout/groups_with_signal": float(keep.float().mean()),
            "rollout/group_return_mean": float(returns.mean()),
        }
        if not self.buffer.mask.any():
            return None, stats, extra
        step_adv = per_step_advantages(advantages, self.buffer.mask, self.algo.per_episode)
        return self.buffer.to_batch(step_adv, step_adv, use_mask=True), stats, extra

    def loss(self, mb: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        log_prob, entropy, _ = self.policy.evaluate(mb.obs, mb.actions, mb.extras)
        return self.policy_objective(log_prob, entropy, mb)
