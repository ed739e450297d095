"""The env contract (DESIGN.md): every registered env, vectorisation, seeds, resets, final obs."""

from __future__ import annotations

import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch
from embodied_rl.envs import ENVS, OBS_KEYS, check_vector_env, env_spec, group_seeds, make
from embodied_rl.envs.core import AUTORESET_MODE, EnvContractError, check_finite
from embodied_rl.envs.single import SingleEnvView
from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from embodied_rl.registry import RegistryError

ENV_NAMES = ENVS.names()
# Every registered env except the per-task MiniWoB entries outside the core set, which share one
# code path (tests/envs/test_gui_miniwob.py starts every MiniWoB task in one browser instead).
CONTRACT_NAMES = [n for n in ENV_NAMES if ENVS.entry(n).metadata.get("contract", True)]


def _needs_family(name: str) -> None:
    metadata = ENVS.entry(name).metadata
    if metadata.get("family") == "gymnasium/mujoco":
        pytest.importorskip("mujoco")
    if metadata.get("requires"):
        pytest.importorskip(metadata["requires"])
    if metadata.get("family") == "maniskill":
        from embodied_rl.envs.maniskill.vulkan import vulkan_driver_available

        if not vulkan_driver_available():
            pytest.skip(f"{name} needs a Vulkan driver: make vulkan")
    binary = metadata.get("requires_binary")
    if binary and shutil.which(binary) is None:
        pytest.skip(f"{name} needs {binary}: {metadata.get('install', '')}")


def _cartpole_states(env_id: str, seed: int, actions: list[int], **kwargs) -> list[np.ndarray]:
    """A plain single Gymnasium env run: the reset obs followed by each step's obs."""
    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        obs, *_ = env.step(a)
        out.append(obs)
    env.close()
    return out


# ---- every registered env -----------------------------------------------------------------


def test_registry_covers_the_documented_families() -> None:
    families = {ENVS.entry(n).metadata.get("family") for n in ENV_NAMES}
    assert {"gymnasium/classic_control", "gymnasium/mujoco", "toy"} <= families
    assert "CartPole-v1" in ENV_NAMES and "GridGoalPixels-v0" in ENV_NAMES


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_vector_contract(name: str) -> None:
    _needs_family(name)
    env = make(name, num_envs=2)
    try:
        spec = env_spec(env)
        assert spec.name == name
        assert env.metadata["autoreset_mode"] == AUTORESET_MODE
        assert set(spec.observation_space.spaces) <= set(OBS_KEYS)
        assert spec.max_episode_steps is not None
        assert spec.summary()  # renders for `embodied-rl envs`
        check_vector_env(env, spec, steps=min(spec.max_episode_steps + 1, 1001))
    finally:
        env.close()


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_gymnasium_check_env_single_view(name: str) -> None:
    _needs_family(name)
    view = SingleEnvView(make(name, num_envs=1))
    try:
        check_env(view, skip_render_check=True)
    finally:
        view.close()


def test_single_view_declares_nondeterminism_through_its_spec() -> None:
    """Gymnasium's check_env reads spec.nondeterministic to skip its determinism checks."""
    plain = SingleEnvView(make("CartPole-v1", num_envs=1))
    flagged = SingleEnvView(make("CartPole-v1", num_envs=1), nondeterministic=True)
    try:
        assert plain.spec is None
        assert flagged.spec is not None and flagged.spec.nondeterministic is True
    finally:
        plain.close()
        flagged.close()


def test_check_vector_env_catches_a_broken_env() -> None:
    """The contract check is not vacuous: a wrong spec fails it."""
    env = make("CartPole-v1", num_envs=2)
    spec = env_spec(env)
    wrong = type(spec)(
        name="Wrong",
        observation_space=spaces.Dict({"state": spaces.Box(-1, 1, (5,), np.float32)}),
        action_space=spec.action_space,
        max_episode_steps=spec.max_episode_steps,
    )
    with pytest.raises(EnvContractError, match=r"Wrong: reset obs\['state'\] shape"):
        check_vector_env(env, wrong, steps=2)
    env.close()


