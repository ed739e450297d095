"""Stack the last k observations of ``state`` and of each camera image."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from embodied_rl.envs.core import Obs, env_idx_to_mask
from embodied_rl.envs.wrappers.base import ContractVectorWrapper, require_env_spec
from gymnasium import spaces

STACKED_KEYS = ("state", "images")


def stack_history(history: torch.Tensor, image: bool) -> torch.Tensor:
    """The policy view of a ``[N, k, ...]`` history, oldest first.

    State ``[N, k, D]`` -> ``[N, k*D]`` (``out[:, j*D:(j+1)*D]`` is frame ``j``); images
    ``[N, k, H, W, C]`` -> ``[N, H, W, k*C]`` (channels ``j*C:(j+1)*C`` are frame ``j``).
    """
    if image:
        n, k, h, w, c = history.shape
        return history.permute(0, 2, 3, 1, 4).reshape(n, h, w, k * c)
    return history.reshape(history.shape[0], -1)


def _stacked_space(space: spaces.Dict, k: int) -> spaces.Dict:
    out = dict(space.spaces)
    if "state" in out:
        state = out["state"]
        out["state"] = spaces.Box(
            np.tile(state.low, k), np.tile(state.high, k), (k * state.shape[0],), state.dtype
        )
    if "images" in out:
        out["images"] = spaces.Dict(
            {
                cam: spaces.Box(0, 255, (*box.shape[:-1], k * box.shape[-1]), np.uint8)
                for cam, box in out["images"].spaces.items()
            }
        )
    return spaces.Dict(out)


def _where_rows(
    rows: torch.Tensor, new: dict[str, torch.Tensor], old: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Per key, ``new`` in the rows where the bool ``[N]`` mask is set, else ``old`` (fresh tensors).

    Never in place: observations handed out earlier may be views of the old history.
    """
    out = {}
    for key, x in new.items():
        mask = rows.to(x.device).reshape(-1, *([1] * (x.dim() - 1)))
        out[key] = torch.where(mask, x, old[key])
    return out


class FrameStack(ContractVectorWrapper):
    """Give the policy the last ``k`` observations of ``state`` and of every camera.

    ``obs["state"]`` becomes ``[N, k*D]`` (concatenated along the last dim, oldest first) and
    each ``obs["images"][cam]`` becomes ``[N, H, W, 3k]`` (stacked along channels, oldest
    first); other keys (``instruction``, ``text``) pass through as the newest value.

    A new episode's history is ``k`` copies of its first observation: on ``reset`` (all
    envs, or the ``options["env_idx"]`` rows) and on a SAME_STEP autoreset (a row done at
    step ``t`` returns the next episode's first obs). ``info["final_obs"]`` of a done row
    is the finished episode's stack: its previous ``k-1`` observations followed by the
    final observation; the other rows repeat the current stacked obs.

    Args:
        env: A contract vector env.
        k: Number of observations stacked (>= 1).
    """

    def __init__(self, env: gym.vector.VectorEnv, k: int) -> None:
        if k < 1:
            raise ValueError(f"FrameStack k must be >= 1, got {k}")
        spec = require_env_spec(env, "FrameStack")
        if not any(key in spec.observation_space.spaces for key in STACKED_KEYS):
            raise ValueError(f"FrameStack: env {spec.name} has neither state nor images to stack")
        super().__init__(env, observation_space=_stacked_space(spec.observation_space, k))
        self.k = k
        self._history: dict[str, torch.Tensor] | None = None  # "state" and "images/<cam>" -> [N, k, ...]

    @staticmethod
    def _leaves(obs: Obs) -> dict[str, torch.Tensor]:
        leaves = {"state": obs["state"]} if "state" in obs else {}
        leaves.update({f"images/{cam}": img for cam, img in obs.get("images", {}).items()})
        return leaves

    def _view(self, obs: Obs, history: dict[str, torch.Tensor]) -> Obs:
        out = dict(obs)
        if "state" in history:
            out["state"] = stack_history(history["state"], image=False)
        if "images" in obs:
            out["images"] = {
                cam: stack_history(history[f"images/{cam}"], image=True) for cam in obs["images"]
            }
        return out

    def _repeat(self, leaves: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {key: x.unsqueeze(1).repeat_interleave(self.k, dim=1) for key, x in leaves.items()}

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        """Reset; the history of every reset row is filled with copies of its first obs."""
        obs, info = self.env.reset(seed=seed, options=options)
        fresh = self._repeat(self._leaves(obs))
        if self._history is None or not options or "env_idx" not in options:
            self._history = fresh
        else:
            mask = torch.from_numpy(env_idx_to_mask(options["env_idx"], self.num_envs))
            self._history = _where_rows(mask, fresh, self._history)
        return self._view(obs, self._history), info

    def step(self, actions: Any) -> tuple[Obs, Any, Any, Any, dict[str, Any]]:
        """Step; done rows restart their history from the next episode's first obs."""
        if self._history is None:
            raise RuntimeError("FrameStack: call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(actions)
        current = self._leaves(obs)
        # the obs each row's finished-or-continuing episode ends this step with
        last = self._leaves(info["final_obs"]) if "final_obs" in info else current
        shifted = {
            key: torch.cat([h[:, 1:], last[key].unsqueeze(1)], dim=1) for key, h in self._history.items()
        }
        done = terminated | truncated
        if "final_obs" in info:
            info["final_obs"] = self._view(info["final_obs"], shifted)
        if done.any():
            shifted = _where_rows(done, self._repeat(current), shifted)
        self._history = shifted
        return self._view(obs, shifted), reward, terminated, truncated, info
