"""ManiSkill3 tasks behind the contract: observation modes, controllers, rewards, both backends.

Two ways to run, one observation mapping (:func:`contract_obs`):

- **CPU backend** (``sim_backend="physx_cpu"``, the default here): one ManiSkill env per
  sub-env (:class:`ManiSkillTaskEnv`), vectorised by Gymnasium's ``AsyncVectorEnv`` (one
  ``spawn`` worker process per env; ``fork`` hangs with rendering) or ``SyncVectorEnv``,
  then seen as torch batches by :class:`~embodied_rl.envs.gymnasium_adapter.TorchVectorEnv`.
- **GPU backend** (``sim_backend="physx_cuda"``): one batched ManiSkill env holds all N
  envs as tensors on the device (:class:`ManiSkillBatchedEnv`, ``vectorization="batched"``),
  finished envs are reset in place through ManiSkill's partial reset
  (``options={"env_idx": ...}``). SAPIEN downloads its GPU PhysX library on first use,
  so this path cannot run on machines without network; it is exercised here on the CPU
  backend with ``num_envs=1``, the one batch size ManiSkill's CPU backend accepts.

Observation modes (``obs_mode``):

- ``state``: ``{"state": privileged task state}`` (ManiSkill's flat ``state``).
- ``rgb``: ``{"images": {camera: uint8[H, W, 3]}, "state": proprioception + task goal}``
  (ManiSkill's ``agent`` and ``extra`` entries flattened: what a real robot knows).
- ``state+rgb``: images plus the privileged state.

Every mode also carries ``instruction`` (one sentence naming the task, for VLA policies).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from embodied_rl.envs.core import AUTORESET_MODE, AnyText, EnvSpec, Obs, env_idx_to_mask
from embodied_rl.envs.maniskill.tasks import OFFLINE_TASKS, check_available, our_name, task_instruction
from embodied_rl.envs.maniskill.vulkan import explain_vulkan_error, prepare_vulkan
from gymnasium import spaces

log = logging.getLogger(__name__)

OBS_MODES = ("state", "rgb", "state+rgb")
REWARD_MODES = ("dense", "normalized_dense", "sparse")
DEFAULT_CONTROL_MODE = "pd_ee_delta_pose"
"""End-effector delta pose + gripper, when the task's robot has it (else the task's own default)."""
GPU_BACKENDS = ("physx_cuda", "gpu")
MAX_INSTRUCTION = 256
MANISKILL_GYM_ID = "embodied_rl/ManiSkill-v0"
"""Gymnasium id of :class:`ManiSkillTaskEnv` (registered by ``embodied_rl.envs``)."""


def image_hw(image_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``128`` -> ``(128, 128)``; ``(h, w)`` passes through; non-positive sizes are an error."""
    hw = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(hw) != 2 or not all(isinstance(x, int) and x > 0 for x in hw):
        raise ValueError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    return int(hw[0]), int(hw[1])


def _flatten(tree: Any, rows: int) -> torch.Tensor:
    """Flatten a (nested) dict of ``[rows, ...]`` tensors into one float32 ``[rows, D]``."""
    leaves: list[torch.Tensor] = []

    def visit(x: Any) -> None:
        if isinstance(x, dict):
            for v in x.values():
                visit(v)
        else:
            leaves.append(torch.as_tensor(x).reshape(rows, -1).to(torch.float32))

    visit(tree)
    return torch.cat(leaves, dim=1) if leaves else torch.zeros(rows, 0)


def contract_obs(raw: Any, obs_mode: str, cameras: list[str] | None, instruction: str) -> Obs:
    """Map a batched ManiSkill observation (torch, leading dim N) to the contract's keys.

    Args:
        raw: What ManiSkill returned for ``obs_mode`` (``state``: a ``[N, D]`` tensor;
            ``rgb``: a dict with ``agent``, ``extra``, ``sensor_data``; ``state+rgb``: a dict
            with ``state`` and ``sensor_data``).
        obs_mode: One of :data:`OBS_MODES`.
        cameras: Sensor cameras to keep (``None``: all the task has).
        instruction: The task sentence repeated for every env.
    """
    if obs_mode == "state":
        state = torch.as_tensor(raw)
        rows = state.shape[0]
        return {"state": state.to(torch.float32), "instruction": [instruction] * rows}
    sensors = raw["sensor_data"]
    names = list(sensors) if cameras is None else cameras
    missing = [c for c in names if c not in sensors]
    if missing:
        raise ValueError(f"camera(s) {missing} not in this task; its cameras: {sorted(sensors)}")
    images = {c: torch.as_tensor(sensors[c]["rgb"]) for c in names}
    rows = next(iter(images.values())).shape[0]
    if obs_mode == "rgb":
        state = _flatten({"agent": raw["agent"], "extra": raw["extra"]}, rows)
    else:
        state = torch.as_tensor(raw["state"]).to(torch.float32)
    return {"images": images, "state": state, "instruction": [instruction] * rows}


