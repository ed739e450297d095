"""Training through the pipelined scheduler (local processes and Ray actors)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from embodied_rl.logging import read_metrics
from embodied_rl.run import run_training

SMALL = [
    "total_env_steps=512",
    "env.num_envs=4",
    "algo.num_steps=32",
    "eval.episodes=4",
    "log.tensorboard=false",
]


@pytest.mark.parametrize("experiment", ["quickstart", "cartpole_grpo"])
def test_pipelined_training_runs_and_reports_timing(make_cfg, experiment: str) -> None:
    extra = ["algo.group_size=2"] if experiment == "cartpole_grpo" else []
    cfg = make_cfg(experiment, *SMALL, *extra, "scheduler.stages=2")
    summary = run_training(cfg)
    assert summary.finished and summary.eval is not None
    rows = [r for r in read_metrics(summary.run_dir) if "rollout/policy_version" in r]
    assert [r["rollout/policy_version"] for r in rows] == list(range(len(rows)))
    for key in ("time/pipeline_speedup", "time/pipeline_ceiling", "time/stage1_env_busy_frac"):
        assert all(key in r for r in rows), key
    assert 1.0 <= summary.timing["time/pipeline_ceiling"] <= 2.0
    assert rows[-1]["rollout/workers_restarted"] == 0


def test_hybrid_placement_trains(make_cfg) -> None:
    cfg = make_cfg(
        "quickstart", *SMALL, "scheduler.stages=2", "scheduler.placement=hybrid",
        "scheduler.env_cpus=[0]", "scheduler.policy_cpus=[1]",
    )  # fmt: skip
    assert run_training(cfg).finished


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    # The actors import the test helpers (sched_helpers) too.
    here = str(Path(__file__).resolve().parent)
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": here}})
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_backend_trains_a_few_iterations(make_cfg, local_ray) -> None:
    """Env workers, inference and the trainer all as Ray actors; weights shipped before each rollout."""
    cfg = make_cfg("quickstart", *SMALL, "scheduler.stages=2", "scheduler.backend=ray")
    summary = run_training(cfg)
    assert summary.finished and summary.env_steps >= 512
    assert summary.trainer_pid != os.getpid()  # the trainer ran in its actor
    rows = [r for r in read_metrics(summary.run_dir) if "time/pipeline_speedup" in r]
    assert len(rows) == 4
    assert [r["rollout/policy_version"] for r in rows] == [0, 1, 2, 3]  # as reported by the inference actor
    assert all(r["time/weight_sync_s"] > 0 for r in rows)


@pytest.mark.slow
def test_ray_actor_crash_is_restarted_by_ray(local_ray, tmp_path: Path) -> None:
    from sched_helpers import FaultyFactory, small_policy

    from embodied_rl.rollout.buffer import RolloutBuffer
    from embodied_rl.scheduler.pipeline import PipelinedCollector
    from embodied_rl.scheduler.ray_worker import RayEnvWorker
    from embodied_rl.scheduler.worker import StageEnvFactory

    good = RayEnvWorker(StageEnvFactory("CartPole-v1", 2), timeout_s=30).start()
    bad = RayEnvWorker(FaultyFactory("crash", 5, str(tmp_path / "fired")), timeout_s=30).start()
    pipe = PipelinedCollector([good, bad], small_policy("CartPole-v1"))
    try:
        pipe.reset(seed=0)
        buffer = RolloutBuffer(16, 4)
        stats = pipe.collect_steps(buffer)
        assert stats.workers_restarted == 1 and stats.episodes_dropped == 2
        assert not buffer.mask[:5, 2:].any() and buffer.mask[:, :2].all()
        assert pipe.collect_steps(RolloutBuffer(16, 4)).workers_restarted == 0
    finally:
        pipe.close()
