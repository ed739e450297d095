"""Camera images for Gymnasium MuJoCo envs, rendered offscreen into the contract observation."""

from __future__ import annotations

import weakref
from typing import Any

import gymnasium as gym
import numpy as np
from embodied_rl.envs.gymnasium_adapter import ContractObservation
from embodied_rl.envs.mujoco.gl import ensure_gl_backend, render_failure
from gymnasium import spaces

OBS_MODES = ("state", "rgb", "state+rgb")
"""``state``: proprioception only (no rendering); ``rgb``: ``images.rgb`` only; ``state+rgb``: both."""

DEFAULT_CAMERA = "track"
"""The camera used when none is named and the model has it (it follows the robot)."""


def check_obs_mode(obs_mode: str) -> None:
    if obs_mode not in OBS_MODES:
        raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")


def _free_mujoco_gl(viewer: Any) -> None:
    """Free a viewer's ``MjrContext`` with the viewer's own GL context current (see ``close``)."""
    try:
        if getattr(viewer, "con", None) is not None:
            viewer.make_context_current()
            viewer.con.free()  # resets it too: a second free (garbage collection) is a no-op
    except Exception:  # a context already gone: nothing left to free in it
        pass


def check_camera(camera: Any) -> None:
    if camera is not None and (isinstance(camera, bool) or not isinstance(camera, (str, int, np.integer))):
        raise ValueError(f"camera must be a camera name, an integer id or None, got {camera!r}")


class MujocoPixels(gym.ObservationWrapper):
    """Add an offscreen camera image to a Gymnasium MuJoCo env's contract observation.

    The observation becomes ``{"images": {"rgb": uint8[H, W, 3]}}`` (``obs_mode="rgb"``) or
    that plus ``{"state": float32[D]}`` (``"state+rgb"``); ``"state"`` leaves it unchanged and
    never renders. ``H``/``W`` are the env's render size: make it with
    ``gym.make(id, width=W, height=H)``. A raw env (non-dict observation) is put under
    :class:`~embodied_rl.envs.gymnasium_adapter.ContractObservation` first.

    The image is rendered with the env's own ``mujoco_renderer`` after every ``reset`` and
    ``step``, whatever the env's ``render_mode`` (``render()`` stays as it was, for videos).

    Args:
        env: A Gymnasium MuJoCo env (``env.unwrapped`` has ``model``, ``data`` and
            ``mujoco_renderer``), possibly wrapped.
        obs_mode: One of :data:`OBS_MODES`.
        camera: A camera name or id (``-1``: the free camera). ``None``: the env's camera when it
            was made with ``camera_name``/``camera_id``, else ``"track"`` where the model has it
            (HalfCheetah, Hopper, Walker2d, Ant, Swimmer: it follows the robot), else the env's
            default free camera.
        shadows: Keep the lights' shadows. Off by default: HalfCheetah at 128 px stepped ~8x
            slower with them (CPU rendering, docs/envs.md).
        reflections: Keep reflective materials (the floor mirror); off by default (~1.7x).
            Both are turned off by editing the env's ``MjModel`` once (``light_castshadow``,
            ``mat_reflectance``): visual fields only, the physics is unchanged.

    Raises:
        ValueError: Unknown ``obs_mode`` or a camera the model does not have.
        TypeError: ``env`` is not a Gymnasium MuJoCo env.
        GLBackendError: No OpenGL backend can render (see :mod:`embodied_rl.envs.mujoco.gl`).
    """

    def __init__(
        self,
        env: gym.Env,
        obs_mode: str = "rgb",
        camera: str | int | None = None,
        shadows: bool = False,
        reflections: bool = False,
    ) -> None:
        check_obs_mode(obs_mode)
        check_camera(camera)
        if not isinstance(env.observation_space, spaces.Dict):
            env = ContractObservation(env)
        super().__init__(env)
        self.obs_mode = obs_mode
        base = env.unwrapped
        self._renderer = getattr(base, "mujoco_renderer", None)
        if self._renderer is None or not hasattr(base, "model"):
            raise TypeError(f"MujocoPixels needs a Gymnasium MuJoCo env, got {base}")
        if obs_mode == "state":
            return
        self.backend = ensure_gl_backend()  # before the first GL context of this process
        import mujoco

        model = base.model
        if not shadows:
            model.light_castshadow[:] = 0
        if not reflections:
            model.mat_reflectance[:] = 0
        self.camera_id = self._resolve_camera(base, camera)
        self._renderer.camera_id = self.camera_id
        # Render once now: a GL problem surfaces when the env is made, and the free camera's
        # look-at point (fixed when the viewer is created) comes from the model's default pose,
        # not from whichever seed happened to reset first.
        mujoco.mj_forward(model, base.data)
        try:
            frame = self._render()
        except Exception as err:  # any GL failure (ImportError, EGLError, RuntimeError, ...)
            raise render_failure(self.backend, err) from err
        # Free MuJoCo's GL resources with this env's context current, on close or when the env is
        # dropped: freed later by garbage collection they go in whichever context is current
        # then, which deletes the framebuffer of another env of the process (black images).
        self._free_gl = weakref.finalize(self, _free_mujoco_gl, self._renderer._get_viewer("rgb_array"))
        self._free_gl.atexit = False
        image_space = spaces.Box(0, 255, frame.shape, np.uint8)
        out: dict[str, spaces.Space] = {}
        if obs_mode == "state+rgb":
            out.update((k, v) for k, v in env.observation_space.spaces.items() if k != "images")
        out["images"] = spaces.Dict({"rgb": image_space})
        self.observation_space = spaces.Dict(out)

    @staticmethod
    def _resolve_camera(base: Any, camera: str | int | None) -> int:
        import mujoco

        model = base.model
        names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(model.ncam)]
        name = base.spec.id if base.spec is not None else type(base).__name__
        if camera is None:
            if getattr(base, "camera_name", None) is not None or getattr(base, "camera_id", None) is not None:
                return int(base.mujoco_renderer.camera_id)  # chosen at gym.make
            if DEFAULT_CAMERA in names:
                return names.index(DEFAULT_CAMERA)
            return int(base.mujoco_renderer.camera_id)
        if isinstance(camera, str):
            if camera not in names:
                raise ValueError(
                    f"{name} has no camera {camera!r}; its cameras: {names or 'none'} "
                    "(or pass an id, -1 for the free camera)"
                )
            return names.index(camera)
        if not -1 <= int(camera) < model.ncam:
            raise ValueError(
                f"{name}: camera id {camera} out of range -1..{model.ncam - 1} (cameras: {names})"
            )
        return int(camera)

    def _render(self) -> np.ndarray:
        renderer = self._renderer
        # One GL context per env: make this env's current (several envs share a process when
        # vectorised synchronously), then render with the env's camera settings.
        renderer._get_viewer("rgb_array").make_context_current()
        frame = renderer.render("rgb_array")
        return np.ascontiguousarray(frame)  # the renderer returns an upside-down view

    def close(self) -> None:
        free_gl = getattr(self, "_free_gl", None)
        if free_gl is not None:
            free_gl()
        super().close()

    def observation(self, observation: dict[str, Any]) -> dict[str, Any]:
        if self.obs_mode == "state":
            return observation
        image = self._render()
        if self.obs_mode == "rgb":
            return {"images": {"rgb": image}}
        out = {k: v for k, v in observation.items() if k != "images"}
        out["images"] = {"rgb": image}
        return out
