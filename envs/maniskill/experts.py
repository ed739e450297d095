"""Scripted experts for ManiSkill PushCube and PickCube (end-effector control, privileged state).

They read the task's privileged state (``obs_mode="state"`` or ``"state+rgb"``; layout
below, from ManiSkill's ``state_dict`` flattened in order) and command end-effector deltas
(``pd_ee_delta_pose``, the default, or ``pd_ee_delta_pos``): a waypoint follower with a
few phases decided from the geometry each step, so it needs no memory and works on a
batch. The demonstrations they give feed SFT (:mod:`embodied_rl.sft`).

State layout (PushCube, 35-D): qpos 0:9, qvel 9:18, tcp pose 18:25 (xyz, wxyz), goal 25:28,
cube pose 28:35. PickCube (42-D): qpos 0:9, qvel 9:18, is_grasped 18, tcp pose 19:26,
goal 26:29, cube pose 29:36, tcp->cube 36:39, cube->goal 39:42.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from embodied_rl.envs.core import Obs

EE_CONTROLLERS = ("pd_ee_delta_pose", "pd_ee_delta_pos")
MAX_STEP_M = 0.1
"""ManiSkill's Panda end-effector controllers map an action of 1 to a 0.1 m (0.1 rad) delta."""
CUBE_HALF = 0.02
OPEN, CLOSED = 1.0, -1.0


def _action(
    delta_xyz: np.ndarray, gripper: np.ndarray, yaw: np.ndarray | None, controller: str
) -> np.ndarray:
    """Build ``[N, 4]`` (delta pos) or ``[N, 7]`` (delta pose) normalised actions."""
    pos = np.clip(delta_xyz / MAX_STEP_M, -1.0, 1.0)
    if controller == "pd_ee_delta_pos":
        return np.concatenate([pos, gripper[:, None]], 1).astype(np.float32)
    rot = np.zeros_like(pos)
    if yaw is not None:
        rot[:, 2] = np.clip(yaw / MAX_STEP_M, -1.0, 1.0)
    return np.concatenate([pos, rot, gripper[:, None]], 1).astype(np.float32)


def quat_yaw(wxyz: np.ndarray) -> np.ndarray:
    """Yaw (rotation about world z) of quaternions ``[N, 4]`` (w, x, y, z)::

    yaw = atan2(2 (w z + x y), 1 - 2 (y^2 + z^2))
    """
    w, x, y, z = wxyz[:, 0], wxyz[:, 1], wxyz[:, 2], wxyz[:, 3]
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def wrap_quarter_turn(angle: np.ndarray) -> np.ndarray:
    """Wrap angles to [-pi/4, pi/4): a cube looks the same every quarter turn."""
    return (angle + math.pi / 4) % (math.pi / 2) - math.pi / 4


def _check(controller: str | None, obs_mode: str, task: str) -> str:
    controller = controller or "pd_ee_delta_pose"
    if controller not in EE_CONTROLLERS:
        raise ValueError(
            f"the {task} expert commands the end effector: control_mode must be one of {EE_CONTROLLERS}"
        )
    if obs_mode not in ("state", "state+rgb"):
        raise ValueError(
            f"the {task} expert reads the privileged state: obs_mode must be 'state' or 'state+rgb'"
        )
    return controller


def push_cube_expert(noise: float = 0.0, control_mode: str | None = None, obs_mode: str = "state", **_: Any):
    """PushCube: go behind the cube (high, then down), then push it along +x onto the goal."""
    controller = _check(control_mode, obs_mode, "PushCube")

    def act(obs: Obs, rng: np.random.Generator) -> torch.Tensor:
        s = obs["state"].cpu().numpy().astype(np.float64)
        tcp, goal, cube = s[:, 18:21], s[:, 25:28], s[:, 28:31]
        behind = cube + np.array([-(CUBE_HALF + 0.025), 0.0, 0.0])
        behind[:, 2] = 0.02
        dx, dy = cube[:, 0] - tcp[:, 0], np.abs(cube[:, 1] - tcp[:, 1])
        in_contact = (dx > 0.015) & (dx < 0.06) & (dy < 0.015) & (tcp[:, 2] < 0.035)
        over_behind = np.linalg.norm(tcp[:, :2] - behind[:, :2], axis=1) < 0.01
        travel = behind.copy()
        travel[:, 2] = 0.06  # cross above the cube (its top is at 0.04)
        push = np.stack([np.minimum(goal[:, 0], tcp[:, 0] + 0.03), cube[:, 1], np.full(len(s), 0.02)], 1)
        target = np.where(in_contact[:, None], push, np.where(over_behind[:, None], behind, travel))
        delta = target - tcp
        if noise:
            delta = delta + rng.normal(0.0, noise * MAX_STEP_M, delta.shape)
        return torch.as_tensor(_action(delta, np.full(len(s), CLOSED), None, controller))

    return act


def pick_cube_expert(noise: float = 0.0, control_mode: str | None = None, obs_mode: str = "state", **_: Any):
    """PickCube: above the cube with the gripper open and turned to its yaw, down, close, carry to the goal."""
    controller = _check(control_mode, obs_mode, "PickCube")

    def act(obs: Obs, rng: np.random.Generator) -> torch.Tensor:
        s = obs["state"].cpu().numpy().astype(np.float64)
        grasped = s[:, 18] > 0.5
        tcp, tcp_q, goal, cube, cube_q = s[:, 19:22], s[:, 22:26], s[:, 26:29], s[:, 29:32], s[:, 32:36]
        yaw_err = wrap_quarter_turn(quat_yaw(cube_q) - quat_yaw(tcp_q))
        above = cube + np.array([0.0, 0.0, 0.05])
        over = np.linalg.norm(tcp[:, :2] - cube[:, :2], axis=1) < 0.01
        at_cube = over & (np.abs(tcp[:, 2] - cube[:, 2]) < 0.01)
        target = np.where(over[:, None], cube, above)
        gripper = np.where(at_cube | grasped, CLOSED, OPEN)
        target = np.where(grasped[:, None], goal, target)
        delta = np.where((at_cube & ~grasped)[:, None], 0.0, target - tcp)  # hold still while closing
        if noise:
            delta = delta + rng.normal(0.0, noise * MAX_STEP_M, delta.shape)
        yaw = np.where(grasped, 0.0, -yaw_err)
        return torch.as_tensor(_action(delta, gripper, yaw, controller))

    return act
