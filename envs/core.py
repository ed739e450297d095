"""The env contract: spec types, observation helpers and the contract checks.

Every environment is a Gymnasium ``VectorEnv`` whose batch lives in torch tensors
(see DESIGN.md, "The env contract"):

- ``reset(seed=..., options={"env_idx": idx})`` resets all envs or the listed ones.
  ``seed`` may be an int (env ``i`` gets ``seed + i``) or one seed per env; equal
  seeds give equal initial states, which is how GRPO groups are made
  (:func:`group_seeds`).
- ``step(actions) -> obs, reward, terminated, truncated, info`` with ``reward`` a
  float32 ``[N]`` tensor and ``terminated``/``truncated`` bool ``[N]`` tensors.
- Autoreset is ``SAME_STEP`` (declared in ``metadata["autoreset_mode"]``): the obs
  returned on a finished step is already the first obs of the next episode, and
  ``info["final_obs"]`` holds a full batch in which finished envs carry the last
  obs of the episode they just ended (other rows repeat the current obs), so a
  truncated episode can be bootstrapped with V(final obs).
- Observations are dicts with fixed keys where they apply (:data:`OBS_KEYS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

Obs = dict[str, Any]
"""A batched observation: ``{"state": Tensor[N, D], "images": {cam: uint8[N, H, W, 3]}, ...}``."""

OBS_KEYS = ("images", "state", "instruction", "text", "action_mask", "dom")
"""The observation keys a contract env may return; nothing else is allowed."""

AUTORESET_MODE = AutoresetMode.SAME_STEP


class AnyText(spaces.Text):
    """A ``Text`` space that accepts any string up to ``max_length`` (model text is arbitrary unicode).

    ``sample()`` still draws from the ASCII letters and digits.
    """

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length


class EnvContractError(AssertionError):
    """An env does not honour the contract (raised by :func:`check_vector_env`)."""


@dataclass(frozen=True)
class EnvSpec:
    """What a policy needs to know to fit an env (single-env view).

    Attributes:
        name: Registered name (``"CartPole-v1"``).
        observation_space: ``spaces.Dict`` over a subset of :data:`OBS_KEYS`.
        action_space: The single-env action space (``Box``, ``Discrete``, ``Text``).
        max_episode_steps: Time limit, when the env has one.
        controller: Name of the robot controller for robot envs (e.g. ``pd_ee_delta_pose``).
        family: Where it comes from (``gymnasium/classic_control``, ``maniskill``, ...).
    """

    name: str
    observation_space: spaces.Dict
    action_space: spaces.Space
    max_episode_steps: int | None = None
    controller: str | None = None
    family: str = ""

    @property
    def state_dim(self) -> int | None:
        space = self.observation_space.spaces.get("state")
        return None if space is None else int(np.prod(space.shape))

    @property
    def image_shapes(self) -> dict[str, tuple[int, ...]]:
        images = self.observation_space.spaces.get("images")
        if images is None:
            return {}
        return {cam: tuple(space.shape) for cam, space in images.spaces.items()}

    @property
    def action_kind(self) -> str:
        """``"continuous"``, ``"discrete"`` or ``"text"``."""
        if isinstance(self.action_space, spaces.Box):
            return "continuous"
        if isinstance(self.action_space, spaces.Discrete):
            return "discrete"
        if isinstance(self.action_space, spaces.Text):
            return "text"
        return type(self.action_space).__name__

    def summary(self) -> str:
        """One line for ``embodied-rl envs``."""
        obs = []
        if self.state_dim is not None:
            obs.append(f"state[{self.state_dim}]")
        obs += [f"images.{cam}{list(shape)}" for cam, shape in self.image_shapes.items()]
        obs += [k for k in ("instruction", "text") if k in self.observation_space.spaces]
        if isinstance(self.action_space, spaces.Box):
            act = f"Box{list(self.action_space.shape)}"
        elif isinstance(self.action_space, spaces.Discrete):
            act = f"Discrete({self.action_space.n})"
        else:
            act = type(self.action_space).__name__
        parts = [f"obs: {', '.join(obs)}", f"action: {act}"]
        if self.max_episode_steps:
            parts.append(f"max_steps: {self.max_episode_steps}")
        if self.controller:
            parts.append(f"controller: {self.controller}")
        return "; ".join(parts)


def group_seeds(seed: int, num_envs: int, group_size: int) -> list[int]:
    """Seeds for GRPO: env ``i`` gets ``seed + i // group_size``.

    Envs in the same contiguous block of ``group_size`` share a seed, hence the same
    initial state and task.
    """
    if group_size < 1 or num_envs % group_size:
        raise ValueError(f"num_envs={num_envs} is not divisible by group_size={group_size}")
    return [seed + i // group_size for i in range(num_envs)]


def env_idx_to_mask(env_idx: Sequence[int] | torch.Tensor | np.ndarray, num_envs: int) -> np.ndarray:
    """Turn a list of env indices (or a bool mask) into a bool mask of length ``num_envs``."""
    idx = torch.as_tensor(env_idx).cpu().numpy() if not isinstance(env_idx, np.ndarray) else env_idx
    if idx.dtype == bool:
        if idx.shape != (num_envs,):
            raise ValueError(f"env_idx mask has shape {idx.shape}, expected ({num_envs},)")
        return idx
    mask = np.zeros(num_envs, dtype=bool)
    if idx.size and (idx.min() < 0 or idx.max() >= num_envs):
        raise ValueError(f"env_idx {idx.tolist()} out of range for num_envs={num_envs}")
    mask[idx.astype(np.int64)] = True
    return mask


def obs_to_torch(obs: Any, device: torch.device | str = "cpu", copy: bool = False) -> Any:
    """Recursively turn numpy arrays in an observation into tensors on ``device``.

    With ``copy`` the tensors never share memory with the arrays (needed when the
    producer reuses its buffers, as Gymnasium vector envs with ``copy=False`` do).
    """
    if isinstance(obs, dict):
        return {k: obs_to_torch(v, device, copy) for k, v in obs.items()}
    if isinstance(obs, np.ndarray):
        if obs.dtype == object:  # strings (instructions, text) stay as a Python list
            return list(obs)
        # ndarray.copy() + from_numpy is ~3x cheaper than Tensor.to(device, copy=True) on CPU
        tensor = torch.from_numpy(obs.copy() if copy else obs)
        return tensor.to(device)
    if isinstance(obs, tuple):  # Text spaces batch to tuples of str
        return list(obs)
    return obs


def obs_to_numpy(obs: Any) -> Any:
    """Inverse of :func:`obs_to_torch` (used by the single-env view for ``check_env``)."""
    if isinstance(obs, dict):
        return {k: obs_to_numpy(v) for k, v in obs.items()}
    if isinstance(obs, torch.Tensor):
        return obs.detach().cpu().numpy()
    return obs


def index_obs(obs: Obs, index: Any) -> Obs:
    """Select rows ``index`` of every leaf of a batched observation."""
    if isinstance(obs, dict):
        return {k: index_obs(v, index) for k, v in obs.items()}
    if isinstance(obs, torch.Tensor):
        return obs[index]
    if isinstance(obs, list):
        if isinstance(index, int):
            return obs[index]
        rows = torch.arange(len(obs))[index]
        return [obs[i] for i in rows.tolist()]
    raise TypeError(f"cannot index observation leaf of type {type(obs).__name__}")


def check_finite(obs: Obs, where: str) -> None:
    """Raise ``FloatingPointError`` naming the key when a float leaf has NaN/inf."""

    def visit(x: Any, key: str) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                visit(v, f"{key}.{k}" if key else k)
        elif isinstance(x, torch.Tensor) and x.is_floating_point() and not torch.isfinite(x).all():
            rows = (~torch.isfinite(x)).reshape(x.shape[0], -1).any(1).nonzero().flatten().tolist()
            raise FloatingPointError(f"{where}: observation '{key}' has NaN/inf in env rows {rows}")

    visit(obs, "")


def check_vector_env(env: gym.vector.VectorEnv, spec: EnvSpec, steps: int = 50, seed: int = 0) -> None:
    """Our vector contract test (Gymnasium's ``check_env`` covers the single-env form).

    Checks keys/dtypes/shapes against the spec, batched reward/termination types,
    the declared autoreset mode, that equal seeds give equal initial observations,
    partial resets by ``env_idx``, and ``info["final_obs"]`` on finished steps.
    """

    def fail(msg: str) -> None:
        raise EnvContractError(f"{spec.name}: {msg}")

    n = env.num_envs
    if env.metadata.get("autoreset_mode") != AUTORESET_MODE:
        fail(f"metadata['autoreset_mode'] must be {AUTORESET_MODE}, got {env.metadata.get('autoreset_mode')}")

    def check_obs(obs: Obs, what: str) -> None:
        if not isinstance(obs, dict) or not set(obs) <= set(OBS_KEYS):
            fail(f"{what} keys {sorted(obs) if isinstance(obs, dict) else type(obs)} not within {OBS_KEYS}")
        if set(obs) != set(spec.observation_space.spaces):
            fail(f"{what} keys {sorted(obs)} differ from spec {sorted(spec.observation_space.spaces)}")
        if "state" in obs:
            state = obs["state"]
            if not (isinstance(state, torch.Tensor) and state.dtype == torch.float32):
                fail(f"{what}['state'] must be a float32 tensor, got {getattr(state, 'dtype', type(state))}")
            if tuple(state.shape) != (n, spec.state_dim):
                fail(f"{what}['state'] shape {tuple(state.shape)} != {(n, spec.state_dim)}")
        for cam, shape in spec.image_shapes.items():
            img = obs["images"][cam]
            if img.dtype != torch.uint8 or tuple(img.shape) != (n, *shape):
                fail(
                    f"{what}['images']['{cam}'] must be uint8 {(n, *shape)}, got {img.dtype} {tuple(img.shape)}"
                )
        for key in ("instruction", "text"):
            if key in obs and (not isinstance(obs[key], list) or len(obs[key]) != n):
                fail(f"{what}['{key}'] must be a list of {n} strings")

    obs, _ = env.reset(seed=seed)
    check_obs(obs, "reset obs")
    same, _ = env.reset(seed=[seed] * n)
    again, _ = env.reset(seed=[seed] * n)
    for key in ("state",):
        if key in same:
            if not torch.equal(same[key], again[key]):
                fail("reset with the same seeds gave different observations")
            if not torch.allclose(same[key][0].expand_as(same[key]), same[key]):
                fail("envs given the same seed started in different states (GRPO groups need equal starts)")
    if n > 1:
        partial, _ = env.reset(seed=seed + 1, options={"env_idx": [0]})
        check_obs(partial, "partial reset obs")
        if "state" in partial and not torch.equal(partial["state"][1:], again["state"][1:]):
            fail("reset(options={'env_idx': [0]}) changed envs other than 0")

    saw_done = False
    sample_space = env.action_space
    sample_space.seed(seed)
    for _ in range(steps):
        actions = sample_space.sample()
        obs, reward, terminated, truncated, info = env.step(actions)
        check_obs(obs, "step obs")
        if not (isinstance(reward, torch.Tensor) and reward.dtype == torch.float32 and reward.shape == (n,)):
            fail(f"reward must be a float32 tensor of shape ({n},)")
        for name, flag in (("terminated", terminated), ("truncated", truncated)):
            if not (isinstance(flag, torch.Tensor) and flag.dtype == torch.bool and flag.shape == (n,)):
                fail(f"{name} must be a bool tensor of shape ({n},)")
        if (terminated | truncated).any():
            saw_done = True
            if "final_obs" not in info:
                fail("a finished step must carry info['final_obs']")
            check_obs(info["final_obs"], "info['final_obs']")
    limit = spec.max_episode_steps
    if limit is not None and steps > limit and not saw_done:
        fail(f"no episode finished in {steps} random steps despite max_episode_steps={limit}")


def space_to_dict(space: spaces.Space) -> dict[str, Any]:
    """A JSON-able description of a space (Box, Discrete, Text, Dict), for checkpoints."""
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_dict(v) for k, v in space.spaces.items()}}
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": space.low.tolist(),
            "high": space.high.tolist(),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Text):
        return {"type": "Text", "max_length": space.max_length, "min_length": space.min_length}
    raise TypeError(f"cannot serialise space {space}")


def space_from_dict(data: dict[str, Any]) -> spaces.Space:
    """Inverse of :func:`space_to_dict`."""
    kind = data["type"]
    if kind == "Dict":
        return spaces.Dict({k: space_from_dict(v) for k, v in data["spaces"].items()})
    if kind == "Box":
        dtype = np.dtype(data["dtype"])
        return spaces.Box(
            np.asarray(data["low"], dtype), np.asarray(data["high"], dtype), tuple(data["shape"]), dtype
        )
    if kind == "Discrete":
        return spaces.Discrete(data["n"], start=data.get("start", 0))
    if kind == "Text":
        return spaces.Text(data["max_length"], min_length=data.get("min_length", 1))
    raise ValueError(f"unknown space type {kind!r}")


def spec_to_dict(spec: EnvSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "observation_space": space_to_dict(spec.observation_space),
        "action_space": space_to_dict(spec.action_space),
        "max_episode_steps": spec.max_episode_steps,
        "controller": spec.controller,
        "family": spec.family,
    }


def spec_from_dict(data: dict[str, Any]) -> EnvSpec:
    return EnvSpec(
        name=data["name"],
        observation_space=space_from_dict(data["observation_space"]),  # type: ignore[arg-type]
        action_space=space_from_dict(data["action_space"]),
        max_episode_steps=data.get("max_episode_steps"),
        controller=data.get("controller"),
        family=data.get("family", ""),
    )
