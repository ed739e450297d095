"""Inference in its own worker, and weight sync from the trainer to it.

With ``scheduler.inference=worker`` the policy that acts during rollouts is a copy in
another process: a ``spawn``-ed process (local backend) or a Ray actor (Ray backend),
on ``scheduler.inference_device`` (a second GPU, say). The collectors see a
:class:`RemotePolicy`, which has the part of the policy contract they call (``act``,
``value``, ``has_value_head``).

Weight sync: before each rollout the trainer ships its ``state_dict`` with a version
number (the updates done so far); the worker loads it and tags every answer with the
version it acted with, so each rollout records the version that really produced it
(``rollout/policy_version``). The worker builds its copy of the policy from the config
(``build_policy``) and gets every weight through sync, so no weights reach it any
other way. Every call has a timeout; a worker that crashes, hangs or raises stops the
run with :class:`InferenceWorkerError` (the run's last checkpoint is kept).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import traceback
from typing import Any

import torch
import torch.multiprocessing as mp

from embodied_rl.config.schema import PolicyConfig
from embodied_rl.envs.core import EnvSpec, Obs
from embodied_rl.policies.core import ActionOutput, Policy
from embodied_rl.scheduler.worker import to_numpy, to_torch


class InferenceWorkerError(RuntimeError):
    """The inference worker crashed, hung past its timeout, or raised."""


def cpu_state(policy: Policy) -> dict[str, torch.Tensor]:
    """The weights to ship: a detached CPU copy of ``policy.state_dict()``."""
    return {k: v.detach().to("cpu", copy=True) for k, v in policy.state_dict().items()}


class InferenceServer:
    """The worker side: a policy copy on ``device`` and the version of its weights."""

    def __init__(
        self,
        policy_cfg: PolicyConfig,
        spec: EnvSpec,
        device: str = "cpu",
        precision: str = "fp32",
        threads: int = 1,
        cpus: list[int] | None = None,
    ) -> None:
        from embodied_rl.policies import build_policy

        if cpus:
            os.sched_setaffinity(0, cpus)
        torch.set_num_threads(max(threads, 1))
        self.device = torch.device(device)
        self.policy = build_policy(policy_cfg, spec).to(self.device)
        self.precision = precision
        self.version = -1  # no weights yet: the first sync sets them

    def _autocast(self) -> Any:
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def describe(self) -> bool:
        return self.policy.has_value_head

    def load(self, state: dict[str, torch.Tensor], version: int) -> int:
        self.policy.load_state_dict(state)
        self.version = version
        return version

    def _obs(self, obs: Any) -> Obs:
        obs = to_torch(obs)
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in obs.items()}

    @torch.no_grad()
    def act(self, obs: Any, deterministic: bool) -> tuple[dict[str, Any], int]:
        with self._autocast():
            out = self.policy.act(self._obs(obs), deterministic=deterministic)
        return to_numpy({f.name: getattr(out, f.name) for f in dataclasses.fields(out)}), self.version

    @torch.no_grad()
    def value(self, obs: Any) -> Any:
        with self._autocast():
            return to_numpy(self.policy.value(self._obs(obs)))


def _serve(conn: Any, args: tuple, kwargs: dict) -> None:
    """The local worker process: build the server, then answer calls until ``close``."""
    try:
        server = InferenceServer(*args, **kwargs)
        conn.send(("ok", server.describe()))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        conn.send(("error", traceback.format_exc()))
        return
    try:
        while True:
            method, *call_args = conn.recv()
            if method == "close":
                break
            try:
                conn.send(("ok", getattr(server, method)(*call_args)))
            except Exception:  # noqa: BLE001 - reported to the parent, which raises
                conn.send(("error", traceback.format_exc()))
    except (EOFError, KeyboardInterrupt):
        pass


class InferenceWorker:
    """The local backend's inference worker: an :class:`InferenceServer` in a ``spawn``-ed process."""

    def __init__(
        self, *server_args: Any, timeout_s: float = 120.0, start_timeout_s: float = 600.0, **kw: Any
    ):
        self.timeout_s = timeout_s
        self.name = "inference worker"
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, server_args, kw), daemon=True, name=self.name)
        self._proc.start()
        child.close()
        self.has_value_head = bool(self._answer("start", start_timeout_s))

    def _answer(self, what: str, timeout: float) -> Any:
        try:
            msg = self._conn.recv() if self._conn.poll(timeout) else None
        except (EOFError, OSError) as err:
            code = self._proc.exitcode
            self.close()
            raise InferenceWorkerError(f"{self.name}: crashed during '{what}' (exit code {code})") from err
        if msg is None:
            self.close()
            raise InferenceWorkerError(
                f"{self.name}: no answer to '{what}' within {timeout:g}s (hung; killed)"
            )
        if msg[0] == "error":
            raise InferenceWorkerError(f"{self.name}: '{what}' failed in the worker:\n{msg[1]}")
        return msg[1]

    def call(self, method: str, *args: Any) -> Any:
        if self._conn is None:
            raise InferenceWorkerError(f"{self.name}: closed")
        try:
            self._conn.send((method, *args))
        except (BrokenPipeError, OSError) as err:
            self.close()
            raise InferenceWorkerError(f"{self.name}: the process is gone ({err})") from err
        return self._answer(method, self.timeout_s)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def close(self) -> None:
        if self._proc is not None and self._proc.is_alive() and self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(("close",))
            self._proc.join(timeout=10)
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=10)
        if self._conn is not None:
            self._conn.close()
        self._proc, self._conn = None, None


