"""LIBERO tasks behind the env contract: one robosuite simulation per env, one subprocess each.

:class:`LiberoEnv` is a single-env ``gymnasium.Env`` for one task of one suite; it follows the
published LIBERO evaluation (OpenVLA / pi0 eval code):

- reset(seed=k) loads the task's shipped init state ``k mod 50`` (envs given equal seeds start
  equal: GRPO groups), then runs 10 settle steps (zero motion, gripper open) before the first
  observation; ``reset()`` without a seed (autoreset) draws the init state from the env's RNG;
  ``options={"init_state": i}`` picks one explicitly.
- observation: ``images`` ``{"agentview", "wrist"}`` uint8 ``[S, S, 3]`` rotated upright as the
  eval code does (``[::-1, ::-1]``), ``state`` float32[8] (end-effector position 3, axis-angle 3,
  gripper joint positions 2), ``instruction`` (the task's language); ``obs_mode="state"`` drops
  the cameras (no rendering at all: much faster).
- action: ``Box(-1, 1, (7,))``, a 6-D end-effector delta for robosuite's OSC_POSE controller plus
  the gripper (-1 open, +1 close).
- reward 1 and ``terminated`` on success (``env.check_success()``: the task's BDDL goal
  predicates), ``info["success"]``; truncated after the suite's published step budget.

The simulation is built on first reset, not in ``__init__``: making the env (for its spec, or
the parent-side copy ``AsyncVectorEnv`` builds) costs nothing.
"""

from __future__ import annotations

import math
import string
from typing import Any

import gymnasium as gym
import numpy as np
from embodied_rl.envs.core import EnvSpec
from embodied_rl.envs.gymnasium_adapter import TorchVectorEnv, vectorize
from embodied_rl.envs.libero import runtime
from embodied_rl.envs.libero.tasks import SETTLE_STEPS, check_suite, env_name, get_task
from gymnasium import spaces

OBS_MODES = ("rgb", "state")
CAMERAS = {"agentview": "agentview", "wrist": "robot0_eye_in_hand"}
"""Our image key -> robosuite camera name."""
CONTROLLER = "OSC_POSE"
STATE_DIM = 8
INSTRUCTION_CHARSET = string.ascii_lowercase + " "
SETTLE_ACTION = np.array([0, 0, 0, 0, 0, 0, -1], dtype=np.float64)
"""The eval code's dummy action: no motion, gripper open."""
VECTORIZATION = ("auto", "sync", "async")


def quat2axisangle(quat: np.ndarray) -> np.ndarray:
    """robosuite's ``quat2axisangle`` (xyzw quaternion -> axis * angle), as the eval code uses it."""
    w = float(np.clip(quat[3], -1.0, 1.0))
    den = math.sqrt(1.0 - w * w)
    if math.isclose(den, 0.0):
        return np.zeros(3)
    return np.asarray(quat[:3], dtype=np.float64) * 2.0 * math.acos(w) / den


def load_init_states(suite: str, task_id: int) -> np.ndarray:
    """The task's shipped init states (``[50, D]`` flattened MuJoCo states)."""
    get_task(suite, task_id)  # validates
    runtime.import_libero()
    from libero.libero import benchmark

    bench = benchmark.get_benchmark_dict()[check_suite(suite)]()
    return np.asarray(bench.get_task_init_states(task_id))


