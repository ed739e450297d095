"""Any registered Gymnasium env behind the embodied-rl env contract.

A raw Gymnasium env is wrapped per sub-env by :class:`ContractObservation` (its
observation becomes ``{"state": ...}`` / ``{"images": {...}}``), vectorised by
Gymnasium's ``SyncVectorEnv`` or ``AsyncVectorEnv`` with ``SAME_STEP`` autoreset,
and turned into torch batches by :class:`TorchVectorEnv`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from embodied_rl.envs.core import (
    AUTORESET_MODE,
    EnvSpec,
    Obs,
    env_idx_to_mask,
    obs_to_torch,
)
from gymnasium import spaces

VECTORIZATION = ("sync", "async")
TEXT_KEYS = ("instruction", "text")


def _is_image(space: spaces.Space) -> bool:
    return (
        isinstance(space, spaces.Box)
        and space.dtype == np.uint8
        and len(space.shape) == 3
        and space.shape[-1] in (1, 3, 4)
    )


def state_space(raw: spaces.Space) -> spaces.Box:
    """The contract's flat float32 ``state`` space of a ``Box`` or ``Discrete`` (one-hot) space."""
    low, high = (raw.low, raw.high) if isinstance(raw, spaces.Box) else (0.0, 1.0)
    dim = spaces.flatdim(raw)
    return spaces.Box(
        np.broadcast_to(np.asarray(low, np.float32).reshape(-1), (dim,)).copy(),
        np.broadcast_to(np.asarray(high, np.float32).reshape(-1), (dim,)).copy(),
        (dim,),
        np.float32,
    )


def _has_text(space: spaces.Space) -> bool:
    if isinstance(space, spaces.Dict):
        return any(_has_text(sub) for sub in space.spaces.values())
    return isinstance(space, spaces.Text)


def is_state_box(space: spaces.Space) -> bool:
    """A ``Box`` that is not an image: its batch maps to ``state`` in one step (no per-env wrapper)."""
    return isinstance(space, spaces.Box) and not _is_image(space)


class ContractObservation(gym.ObservationWrapper):
    """Map a Gymnasium observation to the contract's dict form (numpy, single env).

    - ``Box`` of any non-image shape -> ``{"state": float32[D]}`` (flattened)
    - ``Discrete(n)`` -> ``{"state": one-hot float32[n]}``
    - ``Box`` uint8 ``HxWxC`` -> ``{"images": {"rgb": uint8[H, W, C]}}``
    - ``Dict`` -> image entries into ``images`` (by key), ``Text`` entries named
      ``instruction`` / ``text`` passed through as strings, the rest flattened into ``state``
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        raw = env.observation_space
        self._image_keys: list[str] = []
        self._state_keys: list[str] = []
        self._text_keys: list[str] = []
        if isinstance(raw, spaces.Dict):
            for key, sub in raw.spaces.items():
                if isinstance(sub, spaces.Text) and key in TEXT_KEYS:
                    self._text_keys.append(key)
                else:
                    (self._image_keys if _is_image(sub) else self._state_keys).append(key)
            unsupported = [
                k for k in self._state_keys if not isinstance(raw[k], (spaces.Box, spaces.Discrete))
            ]
        else:
            unsupported = [] if isinstance(raw, (spaces.Box, spaces.Discrete)) else ["<root>"]
        if unsupported:
            raise TypeError(
                f"{env.spec.id if env.spec else env}: observation space {raw} is not supported by the "
                "Gymnasium adapter (Box, Discrete or a Dict of those)"
            )
        out: dict[str, spaces.Space] = {}
        if isinstance(raw, spaces.Dict):
            if self._state_keys:
                dim = sum(spaces.flatdim(raw[k]) for k in self._state_keys)
                out["state"] = spaces.Box(-np.inf, np.inf, (dim,), np.float32)
            if self._image_keys:
                out["images"] = spaces.Dict({k: raw[k] for k in self._image_keys})
            out.update({k: raw[k] for k in self._text_keys})
        elif _is_image(raw):
            out["images"] = spaces.Dict({"rgb": raw})
        else:
            out["state"] = state_space(raw)
        self.observation_space = spaces.Dict(out)

    def observation(self, observation: Any) -> dict[str, Any]:
        raw = self.env.observation_space
        if not isinstance(raw, spaces.Dict):
            if "images" in self.observation_space.spaces:
                return {"images": {"rgb": observation}}
            if isinstance(raw, spaces.Box):  # the hot path: one cast + a view, no flatten() copy
                return {"state": np.asarray(observation, dtype=np.float32).reshape(-1)}
            return {"state": spaces.flatten(raw, observation).astype(np.float32)}
        out: dict[str, Any] = {}
        if self._state_keys:
            parts = [spaces.flatten(raw[k], observation[k]) for k in self._state_keys]
            out["state"] = np.concatenate(parts).astype(np.float32)
        if self._image_keys:
            out["images"] = {k: observation[k] for k in self._image_keys}
        out.update({k: observation[k] for k in self._text_keys})
        return out


def _set_row(batch: Any, i: int, value: Any) -> None:
    """Write one env's observation into row ``i`` of a numpy batch, in place."""
    if isinstance(batch, dict):
        for k in batch:
            _set_row(batch[k], i, value[k])
    else:
        batch[i] = value


