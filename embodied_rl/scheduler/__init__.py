"""The rollout scheduler: env workers, the pipelined collector, placement, timing.

``stages=1`` keeps the synchronous reference collector (:mod:`embodied_rl.rollout`);
``stages>=2`` (or the Ray backend) runs the envs in S env workers and pipelines them;
``inference=worker`` (the Ray backend's default) acts with a policy copy in its own
worker, synced from the trainer before each rollout.
"""

from __future__ import annotations

from typing import Any

from embodied_rl.config.schema import PolicyConfig, SchedulerConfig
from embodied_rl.envs.core import EnvSpec
from embodied_rl.scheduler.inference import (
    InferenceWorker,
    InferenceWorkerError,
    RayInferenceWorker,
    RemotePolicy,
)
from embodied_rl.scheduler.pipeline import PipelinedCollector, split_envs
from embodied_rl.scheduler.worker import EnvWorker, EnvWorkerError, StageEnvFactory


def uses_workers(cfg: SchedulerConfig) -> bool:
    """Whether this config runs envs in workers (pipelined stages or the Ray backend)."""
    return cfg.stages > 1 or cfg.backend == "ray"


def uses_inference_worker(cfg: SchedulerConfig) -> bool:
    """Whether rollout inference runs in its own worker (``scheduler.inference``)."""
    return cfg.inference == "worker" or (cfg.inference == "auto" and cfg.backend == "ray")


def start_inference_worker(
    policy_cfg: PolicyConfig, spec: EnvSpec, cfg: SchedulerConfig, device: str, precision: str, threads: int
) -> RemotePolicy:
    """An inference worker (process or Ray actor) holding a copy of the policy, wrapped for the collectors."""
    device = cfg.inference_device or device
    args = (policy_cfg, spec, device, precision, threads, list(cfg.policy_cpus) or None)
    timeouts = {"timeout_s": cfg.worker_timeout_s, "start_timeout_s": cfg.worker_start_timeout_s}
    if cfg.backend == "ray":
        from embodied_rl.scheduler.ray_worker import init_ray

        init_ray(cfg.ray_address)
        gpus = 1 if device.startswith("cuda") else 0
        return RemotePolicy(RayInferenceWorker(*args, num_gpus=gpus, **timeouts))
    return RemotePolicy(InferenceWorker(*args, **timeouts))


def start_env_workers(
    env_name: str, num_envs: int, env_kwargs: dict[str, Any], cfg: SchedulerConfig
) -> list[Any]:
    """Start ``cfg.stages`` env workers (local processes or Ray actors) holding ``num_envs`` envs."""
    if cfg.backend == "ray":
        from embodied_rl.scheduler.ray_worker import RayEnvWorker, init_ray

        init_ray(cfg.ray_address)
        worker_cls: Any = RayEnvWorker
        extra: dict[str, Any] = {"max_restarts": cfg.max_restarts}
    else:
        worker_cls, extra = EnvWorker, {}
    workers = [
        worker_cls(
            StageEnvFactory(env_name, n, dict(env_kwargs)),
            timeout_s=cfg.worker_timeout_s,
            start_timeout_s=cfg.worker_start_timeout_s,
            threads=cfg.worker_threads,
            cpus=list(cfg.env_cpus) or None,
            name=f"env worker {k} ({env_name} x{n})",
            **extra,
        )
        for k, n in enumerate(split_envs(num_envs, cfg.stages))
    ]
    try:
        for w in workers:
            w.launch()
        for w in workers:
            w.wait_ready()
    except BaseException:
        for w in workers:
            w.kill()
        raise
    return workers


__all__ = [
    "EnvWorker",
    "EnvWorkerError",
    "InferenceWorkerError",
    "PipelinedCollector",
    "RemotePolicy",
    "StageEnvFactory",
    "split_envs",
    "start_env_workers",
    "start_inference_worker",
    "uses_inference_worker",
    "uses_workers",
]
