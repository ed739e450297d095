"""Run an evaluation over tasks and write everything a reader needs.

:func:`run_evaluation` plays ``episodes`` fixed-seed episodes per task, shows a progress
bar with ETA and each task's running success, records videos of the first episodes
of each task, and writes results (JSON, CSV, markdown), plots and the HTML report.
Ctrl-C stops it cleanly: the finished episodes are kept and written, and the report
is marked partial.
"""

from __future__ import annotations

import platform
import re
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from gymnasium import spaces
from rich.console import Console

from embodied_rl.envs import EnvSpec, env_spec, make
from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics
from embodied_rl.evaluation.compare import Comparison
from embodied_rl.evaluation.episodes import Actor, FinishedEpisode, play_episodes
from embodied_rl.evaluation.results import EpisodeRecord, EvalReport, TaskResult
from embodied_rl.evaluation.suites import SuiteTask, protocol_text
from embodied_rl.logging import TrainProgress

PolicySource = Actor | Callable[[SuiteTask, EnvSpec], Actor]
"""A policy, or a factory building one per task (scripted policies depend on the env)."""

VIDEO_DIR = "videos"
THUMB_DIR = "thumbs"
STRIP_DIR = "strips"
"""Per recorded episode, its first frames side by side (GUI episodes: the actions drawn on them)."""