def _copy_tree(batch: Any) -> Any:
    """Copy a numpy batch; text leaves (tuples of str) become lists so rows can be set."""
    if isinstance(batch, dict):
        return {k: _copy_tree(v) for k, v in batch.items()}
    return list(batch) if isinstance(batch, tuple) else batch.copy()


def _merge_final_info(info: dict[str, Any], final_info: dict[str, Any], num_envs: int) -> None:
    """Put the last-step values of finished envs (``final_info``) into ``info``, in place.

    Array entries only; rows of envs that did not finish keep their current value (or a
    zero / empty default when the key was not in ``info``).
    """
    for key, value in final_info.items():
        if key.startswith("_") or not isinstance(value, np.ndarray) or value.shape[:1] != (num_envs,):
            continue
        rows = final_info[f"_{key}"]
        current = info.get(key)
        if isinstance(current, np.ndarray) and current.shape == value.shape:
            merged = current.astype(np.result_type(current, value), copy=True)
        else:
            merged = np.zeros_like(value)
        merged[rows] = value[rows]
        info[key] = merged
        info[f"_{key}"] = np.asarray(info.get(f"_{key}", np.zeros(num_envs, bool)), dtype=bool) | rows


NONFINITE_ACTIONS = ("raise", "zero")


class TorchVectorEnv(gym.vector.VectorWrapper):
    """A numpy Gymnasium vector env (SAME_STEP autoreset) seen through the torch contract.

    Continuous actions are checked before they reach the simulator: out-of-bounds values
    are clipped to the action space (``clip_actions``) and flagged per env in
    ``info["action_clipped"]``; NaN/inf values raise ``FloatingPointError``
    (``nonfinite_actions="raise"``) or are replaced by 0 and flagged in
    ``info["action_nonfinite"]`` (``"zero"``, the robot families' choice: a bad policy
    output is counted, never a simulator crash).
    """

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        spec: EnvSpec,
        device: str = "cpu",
        clip_actions: bool = True,
        nonfinite_actions: str = "raise",
    ) -> None:
        super().__init__(env)
        if env.metadata.get("autoreset_mode") != AUTORESET_MODE:
            raise ValueError(f"TorchVectorEnv needs autoreset_mode={AUTORESET_MODE}")
        self.env_spec = spec
        self.device = torch.device(device)
        self.clip_actions = clip_actions
        if nonfinite_actions not in NONFINITE_ACTIONS:
            raise ValueError(
                f"nonfinite_actions must be one of {NONFINITE_ACTIONS}, got {nonfinite_actions!r}"
            )
        self.nonfinite_actions = nonfinite_actions
        self._action_flags: dict[str, np.ndarray] = {}
        self.metadata = dict(env.metadata)
        self._box_state = is_state_box(env.single_observation_space)
        if self._box_state:
            self.single_observation_space = spec.observation_space
            self.observation_space = gym.vector.utils.batch_space(spec.observation_space, self.num_envs)
        self._to_device = self.device.type != "cpu"  # CPU tensors from numpy need no .to()
        space = self.single_action_space
        self._box_actions = isinstance(space, spaces.Box)
        if self._box_actions:
            self._low = np.asarray(space.low, dtype=np.float32)
            self._high = np.asarray(space.high, dtype=np.float32)
            self._action_shape = (self.num_envs, *space.shape)

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None) -> tuple[Obs, dict]:
        options = dict(options or {})
        if "env_idx" in options:
            options["reset_mask"] = env_idx_to_mask(options.pop("env_idx"), self.num_envs)
        obs, info = self.env.reset(seed=seed, options=options or None)
        return self._to_contract(obs), info

    def _from_numpy(self, array: np.ndarray) -> torch.Tensor:
        """A tensor on ``device`` sharing ``array``'s memory on CPU (``.to`` only when it moves)."""
        tensor = torch.from_numpy(array)
        return tensor.to(self.device) if self._to_device else tensor

    def _to_contract(self, obs: Any) -> Obs:
        """A numpy batch as contract tensors (copied: the vector env reuses its buffers)."""
        if self._box_state:  # astype copies
            return {"state": self._from_numpy(obs.reshape(self.num_envs, -1).astype(np.float32))}
        return obs_to_torch(obs, self.device, copy=True)

    def _fix_actions(self, a: np.ndarray) -> np.ndarray:
        """Non-finite entries raised or zeroed, out-of-bounds ones clipped (``clip_actions``); flagged per env."""
        bad = ~np.isfinite(a)
        if bad.any():
            if self.nonfinite_actions == "raise":
                raise FloatingPointError(f"{self.env_spec.name}: actions contain NaN/inf")
            self._action_flags["action_nonfinite"] = bad.reshape(self.num_envs, -1).any(1)
            a = np.where(bad, np.float32(0.0), a)
        if self.clip_actions:
            out = (a < self._low) | (a > self._high)
            if out.any():
                self._action_flags["action_clipped"] = out.reshape(self.num_envs, -1).any(1)
                a = np.clip(a, self._low, self._high)
        return a

    def _to_numpy_actions(self, actions: Any) -> np.ndarray:
        space = self.single_action_space
        if self._box_actions:
            # numpy on the hot path: a handful of tiny torch ops cost more than the step of a
            # fast simulator (HalfCheetah steps in ~50 us; benchmarks/env_overhead.py).
            if isinstance(actions, torch.Tensor):
                actions = actions.detach()
                actions = (actions.cpu() if actions.device.type != "cpu" else actions).numpy()
            a = np.asarray(actions, dtype=np.float32).reshape(self._action_shape)
            # The common case in one test: every entry in bounds (NaN fails both comparisons).
            if not ((a >= self._low) & (a <= self._high)).all():
                a = self._fix_actions(a)
            return a.astype(space.dtype, copy=False)
        if isinstance(space, spaces.Text):  # object array: numpy's str dtype would drop trailing NULs
            texts = np.empty(self.num_envs, dtype=object)
            texts[:] = list(actions)
            return texts
        a = actions.detach().cpu().numpy() if isinstance(actions, torch.Tensor) else np.asarray(actions)
        if isinstance(space, spaces.Discrete):
            return a.reshape(self.num_envs).astype(np.int64, copy=False)
        return a

    def step(self, actions: Any) -> tuple[Obs, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        self._action_flags = {}
        obs, reward, terminated, truncated, info = self.env.step(self._to_numpy_actions(actions))
        for key, flags in self._action_flags.items():
            info[key] = flags
        done = np.logical_or(terminated, truncated)
        if done.any():
            final = _copy_tree(obs)
            for i in np.flatnonzero(info["_final_obs"]):
                _set_row(final, int(i), info["final_obs"][i])
            info["final_obs"] = self._to_contract(final)
            info.pop("_final_obs", None)
        out = {k: v for k, v in info.items() if k not in ("final_info", "_final_info")}
        # SAME_STEP autoreset replaces a finished env's info by its reset info; the
        # episode's own last-step info (where success is decided) is in final_info.
        _merge_final_info(out, info.get("final_info", {}), self.num_envs)
        for key in ("success", "is_success"):
            if key in out:
                out["success"] = self._from_numpy(np.array(out.pop(key), dtype=bool))
        # from_numpy + .to(device) is ~3x cheaper than torch.as_tensor(..., device=...); the
        # vector env returns fresh termination arrays and float32 casts copy the rewards.
        return (
            self._to_contract(obs),
            self._from_numpy(np.asarray(reward).astype(np.float32)),
            self._from_numpy(np.asarray(terminated, dtype=bool)),
            self._from_numpy(np.asarray(truncated, dtype=bool)),
            out,
        )


def _check_action_chunk(action_chunk: int | None) -> None:
    if action_chunk is None:
        return
    if isinstance(action_chunk, bool) or not isinstance(action_chunk, (int, np.integer)) or action_chunk < 1:
        raise ValueError(f"action_chunk must be None or an integer >= 1, got {action_chunk!r}")


class SingleEnvFactory:
    """A picklable zero-argument factory for one contract-wrapped Gymnasium env.

    ``gym.make(gym_id, **gym_kwargs)`` wrapped in :class:`ContractObservation` and then, with
    ``action_chunk=K``, in :class:`~embodied_rl.envs.wrappers.chunk.ActionChunk`, and last in
    ``wrapper(env)`` when given (a picklable callable, e.g. a ``functools.partial`` of a wrapper
    class: a family's per-sub-env hook, such as MuJoCo's pixel observations). A plain
    module-level class (not a closure), so it pickles for ``AsyncVectorEnv`` under ``spawn``.
    """

    def __init__(
        self,
        gym_id: str,
        action_chunk: int | None = None,
        wrapper: Callable[[gym.Env], gym.Env] | None = None,
        **gym_kwargs: Any,
    ) -> None:
        _check_action_chunk(action_chunk)
        self.gym_id = gym_id
        self.action_chunk = action_chunk
        self.wrapper = wrapper
        self.gym_kwargs = gym_kwargs

    def __call__(self) -> gym.Env:
        env: gym.Env = gym.make(self.gym_id, **self.gym_kwargs)
        # A plain state Box needs no per-env mapping: TorchVectorEnv maps the whole batch to
        # {"state": ...} at once (cheaper than a wrapper per env plus Dict batching). A family
        # hook (``wrapper``) expects contract dicts, so it always gets ContractObservation.
        if self.wrapper is not None or not is_state_box(env.observation_space):
            env = ContractObservation(env)
        if self.action_chunk is not None:
            from embodied_rl.envs.wrappers.chunk import ActionChunk

            env = ActionChunk(env, self.action_chunk)
        if self.wrapper is not None:
            env = self.wrapper(env)
        return env


def single_env_factory(
    gym_id: str,
    action_chunk: int | None = None,
    wrapper: Callable[[gym.Env], gym.Env] | None = None,
    **gym_kwargs: Any,
) -> SingleEnvFactory:
    """A picklable zero-argument factory for one contract-wrapped Gymnasium env (see :class:`SingleEnvFactory`)."""
    return SingleEnvFactory(gym_id, action_chunk, wrapper, **gym_kwargs)


def vectorize(
    fns: list[Callable[[], gym.Env]],
    vectorization: str = "sync",
    async_context: str = "spawn",
    shared_memory: bool = True,
) -> gym.vector.VectorEnv:
    """Gymnasium's Sync/AsyncVectorEnv over ``fns`` with ``SAME_STEP`` autoreset and ``copy=False``.

    ``copy=False``: Gymnasium would deep-copy the obs dict every step; :class:`TorchVectorEnv`
    copies the arrays into fresh tensors instead, which is cheaper and just as safe. Async envs
    whose observations hold text send them through pipes (Gymnasium reads ``Text`` back from
    shared memory wrongly: the same placeholder string every step).
    """
    if vectorization not in VECTORIZATION:
        raise ValueError(f"vectorization must be one of {VECTORIZATION}, got {vectorization!r}")
    if vectorization == "sync":
        return gym.vector.SyncVectorEnv(fns, autoreset_mode=AUTORESET_MODE, copy=False)
    vec = gym.vector.AsyncVectorEnv(
        fns, autoreset_mode=AUTORESET_MODE, context=async_context, copy=False, shared_memory=shared_memory
    )
    if shared_memory and _has_text(vec.single_observation_space):
        vec.close()
        vec = gym.vector.AsyncVectorEnv(
            fns, autoreset_mode=AUTORESET_MODE, context=async_context, copy=False, shared_memory=False
        )
    return vec


def make_gymnasium_env(
    num_envs: int = 1,
    *,
    gym_id: str,
    name: str | None = None,
    family: str = "gymnasium",
    vectorization: str = "sync",
    device: str = "cpu",
    clip_actions: bool = True,
    nonfinite_actions: str = "raise",
    async_context: str = "spawn",
    shared_memory: bool = True,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
    action_chunk: int | None = None,
    wrapper: Callable[[gym.Env], gym.Env] | None = None,
    **gym_kwargs: Any,
) -> TorchVectorEnv:
    """Make ``num_envs`` copies of a Gymnasium env as one contract vector env.

    Args:
        num_envs: Batch size N.
        gym_id: The Gymnasium id (``"CartPole-v1"``).
        name: Our registered name (defaults to ``gym_id``).
        vectorization: ``"sync"`` (one process) or ``"async"`` (one process per env).
        device: Torch device of the returned batches.
        clip_actions: Clip continuous actions to the action-space bounds before stepping.
        nonfinite_actions: NaN/inf actions ``"raise"`` or are set to 0 and counted (``"zero"``).
        async_context: multiprocessing start method for ``async`` (``spawn`` is safe with torch).
        shared_memory: ``async`` workers write observations into shared memory (False: send them
            through pipes; needed for text observations with arbitrary characters).
        max_episode_steps: Override the env's time limit.
        render_mode: Gymnasium render mode (``"rgb_array"`` for videos).
        action_chunk: K: each sub-env is wrapped in ``ActionChunk(K)`` (after
            :class:`ContractObservation`), so one step executes K actions (``Box(D)`` becomes
            ``Box(K, D)``) and the spec's ``max_episode_steps`` becomes ``ceil(limit / K)``.
        wrapper: Applied last to each sub-env, in its own process (``wrapper(env) -> env``; must
            pickle for ``async``): a family's hook, e.g. MuJoCo's pixel observations.
        **gym_kwargs: Passed to ``gymnasium.make``.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if vectorization not in VECTORIZATION:
        raise ValueError(f"vectorization must be one of {VECTORIZATION}, got {vectorization!r}")
    _check_action_chunk(action_chunk)
    kwargs = dict(gym_kwargs)
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
        # pygame-based renderers (classic control) must not look for a display or sound server.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    factory = single_env_factory(gym_id, action_chunk, wrapper, **kwargs)
    vec = vectorize([factory] * num_envs, vectorization, async_context, shared_memory)
    time_limit = max_episode_steps
    if time_limit is None:
        gym_spec = gym.spec(gym_id)
        time_limit = gym_spec.max_episode_steps
    if action_chunk is not None and time_limit is not None:
        time_limit = -(-time_limit // action_chunk)  # ceil: the last chunk may stop early
    single_obs = vec.single_observation_space
    if is_state_box(single_obs):  # raw Box sub-envs: TorchVectorEnv maps the batch to state
        single_obs = spaces.Dict({"state": state_space(single_obs)})
    spec = EnvSpec(
        name=name or gym_id,
        observation_space=single_obs,
        action_space=vec.single_action_space,
        max_episode_steps=time_limit,
        family=family,
    )
    return TorchVectorEnv(
        vec, spec, device=device, clip_actions=clip_actions, nonfinite_actions=nonfinite_actions
    )
