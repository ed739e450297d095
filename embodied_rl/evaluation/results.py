"""Evaluation results: per-episode records, per-task statistics, and the files they are written to.

One evaluation writes, in its output directory::

    results.json   everything (meta, tasks, every episode); `EvalReport.load` reads it back
    results.csv    one row per task plus the suite row (success, 95% Wilson CI, return, length)
    episodes.csv   one row per episode (task, seed, return, length, success, video)
    results.md     the per-task table in markdown
    report.html    the self-contained HTML report (see `embodied_rl.evaluation.html`)
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from embodied_rl.evaluation.stats import wilson_interval

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
EPISODES_CSV = "episodes.csv"
RESULTS_MD = "results.md"
SCHEMA_VERSION = 1
SUITE_ROW = "suite average"


@dataclass
class EpisodeRecord:
    """One finished episode.

    Attributes:
        seed: The seed the episode was reset with (its identity across runs).
        episode_return: Sum of rewards.
        length: Number of steps.
        success: ``info["success"]`` on the last step; None when the env reports none.
        instruction: The episode's language instruction, when the env has one.
        video: Path of its mp4, relative to the output directory.
        thumbnail: Path of its last-frame PNG, relative to the output directory.
    """

    seed: int
    episode_return: float
    length: int
    success: bool | None = None
    instruction: str | None = None
    video: str | None = None
    thumbnail: str | None = None


@dataclass
class TaskResult:
    """All episodes of one task (one env with fixed kwargs).

    Attributes:
        name: Task name (the env name, or the suite's name for it).
        env: Registered env name.
        env_kwargs: Keyword arguments the env was made with.
        planned: Episodes the protocol asks for (more than ``len(episodes)`` if interrupted).
        episodes: Finished episodes, in seed order.
        grid_video: Path of the task's grid video (episodes side by side), relative.
    """

    name: str
    env: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    planned: int = 0
    episodes: list[EpisodeRecord] = field(default_factory=list)
    grid_video: str | None = None

    @property
    def n(self) -> int:
        return len(self.episodes)

    @property
    def complete(self) -> bool:
        return self.n >= self.planned

    @property
    def has_success(self) -> bool:
        return any(e.success is not None for e in self.episodes)

    @property
    def successes(self) -> int:
        return sum(1 for e in self.episodes if e.success)

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.n if self.n and self.has_success else None

    @property
    def success_ci(self) -> tuple[float, float] | None:
        """95% Wilson interval of the success rate."""
        return wilson_interval(self.successes, self.n) if self.has_success else None

    @property
    def returns(self) -> list[float]:
        return [e.episode_return for e in self.episodes]

    @property
    def mean_return(self) -> float:
        return statistics.fmean(self.returns) if self.episodes else math.nan

    @property
    def std_return(self) -> float:
        return statistics.pstdev(self.returns) if self.n > 1 else 0.0

    @property
    def mean_length(self) -> float:
        return statistics.fmean(e.length for e in self.episodes) if self.episodes else math.nan

    def outcomes_by_seed(self) -> dict[int, EpisodeRecord]:
        return {e.seed: e for e in self.episodes}

    def row(self) -> dict[str, Any]:
        """The task's statistics as one flat row (CSV / JSON)."""
        ci = self.success_ci
        return {
            "task": self.name,
            "env": self.env,
            "episodes": self.n,
            "planned": self.planned,
            "successes": self.successes if self.has_success else None,
            "success_rate": self.success_rate,
            "ci_low": ci[0] if ci else None,
            "ci_high": ci[1] if ci else None,
            "return_mean": self.mean_return,
            "return_std": self.std_return,
            "length_mean": self.mean_length,
        }


def pooled(tasks: list[TaskResult], name: str = SUITE_ROW) -> TaskResult:
    """All tasks' episodes as one result: the suite row.

    The pooled success rate is the mean of the per-task rates whenever every task has the
    same number of episodes (the protocol); its Wilson interval is over all episodes.
    """
    episodes = [e for t in tasks for e in t.episodes]
    return TaskResult(name=name, env="", planned=sum(t.planned for t in tasks), episodes=episodes)


@dataclass
class EvalReport:
    """One evaluation: what was evaluated, how, and every episode's outcome.

    Attributes:
        policy: What was evaluated (a path, or ``scripted:<name>``).
        tasks: Per-task results, in the order they ran.
        suite: Suite name, or None for a plain env list.
        protocol: One sentence saying which episodes were run (seeds / init states).
        deterministic: Whether actions were the policy's mode.
        seed: Seed of episode 0 of every task.
        episodes_per_task: Episodes each task was planned to run.
        num_envs: Parallel envs used (does not change outcomes).
        partial: True when the evaluation was interrupted before every task finished.
        created: ISO timestamp.
        wall_time_s: Seconds the evaluation took.
        versions: Package versions (embodied-rl, torch, ...).
        curves: Learning-curve images of the run the policy came from, relative paths.
        notes: Warnings worth showing with the results (e.g. videos unavailable).
    """

    policy: str
    tasks: list[TaskResult] = field(default_factory=list)
    suite: str | None = None
    protocol: str = ""
    deterministic: bool = True
    seed: int = 0
    episodes_per_task: int = 0
    num_envs: int = 1
    partial: bool = False
    created: str = ""
    wall_time_s: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)
    curves: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> TaskResult:
        return pooled(self.tasks)

    def task(self, name: str) -> TaskResult | None:
        return next((t for t in self.tasks if t.name == name), None)

    # ---- serialisation -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema_version"] = SCHEMA_VERSION
        data["summary"] = self.summary.row()
        for task, raw in zip(self.tasks, data["tasks"], strict=True):
            raw["stats"] = task.row()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        data = dict(data)
        version = data.pop("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(f"results schema version {version} is not supported (this is {SCHEMA_VERSION})")
        data.pop("summary", None)
        tasks = []
        for raw in data.pop("tasks", []):
            raw = dict(raw)
            raw.pop("stats", None)
            raw["episodes"] = [EpisodeRecord(**e) for e in raw.get("episodes", [])]
            tasks.append(TaskResult(**raw))
        return cls(tasks=tasks, **data)

    def save(self, out_dir: Path) -> dict[str, Path]:
        """Write results.json, results.csv, episodes.csv and results.md to ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {
            "json": out_dir / RESULTS_JSON,
            "csv": out_dir / RESULTS_CSV,
            "episodes": out_dir / EPISODES_CSV,
            "markdown": out_dir / RESULTS_MD,
        }
        paths["json"].write_text(json.dumps(self.to_dict(), indent=2, default=_json_default) + "\n")
        _write_csv(paths["csv"], [t.row() for t in self.tasks] + [self.summary.row()])
        _write_csv(
            paths["episodes"],
            [
                {
                    "task": t.name,
                    "seed": e.seed,
                    "return": e.episode_return,
                    "length": e.length,
                    "success": e.success,
                    "instruction": e.instruction,
                    "video": e.video,
                }
                for t in self.tasks
                for e in t.episodes
            ],
        )
        paths["markdown"].write_text(self.to_markdown())
        return paths

    @classmethod
    def load(cls, path: Path) -> EvalReport:
        """Read an evaluation back from its output directory or its results.json."""
        path = Path(path)
        file = path / RESULTS_JSON if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"no {RESULTS_JSON} at '{path}' (expected an `embodied-rl eval` output)")
        return cls.from_dict(json.loads(file.read_text()))

    # ---- text --------------------------------------------------------------------------

    def header_lines(self) -> list[str]:
        mode = "deterministic" if self.deterministic else "stochastic"
        lines = [
            f"- policy: `{self.policy}`",
            f"- {'suite: `' + self.suite + '`, ' if self.suite else ''}{len(self.tasks)} task(s), "
            f"{self.episodes_per_task} episodes per task, {mode} actions",
            f"- protocol: {self.protocol}" if self.protocol else "",
            f"- {self.created}, {self.wall_time_s:.1f} s, "
            + ", ".join(f"{k} {v}" for k, v in self.versions.items()),
        ]
        if self.partial:
            lines.insert(
                0, "- **PARTIAL**: interrupted before every episode finished; counts are what finished"
            )
        return [line for line in lines if line]

    def to_markdown(self) -> str:
        """The header and the per-task table (plus the suite row when there are several tasks)."""
        title = "# Evaluation" + (" (partial)" if self.partial else "")
        rows = self.tasks + ([self.summary] if len(self.tasks) > 1 else [])
        table = [
            "| task | episodes | success [95% CI] | return | length |",
            "|---|---:|---:|---:|---:|",
        ]
        for t in rows:
            name = f"**{t.name}**" if t.name == SUITE_ROW else t.name
            episodes = f"{t.n}" if t.complete else f"{t.n} of {t.planned}"
            table.append(
                f"| {name} | {episodes} | {format_success(t)} | "
                f"{t.mean_return:.2f} +- {t.std_return:.2f} | {t.mean_length:.1f} |"
            )
        notes = [f"\n> {note}" for note in self.notes]
        return "\n".join([title, "", *self.header_lines(), "", *table, *notes]) + "\n"


def format_success(task: TaskResult) -> str:
    """``"55.0% [45.2, 64.4]"`` (percent, Wilson 95% interval), or ``"-"`` without success info."""
    ci = task.success_ci
    if ci is None or task.success_rate is None:
        return "-"
    return f"{100 * task.success_rate:.1f}% [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        if not rows:
            return
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