def observation_space(obs: Obs) -> spaces.Dict:
    """The single-env space of a contract observation batch."""
    out: dict[str, spaces.Space] = {"state": spaces.Box(-np.inf, np.inf, obs["state"].shape[1:], np.float32)}
    if "images" in obs:
        out["images"] = spaces.Dict(
            {c: spaces.Box(0, 255, tuple(img.shape[1:]), np.uint8) for c, img in obs["images"].items()}
        )
    out["instruction"] = AnyText(MAX_INSTRUCTION, min_length=0)
    return spaces.Dict(out)


def _check_options(obs_mode: str, reward_mode: str | None) -> None:
    if obs_mode not in OBS_MODES:
        raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")
    if reward_mode is not None and reward_mode not in REWARD_MODES:
        raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")


def supported_reward_modes(task: str) -> tuple[str, ...]:
    """The reward modes the task implements, its default first (read from ManiSkill's registry)."""
    from mani_skill.utils.registration import REGISTERED_ENVS

    modes = REGISTERED_ENVS[task].cls.SUPPORTED_REWARD_MODES
    return tuple(m for m in modes if m in REWARD_MODES)


def _check_reward_mode(task: str, reward_mode: str | None) -> None:
    if reward_mode is not None and reward_mode not in supported_reward_modes(task):
        raise ValueError(
            f"{task} has no reward_mode {reward_mode!r}; it supports {list(supported_reward_modes(task))}"
        )


@contextlib.contextmanager
def _no_downloads(task: str) -> Iterator[None]:
    """Turn any asset download ManiSkill would start into a clear error (we never download)."""
    from mani_skill.utils import download_asset

    original = download_asset.download

    def refuse(data_source: Any, *args: Any, **kwargs: Any) -> None:
        target = getattr(data_source, "target_path", data_source)
        raise RuntimeError(
            f"ManiSkill task {task} is unavailable: it needs the asset {target!r}, which is not on this "
            "machine and embodied-rl never downloads. Download it on a machine with network "
            "(python -m mani_skill.utils.download_asset <id>) and copy ~/.maniskill/data (or MS_ASSET_DIR)."
        )

    download_asset.download = refuse
    try:
        yield
    finally:
        download_asset.download = original


@functools.cache
def robot_controllers(task: str, robot_uids: str | None = None) -> tuple[str, tuple[str, ...]]:
    """The task's default controller and all its robot offers (probed once per process)."""
    prepare_vulkan()
    import mani_skill.envs  # noqa: F401

    kwargs: dict[str, Any] = {
        "num_envs": 1,
        "obs_mode": "state",
        "sim_backend": "physx_cpu",
        "render_backend": "cpu",
    }
    if robot_uids is not None:
        kwargs["robot_uids"] = robot_uids
    with _no_downloads(task):
        try:
            probe = gym.make(task, **kwargs)
        except RuntimeError as err:
            raise explain_vulkan_error(err) from err
    try:
        base = probe.unwrapped
        return base.control_mode, tuple(base.agent.supported_control_modes)
    finally:
        probe.close()


def resolve_control_mode(task: str, robot_uids: str | None = None) -> str:
    """:data:`DEFAULT_CONTROL_MODE` when the task's robot has it, else the task's own default."""
    default, supported = robot_controllers(task, robot_uids)
    return DEFAULT_CONTROL_MODE if DEFAULT_CONTROL_MODE in supported else default


