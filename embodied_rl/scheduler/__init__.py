"""The rollout scheduler: env workers, the pipelined collector, placement, timing.

``stages=1`` keeps the synchronous reference collector (:mod:`embodied_rl.rollout`);
``stages>=2`` (or the Ray backend) runs the envs in S env workers and pipelines them.
"""

from __future__ import annotations

from typing import Any

from embodied_rl.config.schema import SchedulerConfig
from embodied_rl.scheduler.pipeline import PipelinedCollector, split_envs
from embodied_rl.scheduler.worker import EnvWorker, EnvWorkerError, StageEnvFactory


def uses_workers(cfg: SchedulerConfig) -> bool:
    """Whether this config runs envs in workers (pipelined stages or the Ray backend)."""
    return cfg.stages > 1 or cfg.backend == "ray"


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
    "PipelinedCollector",
    "StageEnvFactory",
    "split_envs",
    "start_env_workers",
    "uses_workers",
]
