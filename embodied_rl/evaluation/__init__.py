"""Evaluation: fixed-seed episodes, per-task statistics with confidence intervals, suites,
comparisons, videos, plots and a self-contained HTML report (`embodied-rl eval`)."""

from embodied_rl.evaluation.episodes import EvalResult, evaluate_policy
from embodied_rl.evaluation.results import EpisodeRecord, EvalReport, TaskResult

__all__ = ["EpisodeRecord", "EvalReport", "EvalResult", "TaskResult", "evaluate_policy"]