def test_async_vectorization_passes_the_contract_and_matches_sync() -> None:
    actions = torch.tensor([1, 0])
    trajectories = []
    for vectorization in ("sync", "async"):  # async: one spawned process per env
        env = make("CartPole-v1", num_envs=2, vectorization=vectorization)
        try:
            assert isinstance(env.env, gym.vector.AsyncVectorEnv) == (vectorization == "async")
            spec = env_spec(env)
            check_vector_env(env, spec, steps=spec.max_episode_steps + 1)
            obs, _ = env.reset(seed=3)
            states = [obs["state"]]
            for _ in range(5):
                obs, *_ = env.step(actions)
                states.append(obs["state"])
            trajectories.append(torch.stack(states))
        finally:
            env.close()
    torch.testing.assert_close(trajectories[0], trajectories[1], rtol=0, atol=0)


def test_bad_vectorization_and_num_envs() -> None:
    with pytest.raises(ValueError, match="vectorization"):
        make("CartPole-v1", num_envs=1, vectorization="threads")
    with pytest.raises(ValueError, match="num_envs"):
        make("CartPole-v1", num_envs=0)


# ---- seeds, resets, final obs ------------------------------------------------------------


def test_group_seeds() -> None:
    assert group_seeds(5, 6, 3) == [5, 5, 5, 6, 6, 6]
    assert group_seeds(0, 4, 1) == [0, 1, 2, 3]
    assert group_seeds(9, 4, 4) == [9, 9, 9, 9]
    with pytest.raises(ValueError, match="not divisible"):
        group_seeds(0, 7, 3)
    with pytest.raises(ValueError):
        group_seeds(0, 4, 0)


def test_group_seeds_give_equal_starts_within_groups() -> None:
    env = make("CartPole-v1", num_envs=6)
    obs, _ = env.reset(seed=group_seeds(11, 6, 3))
    state = obs["state"]
    assert torch.equal(state[0], state[1]) and torch.equal(state[0], state[2])
    assert torch.equal(state[3], state[4]) and torch.equal(state[3], state[5])
    assert not torch.equal(state[0], state[3])
    # same seed, same start as a plain Gymnasium env
    expected = _cartpole_states("CartPole-v1", 12, [])[0]
    np.testing.assert_array_equal(state[3].numpy(), expected)
    env.close()


def test_int_seed_gives_consecutive_seeds() -> None:
    env = make("CartPole-v1", num_envs=3)
    obs, _ = env.reset(seed=20)
    for i in range(3):
        np.testing.assert_array_equal(obs["state"][i].numpy(), _cartpole_states("CartPole-v1", 20 + i, [])[0])
    env.close()


def test_partial_reset_only_resets_listed_rows() -> None:
    env = make("CartPole-v1", num_envs=3)
    env.reset(seed=0)
    for _ in range(4):
        before, *_ = env.step(torch.tensor([1, 0, 1]))
    after, _ = env.reset(seed=[100, 101, 102], options={"env_idx": [1]})
    assert torch.equal(after["state"][0], before["state"][0])
    assert torch.equal(after["state"][2], before["state"][2])
    np.testing.assert_array_equal(after["state"][1].numpy(), _cartpole_states("CartPole-v1", 101, [])[0])
    # the untouched envs keep running their episodes from where they were
    nxt, *_ = env.step(torch.tensor([1, 0, 1]))
    expected0 = _cartpole_states("CartPole-v1", 0, [1, 1, 1, 1, 1])[-1]
    np.testing.assert_array_equal(nxt["state"][0].numpy(), expected0)
    env.close()


def test_partial_reset_with_bool_mask_and_bad_index() -> None:
    env = make("CartPole-v1", num_envs=3)
    first, _ = env.reset(seed=0)
    env.step(torch.tensor([1, 1, 1]))
    stepped, *_ = env.step(torch.tensor([1, 1, 1]))
    obs, _ = env.reset(seed=0, options={"env_idx": torch.tensor([True, False, True])})
    assert torch.equal(obs["state"][0], first["state"][0])
    assert torch.equal(obs["state"][2], first["state"][2])
    assert torch.equal(obs["state"][1], stepped["state"][1])
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"env_idx": [3]})
    env.close()


