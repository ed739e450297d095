"""Tests for the wrappers shared by robot simulators: chunking, images, frame stacking,
normalisation, action rescaling, episode success stats and annotated videos."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import gymnasium as gym
import imageio
import numpy as np
import pytest
import torch
from embodied_rl.envs import check_vector_env, env_spec, make
from embodied_rl.envs.core import AUTORESET_MODE, EnvSpec
from embodied_rl.envs.gymnasium_adapter import make_gymnasium_env, single_env_factory
from embodied_rl.envs.toy import point_reach_expert
from embodied_rl.envs.wrappers import (
    ActionChunk,
    CropImages,
    EpisodeStatistics,
    FrameStack,
    NormalizeObservation,
    RecordEpisodeVideo,
    RescaleAction,
    ResizeImages,
    normalize,
    rescale_action,
    resize_image,
    welford_merge,
)
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

# ---- fakes --------------------------------------------------------------------------------


class CountingEnv(gym.Env):
    """Single env: state = [t]; reward = action[0]; ends at ``terminate_at``; success at ``success_at``."""

    def __init__(self, terminate_at: int = 100, success_at: tuple[int, ...] = ()) -> None:
        self.observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = spaces.Box(np.array([-10, -2], np.float32), np.array([10, 2], np.float32))
        self.terminate_at = terminate_at
        self.success_at = success_at
        self.t = 0
        self.actions: list[np.ndarray] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {"success": False}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        self.actions.append(np.array(action))
        info = {"success": self.t in self.success_at, "t": self.t}
        return np.array([self.t], np.float32), float(action[0]), self.t >= self.terminate_at, False, info


class ScriptedVecEnv(gym.vector.VectorEnv):
    """A contract vector env with hand-checkable observations.

    Env ``i``'s episodes last ``lengths[i]`` steps. With ``e`` its episode number (0 after the
    first reset) and ``t`` the step in the episode, ``s = 100 * e + t`` and the obs is
    ``state = [s, i]``, ``images["front"][..., c] = s + c``, ``images["wrist"] = 250 - s``,
    ``instruction = f"task {i}"``. ``info["success"]`` is true at the steps listed in
    ``success[(i, e)]``. Actions are recorded in :attr:`actions`.
    """

    metadata = {"autoreset_mode": AUTORESET_MODE}

    def __init__(
        self,
        lengths: list[int],
        success: dict[tuple[int, int], set[int]] | None = None,
        low: tuple[float, ...] = (-1.0, -1.0),
        high: tuple[float, ...] = (1.0, 1.0),
    ) -> None:
        n = len(lengths)
        self.num_envs = n
        self.lengths = np.array(lengths)
        self.success = success or {}
        image = spaces.Box(0, 255, (2, 2, 3), np.uint8)
        obs_space = spaces.Dict(
            {
                "state": spaces.Box(-np.inf, np.inf, (2,), np.float32),
                "images": spaces.Dict({"front": image, "wrist": image}),
                "instruction": spaces.Text(16),
            }
        )
        act = spaces.Box(np.array(low, np.float32), np.array(high, np.float32))
        self.single_observation_space, self.single_action_space = obs_space, act
        self.observation_space, self.action_space = batch_space(obs_space, n), batch_space(act, n)
        self.env_spec = EnvSpec("Scripted-v0", obs_space, act, max_episode_steps=int(max(lengths)))
        self.e = np.full(n, -1)
        self.t = np.zeros(n, dtype=np.int64)
        self.actions: list[torch.Tensor] = []

    def _obs(self) -> dict[str, Any]:
        s = torch.as_tensor(100 * self.e + self.t, dtype=torch.float32)
        front = (s.view(-1, 1, 1, 1) + torch.arange(3.0)).expand(-1, 2, 2, 3)
        wrist = (250 - s).view(-1, 1, 1, 1).expand(-1, 2, 2, 3)
        return {
            "state": torch.stack([s, torch.arange(self.num_envs, dtype=torch.float32)], 1),
            "images": {
                "front": front.to(torch.uint8).contiguous(),
                "wrist": wrist.to(torch.uint8).contiguous(),
            },
            "instruction": [f"task {i}" for i in range(self.num_envs)],
        }

    def reset(self, *, seed: Any = None, options: dict | None = None) -> tuple[dict, dict]:
        rows = np.ones(self.num_envs, bool)
        if options and "env_idx" in options:
            rows = np.zeros(self.num_envs, bool)
            rows[list(options["env_idx"])] = True
        self.e[rows] += 1
        self.t[rows] = 0
        return self._obs(), {}

    def step(self, actions: Any) -> tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        self.actions.append(torch.as_tensor(actions).clone())
        self.t += 1
        success = [
            int(t) in self.success.get((i, int(e)), set())
            for i, (e, t) in enumerate(zip(self.e, self.t, strict=True))
        ]
        done = self.t >= self.lengths
        info: dict[str, Any] = {"success": torch.tensor(success)}
        if done.any():
            info["final_obs"] = self._obs()
            self.e[done] += 1
            self.t[done] = 0
        n = self.num_envs
        return self._obs(), torch.ones(n), torch.as_tensor(done), torch.zeros(n, dtype=torch.bool), info


# ---- ActionChunk --------------------------------------------------------------------------


def test_action_chunk_space_is_tiled_and_validated() -> None:
    env = ActionChunk(CountingEnv(), 3)
    assert env.action_space.shape == (3, 2)
    np.testing.assert_array_equal(env.action_space.low, [[-10, -2]] * 3)
    np.testing.assert_array_equal(env.action_space.high, [[10, 2]] * 3)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="chunk size must be an integer >= 1"):
            ActionChunk(CountingEnv(), bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Box action space"):
        ActionChunk(gym.make("CartPole-v1"), 2)


def test_action_chunk_runs_all_actions_in_order_and_sums_rewards() -> None:
    inner = CountingEnv()
    env = ActionChunk(inner, 3)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(np.array([[1, 0.5], [2, -0.5], [4, 1]], np.float32))
    assert [a.tolist() for a in inner.actions] == [[1, 0.5], [2, -0.5], [4, 1]]
    assert reward == 7.0 and not terminated and not truncated
    assert obs.tolist() == [3.0]
    assert info["chunk_rewards"].dtype == np.float32 and info["chunk_rewards"].tolist() == [1, 2, 4]
    assert info["chunk_steps"] == 3 and info["t"] == 3


def test_action_chunk_stops_at_the_first_terminal_sub_step() -> None:
    inner = CountingEnv(terminate_at=2)
    env = ActionChunk(inner, 3)
    env.reset()
    obs, reward, terminated, truncated, info = env.step(np.array([[1, 0], [2, 0], [4, 0]], np.float32))
    assert len(inner.actions) == 2  # the third action is never executed
    assert (reward, terminated, truncated) == (3.0, True, False)
    assert obs.tolist() == [2.0]
    assert info["chunk_rewards"].tolist() == [1, 2, 0] and info["chunk_steps"] == 2


def test_action_chunk_truncation_inside_a_chunk() -> None:
    env = ActionChunk(gym.wrappers.TimeLimit(CountingEnv(), max_episode_steps=4), 3)
    env.reset()
    _, reward, terminated, truncated, info = env.step(np.ones((3, 2), np.float32))
    assert (reward, terminated, truncated, info["chunk_steps"]) == (3.0, False, False, 3)
    _, reward, terminated, truncated, info = env.step(np.full((3, 2), 2, np.float32))
    assert (reward, terminated, truncated, info["chunk_steps"]) == (2.0, False, True, 1)
    assert info["chunk_rewards"].tolist() == [2, 0, 0]


def test_action_chunk_success_once_within_the_chunk() -> None:
    env = ActionChunk(CountingEnv(success_at=(2,)), 3)
    env.reset()
    _, _, _, _, info = env.step(np.zeros((3, 2), np.float32))
    assert info["success"] is True  # reached at sub-step 2, gone at sub-step 3
    assert info["t"] == 3  # other keys from the last sub-step
    _, _, _, _, info = env.step(np.zeros((3, 2), np.float32))
    assert info["success"] is False


def test_make_gymnasium_env_action_chunk_matches_plain_steps() -> None:
    k = 3
    env = make("Pendulum-v1", num_envs=1, action_chunk=k)
    spec = env_spec(env)
    assert spec.action_space.shape == (k, 1)
    assert spec.max_episode_steps == math.ceil(200 / k) == 67
    assert env.action_space.shape == (1, k, 1)
    plain = gym.make("Pendulum-v1")
    plain.reset(seed=5)
    env.reset(seed=5)
    rng = np.random.default_rng(0)
    for step in range(1, 68):
        chunk = rng.uniform(-2, 2, (k, 1)).astype(np.float32)
        executed = min(k, 200 - (step - 1) * k)
        expected = 0.0
        for a in chunk[:executed]:
            plain_obs, r, _, plain_truncated, _ = plain.step(a)
            expected += r
        obs, reward, terminated, truncated, info = env.step(torch.from_numpy(chunk)[None])
        assert reward.item() == pytest.approx(expected, rel=1e-5)
        assert int(info["chunk_steps"][0]) == executed
        assert bool(truncated[0]) == (step == 67) == plain_truncated
        assert not terminated[0]
        final = info["final_obs"]["state"][0] if step == 67 else obs["state"][0]
        np.testing.assert_allclose(final.numpy(), plain_obs, rtol=1e-6)
    assert executed == 2  # 200 = 66 * 3 + 2
    env.close()


def test_make_gymnasium_env_action_chunk_contract_and_pickling() -> None:
    env = make("PointReach-v0", num_envs=2, action_chunk=4)
    spec = env_spec(env)
    assert spec.max_episode_steps == math.ceil(30 / 4)
    check_vector_env(env, spec, steps=spec.max_episode_steps + 1)
    env.close()
    factory = pickle.loads(pickle.dumps(single_env_factory("Pendulum-v1", action_chunk=2)))
    single = factory()
    assert isinstance(single, ActionChunk) and single.action_space.shape == (2, 1)
    single.close()
    with pytest.raises(ValueError, match="action_chunk must be None or an integer >= 1"):
        make_gymnasium_env(1, gym_id="Pendulum-v1", action_chunk=0)


# ---- images -------------------------------------------------------------------------------


def test_resize_image_hand_values() -> None:
    row = torch.tensor([0, 0, 100, 100], dtype=torch.uint8).view(1, 1, 4, 1).expand(1, 1, 4, 3)
    # antialiased 2x downsample: triangle of half-width 2 around x=0.5 -> weights .75,.75,.25 (x=0,1,2)
    down = resize_image(row, (1, 2))
    assert down.dtype == torch.uint8 and down[0, 0, :, 0].tolist() == [14, 86]  # 100*.25/1.75 = 14.29
    pair = torch.tensor([0, 101], dtype=torch.uint8).view(1, 1, 2, 1).expand(1, 1, 2, 3)
    up = resize_image(pair, (1, 4))  # bilinear: 0, 25.25, 75.75, 101 -> rounded, not truncated
    assert up[0, 0, :, 0].tolist() == [0, 25, 76, 101]
    bright = torch.full((1, 3, 3, 3), 255, dtype=torch.uint8)
    assert resize_image(bright, (5, 7)).eq(255).all()  # no overflow past 255


def test_resize_images_wrapper_obs_final_obs_and_spec() -> None:
    raw = make("GridGoalPixels-v0", num_envs=2)
    env = ResizeImages(make("GridGoalPixels-v0", num_envs=2), (8, 6))
    spec = env_spec(env)
    assert spec.image_shapes == {"rgb": (8, 6, 3)} and env_spec(raw).image_shapes == {"rgb": (16, 16, 3)}
    assert env.single_observation_space["images"]["rgb"].shape == (8, 6, 3)
    obs, _ = env.reset(seed=1)
    raw_obs, _ = raw.reset(seed=1)
    assert torch.equal(obs["images"]["rgb"], resize_image(raw_obs["images"]["rgb"], (8, 6)))
    saw_final = False
    for _ in range(17):  # time limit 16
        action = torch.tensor([1, 3])
        obs, _, term, trunc, info = env.step(action)
        raw_obs, _, _, _, raw_info = raw.step(action)
        assert torch.equal(obs["images"]["rgb"], resize_image(raw_obs["images"]["rgb"], (8, 6)))
        if "final_obs" in info:
            saw_final = True
            expected = resize_image(raw_info["final_obs"]["images"]["rgb"], (8, 6))
            assert torch.equal(info["final_obs"]["images"]["rgb"], expected)
    assert saw_final
    check_vector_env(env, spec, steps=17)
    env.close()
    raw.close()


def test_crop_images_box_and_center() -> None:
    env = ScriptedVecEnv([3, 3])
    boxed = CropImages(env, box=(0, 1, 2, 1), cameras=["front"])
    assert env_spec(boxed).image_shapes == {"front": (2, 1, 3), "wrist": (2, 2, 3)}
    obs, _ = boxed.reset()
    assert obs["images"]["front"].shape == (2, 2, 1, 3) and obs["images"]["wrist"].shape == (2, 2, 2, 3)

    raw = make("GridGoalPixels-v0", num_envs=1)
    raw_obs, _ = raw.reset(seed=0)
    img = raw_obs["images"]["rgb"]
    box = CropImages(make("GridGoalPixels-v0", num_envs=1), box=(4, 2, 5, 8))
    assert torch.equal(box.reset(seed=0)[0]["images"]["rgb"], img[:, 4:9, 2:10])
    center = CropImages(make("GridGoalPixels-v0", num_envs=1), size=(6, 10))  # top 5, left 3
    assert env_spec(center).image_shapes == {"rgb": (6, 10, 3)}
    assert torch.equal(center.reset(seed=0)[0]["images"]["rgb"], img[:, 5:11, 3:13])
    square = CropImages(make("GridGoalPixels-v0", num_envs=1), size=8)
    assert torch.equal(square.reset(seed=0)[0]["images"]["rgb"], img[:, 4:12, 4:12])


def test_image_wrappers_reject_bad_options() -> None:
    env = ScriptedVecEnv([3])
    with pytest.raises(ValueError, match="does not fit"):
        CropImages(env, box=(1, 0, 2, 2))
    with pytest.raises(ValueError, match="does not fit"):
        CropImages(env, size=3)
    with pytest.raises(ValueError, match="exactly one"):
        CropImages(env, box=(0, 0, 1, 1), size=1)
    with pytest.raises(ValueError, match="unknown cameras"):
        ResizeImages(env, 4, cameras=["top"])
    with pytest.raises(ValueError, match="has no images"):
        ResizeImages(make("CartPole-v1", num_envs=1), 4)
    with pytest.raises(TypeError, match="no env_spec"):
        ResizeImages(gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")]), 4)


# ---- FrameStack ---------------------------------------------------------------------------


def test_frame_stack_hand_values_with_autoreset_and_partial_reset() -> None:
    env = FrameStack(ScriptedVecEnv([2, 4]), k=3)
    spec = env_spec(env)
    assert spec.state_dim == 6 and spec.image_shapes == {"front": (2, 2, 9), "wrist": (2, 2, 9)}
    assert env.single_observation_space["state"].shape == (6,)

    obs, _ = env.reset()
    assert obs["state"].tolist() == [[0, 0, 0, 0, 0, 0], [0, 1, 0, 1, 0, 1]]
    assert obs["instruction"] == ["task 0", "task 1"]
    obs, *_ = env.step(torch.zeros(2, 2))
    assert obs["state"].tolist() == [[0, 0, 0, 0, 1, 0], [0, 1, 0, 1, 1, 1]]
    # channels are frames oldest first, 3 per frame: front = s, s+1, s+2
    assert obs["images"]["front"][0, 1, 1].tolist() == [0, 1, 2, 0, 1, 2, 1, 2, 3]

    obs, _, terminated, _, info = env.step(torch.zeros(2, 2))  # env 0 ends (length 2)
    assert terminated.tolist() == [True, False]
    assert info["final_obs"]["state"].tolist() == [[0, 0, 1, 0, 2, 0], [0, 1, 1, 1, 2, 1]]
    assert info["final_obs"]["images"]["front"][0, 0, 0].tolist() == [0, 1, 2, 1, 2, 3, 2, 3, 4]
    assert info["final_obs"]["images"]["wrist"][0, 0, 0].tolist() == [250] * 3 + [249] * 3 + [248] * 3
    # the new episode's history is copies of its first obs (s = 100)
    assert obs["state"].tolist() == [[100, 0, 100, 0, 100, 0], [0, 1, 1, 1, 2, 1]]
    assert obs["images"]["front"][0, 0, 0].tolist() == [100, 101, 102] * 3

    obs, *_ = env.step(torch.zeros(2, 2))
    assert obs["state"].tolist() == [[100, 0, 100, 0, 101, 0], [1, 1, 2, 1, 3, 1]]
    obs, _ = env.reset(options={"env_idx": [1]})
    assert obs["state"].tolist() == [[100, 0, 100, 0, 101, 0], [100, 1, 100, 1, 100, 1]]
    obs, *_ = env.step(torch.zeros(2, 2))  # env 0 ends again; its stack restarts at s = 200
    assert obs["state"].tolist() == [[200, 0, 200, 0, 200, 0], [100, 1, 100, 1, 101, 1]]


def test_frame_stack_passes_the_contract_check() -> None:
    env = FrameStack(make("PointReach-v0", num_envs=2, image_size=8), k=2)
    spec = env_spec(env)
    assert spec.state_dim == 14 and spec.image_shapes == {"rgb": (8, 8, 6)}
    check_vector_env(env, spec, steps=31)
    with pytest.raises(ValueError, match="k must be >= 1"):
        FrameStack(ScriptedVecEnv([2]), k=0)
    with pytest.raises(RuntimeError, match="reset"):
        FrameStack(ScriptedVecEnv([2]), k=2).step(torch.zeros(1, 2))
    env.close()


# ---- normalisation and action rescaling ---------------------------------------------------


def test_welford_merge_matches_numpy() -> None:
    data = np.array([[1.0, -2.0], [3.0, 0.5], [4.0, 4.0], [-1.0, 2.0], [10.0, 0.0], [2.0, 2.0], [0.0, 7.0]])
    mean, var, count = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64), 0.0
    for part in (data[:1], data[1:4], data[4:]):  # a batch of one has variance 0
        x = torch.from_numpy(part)
        mean, var, count = welford_merge(mean, var, count, x.mean(0), x.var(0, unbiased=False), len(part))
    assert count == 7
    np.testing.assert_allclose(mean.numpy(), data.mean(0), rtol=1e-12)
    np.testing.assert_allclose(var.numpy(), data.var(0), rtol=1e-12)
    # hand values: {0, 2} merged with {4}: mean 2, var (4 + 0 + 4) / 3
    m, v, c = welford_merge(
        torch.tensor([1.0]), torch.tensor([1.0]), 2, torch.tensor([4.0]), torch.tensor([0.0]), 1
    )
    assert (m.item(), v.item(), c) == (2.0, pytest.approx(8 / 3), 3.0)
    same = welford_merge(m, v, c, torch.tensor([9.0]), torch.tensor([9.0]), 0)
    assert same[0].item() == 2.0 and same[2] == 3.0


def test_normalize_and_rescale_action_formulas() -> None:
    x = torch.tensor([3.0, 100.0, -100.0])
    out = normalize(x, torch.tensor([1.0, 0.0, 0.0]), torch.tensor([4.0, 1.0, 1.0]), clip=10.0, eps=0.0)
    assert out.tolist() == [1.0, 10.0, -10.0]
    low, high = torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 10.0])
    a = torch.tensor([[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0], [0.5, -0.5]])
    assert rescale_action(a, low, high).tolist() == [[-2, 0], [0, 5], [2, 10], [1, 2.5]]


def test_normalize_observation_running_stats_hand_values() -> None:
    env = NormalizeObservation(ScriptedVecEnv([2, 5]), eps=1e-8)
    assert env_spec(env).observation_space["state"].low.tolist() == [-10, -10]
    obs, _ = env.reset()  # states [0, 0], [0, 1]: mean [0, .5], var [0, .25]
    assert env.count == 2 and env.mean.tolist() == [0, 0.5] and env.var.tolist() == [0, 0.25]
    torch.testing.assert_close(obs["state"], torch.tensor([[0.0, -1.0], [0.0, 1.0]]))
    assert obs["instruction"] == ["task 0", "task 1"]
    obs, *_ = env.step(torch.zeros(2, 2))  # states [1, 0], [1, 1]: s over {0,0,1,1}: mean .5 var .25
    assert env.count == 4 and env.mean.tolist() == [0.5, 0.5] and env.var.tolist() == [0.25, 0.25]
    torch.testing.assert_close(obs["state"], torch.tensor([[1.0, -1.0], [1.0, 1.0]]))
    # env 0 ends: final state [2, 0] is normalised with the updated stats but not counted
    obs, _, _, _, info = env.step(torch.zeros(2, 2))
    seen = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [100, 0], [2, 1]], np.float64)
    assert env.count == 6
    np.testing.assert_allclose(env.mean.numpy(), seen.mean(0))
    np.testing.assert_allclose(env.var.numpy(), seen.var(0))
    expected_final = (np.array([2.0, 0.0]) - seen.mean(0)) / np.sqrt(seen.var(0) + 1e-8)
    np.testing.assert_allclose(info["final_obs"]["state"][0].numpy(), expected_final, rtol=1e-6)
    # a partial reset counts only the reset row
    env.reset(options={"env_idx": [1]})
    assert env.count == 7


def test_normalize_observation_freeze_clip_and_state_dict() -> None:
    env = NormalizeObservation(ScriptedVecEnv([3, 3]), clip=5.0)
    env.reset()
    env.step(torch.zeros(2, 2))
    saved = env.state_dict()
    assert set(saved) == {"mean", "var", "count"} and saved["count"].item() == 4
    env.update = False
    obs, *_ = env.step(torch.zeros(2, 2))  # state [2, i]; stats over {0,0,1,1}: (2 - .5) / .5 = 3
    assert env.count == 4 and obs["state"][:, 0].tolist() == pytest.approx([3.0, 3.0])
    obs, *_ = env.step(torch.zeros(2, 2))  # new episode s = 100: clipped to 5
    assert obs["state"][:, 0].tolist() == [5.0, 5.0]

    other = NormalizeObservation(ScriptedVecEnv([3, 3]), clip=5.0, update=False)
    other.load_state_dict(saved)
    other.reset()
    other.step(torch.zeros(2, 2))
    obs, *_ = other.step(torch.zeros(2, 2))
    assert obs["state"][:, 0].tolist() == pytest.approx([3.0, 3.0]) and other.count == 4
    with pytest.raises(ValueError, match="shapes"):
        other.load_state_dict({"mean": torch.zeros(3), "var": torch.ones(3), "count": 1.0})
    with pytest.raises(ValueError, match="no state"):
        NormalizeObservation(make("GridGoalPixels-v0", num_envs=1))


def test_rescale_action_maps_to_the_env_bounds() -> None:
    inner = ScriptedVecEnv([5, 5], low=(-2.0, 0.0), high=(2.0, 10.0))
    env = RescaleAction(inner)
    spec = env_spec(env)
    assert spec.action_space.low.tolist() == [-1, -1] and spec.action_space.high.tolist() == [1, 1]
    assert env.action_space.shape == (2, 2) and env.action_space.high.max() == 1.0
    env.reset()
    env.step(torch.tensor([[-1.0, 1.0], [0.5, -0.5]]))
    assert inner.actions[-1].tolist() == [[-2, 10], [1, 2.5]]
    pendulum = RescaleAction(make("Pendulum-v1", num_envs=2))
    check_vector_env(pendulum, env_spec(pendulum), steps=3)
    with pytest.raises(ValueError, match="finite"):
        RescaleAction(ScriptedVecEnv([2], low=(-np.inf, 0.0), high=(np.inf, 1.0)))
    with pytest.raises(TypeError, match="Box"):
        RescaleAction(make("CartPole-v1", num_envs=1))


# ---- EpisodeStatistics success ------------------------------------------------------------


def test_episode_statistics_success_once_and_at_end() -> None:
    # env 0: success mid-episode only (step 1 of 3); env 1: success on the last step (3)
    inner = ScriptedVecEnv([3, 3], success={(0, 0): {1}, (1, 0): {3}, (1, 1): {2}})
    env = EpisodeStatistics(inner)
    assert env_spec(env).name == "Scripted-v0"
    env.reset()
    for _ in range(2):
        _, _, _, _, info = env.step(torch.zeros(2, 2))
        assert "episode" not in info
    _, _, _, _, info = env.step(torch.zeros(2, 2))
    episode = info["episode"]
    assert episode["env_idx"].tolist() == [0, 1]
    assert episode["success_once"].tolist() == [True, True]
    assert episode["success_at_end"].tolist() == [False, True]
    assert episode["success"].tolist() == [False, True]  # unchanged meaning: the last step
    assert episode["length"].tolist() == [3, 3]
    for _ in range(3):  # second episodes: env 0 never succeeds, env 1 at step 2 only
        _, _, _, _, info = env.step(torch.zeros(2, 2))
    assert info["episode"]["success_once"].tolist() == [False, True]
    assert info["episode"]["success_at_end"].tolist() == [False, False]
    # a reset clears what was seen so far in the episode
    inner.success[(0, 2)] = {1}
    env.step(torch.zeros(2, 2))  # env 0 succeeds at step 1 of its third episode ...
    env.reset(options={"env_idx": [0]})  # ... and is reset: its fourth episode never succeeds
    env.step(torch.zeros(2, 2))
    _, _, _, _, info = env.step(torch.zeros(2, 2))
    assert info["episode"]["env_idx"].tolist() == [1]  # env 1 ends; env 0 is at step 2 of 3
    _, _, _, _, info = env.step(torch.zeros(2, 2))
    assert info["episode"]["env_idx"].tolist() == [0] and info["episode"]["success_once"].tolist() == [False]


# ---- annotated video ----------------------------------------------------------------------


def _read(path: Path) -> list[np.ndarray]:
    reader = imageio.get_reader(path)
    try:
        return [np.asarray(frame) for frame in reader]
    finally:
        reader.close()


def test_record_episode_video_annotates_instruction_and_success(tmp_path: Path) -> None:
    from embodied_rl.evaluation.media import STATUS_BG, annotate_frame

    env = RecordEpisodeVideo(
        make("PointReach-v0", num_envs=1, render_mode="rgb_array"), tmp_path, fps=10, annotate=True
    )
    obs, _ = env.reset(seed=0)
    instruction = obs["instruction"][0]
    expected_shape = annotate_frame(env.render()[0], instruction, None, caption="step 0").shape
    length = 0
    while True:  # the expert succeeds well before the 30-step limit
        obs, _, terminated, truncated, info = env.step(
            torch.from_numpy(point_reach_expert(obs["state"].numpy()))
        )
        length += 1
        if terminated[0] or truncated[0]:
            break
    assert bool(info["success"][0]) and length < 30
    zeros = torch.zeros(1, 2)
    for _ in range(30):  # standing still: truncated, a failure
        _, _, terminated, truncated, info = env.step(zeros)
        if truncated[0]:
            break
    assert not bool(info["success"][0])
    env.close()
    assert len(env.videos) == 2
    success_frames, failure_frames = _read(env.videos[0]), _read(env.videos[1])
    assert len(success_frames) == length and len(failure_frames) == 30
    assert success_frames[0].shape == expected_shape and expected_shape[0] > 256  # banner + bar added

    def bar(frame: np.ndarray) -> np.ndarray:  # bottom-right corner of the status bar (no text there)
        return frame[-4:, -8:].reshape(-1, 3).mean(0)

    def near(rgb: np.ndarray, colour: tuple[int, int, int]) -> bool:
        return bool(np.abs(rgb - np.array(colour)).max() < 25)

    assert near(bar(success_frames[-1]), STATUS_BG[True])
    assert near(bar(failure_frames[-1]), STATUS_BG[False])
    assert all(near(bar(f), STATUS_BG[None]) for f in success_frames[:-1] + failure_frames[:-1])
    assert near(success_frames[0][:4, -8:].reshape(-1, 3).mean(0), (24, 24, 24))  # instruction banner
