"""PPO (Schulman et al. 2017) with GAE, truncation bootstrapping and a clipped ratio."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from embodied_rl.algorithms.advantages import gae
from embodied_rl.algorithms.losses import value_loss
from embodied_rl.config.schema import AlgoConfig, TrainConfig
from embodied_rl.rollout.buffer import Batch
from embodied_rl.rollout.collector import RolloutStats
from embodied_rl.trainers.base import OnPolicyTrainer


@dataclass
class PPOConfig(AlgoConfig):
    """PPO: the shared on-policy fields plus GAE and value-loss settings."""

    name: str = "ppo"
    """Registered algorithm name."""
    gae_lambda: float = 0.95
    """GAE lambda (1 = Monte-Carlo returns, 0 = one-step TD)."""
    vf_coef: float = 0.5
    """Value-loss coefficient (value loss is the plain MSE, as in Stable-Baselines3)."""
    clip_vloss: bool = False
    """Clip the value update around the rollout values (by vf_clip_coef)."""
    vf_clip_coef: float = 0.2
    """Value clip range when clip_vloss is on."""
    value_lr: float | None = None
    """Separate learning rate for the critic (value head and critic trunk); None = lr."""
    critic_warmup_updates: int = 0
    """Updates at the start of training that fit the value function only: the policy-gradient
    and entropy terms are off, so a warm-started (SFT) actor is not moved by the advantages of
    an untrained critic. Parameters the value loss reaches (a shared trunk) still move."""

    def check(self, cfg: TrainConfig) -> Iterator[tuple[str, str]]:
        yield from super().check(cfg)
        if not cfg.policy.value_head:
            yield (
                "policy.value_head",
                "PPO needs a value head: set policy.value_head=true (or use algo.name=grpo)",
            )
        if not 0.0 <= self.gae_lambda <= 1.0:
            yield "algo.gae_lambda", f"must be in [0, 1], got {self.gae_lambda}"
        batch = cfg.env.num_envs * self.num_steps
        if batch % self.num_minibatches:
            yield (
                "algo.num_minibatches",
                (
                    f"the batch env.num_envs * algo.num_steps = {batch} does not split into {self.num_minibatches} "
                    "equal minibatches"
                ),
            )
        if self.value_lr is not None and self.value_lr <= 0:
            yield "algo.value_lr", f"must be > 0, got {self.value_lr}"
        if self.critic_warmup_updates < 0:
            yield "algo.critic_warmup_updates", f"must be >= 0, got {self.critic_warmup_updates}"


class PPOTrainer(OnPolicyTrainer):
    """PPO over the shared on-policy loop."""

    config_class = PPOConfig
    algo: PPOConfig

    def param_groups(self) -> list[dict[str, Any]]:
        if self.algo.value_lr is None:
            return super().param_groups()
        critic, actor = [], []
        for name, p in self.policy.named_parameters():
            (critic if name.startswith(("value_head", "critic_trunk")) else actor).append(p)
        return [{"params": actor}, {"params": critic, "lr": self.algo.value_lr}]

    def rollout(self) -> tuple[Batch, RolloutStats, dict[str, float]]:
        stats = self.collector.collect_steps(self.buffer)
        buf = self.buffer
        advantages, returns = gae(
            buf.rewards,
            buf.values,
            buf.next_values(),
            buf.terminated,
            buf.dones,
            self.algo.gamma,
            self.algo.gae_lambda,
        )
        var_returns = returns.var()
        explained = (
            1.0 - (returns - buf.values).var() / var_returns
            if var_returns > 0
            else torch.tensor(float("nan"))
        )
        # Steps of episodes dropped after an env-worker fault are masked out.
        batch = buf.to_batch(advantages, returns, use_mask=not bool(buf.mask.all()))
        return batch, stats, {"train/explained_variance": float(explained)}

    def loss(self, mb: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        log_prob, entropy, value = self.policy.evaluate(mb.obs, mb.actions, mb.extras)
        loss, metrics = self.policy_objective(log_prob, entropy, mb)
        assert value is not None  # PPOConfig.check requires a value head
        clip = self.algo.vf_clip_coef if self.algo.clip_vloss else None
        v_loss = value_loss(value, mb.returns, mb.values, clip=clip)
        metrics["value_loss"] = v_loss.detach()
        if self.update < self.algo.critic_warmup_updates:  # critic warm-up: the value loss alone
            metrics["critic_warmup"] = torch.ones(())
            return self.algo.vf_coef * v_loss, metrics
        return loss + self.algo.vf_coef * v_loss, metrics
