"""Tiny built-in envs for tests and pixel-policy smoke runs (no extra dependency)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

CELL = 4
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])  # up, down, left, right


class GridGoalPixels(gym.Env):
    """Reach the goal on a small grid, seen only through pixels.

    Description:
        A ``size x size`` grid drawn as a ``(size*4) x (size*4)`` RGB image: the agent is
        red, the goal green. Actions: 0 up, 1 down, 2 left, 3 right (walls block).
    Randomisations:
        Agent and goal cells are drawn uniformly (distinct) at reset.
    Reward and success:
        +1 and ``terminated`` on reaching the goal (``info["success"] = True``), else 0.
        The registered version truncates after 16 steps.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, size: int = 4, render_mode: str | None = None) -> None:
        self.size = size
        self.render_mode = render_mode
        side = size * CELL
        self.observation_space = spaces.Box(0, 255, (side, side, 3), np.uint8)
        self.action_space = spaces.Discrete(4)
        self._agent = np.zeros(2, dtype=np.int64)
        self._goal = np.zeros(2, dtype=np.int64)

    def _image(self) -> np.ndarray:
        img = np.zeros(self.observation_space.shape, dtype=np.uint8)
        for (r, c), color in ((self._goal, (0, 255, 0)), (self._agent, (255, 0, 0))):
            img[r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL] = color
        return img

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        cells = self.np_random.choice(self.size * self.size, size=2, replace=False)
        self._agent = np.array(divmod(int(cells[0]), self.size))
        self._goal = np.array(divmod(int(cells[1]), self.size))
        return self._image(), {"success": False}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r} for {self.action_space}")
        self._agent = np.clip(self._agent + MOVES[int(action)], 0, self.size - 1)
        success = bool((self._agent == self._goal).all())
        return self._image(), float(success), success, False, {"success": success}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return np.kron(self._image(), np.ones((8, 8, 1), dtype=np.uint8))  # 8x upscale for videos


REACH_STEP = 0.1
REACH_RADIUS = 0.1
REACH_COLORS = {"red": (230, 40, 40), "blue": (40, 90, 230)}


class PointReach(gym.Env):
    """Move a point to the target named in the instruction (continuous control, language).

    Description:
        A point in the square ``[-1, 1]^2`` and two targets, a red and a blue one. The
        instruction (``"reach the red target"`` / ``"reach the blue target"``) names the
        one to reach. Actions are 2-D velocities in ``[-1, 1]^2``; the point moves by
        ``0.1 * action`` per step (clipped to the square).
    Observation:
        ``state`` = ``[x, y, red_x, red_y, blue_x, blue_y, is_red]`` (the last entry
        repeats the instruction as a number, so state-only policies can solve it),
        ``instruction`` (text) and, with ``image_size > 0``, ``images["rgb"]``: the scene
        drawn at ``image_size`` pixels (point white, targets in their colour).
    Reward and success:
        Dense progress reward ``d_{t-1} - d_t`` (distance to the named target) scaled by
        10, plus 1 and ``terminated`` once within 0.1 of it (``info["success"]``).
        The registered version truncates after 30 steps.
    Randomisations:
        Point, both targets and the instructed colour are drawn uniformly at reset;
        ``target="red"`` or ``"blue"`` fixes the instructed colour (one task per colour,
        as in the ``point-reach`` evaluation suite).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, image_size: int = 0, target: str = "random", render_mode: str | None = None) -> None:
        if target not in ("random", *REACH_COLORS):
            raise ValueError(f"target must be 'random', 'red' or 'blue', got {target!r}")
        self.image_size = image_size
        self.target = target
        self.render_mode = render_mode
        obs: dict[str, spaces.Space] = {
            "state": spaces.Box(-1.0, 1.0, (7,), np.float32),
            "instruction": spaces.Text(64, charset="abcdefghijklmnopqrstuvwxyz "),
        }
        if image_size:
            obs["rgb"] = spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._pos = np.zeros(2)
        self._targets = np.zeros((2, 2))
        self._which = 0

    @property
    def goal(self) -> np.ndarray:
        return self._targets[self._which]

    @property
    def instruction(self) -> str:
        return f"reach the {list(REACH_COLORS)[self._which]} target"

    def _obs(self) -> dict[str, Any]:
        state = np.concatenate([self._pos, self._targets.reshape(-1), [1.0 - self._which]])
        obs: dict[str, Any] = {"state": state.astype(np.float32), "instruction": self.instruction}
        if self.image_size:
            obs["rgb"] = self._draw(self.image_size)
        return obs

    def _draw(self, size: int) -> np.ndarray:
        img = np.full((size, size, 3), 30, dtype=np.uint8)
        r = max(1, size // 16)

        def dot(p: np.ndarray, color: tuple[int, int, int]) -> None:
            cx, cy = ((p + 1.0) / 2.0 * (size - 1)).round().astype(int)
            img[max(0, cy - r) : cy + r + 1, max(0, cx - r) : cx + r + 1] = color

        for target, color in zip(self._targets, REACH_COLORS.values(), strict=True):
            dot(target, color)
        dot(self._pos, (255, 255, 255))
        return img

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self._pos = self.np_random.uniform(-1.0, 1.0, 2)
        self._targets = self.np_random.uniform(-1.0, 1.0, (2, 2))
        which = int(self.np_random.integers(2))  # drawn either way: same positions for every target
        self._which = which if self.target == "random" else list(REACH_COLORS).index(self.target)
        return self._obs(), {"success": False}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        action = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -1.0, 1.0)
        before = float(np.linalg.norm(self.goal - self._pos))
        self._pos = np.clip(self._pos + REACH_STEP * action, -1.0, 1.0)
        after = float(np.linalg.norm(self.goal - self._pos))
        success = after < REACH_RADIUS
        reward = 10.0 * (before - after) + float(success)
        return self._obs(), reward, success, False, {"success": success}

    def render(self) -> np.ndarray | None:
        return self._draw(128) if self.render_mode == "rgb_array" else None


def point_reach_expert(
    state: np.ndarray, noise: float = 0.0, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Scripted expert for :class:`PointReach`: head straight for the named target.

    ``a = clip((goal - pos) / 0.1, -1, 1) + noise * N(0, I)`` (clipped again), batched over
    rows of ``state`` ``[N, 7]``.
    """
    state = np.asarray(state, dtype=np.float64)
    pos, red, blue, is_red = state[:, 0:2], state[:, 2:4], state[:, 4:6], state[:, 6:7]
    goal = np.where(is_red > 0.5, red, blue)
    action = np.clip((goal - pos) / REACH_STEP, -1.0, 1.0)
    if noise:
        rng = rng or np.random.default_rng()
        action = np.clip(action + noise * rng.standard_normal(action.shape), -1.0, 1.0)
    return action.astype(np.float32)