def test_final_obs_on_truncation_is_the_pre_reset_obs() -> None:
    seed, action = 7, 1
    manual = gym.make("CartPole-v1", max_episode_steps=3)
    obs0, _ = manual.reset(seed=seed)
    expected = [obs0]
    for _ in range(3):
        o, _, terminated, truncated, _ = manual.step(action)
        expected.append(o)
    assert truncated and not terminated
    next_episode_start, _ = manual.reset()  # SAME_STEP autoreset resets without a seed

    env = make("CartPole-v1", num_envs=2, max_episode_steps=3)
    assert env_spec(env).max_episode_steps == 3
    obs, _ = env.reset(seed=[seed, seed])
    np.testing.assert_array_equal(obs["state"][0].numpy(), expected[0])
    for t in range(1, 4):
        obs, reward, terminated, truncated, info = env.step(torch.full((2,), action))
        assert reward.tolist() == [1.0, 1.0]
        assert not terminated.any()
        if t < 3:
            assert not truncated.any()
            assert "final_obs" not in info
            np.testing.assert_array_equal(obs["state"][0].numpy(), expected[t])
    assert truncated.tolist() == [True, True]
    final = info["final_obs"]["state"]
    for i in range(2):
        np.testing.assert_array_equal(final[i].numpy(), expected[3])
        # the returned obs already starts the next episode
        np.testing.assert_array_equal(obs["state"][i].numpy(), next_episode_start)
    assert not torch.equal(final, obs["state"])
    manual.close()
    env.close()


def test_final_obs_rows_of_unfinished_envs_repeat_the_current_obs() -> None:
    env = make("CartPole-v1", num_envs=2)
    env.reset(seed=[0, 0])
    # env 0 pushes right until the pole falls; env 1 alternates and keeps balancing longer
    for t in range(200):
        obs, _, terminated, truncated, info = env.step(torch.tensor([1, t % 2]))
        if (terminated | truncated).any():
            break
    assert terminated.tolist() == [True, False]
    final = info["final_obs"]["state"]
    assert torch.equal(final[1], obs["state"][1])
    assert not torch.equal(final[0], obs["state"][0])
    assert abs(float(final[0][2])) > 0.2  # pole angle beyond the ~12 degree limit
    env.close()


# ---- names and fallbacks ------------------------------------------------------------------


def test_unknown_env_name_suggests() -> None:
    with pytest.raises(RegistryError) as info:
        make("CartPol-v1", num_envs=1)
    assert "Did you mean 'CartPole-v1'" in str(info.value)


def test_unregistered_gymnasium_id_works_through_fallback() -> None:
    assert "FrozenLake-v1" not in ENVS
    env = make("FrozenLake-v1", num_envs=2)
    spec = env_spec(env)
    assert spec.name == "FrozenLake-v1"
    assert spec.state_dim == 16 and spec.action_kind == "discrete"
    obs, _ = env.reset(seed=0)
    state = obs["state"]
    assert state.dtype == torch.float32 and state.shape == (2, 16)
    assert torch.equal(state.sum(-1), torch.ones(2))  # one-hot
    assert state.argmax(-1).tolist() == [0, 0]  # the start cell
    obs, *_ = env.step(torch.tensor([2, 2]))  # right
    assert torch.equal(obs["state"].sum(-1), torch.ones(2))
    check_vector_env(env, spec, steps=spec.max_episode_steps + 1)
    env.close()


def test_nan_actions_for_box_env_raise() -> None:
    env = make("Pendulum-v1", num_envs=2)
    env.reset(seed=0)
    with pytest.raises(FloatingPointError, match="Pendulum-v1: actions contain NaN"):
        env.step(torch.tensor([[0.0], [float("nan")]]))
    with pytest.raises(FloatingPointError):
        env.step(torch.tensor([[float("inf")], [0.0]]))
    obs, *_ = env.step(torch.tensor([[5.0], [-5.0]]))  # out of bounds is clipped, not an error
    check_finite(obs, "pendulum")
    env.close()


class _NaNAfterResetEnv(gym.Env):
    """Finite reset obs, NaN in the second component after the first step."""

    observation_space = spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        return np.array([0.0, np.nan, 1.0], np.float32), 0.0, False, False, {}


@pytest.fixture
def nan_env_id():
    env_id = "embodied_rl_test/NaNObs-v0"
    gym.register(env_id, entry_point=_NaNAfterResetEnv, max_episode_steps=10)
    yield env_id
    gym.registry.pop(env_id, None)


