"""The Ray backend's env worker: one Ray actor per env group, the same interface as EnvWorker.

Observations travel through Ray's object store (shared memory on a node, zero-copy numpy
reads). Faults use Ray's own machinery: the actor is created with ``max_restarts``, so
a crashed actor is restarted by Ray; a hung one is killed with
``ray.kill(no_restart=False)`` and Ray restarts it. The collector then resets its envs,
as with the local backend. Point Ray at an existing cluster with
``scheduler.ray_address`` (``ray.init(address=...)``); empty starts a local instance.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import torch

from embodied_rl.envs.core import EnvSpec, Obs
from embodied_rl.scheduler.worker import EnvWorkerError, WorkerBase, to_numpy, to_torch


class _EnvActor:
    """Runs inside the Ray worker process (wrapped by ``ray.remote`` on first use)."""

    def __init__(
        self, factory: Callable[[], gym.vector.VectorEnv], threads: int, cpus: list[int] | None
    ) -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        torch.set_num_threads(max(threads, 1))
        self.env = factory()

    def describe(self) -> tuple[EnvSpec, int]:
        from embodied_rl.envs import env_spec

        return env_spec(self.env), self.env.num_envs

    def reset(self, seed: Any, options: dict | None) -> tuple:
        start = time.perf_counter()
        obs, info = self.env.reset(seed=seed, options=options)
        return to_numpy(obs), to_numpy(info), time.perf_counter() - start

    def step(self, actions: Any) -> tuple:
        actions = to_torch(actions)
        start = time.perf_counter()
        obs, reward, terminated, truncated, info = self.env.step(actions)
        busy = time.perf_counter() - start
        return to_numpy(obs), to_numpy((reward, terminated, truncated)), to_numpy(info), busy

    def close(self) -> None:
        self.env.close()


def init_ray(address: str = "", num_cpus: int | None = None) -> None:
    """``ray.init`` once: on ``address`` (an existing cluster) or a local instance."""
    import ray

    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=num_cpus, **kwargs)


class RayEnvWorker(WorkerBase):
    """One env group as a Ray actor (see the module doc); same methods as :class:`EnvWorker`."""

    def __init__(self, *args: Any, max_restarts: int = 10, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_restarts = max_restarts
        self._actor: Any = None
        self._ref: Any = None
        self._ready: Any = None

    def launch(self) -> None:
        import ray

        remote = ray.remote(_EnvActor).options(
            num_cpus=0, max_restarts=self.max_restarts, max_task_retries=0, name=None
        )
        self._actor = remote.remote(self.factory, self.threads, self.cpus)
        self._ready = self._actor.describe.remote()

    def wait_ready(self) -> RayEnvWorker:
        self.spec, self.num_envs = self._get(self._ready, self.start_timeout_s, "start")
        return self

    @property
    def alive(self) -> bool:
        return self._actor is not None

    def _get(self, ref: Any, timeout: float, what: str) -> Any:
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        try:
            return ray.get(ref, timeout=timeout)
        except GetTimeoutError as err:
            raise EnvWorkerError(f"{self.name}: no answer to '{what}' within {timeout:g}s (hung)") from err
        except RayActorError as err:
            raise EnvWorkerError(f"{self.name}: the actor died during '{what}' ({err})") from err
        except RayTaskError as err:
            raise EnvWorkerError(f"{self.name}: '{what}' failed in the worker:\n{err}") from err

    def restart(self) -> RayEnvWorker:
        """Kill the actor and let Ray restart it (``max_restarts``), then wait until it answers."""
        import ray

        if self._actor is None:
            return self.start()
        ray.kill(self._actor, no_restart=False)
        deadline = time.monotonic() + self.start_timeout_s
        while True:  # calls fail until Ray has brought the actor back
            try:
                self.spec, self.num_envs = self._get(
                    self._actor.describe.remote(), self.start_timeout_s, "restart"
                )
                return self
            except EnvWorkerError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def reset_async(self, seed: Any = None, options: dict | None = None) -> None:
        self._ref = self._actor.reset.remote(seed, options)

    def reset_wait(self) -> tuple[Obs, dict, float]:
        obs, info, busy = self._get(self._ref, self.timeout_s, "reset")
        return to_torch(obs), to_torch(info), busy

    def step_async(self, actions: Any) -> None:
        self._ref = self._actor.step.remote(to_numpy(actions))

    def step_wait(self) -> tuple[Obs, torch.Tensor, torch.Tensor, torch.Tensor, dict, float]:
        obs, (reward, terminated, truncated), info, busy = self._get(self._ref, self.timeout_s, "step")
        return (
            to_torch(obs),
            to_torch(reward),
            to_torch(terminated),
            to_torch(truncated),
            to_torch(info),
            busy,
        )

    def close(self) -> None:
        import ray

        if self._actor is not None:
            try:
                ray.get(self._actor.close.remote(), timeout=min(self.timeout_s, 30.0))
            except Exception:  # noqa: BLE001 - closing a dead actor
                pass
            ray.kill(self._actor, no_restart=True)
            self._actor = None

    def kill(self) -> None:
        import ray

        if self._actor is not None:
            ray.kill(self._actor, no_restart=True)
            self._actor = None
