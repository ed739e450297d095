"""Gymnasium MuJoCo tasks behind the contract, with offscreen camera observations.

``embodied_rl.envs.make("HalfCheetah-v5", num_envs=N, obs_mode="rgb", width=64, height=64)``:
see :func:`make_mujoco_env` for the options and :class:`MujocoPixels` for the single-env
wrapper. Importing this package does not import ``mujoco``.
"""

from __future__ import annotations

from embodied_rl.envs.mujoco.env import DEFAULT_IMAGE_SIZE, make_mujoco_env
from embodied_rl.envs.mujoco.gl import BACKENDS, GLBackendError, ensure_gl_backend
from embodied_rl.envs.mujoco.render import OBS_MODES, MujocoPixels

__all__ = [
    "BACKENDS",
    "DEFAULT_IMAGE_SIZE",
    "OBS_MODES",
    "GLBackendError",
    "MujocoPixels",
    "ensure_gl_backend",
    "make_mujoco_env",
]
