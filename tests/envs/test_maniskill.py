"""ManiSkill3 through the contract: every offline task, obs modes, controllers, rewards, bad input.

The generic per-env contract tests (tests/envs/test_contract.py) skip the ManiSkill entries:
this file runs the contract and Gymnasium's checker on every offline task in one process
(sync, so no worker start-up per task), plus the async path once, the options and bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from embodied_rl.envs import ENVS, check_vector_env, env_spec, make
from embodied_rl.envs.maniskill.tasks import (
    NONDETERMINISTIC_RESET,
    OFFLINE_TASKS,
    UNAVAILABLE_TASKS,
    TaskUnavailableError,
)
from embodied_rl.envs.maniskill.vulkan import vulkan_driver_available
from embodied_rl.envs.single import SingleEnvView
from gymnasium.utils.env_checker import check_env

from embodied_rl.registry import RegistryError

pytestmark = pytest.mark.sim
pytest.importorskip("mani_skill")
if not vulkan_driver_available():
    pytest.skip("no Vulkan driver for SAPIEN: run `make vulkan`", allow_module_level=True)


def sync(name: str, num_envs: int = 1, **kwargs):
    return make(name, num_envs=num_envs, vectorization="sync", **kwargs)


@pytest.mark.parametrize("task", sorted(OFFLINE_TASKS))
def test_every_offline_task_passes_the_contract_and_check_env(task: str) -> None:
    """Each offline task: our vector contract (2 envs, sync) and Gymnasium's checker (single view)."""
    name = f"ManiSkill-{task}"
    limit = OFFLINE_TASKS[task][0]
    assert name in ENVS.names()
    env = sync(name, num_envs=2)
    try:
        spec = env_spec(env)
        assert spec.max_episode_steps == limit and spec.controller
        check_vector_env(env, spec, steps=min(limit + 1, 52))
        obs, _ = env.reset(seed=0)
        assert torch.isfinite(obs["state"]).all() and obs["instruction"][0]
    finally:
        env.close()
    # ManiSkill's reset of these tasks depends on the previous episode some of the time:
    # declared nondeterministic, so check_env runs every check but the determinism ones.
    # (A view with a spec would be re-made by check_env's close check; it has no entry point.)
    nondeterministic = task in NONDETERMINISTIC_RESET
    view = SingleEnvView(sync(name), nondeterministic=nondeterministic)
    try:
        check_env(view, skip_render_check=True, skip_close_check=nondeterministic)
    finally:
        view.close()


@pytest.mark.parametrize("task", sorted(UNAVAILABLE_TASKS)[:3] + ["OpenCabinetDrawer-v1"])
def test_unavailable_tasks_name_what_is_missing(task: str) -> None:
    with pytest.raises(
        RegistryError, match="unavailable: needs .*(download_asset|pip install|not supported)"
    ):
        make(f"ManiSkill-{task}")
    with pytest.raises(TaskUnavailableError):  # also through the family factory directly
        from embodied_rl.envs.maniskill.env import make_maniskill_env

        make_maniskill_env(task=task)


def test_rgb_modes_cameras_and_size() -> None:
    env = sync("ManiSkill-PickCube-v1", obs_mode="rgb", image_size=(32, 48))
    spec = env_spec(env)
    assert spec.image_shapes == {"base_camera": (32, 48, 3)}
    check_vector_env(env, spec, steps=3)
    obs, _ = env.reset(seed=0)
    img = obs["images"]["base_camera"]
    assert img.dtype == torch.uint8 and img.float().std() > 1.0  # a rendered scene, not a blank
    # rgb mode: proprioception + goal (agent qpos/qvel 18, is_grasped 1, tcp pose 7, goal 3), no object pose
    assert spec.state_dim == 29
    env.close()
    full = sync("ManiSkill-PickCube-v1", obs_mode="state+rgb", image_size=32)
    assert env_spec(full).state_dim == 42 and env_spec(full).image_shapes == {"base_camera": (32, 32, 3)}
    full.close()
    two = sync("ManiSkill-PickCube-v1", obs_mode="rgb", image_size=24, robot_uids="panda_wristcam")
    assert set(env_spec(two).image_shapes) == {"base_camera", "hand_camera"}
    two.close()
    one = sync(
        "ManiSkill-PickCube-v1",
        obs_mode="rgb",
        image_size=24,
        robot_uids="panda_wristcam",
        cameras=["hand_camera"],
    )
    assert set(env_spec(one).image_shapes) == {"hand_camera"}
    one.close()


def test_controllers_default_and_choice() -> None:
    env = sync("ManiSkill-PushCube-v1")
    assert env_spec(env).controller == "pd_ee_delta_pose" and env.single_action_space.shape == (7,)
    env.close()
    env = sync("ManiSkill-PushCube-v1", control_mode="pd_joint_delta_pos")
    assert env_spec(env).controller == "pd_joint_delta_pos" and env.single_action_space.shape == (8,)
    env.close()
    with pytest.raises(ValueError, match="not a controller of PushCube-v1's robot; it has"):
        sync("ManiSkill-PushCube-v1", control_mode="pd_teleport")
    # a robot without end-effector control keeps its task's own controller
    env = sync("ManiSkill-MS-CartpoleBalance-v1")
    assert env_spec(env).controller == "pd_joint_delta_pos"
    env.close()