class LiberoEnv(gym.Env):
    """One LIBERO task (see the module docstring).

    Args:
        suite: ``libero_spatial``, ``libero_object``, ``libero_goal``, ``libero_10`` or ``libero_90``
            (or the short form ``spatial``, ...).
        task_id: Task index in the suite (benchmark order).
        obs_mode: ``"rgb"`` (cameras + state + instruction) or ``"state"`` (state + instruction).
        image_size: Camera resolution (square) for ``obs_mode="rgb"``.
        max_episode_steps: Policy steps per episode (default: the suite's published budget).
        settle_steps: No-op steps after each reset (the protocol's 10).
        render_mode: ``"rgb_array"`` renders the agentview camera (for videos).
        render_size: Resolution of ``render()`` frames (default: ``image_size``).
        reflections: Render the floor/table reflections as LIBERO does (False: about twice as
            fast on a CPU renderer, images no longer those of the published evaluations).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        suite: str = "libero_spatial",
        task_id: int = 0,
        obs_mode: str = "rgb",
        image_size: int = 128,
        max_episode_steps: int | None = None,
        settle_steps: int = SETTLE_STEPS,
        render_mode: str | None = None,
        render_size: int | None = None,
        reflections: bool = True,
    ) -> None:
        self.task = get_task(suite, task_id)
        if obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {image_size}")
        runtime.check_available()  # a missing package/asset fails here, in the parent process
        self.obs_mode = obs_mode
        self.image_size = int(image_size)
        self.render_mode = render_mode
        self.render_size = int(render_size or image_size)
        self.reflections = bool(reflections)
        self.max_episode_steps = int(max_episode_steps or self.task.max_episode_steps)
        self.settle_steps = int(settle_steps)
        obs: dict[str, spaces.Space] = {}
        if obs_mode == "rgb":
            image = spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8)
            obs["images"] = spaces.Dict({key: image for key in CAMERAS})
        obs["state"] = spaces.Box(-np.inf, np.inf, (STATE_DIM,), np.float32)
        obs["instruction"] = spaces.Text(256, min_length=1, charset=INSTRUCTION_CHARSET)
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Box(-1.0, 1.0, (7,), np.float32)
        self._sim: Any = None
        self._init_states: np.ndarray | None = None
        self._steps = 0
        self._last_obs: dict[str, Any] | None = None
        self.init_state_index: int | None = None

    # ---- the simulation -----------------------------------------------------------------------

    @property
    def instruction(self) -> str:
        return self.task.language

    @property
    def init_states(self) -> np.ndarray:
        """The task's shipped init states ``[50, D]`` (loaded on first use)."""
        if self._init_states is None:
            self._init_states = load_init_states(self.task.suite, self.task.task_id)
        return self._init_states

    def _build(self) -> Any:
        runtime.import_libero()
        from libero.libero import benchmark
        from libero.libero.envs import OffScreenRenderEnv

        bench = benchmark.get_benchmark_dict()[self.task.suite]()
        cameras = self.obs_mode == "rgb"
        sim = OffScreenRenderEnv(
            bddl_file_name=bench.get_task_bddl_file_path(self.task.task_id),
            controller=CONTROLLER,
            camera_heights=self.image_size,
            camera_widths=self.image_size,
            use_camera_obs=cameras,
            has_offscreen_renderer=cameras or self.render_mode == "rgb_array",
            camera_names=[CAMERAS[k] for k in CAMERAS],
            # Every reset loads a full MuJoCo state from the init-state file, so the model need
            # not be rebuilt from XML each time (the eval code's default hard reset: ~5 s/reset).
            hard_reset=False,
            ignore_done=True,  # our time limit counts policy steps; robosuite's horizon is not used
        )
        sim.seed(0)
        context = sim.sim._render_context_offscreen
        if context is not None and not self.reflections:
            import mujoco

            context.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        if self._init_states is None:
            self._init_states = np.asarray(bench.get_task_init_states(self.task.task_id))
        return sim

    def _settle(self, init_state: np.ndarray) -> dict[str, Any]:
        """Load ``init_state`` and run the settle steps; return robosuite's observation dict.

        The cameras are paused for all settle steps but the last: robosuite would render them at
        every step (2 renders of ~0.1 s each here) only for those frames to be thrown away. Before
        the last step their sampling timers are set to the other sensors' (same rate, never
        paused), so from then on images are sampled exactly when an uninterrupted run samples them
        (checked frame by frame against the eval code's hard-reset loop).
        """
        env = self._sim.env
        cameras = []
        if self.settle_steps > 0:
            cameras = [obs for name, obs in env._observables.items() if name.endswith("_image")]
        for camera in cameras:
            camera._enabled = False  # (set_enabled() would also zero its timers)
        try:
            raw = self._sim.set_init_state(init_state)
            for i in range(self.settle_steps):
                if i == self.settle_steps - 1 and cameras:
                    reference = env._observables["robot0_eef_pos"]
                    for camera in cameras:
                        camera._enabled = True
                        camera._time_since_last_sample = reference._time_since_last_sample
                        camera._sampled = reference._sampled
                raw, *_ = self._sim.step(SETTLE_ACTION)
        finally:
            for camera in cameras:
                camera._enabled = True
        return raw

    def _observation(self, raw: dict[str, Any]) -> dict[str, Any]:
        state = np.concatenate(
            [raw["robot0_eef_pos"], quat2axisangle(raw["robot0_eef_quat"]), raw["robot0_gripper_qpos"]]
        ).astype(np.float32)
        obs: dict[str, Any] = {}
        if self.obs_mode == "rgb":
            obs["images"] = {
                key: np.ascontiguousarray(raw[f"{cam}_image"][::-1, ::-1]) for key, cam in CAMERAS.items()
            }
        obs["state"] = state
        obs["instruction"] = self.task.language
        return obs

    # ---- gymnasium API ------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict[str, Any], dict]:
        super().reset(seed=seed)
        if self._sim is None:
            self._sim = self._build()
        count = len(self.init_states)
        options = options or {}
        if options.get("init_state") is not None:
            index = int(options["init_state"])
            if not 0 <= index < count:
                raise ValueError(f"init_state must be in 0..{count - 1}, got {index}")
        elif seed is not None:
            index = int(seed) % count
        else:
            index = int(self.np_random.integers(count))
        self.init_state_index = index
        # robosuite places the fixtures (cabinets, stoves: bodies outside the init state's qpos) at
        # random within a few cm at every reset, from NumPy's global RNG. Draw them from the init
        # state's index, so a scene is a function of its init state (GRPO groups start equal).
        global_rng = np.random.get_state()
        np.random.seed(index)
        try:
            self._sim.reset()
        finally:
            np.random.set_state(global_rng)
        for robot in self._sim.robots:
            # The gripper command ramps from its last value; a hard reset (the eval code's) rebuilds
            # the gripper at zero, so a soft reset must too, or the first episode differs from the rest.
            robot.gripper.current_action = np.zeros(robot.gripper.dof)
        raw = self._settle(self.init_states[index])
        self._steps = 0
        self._last_obs = self._observation(raw)
        return self._last_obs, {"init_state": index}

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict]:
        if self._sim is None:
            raise RuntimeError("call reset() before step()")
        action = np.clip(np.asarray(action, dtype=np.float64).reshape(7), -1.0, 1.0)
        raw, _, _, _ = self._sim.step(action)
        success = bool(self._sim.check_success())
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps and not success
        self._last_obs = self._observation(raw)
        return self._last_obs, float(success), success, truncated, {"success": success}

    def sim_state(self) -> np.ndarray:
        """The flattened MuJoCo state (time, qpos, qvel) of the simulation now."""
        if self._sim is None:
            raise RuntimeError("call reset() first")
        return np.asarray(self._sim.get_sim_state()).copy()

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        if self._sim is None:
            self.reset()
        if self.obs_mode == "rgb" and self.render_size == self.image_size and self._last_obs is not None:
            return self._last_obs["images"]["agentview"].copy()
        size = self.render_size
        frame = self._sim.sim.render(width=size, height=size, camera_name=CAMERAS["agentview"])
        return np.ascontiguousarray(frame[::-1, ::-1])

    def close(self) -> None:
        if self._sim is not None:
            sim, self._sim = self._sim, None
            sim.close()  # frees the render context now, not in a __del__ at interpreter exit
        super().close()


