"""Parity with Stable-Baselines3's PPO on identical inputs (the benchmark compares like with like).

Same weights + same data must give the same advantages, the same policy outputs, the same env
trajectories and the same parameters after a PPO step; only random streams may differ.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

sb3 = pytest.importorskip("stable_baselines3")

from stable_baselines3.common.buffers import RolloutBuffer as SB3Buffer  # noqa: E402
from stable_baselines3.common.callbacks import CallbackList  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

from embodied_rl.algorithms.advantages import gae  # noqa: E402
from embodied_rl.config import load_config  # noqa: E402
from embodied_rl.rollout.buffer import Batch  # noqa: E402
from embodied_rl.run import build_trainer  # noqa: E402

N, T = 4, 64


def test_gae_with_truncations_equals_sb3():
    gamma, lam = 0.99, 0.95
    rng = np.random.default_rng(0)
    r, v, v_final = (rng.normal(size=(50, 3)).astype(np.float32) for _ in range(3))
    last_v = rng.normal(size=3).astype(np.float32)
    trunc = rng.random((50, 3)) < 0.1
    starts = np.zeros_like(trunc)
    starts[1:] = trunc[:-1]
    buf = SB3Buffer(
        50, spaces.Box(-1, 1, (1,)), spaces.Box(-1, 1, (1,)), "cpu", gamma=gamma, gae_lambda=lam, n_envs=3
    )
    for t in range(50):  # SB3 folds gamma * V(final obs) of a truncation into the reward
        reward = r[t] + gamma * v_final[t] * trunc[t]
        buf.add(np.zeros((3, 1)), np.zeros((3, 1)), reward, starts[t], torch.tensor(v[t]), torch.zeros(3))
    buf.compute_returns_and_advantage(torch.tensor(last_v), trunc[-1])
    next_v = np.where(trunc, v_final, np.concatenate([v[1:], last_v[None]]))
    adv, ret = gae(
        torch.tensor(r),
        torch.tensor(v),
        torch.tensor(next_v),
        torch.zeros(50, 3, dtype=torch.bool),
        torch.tensor(trunc),
        gamma,
        lam,
    )
    assert np.allclose(adv.numpy(), buf.advantages, atol=1e-6)
    assert np.allclose(ret.numpy(), buf.returns, atol=1e-6)


@pytest.fixture
def twins(tmp_path):
    """SB3 PPO and our PPO trainer on Pendulum-v1 holding the same weights."""
    torch.set_num_threads(1)
    model = sb3.PPO(
        "MlpPolicy",
        make_vec_env("Pendulum-v1", n_envs=N, seed=0),
        n_steps=T,
        batch_size=N * T,
        n_epochs=1,
        learning_rate=3e-4,
        device="cpu",
        seed=0,
        policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}},
    )
    cfg = load_config(
        None,
        [
            "env.name=Pendulum-v1",
            f"env.num_envs={N}",
            f"algo.num_steps={T}",
            "algo.num_minibatches=1",
            "algo.update_epochs=1",
            "algo.lr=3e-4",
            "log.progress=false",
            f"run_dir={tmp_path}",
        ],
    )
    trainer = build_trainer(cfg)
    p = model.policy
    pairs = {
        "actor_trunk.0": p.mlp_extractor.policy_net[0],
        "actor_trunk.2": p.mlp_extractor.policy_net[2],
        "critic_trunk.0": p.mlp_extractor.value_net[0],
        "critic_trunk.2": p.mlp_extractor.value_net[2],
        "head.mean": p.action_net,
        "value_head.linear": p.value_net,
    }
    with torch.no_grad():
        for name, module in pairs.items():
            trainer.policy.get_submodule(name).weight.copy_(module.weight)
            trainer.policy.get_submodule(name).bias.copy_(module.bias)
        trainer.policy.head.log_std.copy_(p.log_std)
    yield model, trainer, pairs
    trainer.close()


def test_env_trajectories_and_actions_equal_sb3(twins):
    model, trainer, _ = twins
    obs_sb3 = model.env.reset()
    obs, _ = trainer.env.reset(seed=list(range(N)))
    for _ in range(30):
        actions = trainer.policy.act(obs, deterministic=True).actions
        actions_sb3, _ = model.predict(obs_sb3, deterministic=True)
        assert np.allclose(actions.numpy(), actions_sb3, atol=1e-6)
        obs_sb3, reward_sb3, _, _ = model.env.step(actions_sb3)
        obs, reward, *_ = trainer.env.step(actions)
        assert np.allclose(obs["state"].numpy(), obs_sb3, atol=1e-6)
        assert np.allclose(reward.numpy(), reward_sb3, atol=1e-5)


def test_one_ppo_step_on_sb3_rollout_data_equals_sb3(twins):
    model, trainer, pairs = twins
    _, callback = model._setup_learn(10**6, CallbackList([]))
    callback.init_callback(model)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, n_rollout_steps=T)
    data = next(model.rollout_buffer.get(batch_size=None))
    batch = Batch(
        obs={"state": data.observations.float()},
        actions=data.actions.float(),
        log_prob=data.old_log_prob.float(),
        advantages=data.advantages.float(),
        returns=data.returns.float(),
        values=data.old_values.float(),
    )
    log_prob, _, value = trainer.policy.evaluate(batch.obs, batch.actions)
    assert torch.allclose(log_prob, batch.log_prob, atol=1e-5) and torch.allclose(
        value, batch.values, atol=1e-5
    )
    trainer.update_policy(batch)  # one full-batch step (fused Adam here, SB3's default Adam there)
    model.train()
    for name, module in pairs.items():
        assert torch.allclose(trainer.policy.get_submodule(name).weight, module.weight, atol=1e-6), name
    assert torch.allclose(trainer.policy.head.log_std, model.policy.log_std, atol=1e-6)
