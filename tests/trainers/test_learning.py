"""Small end-to-end runs that must show learning (held-out deterministic evaluation)."""

from __future__ import annotations

import pytest

from embodied_rl.evaluation import evaluate_policy
from embodied_rl.run import build_trainer

pytestmark = pytest.mark.slow


def train_and_eval(cfg, episodes: int = 10):
    trainer = build_trainer(cfg)
    before = evaluate_policy(
        trainer.policy, cfg.env.name, episodes, seed=cfg.eval.seed, env_kwargs=cfg.env.kwargs
    )
    trainer.train()
    after = trainer.evaluate(episodes)
    trainer.close()
    return before, after, trainer


def test_ppo_cartpole_reaches_the_return_ceiling(make_cfg):
    before, after, _ = train_and_eval(make_cfg("quickstart", "total_env_steps=60000"))
    assert before.mean_return < 100  # an untrained policy falls quickly
    assert after.mean_return >= 450, after.returns  # ceiling is 500


def test_ppo_pendulum_improves_clearly(make_cfg):
    before, after, _ = train_and_eval(make_cfg("pendulum_ppo", "total_env_steps=100000"))
    assert before.mean_return < -900
    assert after.mean_return > -600, (before.mean_return, after.mean_return)


def test_grpo_cartpole_learns_without_a_critic(make_cfg):
    before, after, trainer = train_and_eval(make_cfg("cartpole_grpo", "total_env_steps=100000"))
    assert trainer.policy.value_head is None
    assert before.mean_return < 100
    assert after.mean_return >= 400, after.returns


def test_cnn_ppo_learns_from_pixels(make_cfg):
    before, after, _ = train_and_eval(make_cfg("gridgoal_cnn_ppo", "total_env_steps=30000"), episodes=40)
    assert before.success_rate is not None and after.success_rate is not None
    assert before.success_rate < 0.7  # random walking finds the goal within 16 steps about half the time
    assert after.success_rate >= 0.95
    assert sum(after.lengths) / len(after.lengths) < sum(before.lengths) / len(before.lengths)
