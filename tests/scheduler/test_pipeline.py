"""The pipelined collector fills the same rollouts as the synchronous reference."""

from __future__ import annotations

import pytest
import torch
from embodied_rl.envs import make
from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics
from sched_helpers import small_policy

from embodied_rl.rollout.buffer import RolloutBuffer
from embodied_rl.rollout.collector import SyncCollector
from embodied_rl.scheduler.pipeline import PipelinedCollector, split_envs
from embodied_rl.scheduler.worker import EnvWorker, StageEnvFactory


def test_split_envs() -> None:
    assert split_envs(10, 4) == [3, 3, 2, 2]
    assert split_envs(4, 4) == [1, 1, 1, 1]
    assert split_envs(7, 1) == [7]
    for bad in [(3, 4), (4, 0)]:
        with pytest.raises(ValueError, match="cannot split"):
            split_envs(*bad)


def _workers(env_name: str, num_envs: int, stages: int, kwargs: dict | None = None) -> list[EnvWorker]:
    workers = [
        EnvWorker(StageEnvFactory(env_name, n, kwargs or {}), timeout_s=60, name=f"stage {k}")
        for k, n in enumerate(split_envs(num_envs, stages))
    ]
    for w in workers:
        w.start()
    return workers


def _assert_same_rollout(a: RolloutBuffer, b: RolloutBuffer) -> None:
    # Equal up to float rounding: the policy's matmuls run on batches of N/S rows instead of N.
    assert torch.allclose(a.rewards, b.rewards, atol=1e-5)
    assert torch.equal(a.terminated, b.terminated) and torch.equal(a.truncated, b.truncated)
    assert torch.equal(a.mask, b.mask)
    assert torch.allclose(a.actions, b.actions, atol=1e-6)
    assert torch.allclose(a.obs["state"], b.obs["state"], atol=1e-6)
    assert torch.allclose(a.log_prob, b.log_prob, atol=1e-5)
    assert torch.allclose(a.values, b.values, atol=1e-5)
    assert torch.allclose(a.final_values, b.final_values, atol=1e-5)
    assert torch.allclose(a.last_values, b.last_values, atol=1e-5)


@pytest.mark.parametrize(("env_name", "stages"), [("PointReach-v0", 2), ("CartPole-v1", 3)])
def test_pipelined_steps_equal_synchronous(env_name: str, stages: int) -> None:
    """Same seeds + deterministic policy -> same actions, rewards, dones, over two rollouts."""
    num_envs, steps = 6, 40
    policy = small_policy(env_name)
    sync = SyncCollector(EpisodeStatistics(make(env_name, num_envs=num_envs)), policy, deterministic=True)
    pipe = PipelinedCollector(_workers(env_name, num_envs, stages), policy, deterministic=True)
    try:
        sync.reset(seed=5)
        pipe.reset(seed=5)
        for _ in range(2):  # the second rollout continues the episodes of the first
            a, b = RolloutBuffer(steps, num_envs), RolloutBuffer(steps, num_envs)
            sa, sb = sync.collect_steps(a), pipe.collect_steps(b)
            _assert_same_rollout(a, b)
            assert sa.env_steps == sb.env_steps == num_envs * steps
            assert sorted(sa.episode_returns) == pytest.approx(sorted(sb.episode_returns))
            assert len(sb.stage_env_time) == stages and sb.wall_time > 0 and sb.wait_time >= 0
        assert a.dones.any(), "the test should cross episode ends"
    finally:
        sync.close()
        pipe.close()


def test_pipelined_episodes_equal_synchronous() -> None:
    num_envs, steps = 4, 40
    policy = small_policy("PointReach-v0", value_head=False)
    seeds = [3, 3, 8, 8]
    sync = SyncCollector(
        EpisodeStatistics(make("PointReach-v0", num_envs=num_envs)), policy, deterministic=True
    )
    pipe = PipelinedCollector(_workers("PointReach-v0", num_envs, 2), policy, deterministic=True)
    try:
        a, b = RolloutBuffer(steps, num_envs), RolloutBuffer(steps, num_envs)
        (_, ra), (sb, rb) = sync.collect_episodes(a, seeds), pipe.collect_episodes(b, seeds)
        assert torch.allclose(ra, rb, atol=1e-5) and torch.equal(a.mask, b.mask)
        assert torch.allclose(a.rewards * a.mask, b.rewards * b.mask, atol=1e-5)
        assert torch.allclose(a.actions[a.mask], b.actions[b.mask], atol=1e-6)
        assert sb.dropped_envs == []
    finally:
        sync.close()
        pipe.close()


def test_buffer_size_mismatch_is_an_error() -> None:
    pipe = PipelinedCollector(_workers("CartPole-v1", 2, 1), small_policy("CartPole-v1"))
    try:
        pipe.reset(seed=0)
        with pytest.raises(ValueError, match="buffer has 3 envs"):
            pipe.collect_steps(RolloutBuffer(4, 3))
    finally:
        pipe.close()
