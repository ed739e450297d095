"""Pipeline timing: busy/idle time per part, the speedup and its physical ceiling.

With sim time ``T_s`` and inference time ``T_i`` per step of all envs, a synchronous
step costs ``T_s + T_i`` and a perfectly pipelined one ``max(T_s, T_i)``.
"""

from __future__ import annotations

import math

from embodied_rl.rollout.collector import RolloutStats


def pipeline_ceiling(t_sim: float, t_inf: float) -> float:
    """The best speedup pipelining can give: ``(T_s + T_i) / max(T_s, T_i)`` (between 1 and 2).

    >>> pipeline_ceiling(1.0, 1.0), pipeline_ceiling(3.0, 1.0)
    (2.0, 1.3333333333333333)
    """
    if t_sim < 0 or t_inf < 0:
        raise ValueError(f"times must be >= 0, got T_s={t_sim}, T_i={t_inf}")
    longest = max(t_sim, t_inf)
    return (t_sim + t_inf) / longest if longest > 0 else 1.0


def speedup_efficiency(speedup: float, ceiling: float) -> float:
    """Fraction of the ceiling reached, ``speedup / ceiling`` (1.0 = a perfect pipeline)."""
    return speedup / ceiling if ceiling > 0 else math.nan


def rollout_time_metrics(stats: RolloutStats) -> dict[str, float]:
    """``time/`` metrics of one rollout: busy fractions, T_s, T_i, speedup, ceiling, efficiency.

    The speedup is against doing the same simulation and inference one after the other,
    ``(T_s + T_i) / wall``; the benchmark (``benchmarks/pipeline.py``) measures it against a
    real synchronous run instead.
    """
    wall = stats.wall_time
    if wall <= 0:
        return {}
    t_sim, t_inf = stats.env_time, stats.inference_time
    speedup = (t_sim + t_inf) / wall
    ceiling = pipeline_ceiling(t_sim, t_inf)
    metrics = {
        "time/env_busy_frac": t_sim / (max(stats.stages, 1) * wall),
        "time/inference_busy_frac": t_inf / wall,
        "time/wait_frac": stats.wait_time / wall,
        "time/pipeline_speedup": speedup,
        "time/pipeline_ceiling": ceiling,
        "time/pipeline_efficiency": speedup_efficiency(speedup, ceiling),
    }
    for k, busy in enumerate(stats.stage_env_time):
        metrics[f"time/stage{k}_env_busy_frac"] = busy / wall
    return metrics
