"""The contract factory of the Gymnasium MuJoCo tasks, with optional camera observations."""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

import gymnasium as gym
from embodied_rl.envs.gymnasium_adapter import TorchVectorEnv, make_gymnasium_env
from embodied_rl.envs.mujoco.gl import ensure_gl_backend
from embodied_rl.envs.mujoco.render import MujocoPixels, check_camera, check_obs_mode

DEFAULT_IMAGE_SIZE = 128


def _check_size(key: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer number of pixels, got {value!r}")


def make_mujoco_env(
    num_envs: int = 1,
    *,
    gym_id: str,
    obs_mode: str = "state",
    width: int | None = None,
    height: int | None = None,
    camera: str | int | None = None,
    shadows: bool = False,
    reflections: bool = False,
    **kwargs: Any,
) -> TorchVectorEnv:
    """Make ``num_envs`` copies of a Gymnasium MuJoCo task as one contract vector env.

    Args:
        num_envs: Batch size N.
        gym_id: The Gymnasium id (``"HalfCheetah-v5"``).
        obs_mode: ``"state"`` (default: proprioception ``state[D]``, nothing rendered),
            ``"rgb"`` (only ``images.rgb``, uint8 ``[N, H, W, 3]``) or ``"state+rgb"`` (both).
        width: Image width in pixels (default 128 for the pixel modes; in ``state`` mode it only
            sets ``render()``'s size, default the env's own 480).
        height: Image height, as ``width``.
        camera: A camera name or id of the model (``-1``: the free camera); ``None``: ``"track"``
            where the model has it (follows the robot), else the env's default view. Also
            accepted as ``camera_name=`` / ``camera_id=`` (Gymnasium's names).
        shadows: Render shadows (pixel modes). Off by default: several times faster.
        reflections: Render reflections (pixel modes). Off by default: about twice as fast.
        **kwargs: :func:`~embodied_rl.envs.gymnasium_adapter.make_gymnasium_env` options
            (``vectorization``, ``device``, ``max_episode_steps``, ``render_mode``, ...) and
            ``gymnasium.make`` kwargs.

    The pixel modes choose the OpenGL backend first (an existing ``MUJOCO_GL``, else EGL, else
    OSMesa; :func:`~embodied_rl.envs.mujoco.gl.ensure_gl_backend`), so a machine that cannot
    render fails here with one error naming the package to install; each sub-env (also in an
    ``async`` worker process) checks it again before it renders.

    Raises:
        ValueError: Unknown ``obs_mode``, a size that is not a positive integer, or a camera the
            model does not have.
        GLBackendError: No OpenGL backend works (pixel modes).
    """
    check_obs_mode(obs_mode)
    _check_size("width", width)
    _check_size("height", height)
    for key in ("camera_name", "camera_id"):
        if key in kwargs:
            if camera is not None:
                raise ValueError(f"pass the camera once: camera={camera!r} and {key}={kwargs[key]!r}")
            camera = kwargs.pop(key)
    check_camera(camera)
    if obs_mode == "state":  # today's state-only env; size and camera only affect render()
        if width is not None:
            kwargs["width"] = width
        if height is not None:
            kwargs["height"] = height
        if camera is not None:
            kwargs["camera_name" if isinstance(camera, str) else "camera_id"] = camera
        return make_gymnasium_env(num_envs, gym_id=gym_id, **kwargs)
    if importlib.util.find_spec("mujoco") is None:  # before probing GL: name the real problem
        raise gym.error.DependencyNotInstalled("mujoco is not installed")
    ensure_gl_backend()  # one clear error now; async workers inherit the MUJOCO_GL it sets
    wrapper = functools.partial(
        MujocoPixels, obs_mode=obs_mode, camera=camera, shadows=bool(shadows), reflections=bool(reflections)
    )
    return make_gymnasium_env(
        num_envs,
        gym_id=gym_id,
        width=DEFAULT_IMAGE_SIZE if width is None else width,
        height=DEFAULT_IMAGE_SIZE if height is None else height,
        wrapper=wrapper,
        **kwargs,
    )
