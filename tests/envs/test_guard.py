"""Bad input and simulator faults: counted, never a crash of the run."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from embodied_rl.envs.gymnasium_adapter import make_gymnasium_env
from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics
from embodied_rl.envs.wrappers.guard import SimulatorGuard, is_finite_tree
from gymnasium import spaces


class FlakySim(gym.Env):
    """Counts up; step ``crash_at`` raises, step ``nan_at`` returns a NaN state (per episode)."""

    def __init__(self, crash_at: int = 3, nan_at: int = -1, reset_failures: int = 0) -> None:
        self.observation_space = spaces.Dict({"state": spaces.Box(-np.inf, np.inf, (1,), np.float32)})
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.crash_at, self.nan_at, self.reset_failures = crash_at, nan_at, reset_failures
        self.t = 0
        self.resets = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.resets += 1
        if self.reset_failures > 0:
            self.reset_failures -= 1
            raise RuntimeError("physx: scene broken")
        self.t = 0
        return {"state": np.zeros(1, np.float32)}, {}

    def step(self, action):
        self.t += 1
        if self.t == self.crash_at:
            raise RuntimeError("physx: solver diverged")
        value = np.nan if self.t == self.nan_at else float(self.t)
        return {"state": np.array([value], np.float32)}, 1.0, False, self.t >= 10, {}


def test_is_finite_tree() -> None:
    assert is_finite_tree({"a": np.ones(2), "b": {"c": np.zeros(1)}, "t": "text"})
    assert not is_finite_tree({"a": np.ones(2), "b": {"c": np.array([np.inf])}})
    assert not is_finite_tree(float("nan"))


def test_a_raising_step_truncates_with_the_last_good_obs() -> None:
    env = SimulatorGuard(FlakySim(crash_at=3))
    env.reset()
    env.step(np.zeros(1))
    obs, reward, terminated, truncated, info = env.step(np.zeros(1))
    assert obs["state"].tolist() == [2.0] and (reward, terminated, truncated) == (1.0, False, False)
    obs, reward, terminated, truncated, info = env.step(np.zeros(1))  # t=3 raises
    assert obs["state"].tolist() == [2.0]  # the last good observation
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert info["sim_error"] and "solver diverged" in info["sim_error_msg"]
    assert env.errors == 1


def test_a_nan_state_truncates_too() -> None:
    env = SimulatorGuard(FlakySim(crash_at=-1, nan_at=2))
    env.reset()
    env.step(np.zeros(1))
    obs, reward, _, truncated, info = env.step(np.zeros(1))
    assert obs["state"].tolist() == [1.0] and reward == 0.0 and truncated
    assert info["sim_error_msg"] == "non-finite observation"


def test_a_reset_is_retried_once_then_reported() -> None:
    sim = FlakySim(reset_failures=1)
    env = SimulatorGuard(sim)
    env.reset()
    assert sim.resets == 2
    with pytest.raises(RuntimeError, match="failed to reset twice"):
        SimulatorGuard(FlakySim(reset_failures=2)).reset()


def test_in_a_vector_env_only_the_faulty_env_restarts_and_the_episode_counts_it() -> None:
    gym.register("test/FlakySim-v0", entry_point=FlakySim, kwargs={"crash_at": 3})
    try:
        env = EpisodeStatistics(make_gymnasium_env(2, gym_id="test/FlakySim-v0", wrapper=SimulatorGuard))
        env.reset(seed=0)
        for _ in range(2):
            env.step(torch.zeros(2, 1))
        obs, reward, terminated, truncated, info = env.step(torch.zeros(2, 1))
        assert truncated.tolist() == [True, True] and reward.tolist() == [0.0, 0.0]
        assert info["final_obs"]["state"][:, 0].tolist() == [2.0, 2.0]
        assert obs["state"][:, 0].tolist() == [0.0, 0.0]  # autoreset: new episodes
        assert info["episode"]["sim_error"].tolist() == [1, 1]
        assert info["episode"]["length"].tolist() == [3, 3]
        obs, *_ = env.step(torch.zeros(2, 1))  # and the run goes on
        assert obs["state"][:, 0].tolist() == [1.0, 1.0]
        env.close()
    finally:
        del gym.registry["test/FlakySim-v0"]


def test_nonfinite_and_out_of_range_actions() -> None:
    strict = make_gymnasium_env(2, gym_id="Pendulum-v1")
    strict.reset(seed=0)
    with pytest.raises(FloatingPointError, match="NaN/inf"):
        strict.step(torch.tensor([[float("nan")], [0.0]]))
    strict.close()
    lenient = EpisodeStatistics(make_gymnasium_env(2, gym_id="Pendulum-v1", nonfinite_actions="zero"))
    lenient.reset(seed=0)
    _, reward, *_, info = lenient.step(torch.tensor([[float("nan")], [5.0]]))
    assert torch.isfinite(reward).all()
    assert info["action_nonfinite"].tolist() == [True, False]
    assert info["action_clipped"].tolist() == [False, True]
    _, _, _, _, info = lenient.step(torch.tensor([[0.5], [0.5]]))
    assert "action_clipped" not in info and "action_nonfinite" not in info
    for _ in range(198):
        *_, info = lenient.step(torch.zeros(2, 1))
    assert info["episode"]["action_nonfinite"].tolist() == [1, 0]
    assert info["episode"]["action_clipped"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="nonfinite_actions must be one of"):
        make_gymnasium_env(1, gym_id="Pendulum-v1", nonfinite_actions="ignore")


def test_async_envs_with_text_observations_keep_their_text() -> None:
    """Gymnasium's shared memory garbles Text observations; the adapter falls back to pipes."""
    from embodied_rl.envs import make

    env = make("PointReach-v0", num_envs=2, vectorization="async")
    try:
        obs, _ = env.reset(seed=[0, 1])
        sync = make("PointReach-v0", num_envs=2)
        expected, _ = sync.reset(seed=[0, 1])
        sync.close()
        assert obs["instruction"] == expected["instruction"]
        assert all(text.startswith("move") or " " in text for text in obs["instruction"])
    finally:
        env.close()