def test_reward_modes() -> None:
    env = sync("ManiSkill-PushCube-v1", reward_mode="sparse")
    env.reset(seed=0)
    rewards = torch.stack([env.step(torch.as_tensor(env.action_space.sample()))[1] for _ in range(10)])
    assert set(rewards.unique().tolist()) <= {0.0, 1.0}
    env.close()
    env = sync("ManiSkill-PushCube-v1", reward_mode="normalized_dense")
    env.reset(seed=0)
    r = env.step(torch.zeros(1, 7))[1]
    assert 0.0 <= float(r) <= 1.0
    env.close()
    with pytest.raises(ValueError, match="reward_mode must be one of"):
        sync("ManiSkill-PushCube-v1", reward_mode="shaped")
    with pytest.raises(ValueError, match="obs_mode must be one of"):
        sync("ManiSkill-PushCube-v1", obs_mode="pointcloud")


def test_seeds_give_equal_starts_and_different_seeds_differ() -> None:
    env = sync("ManiSkill-PushCube-v1", num_envs=3)
    obs, _ = env.reset(seed=[5, 5, 6])
    assert torch.equal(obs["state"][0], obs["state"][1])
    assert not torch.equal(obs["state"][0], obs["state"][2])
    env.close()


def test_bad_actions_are_counted_not_crashes() -> None:
    env = sync("ManiSkill-PushCube-v1", num_envs=2)
    env.reset(seed=0)
    actions = torch.zeros(2, 7)
    actions[0, 0] = float("nan")
    actions[1, 1] = 50.0
    obs, reward, *_, info = env.step(actions)
    assert torch.isfinite(obs["state"]).all() and torch.isfinite(reward).all()
    assert info["action_nonfinite"].tolist() == [True, False]
    assert info["action_clipped"].tolist() == [False, True]
    env.close()


def test_batched_path_on_the_cpu_backend() -> None:
    """The GPU code path (one batched ManiSkill env) with the one batch size the CPU backend takes."""
    env = make(
        "ManiSkill-PushCube-v1", num_envs=1, vectorization="batched", obs_mode="state+rgb", image_size=16
    )
    spec = env_spec(env)
    assert spec.max_episode_steps == 50 and spec.image_shapes == {"base_camera": (16, 16, 3)}
    check_vector_env(env, spec, steps=51)
    env.reset(seed=0)
    saw_final = False
    for _ in range(50):
        obs, _, terminated, truncated, info = env.step(torch.as_tensor(env.action_space.sample()))
        if (terminated | truncated).any():
            saw_final = "final_obs" in info
    assert saw_final
    nan = torch.full((1, 7), float("nan"))
    _, reward, *_, info = env.step(nan)
    assert bool(info["action_nonfinite"][0]) and torch.isfinite(reward).all()
    with pytest.raises(ValueError, match="batched needs num_envs=1"):
        make("ManiSkill-PushCube-v1", num_envs=2, vectorization="batched")
    env.close()


def test_async_workers_and_single_env_checker() -> None:
    env = make("ManiSkill-PushCube-v1", num_envs=2, vectorization="async")
    try:
        check_vector_env(env, env_spec(env), steps=5)
    finally:
        env.close()
    view = SingleEnvView(sync("ManiSkill-PushCube-v1", obs_mode="rgb", image_size=16))
    try:
        check_env(view, skip_render_check=True)
    finally:
        view.close()


def test_video_frames_render() -> None:
    env = sync("ManiSkill-PushCube-v1", render_mode="rgb_array")
    env.reset(seed=0)
    frames = env.render()
    frame = np.asarray(frames[0])
    assert frame.ndim == 3 and frame.shape[-1] == 3 and frame.dtype == np.uint8 and frame.std() > 1
    env.close()


@pytest.mark.parametrize("task", ["PushCube-v1", "PickCube-v1"])
def test_scripted_experts_reach_90_percent(task: str) -> None:
    from embodied_rl.sft import collect_demos

    demos = collect_demos(
        f"ManiSkill-{task}", episodes=16, seed=123, num_envs=8, env_kwargs={"vectorization": "sync"}
    )
    assert demos.success_rate >= 0.9, demos.episode_successes
    with pytest.raises(ValueError, match="obs_mode must be 'state' or 'state\\+rgb'"):
        from embodied_rl.envs.experts import expert_for

        expert_for(f"ManiSkill-{task}", env_kwargs={"obs_mode": "rgb"})


def test_shipped_demos_load_and_train_sft() -> None:
    from pathlib import Path

    from embodied_rl.policies import build_policy
    from embodied_rl.policies.mlp.policy import MLPPolicyConfig

    from embodied_rl.sft import load_demos, run_sft

    root = Path(__file__).resolve().parents[2] / "assets" / "demos"
    for name, state_dim in (("maniskill_pushcube", 35), ("maniskill_pickcube", 42)):
        demos = load_demos(root / name)
        assert demos.obs["state"].shape[1] == state_dim and demos.actions.shape[1] == 7
        assert len(demos.episode_returns) == 50 and demos.success_rate == 1.0
        env = sync(f"ManiSkill-{'PushCube' if 'push' in name else 'PickCube'}-v1")
        policy = build_policy(MLPPolicyConfig(hidden_sizes=[64, 64]), env_spec(env))
        env.close()
        losses = run_sft(policy, demos, steps=60, batch_size=128, lr=3e-3, progress=False)
        assert np.mean(losses[-10:]) < np.mean(losses[:10])


def test_ignore_terminations_runs_episodes_to_the_time_limit() -> None:
    from embodied_rl.envs.experts import expert_for
    from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics

    env = EpisodeStatistics(sync("ManiSkill-PushCube-v1", num_envs=2, ignore_terminations=True))
    expert = expert_for("ManiSkill-PushCube-v1")
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        obs, _, terminated, truncated, info = env.step(expert(obs, rng))
        assert not terminated.any()
    assert truncated.all()  # the time limit, not success, ended them
    assert info["episode"]["length"].tolist() == [50, 50]
    assert info["episode"]["success_once"].all()  # the expert solved both on the way
    env.close()