def slug(name: str) -> str:
    """A file-name-safe version of a task name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "task"


def check_policy_fits(policy_spec: EnvSpec, spec: EnvSpec, task: str) -> None:
    """Raise a clear error when a policy trained on ``policy_spec`` cannot act in ``spec``.

    The action spaces must be equal and every observation key the policy reads must
    exist in the task's observations with the same space.
    """
    problems = []
    if policy_spec.action_space != spec.action_space:
        problems.append(f"action space {spec.action_space} != the policy's {policy_spec.action_space}")
    ours, theirs = policy_spec.observation_space.spaces, spec.observation_space.spaces
    for key, space in ours.items():
        if key not in theirs:
            problems.append(f"no '{key}' observation (it has {sorted(theirs)})")
        elif not _same_space(space, theirs[key]):
            problems.append(f"observation '{key}' is {theirs[key]}, the policy expects {space}")
    if problems:
        raise ValueError(
            f"the policy (trained on '{policy_spec.name}') cannot act in task '{task}' ('{spec.name}'): "
            + "; ".join(problems)
        )


def _same_space(a: spaces.Space, b: spaces.Space) -> bool:
    if isinstance(a, spaces.Text) and isinstance(b, spaces.Text):
        return True  # instruction lengths may differ between tasks of one suite
    if isinstance(a, spaces.Dict) and isinstance(b, spaces.Dict):
        return a.spaces.keys() == b.spaces.keys() and all(_same_space(a[k], b[k]) for k in a.spaces)
    return a == b


class EvalProgress(TrainProgress):
    """The progress bar over all episodes (rate, ETA) with the current task's running success."""

    def __init__(self, total: int, enable: bool, console: Console | None) -> None:
        super().__init__(total, description="eval", enable=enable, console=console, unit="episodes")

    def episode_done(self, task: TaskResult) -> None:
        info = f"{task.name}: {task.n}/{task.planned}"
        if task.success_rate is not None:
            info += f"  success {task.successes}/{task.n} ({100 * task.success_rate:.0f}%)"
        self.update(self.completed + 1, info=f"{info}  return {task.mean_return:.2f}")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("embodied-rl", "torch", "gymnasium"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def _make_env(task: SuiteTask, num_envs: int, videos: int, notes: list[str]) -> tuple[Any, bool]:
    """The task's env (with rgb_array rendering when videos are wanted and it works here)."""
    if videos > 0:
        env = None
        try:
            env = make(task.env, num_envs=num_envs, render_mode="rgb_array", **task.kwargs)
            env.reset(seed=0)
            if env.render() is None:
                raise RuntimeError("render() returned None")
            return EpisodeStatistics(env), True
        except Exception as err:  # rendering backends fail in many ways: report, evaluate anyway
            if env is not None:
                env.close()
            notes.append(
                f"no videos for task '{task.name}': '{task.env}' cannot render rgb_array here ({err})"
            )
    return EpisodeStatistics(make(task.env, num_envs=num_envs, **task.kwargs)), False


def _save_media(
    out_dir: Path, task: TaskResult, episode: FinishedEpisode, fps: int, grid: Any
) -> tuple[str | None, str | None]:
    from embodied_rl.evaluation.media import write_episode_video, write_strip, write_thumbnail

    if not episode.frames:
        return None, None
    name = slug(task.name)
    video = Path(VIDEO_DIR) / name / f"seed-{episode.seed}.mp4"
    thumb = Path(THUMB_DIR) / name / f"seed-{episode.seed}.png"
    annotated = write_episode_video(
        out_dir / video,
        episode.frames,
        episode.instruction,
        episode.success,
        fps=fps,
        episode_return=episode.episode_return,
    )
    write_thumbnail(out_dir / thumb, annotated[-1])
    write_strip(out_dir / STRIP_DIR / name / f"seed-{episode.seed}.png", annotated)
    grid.add(annotated)
    return video.as_posix(), thumb.as_posix()


def _evaluate_task(
    source: PolicySource,
    task: SuiteTask,
    result: TaskResult,
    out_dir: Path,
    *,
    seed: int,
    num_envs: int,
    deterministic: bool,
    videos: int,
    notes: list[str],
    progress: EvalProgress,
    max_steps: int,
) -> None:
    from embodied_rl.evaluation.media import GridVideo

    torch.manual_seed(seed)  # --stochastic reruns sample the same actions (for the same num_envs)
    env, can_render = _make_env(task, num_envs, videos, notes)
    fps = int(env.metadata.get("render_fps") or 10)
    grid = GridVideo()
    try:
        spec = env_spec(env)
        if hasattr(source, "act"):
            policy = source
            if hasattr(policy, "spec"):
                check_policy_fits(policy.spec, spec, task.name)
        else:
            policy = source(task, spec)
        for episode in play_episodes(
            policy,
            env,
            result.planned,
            seed,
            deterministic,
            record_frames=videos if can_render else 0,
            max_steps=max_steps,
            env_name=task.env,
        ):
            video, thumb = _save_media(out_dir, result, episode, fps, grid)
            result.episodes.append(
                EpisodeRecord(
                    seed=episode.seed,
                    episode_return=episode.episode_return,
                    length=episode.length,
                    success=episode.success,
                    instruction=episode.instruction,
                    video=video,
                    thumbnail=thumb,
                )
            )
            progress.episode_done(result)
    finally:
        env.close()
        result.episodes.sort(key=lambda e: e.seed)
        if len(grid):
            path = Path(VIDEO_DIR) / slug(task.name) / "grid.mp4"
            if grid.write(out_dir / path, fps=fps) is not None:
                result.grid_video = path.as_posix()


def run_evaluation(
    policy: PolicySource,
    tasks: Sequence[SuiteTask],
    out_dir: Path,
    *,
    policy_name: str,
    episodes: int,
    seed: int,
    num_envs: int = 8,
    deterministic: bool = True,
    videos: int = 2,
    suite: str | None = None,
    init_states: bool = False,
    run_dir: Path | None = None,
    progress: bool = True,
    console: Console | None = None,
    max_steps: int = 100_000,
) -> EvalReport:
    """Evaluate ``policy`` on ``tasks`` and write results, plots and the report to ``out_dir``.

    Args:
        policy: A policy (``act``), or a factory ``(task, spec) -> policy`` (scripted ones).
        tasks: The tasks, evaluated in order.
        out_dir: Output directory (created).
        policy_name: What was evaluated, for the report.
        episodes: Episodes per task (episode ``k`` starts from seed ``seed + k``).
        seed: Seed of episode 0.
        num_envs: Parallel envs per task (never changes which episodes run).
        deterministic: The policy's mode (greedy / ODE) instead of sampling.
        videos: Record the first ``videos`` episodes of each task (0 = none).
        suite: Suite name, for the report.
        init_states: The envs map seed ``k`` to their shipped init state ``k``.
        run_dir: Training run the policy came from: its learning curves go in the report.
        progress: Show the progress bar.
        console: Where the progress bar draws.
        max_steps: Safety cap on steps per wave.

    Returns:
        The report; ``report.partial`` is True when Ctrl-C stopped it early.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if not tasks:
        raise ValueError("no tasks to evaluate")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = EvalReport(
        policy=policy_name,
        suite=suite,
        protocol=protocol_text(episodes, seed, init_states),
        deterministic=deterministic,
        seed=seed,
        episodes_per_task=episodes,
        num_envs=num_envs,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        versions=_versions(),
    )
    was_training = getattr(policy, "training", False)
    if hasattr(policy, "train"):
        policy.train(False)
    bar = EvalProgress(len(tasks) * episodes, progress, console)
    start = time.perf_counter()
    try:
        for task in tasks:
            result = TaskResult(name=task.name, env=task.env, env_kwargs=dict(task.kwargs), planned=episodes)
            report.tasks.append(result)
            _evaluate_task(
                policy,
                task,
                result,
                out_dir,
                seed=seed,
                num_envs=max(1, min(num_envs, episodes)),
                deterministic=deterministic,
                videos=videos,
                notes=report.notes,
                progress=bar,
                max_steps=max_steps,
            )
    except KeyboardInterrupt:
        report.partial = True
    except Exception as err:
        # keep what finished (an env crash after an hour must not lose the hour), then re-raise
        if any(t.n for t in report.tasks):
            report.partial = True
            report.notes.append(f"stopped by an error: {err!r}")
            report.wall_time_s = time.perf_counter() - start
            write_outputs(report, out_dir, run_dir)
        raise
    finally:
        bar.close()
        if hasattr(policy, "train"):
            policy.train(was_training)
    report.wall_time_s = time.perf_counter() - start
    write_outputs(report, out_dir, run_dir)
    return report


def write_outputs(report: EvalReport, out_dir: Path, run_dir: Path | None = None) -> Path:
    """Write results files, the success plot, learning curves and report.html; return the report path."""
    from embodied_rl.evaluation import html, plots

    rows = [(t.name, [success_bar(t)]) for t in report.tasks if t.n]
    success_plot = _success_plot(rows, [report.policy], out_dir, report.notes)
    if run_dir is not None and not report.curves:
        curves = {Path(run_dir).name: Path(run_dir)}
        if _try_plot(lambda: plots.plot_learning_curves(curves, out_dir / "curves.png"), report.notes):
            report.curves.append("curves.png")
    report.save(out_dir)
    return html.render_report(report, out_dir, success_plot=success_plot)


def write_comparison(comparison: Comparison, out_dir: Path) -> Path:
    """Write comparison.md/.csv/.json, the grouped success plot and comparison.html; return the page."""
    from embodied_rl.evaluation import html

    comparison.save(out_dir)
    rows = [(row.task, [success_bar(r) if r else None for r in row.results]) for row in comparison.tasks]
    success_plot = _success_plot(rows, comparison.labels, out_dir, comparison.warnings)
    return html.render_comparison(comparison, out_dir, success_plot=success_plot)


def success_bar(task: TaskResult) -> tuple[float, float, float] | None:
    """``(rate, ci_low, ci_high)`` for a bar chart, or None without success info."""
    ci = task.success_ci
    if task.success_rate is None or ci is None:
        return None
    return task.success_rate, ci[0], ci[1]


def _success_plot(rows: list, labels: list[str], out_dir: Path, notes: list[str]) -> str | None:
    """Draw success.png when any row has success info; its relative path, or None."""
    from embodied_rl.evaluation import plots

    if not any(bar is not None for _, bars in rows for bar in bars):
        return None
    drawn = _try_plot(lambda: plots.plot_success_rates(rows, labels, out_dir / "success.png"), notes)
    return "success.png" if drawn else None


def _try_plot(fn: Callable[[], Any], notes: list[str]) -> bool:
    try:
        fn()
        return True
    except (ValueError, FileNotFoundError) as err:
        notes.append(f"plot skipped: {err}")
        return False
    except Exception as err:  # a plot must never lose the results
        warnings.warn(f"plot failed: {err!r}", stacklevel=2)
        notes.append(f"plot failed: {err!r}")
        return False
