"""Tests for embodied_rl.rollout: the sync collector's bookkeeping and Batch minibatches."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import pytest
import torch
from embodied_rl.envs import env_spec, group_seeds, make
from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics
from embodied_rl.policies.core import ActionOutput, Policy

from embodied_rl.config.schema import PolicyConfig
from embodied_rl.rollout.buffer import Batch, RolloutBuffer
from embodied_rl.rollout.collector import SyncCollector


class FixedPolicy(Policy):
    """Deterministic fake: V(obs) = sum of the state; actions from a fixed schedule.

    ``schedule[i]`` is env ``i``'s action pattern, cycled over act() calls.
    """

    def __init__(self, spec, schedule: list[list[int]], value_head: bool = True) -> None:
        super().__init__(PolicyConfig(name="fixed", value_head=value_head), spec)
        self.schedule = schedule
        self.calls = 0

    def act(self, obs, deterministic: bool = False) -> ActionOutput:
        t = self.calls
        self.calls += 1
        actions = torch.tensor([pattern[t % len(pattern)] for pattern in self.schedule])
        log_prob = torch.full((len(self.schedule),), -0.5) - 0.01 * t
        return ActionOutput(actions=actions, log_prob=log_prob, value=self.value(obs))

    def evaluate(self, obs, actions, extras=None):
        n = len(actions)
        return torch.zeros(n), torch.zeros(n), self.value(obs)

    def value(self, obs):
        return obs["state"].sum(-1) if self.has_value_head else None


class Recorder(gym.vector.VectorWrapper):
    """Keeps every step's (obs, reward, terminated, truncated, info) for comparison."""

    def __init__(self, env) -> None:
        super().__init__(env)
        self.env_spec = env.env_spec
        self.metadata = dict(env.metadata)
        self.steps: list[tuple[Any, ...]] = []

    def step(self, actions):
        result = self.env.step(actions)
        self.steps.append((actions.clone(), *result))
        return result


def _collect_steps(max_episode_steps: int, num_steps: int, schedule: list[list[int]]):
    env = Recorder(make("CartPole-v1", num_envs=len(schedule), max_episode_steps=max_episode_steps))
    policy = FixedPolicy(env_spec(env), schedule)
    collector = SyncCollector(env, policy, env_name="CartPole-v1")
    first_obs = collector.reset(seed=0)
    buffer = RolloutBuffer(num_steps, len(schedule))
    stats = collector.collect_steps(buffer)
    return env, collector, buffer, stats, first_obs


def test_collect_steps_needs_reset() -> None:
    env = make("CartPole-v1", num_envs=1)
    collector = SyncCollector(env, FixedPolicy(env_spec(env), [[0]]))
    with pytest.raises(RuntimeError, match="reset"):
        collector.collect_steps(RolloutBuffer(2, 1))


def test_collect_steps_bootstraps_truncations_with_final_obs_values() -> None:
    env, collector, buffer, stats, first_obs = _collect_steps(5, 12, [[1], [0]])
    rec = env.steps
    assert len(rec) == 12
    assert stats.env_steps == 24

    # time limit 5: every env is truncated at steps 4 and 9 and nowhere else
    expected_trunc = torch.zeros(12, 2, dtype=torch.bool)
    expected_trunc[[4, 9]] = True
    assert torch.equal(buffer.truncated, expected_trunc)
    assert not buffer.terminated.any()

    for t, (actions, next_obs, reward, terminated, truncated, info) in enumerate(rec):
        assert torch.equal(buffer.actions[t], actions)
        assert torch.equal(buffer.rewards[t], reward)
        assert torch.equal(buffer.terminated[t], terminated)
        assert torch.equal(buffer.truncated[t], truncated)
        acted_on = first_obs["state"] if t == 0 else rec[t - 1][1]["state"]
        assert torch.equal(buffer.obs["state"][t], acted_on)
        assert torch.equal(buffer.values[t], acted_on.sum(-1))
        if truncated.any():
            final_state = info["final_obs"]["state"]
            assert not torch.equal(final_state, next_obs["state"])  # the reset obs is not the final one
            torch.testing.assert_close(buffer.final_values[t], final_state.sum(-1))
        else:
            assert torch.equal(buffer.final_values[t], torch.zeros(2))
    torch.testing.assert_close(buffer.log_prob[:, 0], -0.5 - 0.01 * torch.arange(12.0))

    # V(s_{t+1}): the next step's value, V(final obs) after a truncation, the bootstrap at the end
    nxt = buffer.next_values()
    for t in range(12):
        if t in (4, 9):
            expected = rec[t][5]["final_obs"]["state"].sum(-1)
        elif t == 11:
            expected = rec[11][1]["state"].sum(-1)
        else:
            expected = buffer.values[t + 1]
        torch.testing.assert_close(nxt[t], expected)
    torch.testing.assert_close(buffer.last_values, collector.obs["state"].sum(-1))
    assert torch.equal(collector.obs["state"], rec[-1][1]["state"])


