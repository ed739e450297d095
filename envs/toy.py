"""Tiny built-in envs for tests and pixel-policy smoke runs (no extra dependency)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
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
