"""The on-policy loop shared by PPO and GRPO.

``train()`` reads like the schedule: rollout -> update -> log -> checkpoint -> eval,
each phase in a named timer. Subclasses supply ``rollout()`` (a :class:`Batch` of
samples with advantages) and ``loss()`` (the objective on a minibatch).

Checkpoints are clean cuts: right after one is written, every env restarts from a
seed derived from ``(seed, update)``. A resumed run does the same, so on CPU with the
same seed its metrics equal the uninterrupted run's without pickling simulator state.
"""

from __future__ import annotations

import contextlib
import random
import resource
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from embodied_rl.algorithms.advantages import normalize_advantages
from embodied_rl.algorithms.losses import entropy_loss, kl_estimate, masked_mean, ppo_clip_loss
from embodied_rl.checkpoint import (
    CheckpointPayload,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from embodied_rl.config.loader import to_yaml
from embodied_rl.config.schema import AlgoConfig, TrainConfig
from embodied_rl.envs import env_spec, make
from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics
from embodied_rl.evaluation import EvalResult, evaluate_policy
from embodied_rl.logging import MetricLogger, TrainProgress
from embodied_rl.policies import build_policy
from embodied_rl.rollout.buffer import Batch, RolloutBuffer
from embodied_rl.rollout.collector import RolloutStats, SyncCollector
from embodied_rl.scheduler import (
    PipelinedCollector,
    RemotePolicy,
    start_env_workers,
    start_inference_worker,
    uses_inference_worker,
    uses_workers,
)
from embodied_rl.scheduler.placement import PlacementPlan
from embodied_rl.scheduler.timing import rollout_time_metrics
from embodied_rl.seeding import training_env_seed


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN/inf; the run stops and the last good checkpoint is kept."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_run_dir(name: str) -> Path:
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


class OnPolicyTrainer(ABC):
    """Builds env, policy, optimizer, buffer, logger from a :class:`TrainConfig` and trains."""

    config_class: ClassVar[type[AlgoConfig]] = AlgoConfig

    def __init__(self, cfg: TrainConfig, run_dir: str | Path | None = None) -> None:
        self.cfg = cfg
        self.algo = cfg.algo
        self.run_dir = Path(run_dir or cfg.run_dir or default_run_dir(cfg.name))
        if cfg.torch_threads > 0:
            torch.set_num_threads(cfg.torch_threads)
        seed_everything(cfg.seed)
        self.device = torch.device(cfg.device)
        self.placement = PlacementPlan.from_config(cfg.scheduler, cfg.torch_threads)
        workers: list[Any] = []
        self.env: Any = None
        if uses_workers(cfg.scheduler):  # pipelined stages: the envs live in env workers
            workers = start_env_workers(cfg.env.name, cfg.env.num_envs, cfg.env.kwargs, cfg.scheduler)
            self.spec = workers[0].spec
        else:
            self.env = EpisodeStatistics(make(cfg.env.name, num_envs=cfg.env.num_envs, **cfg.env.kwargs))
            self.spec = env_spec(self.env)
        self.policy = build_policy(cfg.policy, self.spec).to(self.device)
        if cfg.policy.pretrained:
            self.load_pretrained(cfg.policy.pretrained)
        self.param_counts = self.policy.parameter_counts()  # fixed for a run: counted once
        # Fused Adam: one kernel for all parameters; on small policies the per-tensor loop of
        # the default implementation costs more than the backward pass.
        self.optimizer = torch.optim.Adam(
            self.param_groups(), lr=self.algo.lr, eps=self.algo.adam_eps, fused=True
        )
        self.buffer = RolloutBuffer(self.algo.num_steps, cfg.env.num_envs, self.device)
        # The policy that acts in rollouts: this one, or a copy in an inference worker (synced per rollout).
        self.remote: RemotePolicy | None = None
        if uses_inference_worker(cfg.scheduler):
            try:
                self.remote = start_inference_worker(
                    cfg.policy, self.spec, cfg.scheduler, cfg.device, cfg.precision, max(cfg.torch_threads, 1)
                )
            except BaseException:  # nothing started so far is left running
                for w in workers:
                    w.kill()
                if self.env is not None:
                    self.env.close()
                raise
        acting: Any = self.remote or self.policy
        self.collector: SyncCollector | PipelinedCollector
        if workers:
            self.collector = PipelinedCollector(
                workers,
                acting,
                cfg.env.name,
                autocast=self.autocast,
                max_restarts=cfg.scheduler.max_restarts,
            )
        else:
            self.collector = SyncCollector(self.env, acting, cfg.env.name, autocast=self.autocast)
        self.global_step = 0
        self.update = 0
        self.last_checkpoint: Path | None = None
        self.history: list[dict[str, float]] = []

    def autocast(self) -> Any:
        """``torch.autocast`` in bf16 with ``precision=bf16`` (CPU or CUDA), else a no-op context."""
        if self.cfg.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def policy_metrics(self) -> dict[str, float]:
        """Parameter counts and memory: ``policy/params_*``, ``time/peak_rss_mb`` (and CUDA peak)."""
        counts = self.param_counts
        out = {
            "policy/params_total": float(counts["total"]),
            "policy/params_trainable": float(counts["trainable"]),
        }
        out["time/peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        if self.device.type == "cuda":
            out["time/cuda_peak_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        return out

    # ---- pieces subclasses fill in -------------------------------------------------------

    @abstractmethod
    def rollout(self) -> tuple[Batch | None, RolloutStats, dict[str, float]]:
        """Collect samples; returns (batch or None to skip the update, stats, extra metrics)."""

    @abstractmethod
    def loss(self, mb: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The objective on one minibatch and its metrics (without namespace)."""

    def load_pretrained(self, directory: str) -> None:
        """Warm start: load weights from a local policy/checkpoint dir (strict: shapes must fit)."""
        from safetensors.torch import load_file

        from embodied_rl.policies.core import WEIGHTS_NAME

        path = Path(directory) / WEIGHTS_NAME
        if not path.is_file():
            raise FileNotFoundError(
                f"policy.pretrained='{directory}': no {WEIGHTS_NAME} there (embodied-rl never downloads weights)"
            )
        self.policy.load_state_dict(load_file(str(path)))

    def policy_objective(
        self, log_prob: torch.Tensor, entropy: torch.Tensor, mb: Batch
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The part PPO and GRPO share: clipped ratio + entropy bonus + optional KL penalty.

        ``loss = L_clip(A) + ent_coef * (-H) + kl_coef * KL(pi || pi_old)``, with ``A`` normalised
        per minibatch when ``algo.norm_adv``. Means are over ``policy.logprob_mask`` when the
        policy gives one (a text agent's generated tokens). With log-probs per action or per dimension
        (``[B, ...]``) the ratio is taken per entry and averaged (pi_RL's action/token level).
        """
        advantages = normalize_advantages(mb.advantages) if self.algo.norm_adv else mb.advantages
        # Per-action / per-dimension log-probs ([B, ...]) share their sample's advantage.
        advantages = advantages.reshape(-1, *([1] * (log_prob.dim() - 1)))
        mask = self.policy.logprob_mask(mb.extras)  # e.g. a text agent's generated tokens
        pg_loss, stats = ppo_clip_loss(
            log_prob, mb.log_prob, advantages, self.algo.clip_coef, self.algo.clip_coef_high, mask=mask
        )
        ent_loss = entropy_loss(entropy, mask)
        loss = pg_loss + self.algo.ent_coef * ent_loss
        metrics = {
            "policy_loss": pg_loss.detach(),
            "entropy": -ent_loss.detach(),
            "approx_kl": stats.approx_kl,
            "clip_fraction": stats.clip_fraction,
        }
        if self.algo.kl_coef:
            kl = masked_mean(kl_estimate(log_prob, mb.log_prob, self.algo.kl_estimator), mask)  # type: ignore[arg-type]
            loss = loss + self.algo.kl_coef * kl
            metrics["kl_penalty"] = kl.detach()
        return loss, metrics

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"params": [p for p in self.policy.parameters() if p.requires_grad]}]

    def env_seed(self, update: int) -> int:
        """Seed for the envs at a clean cut after ``update`` (start of training: 0)."""
        return training_env_seed(self.cfg.seed, update)

    # ---- the loop ------------------------------------------------------------------------

    def write_config(self) -> None:
        """Write the run's ``config.yaml`` (what ``--resume`` and ``eval <run>`` read back)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config.yaml").write_text(to_yaml(self.cfg))

    def current_lr_factor(self) -> float:
        if self.algo.lr_schedule == "linear":
            return max(0.0, 1.0 - self.global_step / self.cfg.total_env_steps)
        return 1.0

    def train(self, stop_after_updates: int | None = None) -> dict[str, Any]:
        """Run until the env-step budget is spent (or ``stop_after_updates`` more updates)."""
        self.write_config()
        logger = MetricLogger(
            self.run_dir, tensorboard=self.cfg.log.tensorboard, truncate_after_step=self.global_step
        )
        if self.update == 0:
            self.collector.reset(seed=self.env_seed(0))
        start_update, start_time = self.update, time.perf_counter()
        progress = TrainProgress(
            self.cfg.total_env_steps, f"{self.cfg.algo.name} {self.cfg.env.name}", self.cfg.log.progress
        )
        progress.update(self.global_step)
        try:
            while self.global_step < self.cfg.total_env_steps:
                if stop_after_updates is not None and self.update - start_update >= stop_after_updates:
                    break
                metrics = self.train_one_update()
                logger.log(metrics, self.global_step)
                self.history.append({"step": self.global_step, **metrics})
                ret = metrics.get("rollout/episode_return_mean")
                progress.update(self.global_step, **({} if ret is None else {"return": ret}))
                if self.cfg.checkpoint.every_updates and self.update % self.cfg.checkpoint.every_updates == 0:
                    self.save()
                    self.collector.reset(seed=self.env_seed(self.update))  # the clean cut (module doc)
                if self.cfg.eval.every_updates and self.update % self.cfg.eval.every_updates == 0:
                    logger.log(self.evaluate().metrics(), self.global_step)
        except NonFiniteLossError as err:
            where = self.last_checkpoint or "none was written"
            raise NonFiniteLossError(f"{err}. Training stopped; last good checkpoint: {where}") from None
        except KeyboardInterrupt:
            if self.update > start_update:
                self.save(interrupted=True)
            raise
        finally:
            progress.close()
            logger.close()
        finished = self.global_step >= self.cfg.total_env_steps
        if finished:
            self.save()
        return {"wall_time_s": time.perf_counter() - start_time, "finished": finished}

    def train_one_update(self) -> dict[str, float]:
        t0 = time.perf_counter()
        self.policy.train()
        self.placement.enter_rollout()
        self.collector.policy_version = self.update  # the weights acting now: after `update` updates
        if self.remote is not None:  # weight sync: ship this version to the inference worker
            self.remote.sync(self.policy, self.update)
        batch, stats, extra = self.rollout()
        self.placement.enter_training()
        t1 = time.perf_counter()
        lr_factor = self.current_lr_factor()
        for group in self.optimizer.param_groups:
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * lr_factor
        train_metrics = self.update_policy(batch) if batch is not None else {"train/skipped_update": 1.0}
        t2 = time.perf_counter()
        self.update += 1
        self.global_step += stats.env_steps
        metrics: dict[str, float] = {**train_metrics, **extra, **self.policy_metrics()}
        metrics["train/lr"] = self.optimizer.param_groups[0]["lr"]
        if stats.episode_returns:
            metrics["rollout/episode_return_mean"] = float(np.mean(stats.episode_returns))
            metrics["rollout/episode_length_mean"] = float(np.mean(stats.episode_lengths))
            metrics["rollout/episodes"] = float(len(stats.episode_returns))
        if stats.episode_successes:
            metrics["rollout/success_rate"] = float(np.mean(stats.episode_successes))
        for key, counts in stats.episode_events.items():
            metrics[f"rollout/{key}_per_episode"] = float(np.mean(counts))
        metrics["rollout/policy_version"] = float(stats.policy_version)
        if self.cfg.scheduler.stages > 1 or stats.workers_restarted or stats.episodes_dropped:
            metrics["rollout/workers_restarted"] = float(stats.workers_restarted)
            metrics["rollout/episodes_dropped"] = float(stats.episodes_dropped)
        metrics.update(rollout_time_metrics(stats))
        if self.remote is not None:
            metrics["time/weight_sync_s"] = self.remote.sync_time
        metrics.update(
            {
                "time/rollout_s": t1 - t0,
                "time/update_s": t2 - t1,
                "time/env_s": stats.env_time,
                "time/inference_s": stats.inference_time,
                "time/env_steps_per_s": stats.env_steps / max(t2 - t0, 1e-9),
            }
        )
        return metrics

    def update_policy(self, batch: Batch) -> dict[str, float]:
        """Epochs x minibatches of gradient steps on ``loss``; returns averaged metrics."""
        sums: dict[str, float] = {}
        count = 0
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        for epoch in range(self.algo.update_epochs):
            for i, mb in enumerate(batch.minibatches(self.algo.num_minibatches)):
                with self.autocast():
                    loss, metrics = self.loss(mb)
                if not torch.isfinite(loss):
                    raise NonFiniteLossError(
                        f"loss is {loss.item()} at update {self.update + 1}, epoch {epoch}, minibatch {i}"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(params, self.algo.max_grad_norm)
                self.optimizer.step()
                metrics["grad_norm"] = grad_norm
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                count += 1
            if (
                self.algo.target_kl is not None
                and "approx_kl" in sums
                and sums["approx_kl"] / count > self.algo.target_kl
            ):
                break
        return {f"train/{k}": v / max(count, 1) for k, v in sums.items()}

    # ---- evaluation, checkpoints, resume -------------------------------------------------

    def evaluate(self, episodes: int | None = None) -> EvalResult:
        return evaluate_policy(
            self.policy,
            self.cfg.env.name,
            episodes=episodes or self.cfg.eval.episodes,
            seed=self.cfg.eval.seed,
            num_envs=min(self.cfg.env.num_envs, episodes or self.cfg.eval.episodes),
            deterministic=self.cfg.eval.deterministic,
            env_kwargs=self.cfg.env.kwargs,
        )

    def save(self, interrupted: bool = False) -> Path:
        payload = CheckpointPayload(
            model_state=self.policy.state_dict(),
            trainer_state={
                "optimizer": self.optimizer.state_dict(),
                "global_step": self.global_step,
                "update": self.update,
            },
            config_yaml=to_yaml(self.cfg),
            policy_info=self.policy.policy_info(),
            meta={"global_step": self.global_step, "update": self.update, "interrupted": interrupted},
        )
        self.last_checkpoint = save_checkpoint(self.run_dir, payload, keep_last=self.cfg.checkpoint.keep_last)
        return self.last_checkpoint

    def restore(self, checkpoint: str | Path | None = None) -> Path:
        """Load weights, optimizer, counters and RNG from a checkpoint (default: the run's latest)."""
        path = Path(checkpoint) if checkpoint else latest_checkpoint(self.run_dir)
        if path is None:
            raise FileNotFoundError(f"no checkpoint found in '{self.run_dir}' to resume from")
        payload = load_checkpoint(path, restore_rng=True)
        self.policy.load_state_dict(payload.model_state)
        self.optimizer.load_state_dict(payload.trainer_state["optimizer"])
        self.global_step = int(payload.trainer_state["global_step"])
        self.update = int(payload.trainer_state["update"])
        self.collector.reset(seed=self.env_seed(self.update))
        self.last_checkpoint = path
        return path

    def close(self) -> None:
        self.collector.close()
        if self.remote is not None:
            self.remote.close()