def make_raw_env(
    task: str,
    *,
    num_envs: int,
    obs_mode: str,
    control_mode: str | None,
    reward_mode: str | None,
    image_size: int | tuple[int, int],
    sim_backend: str,
    render_mode: str | None = None,
    robot_uids: str | None = None,
    **ms_kwargs: Any,
) -> Any:
    """Make ManiSkill's own env for ``task`` (``PushCube-v1``) with our option names.

    Raises:
        ValueError: an option ManiSkill does not accept (naming the valid values).
        RuntimeError: no Vulkan driver, or the task needs an asset this machine lacks.
    """
    _check_options(obs_mode, reward_mode)
    check_available(task)
    prepare_vulkan()
    import mani_skill.envs  # noqa: F401  (registers the tasks with Gymnasium)

    _check_reward_mode(task, reward_mode)

    height, width = image_hw(image_size)
    kwargs: dict[str, Any] = {
        "num_envs": num_envs,
        "obs_mode": "state" if obs_mode == "state" else obs_mode,
        "reward_mode": reward_mode,
        "sim_backend": sim_backend,
        "render_backend": "gpu" if sim_backend in GPU_BACKENDS else "cpu",
        "sensor_configs": {"width": width, "height": height},
        "render_mode": render_mode,
        **ms_kwargs,
    }
    if robot_uids is not None:
        kwargs["robot_uids"] = robot_uids
    try:
        with _no_downloads(task):
            if control_mode is None:
                control_mode = resolve_control_mode(task, robot_uids)
            env = gym.make(task, control_mode=control_mode, **kwargs)
    except AssertionError as err:  # ManiSkill validates options with asserts
        raise ValueError(f"ManiSkill {task}: {err}") from err
    except RuntimeError as err:
        raise explain_vulkan_error(err) from err
    return env


def _flat_row(obs: Obs) -> dict[str, Any]:
    """Row 0 of a batched contract observation as a flat numpy dict (``state`` and one key per
    camera; the instruction is added after vectorisation): the form :class:`~embodied_rl.envs.gymnasium_adapter.ContractObservation`
    maps back to the contract's nested keys after vectorisation."""
    out: dict[str, Any] = {"state": obs["state"][0].cpu().numpy()}
    for cam, img in obs.get("images", {}).items():
        out[cam] = img[0].cpu().numpy()
    return out


def flat_observation_space(space: spaces.Dict) -> spaces.Dict:
    """The flat single-env form of :func:`observation_space` (cameras as top-level keys)."""
    out = {"state": space["state"]}
    if "images" in space.spaces:
        out.update(space["images"].spaces)
    return spaces.Dict(out)


def _scalar(x: Any) -> Any:
    """A Python scalar from a one-element tensor/array (ManiSkill's CPU info values are ``[1]``)."""
    if isinstance(x, torch.Tensor):
        return x.item() if x.numel() == 1 else x.cpu().numpy()
    if isinstance(x, np.ndarray) and x.size == 1:
        return x.reshape(-1)[0].item()
    return x


class _ManiSkillMapping:
    """What both env classes share: the raw ManiSkill env and the contract mapping of its obs."""

    def _setup(
        self,
        task: str,
        num_envs: int,
        obs_mode: str,
        cameras: list[str] | None,
        instruction: str | None,
        render_mode: str | None,
        ignore_terminations: bool,
        **raw_options: Any,
    ) -> Any:
        self.task = task
        self.obs_mode = obs_mode
        self.cameras = list(cameras) if cameras is not None else None
        self.instruction = instruction or task_instruction(task)
        self.render_mode = render_mode
        self.ignore_terminations = ignore_terminations
        self.raw = make_raw_env(
            task, num_envs=num_envs, obs_mode=obs_mode, render_mode=render_mode, **raw_options
        )
        first, _ = self.raw.reset(seed=0)
        return first

    def _map(self, raw: Any) -> Obs:
        return contract_obs(raw, self.obs_mode, self.cameras, self.instruction)


