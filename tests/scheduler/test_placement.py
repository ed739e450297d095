"""Scheduler settings are checked at config time; timing math against hand-worked values."""

from __future__ import annotations

import pytest

from embodied_rl.config.schema import SchedulerConfig
from embodied_rl.rollout.collector import RolloutStats
from embodied_rl.scheduler.placement import PlacementPlan, check_scheduler
from embodied_rl.scheduler.timing import pipeline_ceiling, rollout_time_metrics, speedup_efficiency

CPUS = {0, 1}


def problems(num_envs: int = 8, device: str = "cpu", **kwargs) -> dict[str, str]:
    return dict(check_scheduler(SchedulerConfig(**kwargs), num_envs, device, cpus=CPUS))


def test_valid_placements() -> None:
    assert problems() == {}
    assert problems(stages=4) == {}
    assert problems(stages=2, placement="disaggregated", env_cpus=[0], policy_cpus=[1]) == {}
    assert problems(stages=2, placement="hybrid", env_cpus=[0], policy_cpus=[1]) == {}
    assert problems(stages=2, placement="hybrid", env_cpus=[0, 1], device="cuda:0") == {}


@pytest.mark.parametrize(
    ("kwargs", "key", "fragment"),
    [
        ({"stages": 9}, "scheduler.stages", "must be in [1, env.num_envs=8]"),
        ({"stages": 0}, "scheduler.stages", "must be in"),
        ({"placement": "spread"}, "scheduler.placement", "must be one of"),
        ({"backend": "slurm"}, "scheduler.backend", "must be one of"),
        ({"env_cpus": [0]}, "scheduler.placement", "collocated placement shares every core"),
        (
            {"placement": "disaggregated", "env_cpus": [0], "policy_cpus": [1]},
            "scheduler.stages",
            "stages >= 2",
        ),
        ({"placement": "hybrid", "stages": 2}, "scheduler.env_cpus", "needs scheduler.env_cpus and"),
        (
            {"placement": "disaggregated", "stages": 2, "env_cpus": [0, 1], "policy_cpus": [1]},
            "scheduler.policy_cpus",
            "[1] are in both",
        ),
        (
            {"placement": "hybrid", "stages": 2, "env_cpus": [5], "policy_cpus": [1]},
            "scheduler.env_cpus",
            "[5]",
        ),
        ({"worker_timeout_s": 0}, "scheduler.worker_timeout_s", "> 0"),
        ({"max_restarts": -1}, "scheduler.max_restarts", ">= 0"),
    ],
)
def test_invalid_placements_are_named(kwargs: dict, key: str, fragment: str) -> None:
    found = problems(**kwargs)
    assert key in found and fragment in found[key], found


def test_invalid_scheduler_fails_at_config_load() -> None:
    from embodied_rl.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="scheduler.stages"):
        load_config(
            None, ["scheduler.placement=disaggregated", "scheduler.env_cpus=[0]", "scheduler.policy_cpus=[1]"]
        )


def test_hybrid_trains_on_every_core() -> None:
    cfg = SchedulerConfig(stages=2, placement="hybrid", env_cpus=[0], policy_cpus=[1])
    plan = PlacementPlan.from_config(cfg, torch_threads=1)
    assert plan.rollout_cpus == {1} and plan.rollout_threads == 1
    assert plan.train_cpus >= {1} and plan.train_threads == max(1, len(plan.train_cpus))


def test_pipeline_ceiling_and_efficiency() -> None:
    assert pipeline_ceiling(2.0, 2.0) == 2.0
    assert pipeline_ceiling(3.0, 1.0) == pytest.approx(4 / 3)
    assert pipeline_ceiling(0.0, 0.0) == 1.0
    assert speedup_efficiency(1.8, 2.0) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        pipeline_ceiling(-1.0, 1.0)


def test_rollout_time_metrics_hand_worked() -> None:
    # Two stages, 1.0 s of simulation each, 1.0 s of inference, 1.25 s of wall time:
    # serial work 3.0 s -> speedup 2.4; ceiling (2+1)/2 = 1.5 -> efficiency 1.6 is impossible for a
    # real run but the arithmetic is what is tested.
    stats = RolloutStats(
        env_time=2.0, inference_time=1.0, wall_time=1.25, stages=2, stage_env_time=[1.0, 1.0]
    )
    m = rollout_time_metrics(stats)
    assert m["time/env_busy_frac"] == pytest.approx(2.0 / 2.5)
    assert m["time/inference_busy_frac"] == pytest.approx(0.8)
    assert m["time/pipeline_speedup"] == pytest.approx(2.4)
    assert m["time/pipeline_ceiling"] == pytest.approx(1.5)
    assert m["time/pipeline_efficiency"] == pytest.approx(1.6)
    assert m["time/stage1_env_busy_frac"] == pytest.approx(0.8)
    assert rollout_time_metrics(RolloutStats()) == {}


@pytest.mark.parametrize("width", [1, 3])
def test_synthetic_compute_runs_its_work_rounds(width: int) -> None:
    """work=k applies k rounds of X <- tanh(W X) per step, X of shape [128, width] (checked against the formula)."""
    import numpy as np
    import torch
    from embodied_rl.envs.toy import SyntheticCompute

    env = SyntheticCompute(work=3, obs_dim=128, act_dim=4, width=width)
    env.reset(seed=0)
    x = env._x.clone()
    assert x.shape == (128, width)
    action = np.array([0.5, -0.5, 0.25, 0.0], dtype=np.float32)
    obs, reward, *_ = env.step(action)
    x[:4] += torch.from_numpy(action)[:, None]
    for _ in range(3):
        x = torch.tanh(env._w @ x)
    assert np.allclose(obs, x[:, 0].numpy(), atol=1e-6) and reward == pytest.approx(-np.mean(action**2))
    # every column advanced, not just the observed one
    assert np.allclose(env._x.numpy(), x.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="width"):
        SyntheticCompute(width=0)
    pixels = SyntheticCompute(work=0, image_size=8)
    image, _ = pixels.reset(seed=0)
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