class RayInferenceWorker:
    """The Ray backend's inference worker: an :class:`InferenceServer` as a Ray actor.

    Shipped weights go into Ray's object store once (``ray.put``) and the actor reads them
    from there; ``num_gpus`` > 0 asks Ray for a GPU for it.
    """

    def __init__(
        self,
        *server_args: Any,
        timeout_s: float = 120.0,
        start_timeout_s: float = 600.0,
        num_gpus: float = 0,
        **kw: Any,
    ):
        import ray

        self.timeout_s = timeout_s
        self.name = "inference actor"
        self._actor = (
            ray.remote(InferenceServer).options(num_cpus=0, num_gpus=num_gpus).remote(*server_args, **kw)
        )
        self.has_value_head = bool(self._get(self._actor.describe.remote(), start_timeout_s, "start"))

    def _get(self, ref: Any, timeout: float, what: str) -> Any:
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        try:
            return ray.get(ref, timeout=timeout)
        except GetTimeoutError as err:
            raise InferenceWorkerError(
                f"{self.name}: no answer to '{what}' within {timeout:g}s (hung)"
            ) from err
        except RayActorError as err:
            raise InferenceWorkerError(f"{self.name}: the actor died during '{what}' ({err})") from err
        except RayTaskError as err:
            raise InferenceWorkerError(f"{self.name}: '{what}' failed in the worker:\n{err}") from err

    def call(self, method: str, *args: Any) -> Any:
        if method == "load":
            import ray

            args = (ray.put(args[0]), *args[1:])
        return self._get(getattr(self._actor, method).remote(*args), self.timeout_s, method)

    def close(self) -> None:
        import ray

        if self._actor is not None:
            ray.kill(self._actor, no_restart=True)
            self._actor = None


class RemotePolicy:
    """What the collectors call when inference lives in an inference worker.

    ``served_version`` is the version of the weights behind the last answer (the
    collectors record it in :class:`~embodied_rl.rollout.collector.RolloutStats`).
    """

    def __init__(self, worker: InferenceWorker | RayInferenceWorker) -> None:
        self.worker = worker
        self.has_value_head = worker.has_value_head
        self.served_version = -1
        self.sync_time = 0.0
        """Seconds the last :meth:`sync` took (shipping + loading the weights)."""

    def sync(self, policy: Policy, version: int) -> None:
        """Ship ``policy``'s weights to the worker as ``version``."""
        start = time.perf_counter()
        self.served_version = int(self.worker.call("load", cpu_state(policy), int(version)))
        self.sync_time = time.perf_counter() - start

    def act(self, obs: Obs, deterministic: bool = False) -> ActionOutput:
        fields, version = self.worker.call("act", to_numpy(obs), deterministic)
        self.served_version = int(version)
        return ActionOutput(**to_torch(fields))

    def value(self, obs: Obs) -> torch.Tensor | None:
        out = self.worker.call("value", to_numpy(obs))
        return None if out is None else to_torch(out)

    def close(self) -> None:
        self.worker.close()
