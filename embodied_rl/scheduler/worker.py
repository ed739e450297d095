"""Env workers: one process per env group (a pipeline stage), observations in shared memory.

A worker is a ``spawn``-ed process that builds one contract vector env (wrapped in
:class:`EpisodeStatistics`) and serves ``reset`` / ``step`` over a pipe. The tensor
leaves of its observations are written into torch tensors in shared memory that the
parent allocates once (after the first reset); only small things travel through the
pipe: rewards, dones, ``info`` and text leaves, as numpy (torch tensors sent through a
pipe would be moved into a new shared-memory segment on every message).

Every wait has a timeout: a worker that does not answer in ``timeout_s`` is treated
as hung, one whose pipe closes as crashed; both raise :class:`EnvWorkerError` after
the process is killed, and the caller decides (the pipelined collector restarts it).
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.multiprocessing as mp

from embodied_rl.envs.core import EnvSpec, Obs

_SHARED = "__shared__"  # marks an observation leaf that lives in the shared buffer


class EnvWorkerError(RuntimeError):
    """An env worker crashed, hung past its timeout, or its env raised."""


@dataclass(frozen=True)
class StageEnvFactory:
    """Picklable recipe for one stage's env: ``make(name, num_envs, **kwargs)`` + episode statistics."""

    name: str
    num_envs: int
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> gym.vector.VectorEnv:
        from embodied_rl.envs import make
        from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics

        return EpisodeStatistics(make(self.name, num_envs=self.num_envs, **self.kwargs))


