"""MuJoCo tasks with offscreen camera observations (envs/mujoco): contract, options, GL backend."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import gymnasium as gym
import pytest
import torch

pytest.importorskip("mujoco")

from embodied_rl.envs import _MUJOCO, ENVS, check_vector_env, env_spec, make  # noqa: E402
from embodied_rl.envs.mujoco import GLBackendError, MujocoPixels, ensure_gl_backend, gl  # noqa: E402
from embodied_rl.envs.single import SingleEnvView  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402

PIXEL_MODES = ("rgb", "state+rgb")


def _rgb(env: gym.vector.VectorEnv, seed: int | list[int] = 0) -> torch.Tensor:
    obs, _ = env.reset(seed=seed)
    return obs["images"]["rgb"]


def _zeros(env: gym.vector.VectorEnv) -> torch.Tensor:
    return torch.zeros(env.num_envs, *env.single_action_space.shape)


# ---- the contract ---------------------------------------------------------------------------


@pytest.mark.parametrize("obs_mode", PIXEL_MODES)
@pytest.mark.parametrize("name", ["HalfCheetah-v5", "Reacher-v5"])
def test_pixel_modes_pass_the_vector_and_gymnasium_checks(name: str, obs_mode: str) -> None:
    env = make(name, num_envs=2, obs_mode=obs_mode, width=32, height=32, max_episode_steps=4)
    try:
        spec = env_spec(env)
        assert spec.family == "gymnasium/mujoco"
        assert spec.image_shapes == {"rgb": (32, 32, 3)}
        assert (spec.state_dim is not None) == (obs_mode == "state+rgb")
        check_vector_env(env, spec, steps=6)  # crosses the 4-step limit: final_obs is checked too
    finally:
        env.close()
    view = SingleEnvView(make(name, num_envs=1, obs_mode=obs_mode, width=32, height=32))
    try:
        check_env(view, skip_render_check=True)
    finally:
        view.close()


def test_state_mode_is_the_default_and_renders_nothing() -> None:
    env = make("HalfCheetah-v5", num_envs=1)
    try:
        spec = env_spec(env)
        assert set(spec.observation_space.spaces) == {"state"} and spec.state_dim == 17
        assert not any(isinstance(e, MujocoPixels) for e in _sub_env_chain(env))
    finally:
        env.close()


def _sub_env_chain(env: gym.vector.VectorEnv) -> list[gym.Env]:
    current, chain = env.env.envs[0], []
    while isinstance(current, gym.Env):
        chain.append(current)
        current = getattr(current, "env", None)
    return chain


def test_every_registered_mujoco_task_makes_rgb() -> None:
    assert {n for n in ENVS.names() if ENVS.entry(n).metadata.get("family") == "gymnasium/mujoco"} == set(
        _MUJOCO
    )
    for name in _MUJOCO:
        env = make(name, num_envs=1, obs_mode="rgb", width=16, height=16)
        try:
            first = _rgb(env)
            obs, *_ = env.step(_zeros(env))
            assert first.shape == obs["images"]["rgb"].shape == (1, 16, 16, 3), name
            assert first.float().std() > 1.0, f"{name}: constant image"
        finally:
            env.close()


# ---- images ---------------------------------------------------------------------------------


def test_images_have_the_asked_size_and_change_when_the_robot_moves() -> None:
    env = make("HalfCheetah-v5", num_envs=2, obs_mode="rgb", width=40, height=24)
    try:
        first = _rgb(env, seed=3)
        assert first.dtype == torch.uint8 and first.shape == (2, 24, 40, 3)  # [N, H, W, 3]
        assert all(img.float().std() > 5.0 for img in first)  # not a blank frame
        action = torch.ones(2, 6)
        for _ in range(15):
            obs, *_ = env.step(action)
        assert not torch.equal(obs["images"]["rgb"], first)
    finally:
        env.close()


def test_same_seed_gives_the_same_first_image() -> None:
    a = make("Reacher-v5", num_envs=2, obs_mode="state+rgb", width=32, height=32)
    b = make("Reacher-v5", num_envs=1, obs_mode="state+rgb", width=32, height=32)
    try:
        b.reset(seed=99)  # a different history must not change the view
        for _ in range(3):
            b.step(_zeros(b))
        same = _rgb(a, seed=[7, 7])
        assert torch.equal(same[0], same[1])
        assert torch.equal(_rgb(b, seed=7)[0], same[0])
        assert not torch.equal(_rgb(a, seed=[7, 8])[1], same[0])  # another target position
    finally:
        a.close()
        b.close()


def test_shadows_and_reflections_change_the_image_not_the_physics() -> None:
    frames, states = {}, {}
    for shadows, reflections in ((False, False), (True, False), (False, True)):
        env = make(
            "HalfCheetah-v5",
            num_envs=1,
            obs_mode="state+rgb",
            width=48,
            height=48,
            shadows=shadows,
            reflections=reflections,
        )
        try:
            obs, _ = env.reset(seed=0)
            obs, *_ = env.step(torch.full((1, 6), 0.5))
            frames[shadows, reflections] = obs["images"]["rgb"]
            states[shadows, reflections] = obs["state"]
        finally:
            env.close()
    off = frames[False, False]
    assert not torch.equal(frames[True, False], off)
    assert not torch.equal(frames[False, True], off)
    assert all(torch.equal(s, states[False, False]) for s in states.values())


def test_camera_option() -> None:
    views = {}
    for camera in (None, 0, -1):  # HalfCheetah's cameras: ['track'] (id 0)
        env = make("HalfCheetah-v5", num_envs=1, obs_mode="rgb", width=32, height=32, camera=camera)
        try:
            views[camera] = _rgb(env)
        finally:
            env.close()
    assert torch.equal(views[None], views[0])  # the default is "track" where the model has it
    assert not torch.equal(views[-1], views[0])  # Gymnasium's free camera
    env = make("HalfCheetah-v5", num_envs=1, obs_mode="rgb", width=32, height=32, camera_name="track")
    try:
        assert torch.equal(_rgb(env), views[0])
    finally:
        env.close()


def test_closing_or_dropping_one_env_keeps_the_others_rendering() -> None:
    """Each env frees its GL resources in its own context (else another env's frames go black)."""
    kept = make("HalfCheetah-v5", num_envs=1, obs_mode="rgb", width=24, height=24)
    try:
        before = _rgb(kept, seed=1)
        for close in (True, False):
            other = make("Hopper-v5", num_envs=1, obs_mode="rgb", width=24, height=24)
            assert _rgb(other).float().std() > 1.0
            if close:
                other.close()
            del other
            gc.collect()
            assert torch.equal(_rgb(kept, seed=1), before)
    finally:
        kept.close()


# ---- processes and GL backends ---------------------------------------------------------------


def test_async_workers_render_the_same_images_as_sync() -> None:
    frames = []
    for vectorization in ("sync", "async"):  # async: spawned workers, each with its own GL context
        env = make(
            "HalfCheetah-v5", num_envs=2, obs_mode="rgb", width=32, height=32, vectorization=vectorization
        )
        try:
            assert isinstance(env.env, gym.vector.AsyncVectorEnv) == (vectorization == "async")
            seen = [_rgb(env, seed=5)]
            for t in range(3):
                obs, *_ = env.step(torch.full((2, 6), 0.3 * (t + 1)))
                seen.append(obs["images"]["rgb"])
            frames.append(torch.stack(seen))
        finally:
            env.close()
    assert torch.equal(frames[0], frames[1])


def test_a_fresh_process_without_mujoco_gl_picks_a_backend_itself() -> None:
    """What a spawned worker does: the sub-env factory chooses MUJOCO_GL before it renders."""
    code = (
        "import os\n"
        "from embodied_rl.envs.gymnasium_adapter import single_env_factory\n"
        "from embodied_rl.envs.mujoco import MujocoPixels\n"
        "factory = single_env_factory('Swimmer-v5', wrapper=MujocoPixels, width=24, height=24)\n"
        "env = factory()\n"
        "obs, _ = env.reset(seed=0)\n"
        "print(os.environ['MUJOCO_GL'], obs['images']['rgb'].shape, obs['images']['rgb'].std() > 1)\n"
        "env.close()\n"
    )
    child_env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=child_env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    backend, shape = result.stdout.split(" ", 1)
    assert backend in gl.BACKENDS
    assert shape.strip() == "(24, 24, 3) True"


def test_backend_choice_falls_back_to_osmesa_and_fails_with_one_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried = []

    def egl_broken(backend: str) -> str | None:
        tried.append(backend)
        return "RuntimeError: Cannot initialize a headless EGL display." if backend == "egl" else None

    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    monkeypatch.setattr(gl, "probe_gl_backend", egl_broken)
    assert ensure_gl_backend() == "osmesa"
    assert tried == ["egl", "osmesa"]
    assert os.environ["MUJOCO_GL"] == os.environ["PYOPENGL_PLATFORM"] == "osmesa"

    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.delenv("PYOPENGL_PLATFORM")
    monkeypatch.setattr(gl, "probe_gl_backend", lambda backend: f"ImportError: no lib for {backend}")
    with pytest.raises(GLBackendError) as info:
        ensure_gl_backend()
    message = str(info.value)
    assert "apt-get install libegl1 (EGL) or libosmesa6 (OSMesa)" in message
    assert "egl: ImportError" in message and "osmesa: ImportError" in message
    assert "MUJOCO_GL" not in os.environ

    monkeypatch.setenv("MUJOCO_GL", "osmesa")  # an existing choice is respected, not probed
    assert ensure_gl_backend() == "osmesa"
    monkeypatch.setenv("MUJOCO_GL", "wgl")
    with pytest.raises(GLBackendError, match="MUJOCO_GL='wgl'"):
        ensure_gl_backend()


def test_the_real_probe_finds_a_working_backend_here() -> None:
    assert any(gl.probe_gl_backend(backend) is None for backend in gl.BACKENDS)
    assert gl.probe_gl_backend("no_such_backend") is not None


# ---- bad options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"obs_mode": "depth"}, "obs_mode must be one of"),
        ({"obs_mode": "rgb", "width": 0}, "width must be a positive integer"),
        ({"obs_mode": "rgb", "height": 12.5}, "height must be a positive integer"),
        ({"obs_mode": "state+rgb", "width": True}, "width must be a positive integer"),
        ({"obs_mode": "rgb", "camera": 1.5}, "camera must be"),
        ({"obs_mode": "rgb", "camera": "top", "camera_name": "track"}, "pass the camera once"),
    ],
)
def test_bad_options_raise_at_make_time(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make("HalfCheetah-v5", num_envs=1, **kwargs)


def test_unknown_camera_names_the_model_cameras() -> None:
    with pytest.raises(ValueError, match=r"HalfCheetah-v5 has no camera 'top'; its cameras: \['track'\]"):
        make("HalfCheetah-v5", num_envs=1, obs_mode="rgb", width=16, height=16, camera="top")
    with pytest.raises(ValueError, match="camera id 3 out of range"):
        make("Reacher-v5", num_envs=1, obs_mode="rgb", width=16, height=16, camera=3)


def test_wrapper_refuses_a_non_mujoco_env() -> None:
    with pytest.raises(TypeError, match="needs a Gymnasium MuJoCo env"):
        MujocoPixels(gym.make("CartPole-v1"))
    env = MujocoPixels(gym.make("Swimmer-v5", width=8, height=8))  # standalone, on a raw MuJoCo env
    try:
        obs, _ = env.reset(seed=0)
        assert env.observation_space["images"]["rgb"].shape == obs["images"]["rgb"].shape == (8, 8, 3)
        assert set(obs) == {"images"}
    finally:
        env.close()
