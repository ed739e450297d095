"""Placement: where env workers, inference and training run, checked at config time.

On one CPU machine the "devices" are cores, and placement is CPU affinity:

- ``collocated``: env workers, inference and training all share every core, in turn
  (the OS interleaves them; with ``stages >= 2`` simulation still overlaps inference).
- ``disaggregated``: env workers on ``env_cpus``; inference and training on
  ``policy_cpus`` (disjoint). Pipelined, so it needs ``stages >= 2``.
- ``hybrid``: env workers on ``env_cpus`` and inference on ``policy_cpus`` during the
  rollout (pipelined); training then uses every core.

On a GPU machine the policy's device is ``device`` (inference and training); CPU
simulators stay on ``env_cpus``. GPU-batched simulators (ManiSkill ``batched``) run
in-process with ``stages=1``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from embodied_rl.config.schema import BACKENDS, INFERENCE_MODES, PLACEMENTS, SchedulerConfig


def available_cpus() -> set[int]:
    """Cores this process may run on."""
    return set(os.sched_getaffinity(0))


def check_scheduler(
    cfg: SchedulerConfig, num_envs: int, device: str, cpus: set[int] | None = None
) -> Iterator[tuple[str, str]]:
    """Yield ``(key, message)`` for every invalid scheduler setting (see the module doc)."""
    cpus = available_cpus() if cpus is None else cpus
    if not 1 <= cfg.stages <= max(num_envs, 1):
        yield "scheduler.stages", f"must be in [1, env.num_envs={num_envs}], got {cfg.stages}"
    if cfg.placement not in PLACEMENTS:
        yield "scheduler.placement", f"must be one of {PLACEMENTS}, got {cfg.placement!r}"
    if cfg.backend not in BACKENDS:
        yield "scheduler.backend", f"must be one of {BACKENDS}, got {cfg.backend!r}"
    elif cfg.backend == "ray" and importlib.util.find_spec("ray") is None:
        yield "scheduler.backend", "ray is not installed: pip install 'embodied-rl[ray]'"
    for key in ("env_cpus", "policy_cpus"):
        unknown = sorted(set(getattr(cfg, key)) - cpus)
        if unknown:
            yield (
                f"scheduler.{key}",
                f"cores {unknown} are not available here (this process may use {sorted(cpus)})",
            )
    if cfg.placement == "collocated" and (cfg.env_cpus or cfg.policy_cpus):
        yield (
            "scheduler.placement",
            "collocated placement shares every core; env_cpus / policy_cpus apply to disaggregated and hybrid",
        )
    if cfg.placement in ("disaggregated", "hybrid"):
        if cfg.stages < 2:
            yield (
                "scheduler.stages",
                f"{cfg.placement} placement pipelines simulation and inference: set scheduler.stages >= 2",
            )
        on_cpu = not device.startswith("cuda")
        if not cfg.env_cpus or (on_cpu and not cfg.policy_cpus):
            yield (
                "scheduler.env_cpus",
                f"{cfg.placement} placement needs scheduler.env_cpus"
                + (" and scheduler.policy_cpus" if on_cpu else "")
                + f" (cores available: {sorted(cpus)})",
            )
        elif set(cfg.env_cpus) & set(cfg.policy_cpus):
            shared = sorted(set(cfg.env_cpus) & set(cfg.policy_cpus))
            yield "scheduler.policy_cpus", f"must not share cores with env_cpus ({shared} are in both)"
    if cfg.inference not in INFERENCE_MODES:
        yield "scheduler.inference", f"must be one of {INFERENCE_MODES}, got {cfg.inference!r}"
    if cfg.inference_device:
        try:
            torch.device(cfg.inference_device)
        except RuntimeError as err:
            yield "scheduler.inference_device", f"not a torch device: {err}"
    if cfg.worker_threads < 1:
        yield "scheduler.worker_threads", f"must be >= 1, got {cfg.worker_threads}"
    if cfg.worker_timeout_s <= 0 or cfg.worker_start_timeout_s <= 0:
        yield "scheduler.worker_timeout_s", "worker timeouts must be > 0 seconds"
    if cfg.max_restarts < 0:
        yield "scheduler.max_restarts", f"must be >= 0, got {cfg.max_restarts}"


@dataclass
class PlacementPlan:
    """The main process's cores per phase (rollout = inference, update = training)."""

    placement: str
    rollout_cpus: set[int]
    train_cpus: set[int]
    rollout_threads: int
    train_threads: int

    @classmethod
    def from_config(cls, cfg: SchedulerConfig, torch_threads: int) -> PlacementPlan:
        everything = available_cpus()
        policy = set(cfg.policy_cpus) or everything
        threads = torch_threads or torch.get_num_threads()
        if cfg.placement == "hybrid":
            return cls(cfg.placement, policy, everything, threads, max(threads, len(everything)))
        return cls(cfg.placement, policy, policy, threads, threads)

    def _enter(self, cpus: set[int], threads: int) -> None:
        if cpus != set(os.sched_getaffinity(0)):
            os.sched_setaffinity(0, cpus)
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)

    def enter_rollout(self) -> None:
        self._enter(self.rollout_cpus, self.rollout_threads)

    def enter_training(self) -> None:
        self._enter(self.train_cpus, self.train_threads)
