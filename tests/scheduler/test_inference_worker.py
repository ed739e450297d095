"""Inference in its own worker: weight sync with versions, same rollouts as in-process, clear errors."""

from __future__ import annotations

import pytest
import torch
from embodied_rl.envs import make
from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics
from sched_helpers import small_policy

from embodied_rl.config.schema import SchedulerConfig
from embodied_rl.logging import read_metrics
from embodied_rl.rollout.buffer import RolloutBuffer
from embodied_rl.rollout.collector import SyncCollector
from embodied_rl.run import run_training
from embodied_rl.scheduler import InferenceWorkerError, start_inference_worker


def _worker(policy, **sched):
    cfg = SchedulerConfig(inference="worker", worker_timeout_s=30, **sched)
    return start_inference_worker(policy.config, policy.spec, cfg, "cpu", "fp32", 1)


def test_weight_sync_ships_each_version_and_the_worker_acts_with_it() -> None:
    policy = small_policy("Pendulum-v1")
    remote = _worker(policy)
    env = make("Pendulum-v1", num_envs=3)
    try:
        obs, _ = env.reset(seed=0)
        remote.sync(policy, 3)
        out = remote.act(obs, deterministic=True)
        ref = policy.act(obs, deterministic=True)
        assert remote.served_version == 3
        torch.testing.assert_close(out.actions, ref.actions)
        torch.testing.assert_close(out.log_prob, ref.log_prob)
        torch.testing.assert_close(out.value, ref.value)
        torch.testing.assert_close(remote.value(obs), policy.value(obs))

        with torch.no_grad():  # the trainer moves on; the worker keeps the shipped version
            policy.head.mean.bias.add_(0.5)
        stale = remote.act(obs, deterministic=True)
        assert remote.served_version == 3
        torch.testing.assert_close(stale.actions, out.actions)
        assert not torch.allclose(stale.actions, policy.act(obs, deterministic=True).actions)

        remote.sync(policy, 4)
        synced = remote.act(obs, deterministic=True)
        assert remote.served_version == 4 and remote.sync_time > 0
        torch.testing.assert_close(synced.actions, policy.act(obs, deterministic=True).actions)
    finally:
        remote.close()
        env.close()


def test_rollouts_through_the_worker_equal_in_process_rollouts() -> None:
    """Deterministic policy, same seeds: the same buffer whether the policy acts here or in the worker."""
    policy = small_policy("CartPole-v1")
    remote = _worker(policy)
    buffers = []
    try:
        remote.sync(policy, 7)
        for acting in (policy, remote):
            collector = SyncCollector(
                EpisodeStatistics(make("CartPole-v1", num_envs=3)), acting, deterministic=True
            )
            collector.reset(seed=11)
            buffer = RolloutBuffer(40, 3)
            stats = collector.collect_steps(buffer)
            assert stats.policy_version == (7 if acting is remote else 0)
            buffers.append(buffer)
            collector.close()
    finally:
        remote.close()
    a, b = buffers
    for key in ("actions", "rewards", "terminated", "truncated", "log_prob", "values", "final_values"):
        torch.testing.assert_close(getattr(a, key), getattr(b, key), msg=key)
    torch.testing.assert_close(a.last_values, b.last_values)


def test_a_dead_or_failing_worker_raises_a_clear_error() -> None:
    policy = small_policy("CartPole-v1")
    remote = _worker(policy)
    try:
        remote.sync(policy, 0)
        with pytest.raises(InferenceWorkerError, match="'act' failed in the worker"):
            remote.act({"state": torch.zeros(2, 9)})  # wrong state size
        remote.worker._proc.kill()
        remote.worker._proc.join()
        with pytest.raises(InferenceWorkerError, match="crashed during 'act'|process is gone"):
            remote.act({"state": torch.zeros(2, 4)})
    finally:
        remote.close()


def test_training_acts_through_the_inference_worker(make_cfg) -> None:
    cfg = make_cfg(
        "quickstart", "total_env_steps=512", "env.num_envs=4", "algo.num_steps=32", "eval.episodes=4",
        "log.tensorboard=false", "scheduler.inference=worker",
    )  # fmt: skip
    summary = run_training(cfg)
    assert summary.finished
    rows = [r for r in read_metrics(summary.run_dir) if "rollout/policy_version" in r]
    assert [r["rollout/policy_version"] for r in rows] == [0, 1, 2, 3]
    assert all(r["time/weight_sync_s"] > 0 for r in rows)


def test_inference_mode_is_checked_at_config_time(make_cfg) -> None:
    from embodied_rl.config.loader import ConfigError

    with pytest.raises(ConfigError, match="scheduler.inference"):
        make_cfg("quickstart", "scheduler.inference=gpu0")
