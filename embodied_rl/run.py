"""A whole training run as users start it: train, evaluate, record a video, print a summary."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console

from embodied_rl.algorithms import ALGORITHMS
from embodied_rl.config.schema import TrainConfig
from embodied_rl.envs import make
from embodied_rl.envs.wrappers.video import RecordEpisodeVideo
from embodied_rl.evaluation import EvalResult
from embodied_rl.logging import MetricLogger, print_table
from embodied_rl.policies.core import Policy
from embodied_rl.trainers.base import OnPolicyTrainer


@dataclass
class RunSummary:
    """What a finished (or resumed-and-finished) run produced."""

    run_dir: Path
    checkpoint: Path | None
    env_steps: int
    wall_time_s: float
    first_return: float
    last_return: float
    eval: EvalResult | None
    video: Path | None
    finished: bool
    params: dict[str, int] | None = None
    timing: dict[str, float] = field(default_factory=dict)
    """Median scheduler timing metrics over the run (``time/pipeline_speedup``, ...)."""
    sft: dict[str, float] | None = None
    sft_eval: EvalResult | None = None
    trainer_pid: int = field(default_factory=os.getpid)
    """Process the trainer ran in (a Ray actor's with ``scheduler.backend=ray``)."""


def build_trainer(cfg: TrainConfig, run_dir: str | Path | None = None) -> OnPolicyTrainer:
    return ALGORITHMS.get(cfg.algo.name)(cfg, run_dir=run_dir)


@torch.no_grad()
def record_video(policy: Policy, cfg: TrainConfig, video_dir: Path, seed: int) -> Path | None:
    """Record one deterministic episode of ``policy`` as mp4.

    Returns None with a warning when the env cannot render ``rgb_array`` here (e.g. MuJoCo
    without an EGL/OSMesa context): a missing video never fails a finished run.
    """
    recorder = None
    try:
        env = make(cfg.env.name, num_envs=1, render_mode="rgb_array", **cfg.env.kwargs)
        fps = env.metadata.get("render_fps", 30)
        recorder = RecordEpisodeVideo(env, video_dir, max_steps=cfg.log.video_max_steps, fps=fps)
        obs, _ = recorder.reset(seed=seed)
        for _ in range(cfg.log.video_max_steps + 1):
            obs, *_ = recorder.step(policy.act(obs, deterministic=True).actions)
            if recorder.videos:
                break
        recorder.close()
    except Exception as err:  # rendering backends fail in many ways; report, do not crash
        warnings.warn(
            f"no episode video: env '{cfg.env.name}' could not render rgb_array ({err!r})", stacklevel=2
        )
        return None
    return recorder.videos[0] if recorder.videos else None


TIMING_KEYS = (
    "time/env_busy_frac",
    "time/inference_busy_frac",
    "time/pipeline_speedup",
    "time/pipeline_ceiling",
    "time/pipeline_efficiency",
)


def _median_timing(history: list[dict[str, float]]) -> dict[str, float]:
    """Median over updates of the scheduler's ``time/`` metrics (printed at the end of a run)."""
    out = {}
    for key in TIMING_KEYS:
        values = sorted(h[key] for h in history if key in h)
        if values:
            out[key] = values[len(values) // 2]
    return out


def _mean_return(history: list[dict[str, float]], first: bool) -> float:
    values = [h["rollout/episode_return_mean"] for h in history if "rollout/episode_return_mean" in h]
    if not values:
        return math.nan
    k = max(1, len(values) // 10)  # average the first / last tenth of updates
    chunk = values[:k] if first else values[-k:]
    return sum(chunk) / len(chunk)


def run_training(
    cfg: TrainConfig,
    resume_dir: str | Path | None = None,
    stop_after_updates: int | None = None,
    console: Console | None = None,
) -> RunSummary:
    """Train (or resume) a run, then evaluate it, record a video and print a summary table.

    With ``scheduler.backend=ray`` (and ``scheduler.trainer_actor``) all of it runs inside a
    Ray actor; this process only waits for the summary and prints it.
    """
    if cfg.scheduler.backend == "ray" and cfg.scheduler.trainer_actor:
        summary = train_in_ray_actor(cfg, resume_dir, stop_after_updates)
    else:
        summary = train_and_summarize(cfg, resume_dir, stop_after_updates)
    print_table(
        f"embodied-rl: {cfg.algo.name} on {cfg.env.name}", summary_rows(cfg, summary), console=console
    )
    return summary


def train_in_ray_actor(
    cfg: TrainConfig, resume_dir: str | Path | None, stop_after_updates: int | None
) -> RunSummary:
    """:func:`train_and_summarize` in a Ray actor (the trainer); env and inference actors start from it.

    The actor works in this process's directory, so relative paths (run_dir, demos) mean the
    same; on a multi-machine cluster that directory must be on a shared file system.
    """
    import ray

    from embodied_rl.scheduler.ray_worker import init_ray

    init_ray(cfg.scheduler.ray_address)
    trainer = ray.remote(_TrainerActor).options(num_cpus=0, max_restarts=0).remote(os.getcwd())
    return ray.get(trainer.run.remote(cfg, resume_dir, stop_after_updates))


class _TrainerActor:
    """The trainer as a Ray actor (wrapped by ``ray.remote`` in :func:`train_in_ray_actor`)."""

    def __init__(self, cwd: str) -> None:
        os.chdir(cwd)

    def run(self, cfg: TrainConfig, resume_dir: str | Path | None, stop: int | None) -> RunSummary:
        return train_and_summarize(cfg, resume_dir, stop)  # its trainer_pid is this actor's


def train_and_summarize(
    cfg: TrainConfig, resume_dir: str | Path | None = None, stop_after_updates: int | None = None
) -> RunSummary:
    """The run itself: (resume or SFT), train, final evaluation and video; returns the summary."""
    trainer = build_trainer(cfg, run_dir=resume_dir)
    sft_info: dict[str, float] | None = None
    sft_eval: EvalResult | None = None
    try:
        if resume_dir is not None:
            trainer.restore()
        elif cfg.sft.steps > 0:
            sft_info, sft_eval = warm_start(trainer, cfg)
        out = trainer.train(stop_after_updates=stop_after_updates)
        result: EvalResult | None = None
        video: Path | None = None
        if out["finished"]:
            result = trainer.evaluate()
            with MetricLogger(trainer.run_dir, tensorboard=cfg.log.tensorboard) as logger:
                logger.log(result.metrics(), trainer.global_step)
            if cfg.log.video:
                video = record_video(trainer.policy, cfg, trainer.run_dir / "videos", seed=cfg.eval.seed)
    finally:
        trainer.close()
    summary = RunSummary(
        run_dir=trainer.run_dir,
        checkpoint=trainer.last_checkpoint,
        env_steps=trainer.global_step,
        wall_time_s=out["wall_time_s"],
        first_return=_mean_return(trainer.history, first=True),
        last_return=_mean_return(trainer.history, first=False),
        eval=result,
        video=video,
        finished=out["finished"],
        sft=sft_info,
        sft_eval=sft_eval,
        params=trainer.policy.parameter_counts(),
        timing=_median_timing(trainer.history),
    )
    return summary


def sft_only(
    trainer: OnPolicyTrainer,
    cfg: TrainConfig,
    save_demos_to: str | None = None,
    console: Console | None = None,
) -> tuple[dict[str, float], EvalResult]:
    """``embodied-rl sft``: the warm start alone, with a summary table.

    The run's ``config.yaml`` is written too, so ``eval <run>/sft`` uses the run's env options.
    """
    trainer.write_config()
    info, result = warm_start(trainer, cfg, save_demos_to)
    rows = [
        ("env / policy", f"{cfg.env.name} / {cfg.policy.name}"),
        (
            "demonstrations",
            f"{int(info['sft/samples'])} samples, expert success {100 * info['sft/expert_success_rate']:.0f}%",
        ),
        (f"SFT loss ({cfg.sft.steps} steps)", f"{info['sft/loss_first']:.3f} -> {info['sft/loss_last']:.3f}"),
        (f"eval ({len(result.returns)} episodes)", _eval_text(result)),
        ("policy", f"{trainer.run_dir / 'sft'} (train from it with policy.pretrained=...)"),
    ]
    print_table(f"embodied-rl sft on {cfg.env.name}", rows, console=console)
    return info, result


def warm_start(
    trainer: OnPolicyTrainer, cfg: TrainConfig, save_demos_to: str | None = None
) -> tuple[dict[str, float], EvalResult]:
    """SFT the trainer's policy on expert demonstrations, save it to ``<run_dir>/sft`` and evaluate it.

    The evaluation (same episodes and seeds as the final one) is logged under ``eval/``
    at env step 0, so the learning curve starts from the warm policy.
    """
    from embodied_rl.sft import demos_for, run_sft, save_demos

    demos = demos_for(cfg.sft, cfg.env.name, cfg.env.kwargs, cfg.env.num_envs)
    if save_demos_to:
        save_demos(demos, save_demos_to)
    losses = run_sft(
        trainer.policy,
        demos,
        cfg.sft.steps,
        cfg.sft.batch_size,
        cfg.sft.lr,
        cfg.seed,
        cfg.log.progress,
        lr_schedule=cfg.sft.lr_schedule,
    )
    trainer.policy.save_pretrained(trainer.run_dir / "sft")
    result = trainer.evaluate()
    info = {
        "sft/samples": float(len(demos)),
        "sft/expert_success_rate": demos.success_rate,
        "sft/loss_first": losses[0],
        "sft/loss_last": losses[-1],
    }
    with MetricLogger(trainer.run_dir, tensorboard=cfg.log.tensorboard) as logger:
        logger.log({**info, **result.metrics()}, 0)
    return info, result


def _eval_text(result: EvalResult) -> str:
    text = f"{result.mean_return:.1f} +- {result.std_return:.1f}"
    if result.success_rate is not None:
        text += f", success {100 * result.success_rate:.1f}%"
    return text


def summary_rows(cfg: TrainConfig, s: RunSummary) -> list[tuple[str, str]]:
    rows = [
        ("env / policy / algo", f"{cfg.env.name} / {cfg.policy.name} / {cfg.algo.name}"),
        (
            "env steps",
            f"{s.env_steps:,} in {s.wall_time_s:.1f} s ({s.env_steps / max(s.wall_time_s, 1e-9):,.0f} steps/s)",
        ),
        ("train return (first -> last 10%)", f"{s.first_return:.1f} -> {s.last_return:.1f}"),
    ]
    if s.params is not None:
        rows.append(("policy parameters", f"{s.params['total']:,} ({s.params['trainable']:,} trainable)"))
    if s.sft is not None and s.sft_eval is not None:
        rows.append(
            (
                f"SFT ({cfg.sft.steps} steps, {int(s.sft['sft/samples'])} samples)",
                f"loss {s.sft['sft/loss_first']:.3f} -> {s.sft['sft/loss_last']:.3f}; eval {_eval_text(s.sft_eval)}",
            )
        )
    if s.eval is not None:
        mode = "deterministic" if cfg.eval.deterministic else "stochastic"
        rows.append(
            (
                f"eval return ({len(s.eval.returns)} episodes, {mode})",
                f"{s.eval.mean_return:.1f} +- {s.eval.std_return:.1f}",
            )
        )
        if s.eval.success_rate is not None:
            rows.append(("eval success rate", f"{100 * s.eval.success_rate:.1f}%"))
    rows += [
        ("checkpoint", str(s.checkpoint)),
        ("tensorboard", f"tensorboard --logdir {s.run_dir / 'tb'}" if cfg.log.tensorboard else "off"),
        ("video", str(s.video) if s.video else "none"),
    ]
    if s.timing:
        t = s.timing
        rows.append(
            (
                f"rollout scheduler ({cfg.scheduler.stages} stage(s), {cfg.scheduler.placement}, "
                f"{cfg.scheduler.backend})",
                f"env busy {100 * t['time/env_busy_frac']:.0f}%, inference busy "
                f"{100 * t['time/inference_busy_frac']:.0f}%; speedup {t['time/pipeline_speedup']:.2f}x of "
                f"ceiling {t['time/pipeline_ceiling']:.2f}x ({100 * t['time/pipeline_efficiency']:.0f}%), medians",
            )
        )
    if not s.finished:
        rows.append(("status", f"stopped early; continue with: embodied-rl train --resume {s.run_dir}"))
    return rows