def test_collect_steps_terminations_line_up_and_rollouts_continue() -> None:
    # pushing one way topples CartPole within ~10 steps: terminations, not truncations
    env, collector, buffer, _, _ = _collect_steps(500, 25, [[1], [0], [0, 1]])
    assert buffer.terminated[:, 0].any() and buffer.terminated[:, 1].any()
    assert not buffer.truncated.any()
    assert torch.equal(buffer.final_values, torch.zeros(25, 3))  # only truncations bootstrap
    for t, (_, _, reward, terminated, truncated, _) in enumerate(env.steps):
        assert torch.equal(buffer.terminated[t], terminated)
        assert torch.equal(buffer.truncated[t], truncated)
        assert torch.equal(buffer.rewards[t], reward)
    nxt = buffer.next_values()
    torch.testing.assert_close(nxt[:-1], buffer.values[1:])  # no truncations: plain shift

    # a second rollout continues the episodes where the first stopped
    last = collector.obs["state"].clone()
    buffer2 = RolloutBuffer(3, 3)
    collector.collect_steps(buffer2)
    assert torch.equal(buffer2.obs["state"][0], last)


def test_collect_steps_without_value_head_skips_bootstrap() -> None:
    env = make("CartPole-v1", num_envs=2, max_episode_steps=3)
    policy = FixedPolicy(env_spec(env), [[1], [0]], value_head=False)
    collector = SyncCollector(env, policy)
    collector.reset(seed=0)
    buffer = RolloutBuffer(7, 2)
    collector.collect_steps(buffer)
    assert buffer.truncated[2].all() and buffer.truncated[5].all()
    assert torch.equal(buffer.final_values, torch.zeros(7, 2))
    assert torch.equal(buffer.values, torch.zeros(7, 2))


def test_collect_steps_rejects_nan_observations() -> None:
    env = make("CartPole-v1", num_envs=2)
    collector = SyncCollector(env, FixedPolicy(env_spec(env), [[1], [0]]), env_name="CartPole-v1")
    obs = collector.reset(seed=0)
    obs["state"][1, 2] = float("nan")
    with pytest.raises(FloatingPointError, match=r"CartPole-v1.*'state'.*\[1\]"):
        collector.collect_steps(RolloutBuffer(2, 2))


def test_collect_episodes_with_group_seeds() -> None:
    n, g = 4, 2
    # group 0 pushes right (falls in ~10 steps), group 1 alternates (survives to the limit)
    schedule = [[1], [1], [0, 1], [0, 1]]
    env = Recorder(EpisodeStatistics(make("CartPole-v1", num_envs=n, max_episode_steps=20)))
    policy = FixedPolicy(env_spec(env.env), schedule, value_head=False)
    collector = SyncCollector(env, policy)
    buffer = RolloutBuffer(40, n)
    seeds = group_seeds(3, n, g)
    assert seeds == [3, 3, 4, 4]
    stats, returns = collector.collect_episodes(buffer, seeds)

    start = buffer.obs["state"][0]
    assert torch.equal(start[0], start[1]) and torch.equal(start[2], start[3])
    assert not torch.equal(start[0], start[2])

    # stops once every env finished its first episode
    steps_run = len(env.steps)
    assert steps_run == 20  # group 1 is truncated by the time limit
    first_done = []
    for i in range(n):
        dones = [t for t, rec in enumerate(env.steps) if bool(rec[3][i] | rec[4][i])]
        first_done.append(dones[0])
    assert first_done[0] == first_done[1] < 15  # same group, same fixed actions: same episode
    assert first_done[2] == first_done[3] == 19

    expected_mask = torch.zeros(40, n, dtype=torch.bool)
    for i, d in enumerate(first_done):
        expected_mask[: d + 1, i] = True
    assert torch.equal(buffer.mask, expected_mask)  # exactly the first episode of each env
    assert buffer.mask[:steps_run].any(1).all() and not buffer.mask[steps_run:].any()

    torch.testing.assert_close(returns, (buffer.rewards * expected_mask).sum(0))
    assert returns.tolist() == [float(d + 1) for d in first_done]  # CartPole: 1 per step
    # the episode statistics agree on the first episodes
    assert stats.episode_lengths[:2] == [first_done[0] + 1] * 2
    assert stats.episode_returns[:2] == [float(first_done[0] + 1)] * 2
    # steps after an env's first episode are still stored (masked out), from the next episode
    assert buffer.rewards[first_done[0] + 1, 0] == 1.0