def test_nan_observation_is_named_by_check_finite(nan_env_id: str) -> None:
    env = make(nan_env_id, num_envs=2)
    obs, _ = env.reset(seed=0)
    check_finite(obs, "reset")  # finite: no error
    obs, *_ = env.step(torch.tensor([0, 1]))
    with pytest.raises(FloatingPointError) as info:
        check_finite(obs, f"env '{nan_env_id}'")
    msg = str(info.value)
    assert nan_env_id in msg and "'state'" in msg and "[0, 1]" in msg
    env.close()


def test_check_finite_names_nested_keys_and_rows() -> None:
    obs = {
        "state": torch.zeros(3, 2),
        "images": {"wrist": torch.zeros(3, 2, 2), "front": torch.zeros(3, 2, 2, dtype=torch.uint8)},
    }
    check_finite(obs, "x")
    obs["images"]["wrist"][2, 1, 0] = float("inf")
    with pytest.raises(
        FloatingPointError, match=r"x: observation 'images\.wrist' has NaN/inf in env rows \[2\]"
    ):
        check_finite(obs, "x")


# ---- episode statistics -------------------------------------------------------------------


def test_episode_statistics_cartpole_return_equals_length() -> None:
    n = 3
    env = EpisodeStatistics(make("CartPole-v1", num_envs=n))
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    running = torch.zeros(n, dtype=torch.long)
    seen = 0
    for _ in range(300):
        obs, reward, terminated, truncated, info = env.step(torch.randint(0, 2, (n,), generator=gen))
        running += 1
        done = terminated | truncated
        if done.any():
            ep = info["episode"]
            idx = done.nonzero().flatten()
            assert torch.equal(ep["env_idx"], idx)
            assert torch.equal(ep["length"], running[idx])
            assert torch.equal(ep["return"], ep["length"].double())  # reward 1 per step
            assert "success" not in ep  # CartPole reports no success
            running[idx] = 0
            seen += len(idx)
        else:
            assert "episode" not in info
    assert seen >= 10


def test_episode_statistics_partial_reset_clears_only_listed_rows() -> None:
    env = EpisodeStatistics(make("CartPole-v1", num_envs=2, max_episode_steps=6))
    env.reset(seed=0)
    for _ in range(3):
        env.step(torch.tensor([0, 1]))
    env.reset(seed=5, options={"env_idx": [0]})
    for _ in range(3):
        *_, info = env.step(torch.tensor([0, 1]))
    assert info["episode"]["env_idx"].tolist() == [1]  # env 1: 6 steps, truncated
    assert info["episode"]["length"].tolist() == [6]
    for _ in range(3):
        *_, info = env.step(torch.tensor([0, 1]))
    assert info["episode"]["env_idx"].tolist() == [0]  # env 0 counted from its reset
    assert info["episode"]["length"].tolist() == [6]


def _gridgoal_episodes(steps: int = 120) -> list[tuple[float, int, bool]]:
    env = EpisodeStatistics(make("GridGoalPixels-v0", num_envs=4))
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    episodes = []
    for _ in range(steps):
        *_, info = env.step(torch.randint(0, 4, (4,), generator=gen))
        ep = info.get("episode")
        if ep is not None:
            assert "success" in ep
            episodes += zip(ep["return"].tolist(), ep["length"].tolist(), ep["success"].tolist(), strict=True)
    env.close()
    return episodes


def test_episode_statistics_gridgoal_lengths_and_returns() -> None:
    episodes = _gridgoal_episodes()
    returns = {r for r, _, _ in episodes}
    assert returns == {0.0, 1.0}  # both reached and missed goals happen
    for ret, length, _ in episodes:
        assert 1 <= length <= 16
        if ret == 0.0:
            assert length == 16  # a missed goal ends only at the time limit


def test_episode_statistics_reports_success_on_gridgoal() -> None:
    episodes = _gridgoal_episodes()
    assert any(s for _, _, s in episodes)
    for ret, _, success in episodes:
        assert success == (ret == 1.0)  # +1 exactly when the goal is reached


def test_step_info_success_on_the_goal_step() -> None:
    env = make("GridGoalPixels-v0", num_envs=4)
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    checked = 0
    for _ in range(120):
        _, reward, terminated, _, info = env.step(torch.randint(0, 4, (4,), generator=gen))
        if terminated.any():
            assert torch.equal(
                info["success"][terminated], torch.ones(int(terminated.sum()), dtype=torch.bool)
            )
            checked += 1
    assert checked > 0
    env.close()