class LiberoEnvFactory:
    """A picklable zero-argument factory: ``LiberoEnv(**kwargs)``, in ``ActionChunk(K)`` when
    ``action_chunk`` is set, in :class:`~embodied_rl.envs.wrappers.guard.SimulatorGuard`."""

    def __init__(self, action_chunk: int | None = None, **kwargs: Any) -> None:
        self.action_chunk = action_chunk
        self.kwargs = kwargs

    def __call__(self) -> gym.Env:
        from embodied_rl.envs.wrappers.guard import SimulatorGuard

        env: gym.Env = LiberoEnv(**self.kwargs)
        if self.action_chunk is not None:
            from embodied_rl.envs.wrappers.chunk import ActionChunk

            env = ActionChunk(env, self.action_chunk)
        return SimulatorGuard(env)


def make_libero_env(
    num_envs: int = 1,
    *,
    suite: str = "libero_spatial",
    task_id: int = 0,
    name: str | None = None,
    obs_mode: str = "rgb",
    image_size: int = 128,
    max_episode_steps: int | None = None,
    settle_steps: int = SETTLE_STEPS,
    vectorization: str = "auto",
    device: str = "cpu",
    render_mode: str | None = None,
    render_size: int | None = None,
    reflections: bool = True,
    action_chunk: int | None = None,
    family: str = "libero",
) -> TorchVectorEnv:
    """``num_envs`` copies of one LIBERO task as a contract vector env.

    Args:
        num_envs: Batch size N (each env has its own simulation, 2-3 GB of memory).
        suite: LIBERO suite (``libero_spatial``, ...).
        task_id: Task index in the suite.
        name: Our registered name (default ``LIBERO-<suite>-v0``).
        obs_mode: ``"rgb"`` (agentview + wrist cameras, state, instruction) or ``"state"``.
        image_size: Camera resolution for ``"rgb"`` (the published evaluations use 128 or 256).
        max_episode_steps: Policy steps per episode (default: the suite's published budget).
        settle_steps: No-op steps after each reset (the protocol's 10).
        vectorization: ``"async"`` (one spawned subprocess per env), ``"sync"`` (all in this
            process) or ``"auto"``: async for N > 1, sync for N = 1.
        device: Torch device of the returned batches.
        render_mode: ``"rgb_array"`` for videos (agentview frames).
        render_size: Resolution of rendered frames (default ``image_size``).
        reflections: False turns LIBERO's reflections off (faster CPU rendering, not the
            published images).
        action_chunk: K: each step executes K actions (``Box(K, 7)``; the time limit becomes
            ``ceil(limit / K)`` steps; see :class:`~embodied_rl.envs.wrappers.chunk.ActionChunk`).
        family: Shown by ``embodied-rl envs``.

    Each sub-env is wrapped in ``SimulatorGuard`` (a simulator error or NaN state truncates
    that env's episode instead of ending the run) and NaN/inf actions become 0, flagged in
    ``info["action_nonfinite"]``, as in the other robot families.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if vectorization not in VECTORIZATION:
        raise ValueError(f"vectorization must be one of {VECTORIZATION}, got {vectorization!r}")
    kwargs = {
        "suite": check_suite(suite),
        "task_id": task_id,
        "obs_mode": obs_mode,
        "image_size": image_size,
        "max_episode_steps": max_episode_steps,
        "settle_steps": settle_steps,
        "render_mode": render_mode,
        "render_size": render_size,
        "reflections": reflections,
    }
    # validates the arguments and the install before any process starts (builds no simulation)
    probe = LiberoEnvFactory(action_chunk, **kwargs)()
    fns = [LiberoEnvFactory(action_chunk, **kwargs)] * num_envs
    if vectorization == "auto":
        vectorization = "async" if num_envs > 1 else "sync"
    # shared_memory=False: the observations hold the instruction text (see vectorize)
    vec = vectorize(fns, vectorization, shared_memory=False)
    spec = EnvSpec(
        name=name or env_name(kwargs["suite"]),
        observation_space=vec.single_observation_space,
        action_space=vec.single_action_space,
        max_episode_steps=probe.unwrapped.max_episode_steps
        if action_chunk is None
        else -(-probe.unwrapped.max_episode_steps // action_chunk),
        controller=CONTROLLER,
        family=family,
    )
    probe.close()
    return TorchVectorEnv(vec, spec, device=device, nonfinite_actions="zero")