def test_collect_episodes_same_seeds_twice_is_reproducible() -> None:
    env = make("CartPole-v1", num_envs=2, max_episode_steps=30)
    collector = SyncCollector(env, FixedPolicy(env_spec(env), [[1, 1, 0], [0]], value_head=False))
    b1, b2 = RolloutBuffer(30, 2), RolloutBuffer(30, 2)
    _, r1 = collector.collect_episodes(b1, [5, 6])
    collector.policy.calls = 0
    _, r2 = collector.collect_episodes(b2, [5, 6])
    assert torch.equal(r1, r2)
    assert torch.equal(b1.obs["state"], b2.obs["state"])


# ---- Batch --------------------------------------------------------------------------------


def _batch(rows: int) -> Batch:
    idx = torch.arange(rows)
    return Batch(
        obs={"state": idx[:, None].float().repeat(1, 3), "instruction": [f"row {i}" for i in range(rows)]},
        actions=idx.clone(),
        log_prob=idx.float(),
        advantages=idx.float() * 2,
        returns=idx.float() * 3,
        values=idx.float() * 4,
        mask=idx % 2 == 0,
        extras={"chain": idx[:, None].repeat(1, 2)},
    )


@pytest.mark.parametrize(("rows", "k"), [(10, 3), (12, 4), (7, 7), (5, 8), (1, 1)])
def test_minibatches_cover_every_row_exactly_once(rows: int, k: int) -> None:
    batch = _batch(rows)
    gen = torch.Generator().manual_seed(0)
    parts = list(batch.minibatches(k, generator=gen))
    assert len(parts) == min(k, rows)
    sizes = [len(p) for p in parts]
    assert sum(sizes) == rows and max(sizes) - min(sizes) <= 1
    seen = torch.cat([p.actions for p in parts])
    assert sorted(seen.tolist()) == list(range(rows))
    for p in parts:  # every field is indexed by the same rows
        ids = p.actions
        assert torch.equal(p.log_prob, ids.float())
        assert torch.equal(p.advantages, ids.float() * 2)
        assert torch.equal(p.returns, ids.float() * 3)
        assert torch.equal(p.values, ids.float() * 4)
        assert torch.equal(p.mask, ids % 2 == 0)
        assert torch.equal(p.obs["state"][:, 0], ids.float())
        assert p.obs["instruction"] == [f"row {i}" for i in ids.tolist()]
        assert torch.equal(p.extras["chain"][:, 1], ids)


def test_minibatches_shuffle_with_the_generator() -> None:
    batch = _batch(64)
    order = [
        torch.cat([p.actions for p in batch.minibatches(4, torch.Generator().manual_seed(s))])
        for s in (1, 1, 2)
    ]
    assert torch.equal(order[0], order[1])
    assert not torch.equal(order[0], order[2])
    assert not torch.equal(order[0], torch.arange(64))


def test_to_batch_flattens_time_major_and_applies_mask() -> None:
    buffer = RolloutBuffer(3, 2)
    for t in range(3):
        obs = {"state": torch.tensor([[10.0 * t], [10.0 * t + 1]])}
        buffer.add(
            t,
            obs,
            torch.tensor([t, t]),
            torch.tensor([-1.0, -2.0]),
            torch.tensor([0.5, 0.6]),
            torch.ones(2),
            torch.zeros(2, dtype=torch.bool),
            torch.zeros(2, dtype=torch.bool),
        )
    adv = torch.arange(6.0).reshape(3, 2)
    full = buffer.to_batch(adv, adv + 100)
    assert full.obs["state"][:, 0].tolist() == [0.0, 1.0, 10.0, 11.0, 20.0, 21.0]  # row t*N + i
    assert full.advantages.tolist() == list(range(6))
    buffer.mask[2, 0] = False
    buffer.mask[0, 1] = False
    masked = buffer.to_batch(adv, adv + 100, use_mask=True)
    assert masked.obs["state"][:, 0].tolist() == [0.0, 10.0, 11.0, 21.0]
    assert masked.returns.tolist() == [100.0, 102.0, 103.0, 105.0]
