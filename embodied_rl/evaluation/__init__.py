"""Evaluation: fixed-seed episodes, per-task statistics with confidence intervals, suites,
comparisons, videos, plots and a self-contained HTML report (`embodied-rl eval`).

Names are imported on first use, so ``import embodied_rl.evaluation.plots`` (the CLI parser
does it) does not load torch or scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EvalResult": "embodied_rl.evaluation.episodes",
    "evaluate_policy": "embodied_rl.evaluation.episodes",
    "EpisodeRecord": "embodied_rl.evaluation.results",
    "EvalReport": "embodied_rl.evaluation.results",
    "TaskResult": "embodied_rl.evaluation.results",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'embodied_rl.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