class ManiSkillTaskEnv(_ManiSkillMapping, gym.Env):
    """One ManiSkill task (CPU backend) as a single Gymnasium env with contract observations.

    Args:
        task: ManiSkill id (``PushCube-v1``).
        obs_mode: ``state``, ``rgb`` or ``state+rgb`` (see the module docstring).
        control_mode: A controller of the task's robot (``pd_ee_delta_pose``,
            ``pd_joint_delta_pos``, ...); ``None``: :data:`DEFAULT_CONTROL_MODE` when the robot
            has it, else the task's default.
        reward_mode: ``dense``, ``normalized_dense`` (dense scaled to [0, 1]) or ``sparse``;
            ``None``: the task's default (``normalized_dense`` where the task has it).
        image_size: Camera size, ``int`` or ``(height, width)``, for every sensor camera.
        cameras: Sensor cameras to keep (``None``: all the task has; ``robot_uids="panda_wristcam"``
            adds a ``hand_camera`` to the Panda tasks).
        instruction: Override the task sentence.
        render_mode: ``"rgb_array"`` for videos (ManiSkill's human render camera).
        episode_steps: ManiSkill's own time limit (``None``: the task's).
        ignore_terminations: Never end an episode early (ManiSkill ends it on success): every
            episode runs to the time limit, so a policy is paid for keeping the task solved
            rather than for ending it (``info["success"]`` still says when it is solved).
        **ms_kwargs: Passed to ManiSkill's ``gym.make`` (e.g. ``robot_uids``, ``sim_config``).
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        task: str = "PushCube-v1",
        obs_mode: str = "state",
        control_mode: str | None = None,
        reward_mode: str | None = None,
        image_size: int | tuple[int, int] = 128,
        cameras: list[str] | None = None,
        instruction: str | None = None,
        render_mode: str | None = None,
        sim_backend: str = "physx_cpu",
        episode_steps: int | None = None,
        ignore_terminations: bool = False,
        **ms_kwargs: Any,
    ) -> None:
        if episode_steps is not None:
            ms_kwargs["max_episode_steps"] = episode_steps
        if sim_backend in GPU_BACKENDS:
            raise ValueError("ManiSkillTaskEnv is the CPU path; use vectorization='batched' for physx_cuda")
        first = self._setup(
            task,
            1,
            obs_mode,
            cameras,
            instruction,
            render_mode,
            ignore_terminations,
            control_mode=control_mode,
            reward_mode=reward_mode,
            image_size=image_size,
            sim_backend=sim_backend,
            **ms_kwargs,
        )
        base = self.raw.unwrapped
        self.control_mode = base.control_mode
        self.max_episode_steps = self.raw.spec.max_episode_steps if self.raw.spec else None
        self.max_episode_steps = self.max_episode_steps or getattr(base, "max_episode_steps", None)
        self.observation_space = flat_observation_space(observation_space(self._map(first)))
        act = base.single_action_space
        self.action_space = spaces.Box(act.low, act.high, act.shape, np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        raw, info = self.raw.reset(seed=seed, options=options)
        return _flat_row(self._map(raw)), {k: _scalar(v) for k, v in info.items()}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        batch = torch.as_tensor(np.asarray(action, dtype=np.float32)).reshape(1, -1)
        raw, reward, terminated, truncated, info = self.raw.step(batch)
        out = {k: _scalar(v) for k, v in info.items() if k != "episode"}
        return (
            _flat_row(self._map(raw)),
            float(_scalar(reward)),
            bool(_scalar(terminated)) and not self.ignore_terminations,
            bool(_scalar(truncated)),
            out,
        )

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        frame = self.raw.render()
        frame = frame.cpu().numpy() if isinstance(frame, torch.Tensor) else np.asarray(frame)
        return frame[0] if frame.ndim == 4 else frame

    def close(self) -> None:
        self.raw.close()


class ManiSkillBatchedEnv(_ManiSkillMapping, gym.vector.VectorEnv):
    """All N envs in one batched ManiSkill env (GPU backend), contract obs on ``device``.

    Autoreset is ``SAME_STEP``: envs that finish on a step are reset in place
    (ManiSkill's partial reset) and ``info["final_obs"]`` holds their last observation.
    ``reset(options={"env_idx": idx})`` resets only the listed envs. Rows whose state turns
    non-finite are reset the same way and counted in ``info["sim_error"]``; NaN/inf actions
    become 0 (``info["action_nonfinite"]``) and out-of-bounds ones are clipped
    (``info["action_clipped"]``), as on the CPU path.
    """

    metadata = {"autoreset_mode": AUTORESET_MODE, "render_modes": ["rgb_array"]}

    def __init__(
        self,
        num_envs: int,
        task: str,
        obs_mode: str = "state",
        control_mode: str | None = None,
        reward_mode: str | None = None,
        image_size: int | tuple[int, int] = 128,
        cameras: list[str] | None = None,
        instruction: str | None = None,
        render_mode: str | None = None,
        sim_backend: str = "physx_cuda",
        name: str | None = None,
        family: str = "maniskill",
        ignore_terminations: bool = False,
        **ms_kwargs: Any,
    ) -> None:
        first = self._setup(
            task,
            num_envs,
            obs_mode,
            cameras,
            instruction,
            render_mode,
            ignore_terminations,
            control_mode=control_mode,
            reward_mode=reward_mode,
            image_size=image_size,
            sim_backend=sim_backend,
            **ms_kwargs,
        )
        base = self.raw.unwrapped
        self.num_envs = num_envs
        self.device = base.device
        self.single_observation_space = observation_space(contract_obs(first, obs_mode, self.cameras, ""))
        act = base.single_action_space
        self.single_action_space = spaces.Box(act.low, act.high, act.shape, np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        limit = ms_kwargs.get("max_episode_steps") or (
            self.raw.spec.max_episode_steps if self.raw.spec else None
        )
        self.env_spec = EnvSpec(
            name=name or task,
            observation_space=self.single_observation_space,
            action_space=self.single_action_space,
            max_episode_steps=limit,
            controller=base.control_mode,
            family=family,
        )
        self._low = torch.as_tensor(act.low, device=self.device)
        self._high = torch.as_tensor(act.high, device=self.device)

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None) -> tuple[Obs, dict]:
        options = dict(options or {})
        if "env_idx" in options:
            mask = env_idx_to_mask(options["env_idx"], self.num_envs)
            options["env_idx"] = torch.as_tensor(np.flatnonzero(mask), device=self.device)
        raw, info = self.raw.reset(seed=seed, options=options or None)
        return self._map(raw), info

    def step(self, actions: Any) -> tuple[Obs, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        a = torch.as_tensor(actions, dtype=torch.float32, device=self.device).reshape(self.num_envs, -1)
        finite = torch.isfinite(a)
        a = torch.where(finite, a, torch.zeros_like(a))  # NaN/inf -> 0, counted below
        clipped = torch.clamp(a, self._low, self._high)
        raw, reward, terminated, truncated, info = self.raw.step(clipped)
        obs = self._map(raw)
        reward = torch.as_tensor(reward, dtype=torch.float32, device=self.device).reshape(self.num_envs)
        terminated = torch.as_tensor(terminated, device=self.device).reshape(self.num_envs).bool()
        if self.ignore_terminations:
            terminated = torch.zeros_like(terminated)
        truncated = torch.as_tensor(truncated, device=self.device).reshape(self.num_envs).bool()
        bad = ~torch.isfinite(obs["state"]).all(1) | ~torch.isfinite(reward)
        if bad.any():
            log.warning(
                "%s: non-finite state in env(s) %s; resetting them", self.env_spec.name, bad.nonzero()
            )
            reward = torch.where(bad, torch.zeros_like(reward), reward)
            truncated = truncated | bad
        out = {
            k: v for k, v in info.items() if isinstance(v, torch.Tensor) and v.shape[:1] == (self.num_envs,)
        }
        out["sim_error"] = bad
        out["action_nonfinite"] = ~finite.all(1)
        out["action_clipped"] = (clipped != a).any(1)
        done = terminated | truncated
        if done.any():
            info_final = {k: (v.clone() if isinstance(v, torch.Tensor) else list(v)) for k, v in obs.items()}
            if "images" in obs:
                info_final["images"] = {c: img.clone() for c, img in obs["images"].items()}
            idx = done.nonzero().flatten()
            raw_new, _ = self.raw.reset(options={"env_idx": idx})
            obs = self._map(raw_new)
            out["final_obs"] = info_final
        return obs, reward, terminated, truncated, out

    def render(self) -> Any:
        return self.raw.render() if self.render_mode == "rgb_array" else None

    def close(self, **kwargs: Any) -> None:
        self.raw.close()


VECTORIZATIONS = ("async", "sync", "batched")


def make_maniskill_env(
    num_envs: int = 1,
    *,
    task: str,
    name: str | None = None,
    family: str = "maniskill",
    obs_mode: str = "state",
    control_mode: str | None = None,
    reward_mode: str | None = None,
    image_size: int | tuple[int, int] = 128,
    cameras: list[str] | None = None,
    sim_backend: str = "physx_cpu",
    vectorization: str | None = None,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
    device: str = "cpu",
    action_chunk: int | None = None,
    instruction: str | None = None,
    **ms_kwargs: Any,
) -> gym.vector.VectorEnv:
    """Make ``num_envs`` copies of a ManiSkill task as one contract vector env.

    Args:
        num_envs: Batch size N.
        task: ManiSkill id (``PushCube-v1``).
        name: Our registered name (``ManiSkill-PushCube-v1``).
        obs_mode, control_mode, reward_mode, image_size, cameras: See :class:`ManiSkillTaskEnv`.
        sim_backend: ``physx_cpu`` (default) or ``physx_cuda`` (GPU, batched).
        vectorization: ``async`` (one ``spawn`` worker per env; the CPU default), ``sync`` (all
            in this process) or ``batched`` (one ManiSkill env holding all N; the GPU default).
        max_episode_steps: Time limit (``None``: the task's).
        render_mode: ``"rgb_array"`` for videos.
        device: Torch device of the batches (the simulator's device for ``batched``).
        action_chunk: K actions per step (``Box(D)`` becomes ``Box(K, D)``); CPU path only.
        instruction: Override the task's sentence.
        **ms_kwargs: Passed to ManiSkill's ``gym.make`` (``robot_uids``, ``sim_config``, ...).
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    _check_options(obs_mode, reward_mode)
    check_available(task)
    gpu = sim_backend in GPU_BACKENDS
    vectorization = vectorization or ("batched" if gpu else "async")
    if vectorization not in VECTORIZATIONS:
        raise ValueError(f"vectorization must be one of {VECTORIZATIONS}, got {vectorization!r}")
    if gpu and vectorization != "batched":
        raise ValueError(
            f"sim_backend={sim_backend!r} runs all envs in one batched env: use vectorization='batched'"
        )
    prepare_vulkan()  # before spawning workers, so they inherit the driver choice
    import mani_skill.envs  # noqa: F401

    _check_reward_mode(task, reward_mode)
    if control_mode is None:
        control_mode = resolve_control_mode(task, ms_kwargs.get("robot_uids"))
    supported = robot_controllers(task, ms_kwargs.get("robot_uids"))[1]
    if control_mode not in supported:
        raise ValueError(
            f"control_mode {control_mode!r} is not a controller of {task}'s robot; it has {list(supported)}"
        )
    options = dict(
        obs_mode=obs_mode,
        control_mode=control_mode,
        reward_mode=reward_mode,
        image_size=image_size,
        cameras=cameras,
        render_mode=render_mode,
        sim_backend=sim_backend,
    )
    limit = max_episode_steps or (OFFLINE_TASKS[task][0] if task in OFFLINE_TASKS else None)
    if vectorization == "batched":
        if action_chunk is not None:
            raise ValueError("action_chunk is applied per sub-env: use vectorization='async' or 'sync'")
        if not gpu and num_envs != 1:
            raise ValueError("ManiSkill's CPU backend holds one env per simulator: batched needs num_envs=1")
        if limit is not None:
            ms_kwargs["max_episode_steps"] = limit
        return ManiSkillBatchedEnv(
            num_envs, task, name=name or our_name(task), family=family, **options, **ms_kwargs
        )

    from embodied_rl.envs.gymnasium_adapter import make_gymnasium_env
    from embodied_rl.envs.wrappers.guard import SimulatorGuard
    from embodied_rl.envs.wrappers.instruction import ConstantInstruction

    env = make_gymnasium_env(
        num_envs,
        gym_id=MANISKILL_GYM_ID,
        name=name or our_name(task),
        family=family,
        vectorization=vectorization,
        device=device,
        max_episode_steps=limit,
        action_chunk=action_chunk,
        wrapper=SimulatorGuard,
        nonfinite_actions="zero",
        task=task,
        episode_steps=limit,
        **options,
        **ms_kwargs,
    )
    env.env_spec = dataclasses.replace(env.env_spec, controller=control_mode)
    return ConstantInstruction(env, instruction or task_instruction(task))