class SyntheticCompute(gym.Env):
    """A simulator stand-in that burns a configurable amount of CPU per step (no sleeping).

    Description:
        Each step runs ``work`` rounds of ``x = tanh(W @ x)`` with a fixed 128x128 matrix ``W``
        and ``x`` of shape ``[128, width]`` (torch, single-threaded inside env workers), so its
        cost is real compute and scales linearly with ``work``. ``width=1`` (a matvec) costs
        mostly torch's per-op dispatch, ``width=128`` (a matmul, 4.2 MFLOP a round) mostly
        arithmetic on cache-resident data. Used by the pipeline benchmark to set the simulation
        time T_s against the policy's inference time T_i.
    Observation:
        ``state`` = the first ``obs_dim`` entries of ``x``'s first column (float32); with
        ``image_size=S > 0`` instead an ``S x S`` RGB image (uint8) tiled from it, for pixel
        policies.
    Actions:
        ``[-1, 1]^act_dim``; the action is added to the first ``act_dim`` rows of ``x`` before
        the rounds.
    Reward and success:
        ``-mean(action^2)``, never terminates; the registered version truncates after 50 steps.
    """

    def __init__(
        self, work: int = 100, obs_dim: int = 16, act_dim: int = 4, image_size: int = 0, width: int = 1
    ) -> None:
        if work < 0:
            raise ValueError(f"work must be >= 0, got {work}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.work = work
        self.width = width
        self.image_size = image_size
        if image_size > 0:
            self.observation_space = spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
        else:
            self.observation_space = spaces.Box(-1.0, 1.0, (obs_dim,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (act_dim,), np.float32)
        gen = torch.Generator().manual_seed(0)
        self._w = torch.randn(128, 128, generator=gen) / 128**0.5
        self._x = torch.zeros(128, width)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._x = torch.from_numpy(self.np_random.uniform(-1, 1, (128, self.width)).astype(np.float32))
        return self._obs(), {}

    def _obs(self) -> np.ndarray:
        x = self._x[:, 0].numpy()
        if self.image_size > 0:
            pixels = np.resize((x + 1.0) * 127.5, self.observation_space.shape)
            return pixels.astype(np.uint8)
        return x[: self.observation_space.shape[0]].copy()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = np.asarray(action, dtype=np.float32)
        x = self._x.clone()
        x[: a.shape[0]] += torch.from_numpy(a)[:, None]
        for _ in range(self.work):
            x = torch.tanh(self._w @ x)
        self._x = x
        return self._obs(), float(-np.mean(a**2)), False, False, {}