def to_numpy(tree: Any) -> Any:
    """Torch tensors in a nested dict/list/tuple -> numpy arrays (cheap to pickle by value)."""
    if isinstance(tree, torch.Tensor):
        # numpy has no bfloat16: those stay tensors (pickled through shared memory).
        return tree.detach().cpu() if tree.dtype == torch.bfloat16 else tree.detach().cpu().numpy()
    if isinstance(tree, dict):
        return {k: to_numpy(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(to_numpy(v) for v in tree)
    return tree


def to_torch(tree: Any) -> Any:
    """Inverse of :func:`to_numpy` for numeric arrays (strings and objects stay as they are)."""
    if isinstance(tree, np.ndarray) and tree.dtype.kind in "biuf":
        # Arrays read zero-copy from Ray's object store are read-only; torch needs its own copy then.
        return torch.from_numpy(tree if tree.flags.writeable else tree.copy())
    if isinstance(tree, dict):
        return {k: to_torch(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(to_torch(v) for v in tree)
    return tree


def share_like(obs: Obs) -> Obs:
    """Shared-memory tensors shaped like the tensor leaves of ``obs`` (other leaves: None)."""
    if isinstance(obs, dict):
        return {k: share_like(v) for k, v in obs.items()}
    if isinstance(obs, torch.Tensor):
        return torch.empty_like(obs, device="cpu").share_memory_()
    return None


def _write(obs: Any, shared: Any) -> Any:
    """Copy tensor leaves into ``shared`` and replace them with a marker (worker side)."""
    if shared is None:
        return to_numpy(obs)
    if isinstance(obs, dict):
        return {k: _write(v, shared[k]) for k, v in obs.items()}
    if isinstance(obs, torch.Tensor) and isinstance(shared, torch.Tensor) and shared.shape == obs.shape:
        shared.copy_(obs)
        return _SHARED
    return to_numpy(obs)


def _read(msg: Any, shared: Any) -> Any:
    """Rebuild the observation: marked leaves are copied out of ``shared`` (parent side)."""
    if isinstance(msg, dict):
        return {k: _read(v, None if shared is None else shared[k]) for k, v in msg.items()}
    if isinstance(msg, str) and msg == _SHARED:
        return shared.clone()
    return to_torch(msg)


def _serve(
    conn: Any, factory: Callable[[], gym.vector.VectorEnv], threads: int, cpus: list[int] | None
) -> None:
    """The worker process: build the env, then answer commands until ``close``."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    torch.set_num_threads(max(threads, 1))
    try:
        env = factory()
        from embodied_rl.envs import env_spec

        conn.send(("ready", env_spec(env), env.num_envs))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        conn.send(("error", traceback.format_exc()))
        return
    shared: Any = None
    try:
        while True:
            cmd, *args = conn.recv()
            if cmd == "close":
                break
            try:
                if cmd == "attach":
                    shared = args[0]
                    conn.send(("ok",))
                elif cmd == "reset":
                    start = time.perf_counter()
                    obs, info = env.reset(seed=args[0], options=args[1])
                    busy = time.perf_counter() - start
                    conn.send(("ok", _write(obs, shared), to_numpy(info), busy))
                elif cmd == "step":
                    actions = to_torch(args[0])
                    start = time.perf_counter()
                    obs, reward, terminated, truncated, info = env.step(actions)
                    busy = time.perf_counter() - start
                    info = to_numpy(info)
                    conn.send(
                        ("ok", _write(obs, shared), to_numpy((reward, terminated, truncated)), info, busy)
                    )
                else:
                    conn.send(("error", f"unknown command {cmd!r}"))
            except Exception:  # noqa: BLE001 - the env raised: report it, keep serving
                conn.send(("error", traceback.format_exc()))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        env.close()


class WorkerBase:
    """What every env worker (local process or Ray actor) is configured with."""

    def __init__(
        self,
        factory: Callable[[], gym.vector.VectorEnv],
        timeout_s: float = 60.0,
        start_timeout_s: float = 300.0,
        threads: int = 1,
        cpus: list[int] | None = None,
        name: str = "env worker",
    ) -> None:
        self.factory = factory
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self.threads = threads
        self.cpus = cpus
        self.name = name
        self.spec: EnvSpec | None = None
        self.num_envs = 0

    def launch(self) -> None:
        raise NotImplementedError

    def wait_ready(self) -> WorkerBase:
        raise NotImplementedError

    def start(self) -> WorkerBase:
        """Launch the worker and wait until its env is built."""
        self.launch()
        return self.wait_ready()


class EnvWorker(WorkerBase):
    """One env group in its own ``spawn``-ed process (the local backend's env worker).

    ``reset_async``/``step_async`` send a command and return at once; ``*_wait`` block
    for the answer up to ``timeout_s``. ``start()`` waits up to ``start_timeout_s`` for
    the env to be built (simulators can take a while to load assets).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._proc: Any = None
        self._conn: Any = None
        self._shared: Any = None
        self._pending: str | None = None

    def launch(self) -> None:
        """Spawn the process without waiting (start several workers at once, then wait_ready)."""
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve, args=(child, self.factory, self.threads, self.cpus), daemon=True, name=self.name
        )
        self._proc.start()
        child.close()
        self._shared = None
        self._pending = "start"

    def wait_ready(self) -> EnvWorker:
        msg = self._recv(self.start_timeout_s, "start")
        self.spec, self.num_envs = msg[1], msg[2]
        return self

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def kill(self) -> None:
        """Stop the process now (a hung or crashed worker); safe to call twice."""
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(timeout=10)
            self._proc = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._pending = None

    def close(self) -> None:
        if self._proc is not None and self._proc.is_alive() and self._conn is not None:
            try:
                if self._pending is not None:  # drain the answer to a command still in flight
                    self._recv(min(self.timeout_s, 10.0), "close")
                self._conn.send(("close",))
                self._proc.join(timeout=min(self.timeout_s, 30.0))
            except (EnvWorkerError, OSError):
                pass
        self.kill()

    def restart(self) -> EnvWorker:
        self.kill()
        return self.start()

    # ---- commands ------------------------------------------------------------------------

    def _send(self, what: str, *args: Any) -> None:
        if self._conn is None:
            raise EnvWorkerError(f"{self.name}: not started (call start())")
        if self._pending is not None:
            raise EnvWorkerError(f"{self.name}: '{what}' sent while '{self._pending}' is still in flight")
        try:
            self._conn.send((what, *args))
        except (BrokenPipeError, OSError) as err:
            self.kill()
            raise EnvWorkerError(f"{self.name}: the process is gone ({err})") from err
        self._pending = what

    def _recv(self, timeout: float, what: str) -> tuple:
        try:
            ready = self._conn.poll(timeout)
            msg = self._conn.recv() if ready else None
        except (EOFError, OSError) as err:
            code = self._proc.exitcode if self._proc is not None else None
            self.kill()
            raise EnvWorkerError(f"{self.name}: crashed during '{what}' (exit code {code})") from err
        if msg is None:
            self.kill()
            raise EnvWorkerError(f"{self.name}: no answer to '{what}' within {timeout:g}s (hung; killed)")
        self._pending = None
        if msg[0] == "error":
            if what == "start":
                self.kill()
            raise EnvWorkerError(f"{self.name}: '{what}' failed in the worker:\n{msg[1]}")
        return msg

    def reset_async(self, seed: Any = None, options: dict | None = None) -> None:
        self._send("reset", seed, options)

    def reset_wait(self) -> tuple[Obs, dict, float]:
        """``(obs, info, busy_s)``; the first reset also attaches the shared observation buffers."""
        _, msg, info, busy = self._recv(self.timeout_s, "reset")
        obs = _read(msg, self._shared)
        if self._shared is None:
            self._shared = share_like(obs)
            self._send("attach", self._shared)
            self._recv(self.timeout_s, "attach")
        return obs, to_torch(info), busy

    def step_async(self, actions: Any) -> None:
        self._send("step", to_numpy(actions))

    def step_wait(self) -> tuple[Obs, torch.Tensor, torch.Tensor, torch.Tensor, dict, float]:
        """``(obs, reward, terminated, truncated, info, busy_s)`` where busy_s is the env's step time."""
        _, msg, (reward, terminated, truncated), info, busy = self._recv(self.timeout_s, "step")
        obs = _read(msg, self._shared)
        return obs, to_torch(reward), to_torch(terminated), to_torch(truncated), to_torch(info), busy
