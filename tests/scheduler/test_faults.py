"""Env workers that crash, hang or raise are restarted; their unfinished episodes are dropped."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sched_helpers import FaultyFactory, small_policy

from embodied_rl.rollout.buffer import RolloutBuffer
from embodied_rl.scheduler.pipeline import PipelinedCollector
from embodied_rl.scheduler.worker import EnvWorker, EnvWorkerError, StageEnvFactory


@pytest.mark.parametrize("mode", ["crash", "hang", "raise"])
def test_failed_worker_is_restarted_and_collection_goes_on(mode: str, tmp_path: Path) -> None:
    good = EnvWorker(StageEnvFactory("CartPole-v1", 2), timeout_s=30, name="stage 0").start()
    bad = EnvWorker(FaultyFactory(mode, 7, str(tmp_path / "fired")), timeout_s=3, name="stage 1").start()
    pipe = PipelinedCollector([good, bad], small_policy("CartPole-v1"))
    try:
        pipe.reset(seed=0)
        buffer = RolloutBuffer(20, 4)
        stats = pipe.collect_steps(buffer)
        assert stats.workers_restarted == 1 and pipe.restarts == 1
        assert stats.episodes_dropped == 2
        t = 6  # the 7th step of the faulty stage
        assert buffer.truncated[t, 2:].all() and (buffer.rewards[t, 2:] == 0).all()
        assert not buffer.mask[: t + 1, 2:].any(), "the dropped episodes are masked out"
        assert buffer.mask[:, :2].all() and buffer.mask[t + 1 :, 2:].all()
        assert stats.env_steps == 20 * 4 - 2  # the failed step of the faulty stage did not happen
        stats = pipe.collect_steps(RolloutBuffer(20, 4))  # and the next rollout is normal
        assert stats.workers_restarted == 0 and bad.alive
    finally:
        pipe.close()


def test_too_many_restarts_give_up(tmp_path: Path) -> None:
    always = EnvWorker(FaultyFactory("raise", 2, str(tmp_path / "never" / "x")), timeout_s=10).start()
    pipe = PipelinedCollector([always], small_policy("CartPole-v1"), max_restarts=2)
    try:
        pipe.reset(seed=0)
        with pytest.raises(EnvWorkerError, match="max_restarts=2"):
            pipe.collect_steps(RolloutBuffer(10, 2))
    finally:
        pipe.close()


def test_worker_start_failure_is_clear() -> None:
    with pytest.raises(EnvWorkerError, match="(?s)'start' failed.*NoSuchEnv"):
        EnvWorker(StageEnvFactory("NoSuchEnv-v0", 1), start_timeout_s=60).start()


def test_worker_step_before_start_and_double_send() -> None:
    worker = EnvWorker(StageEnvFactory("CartPole-v1", 1))
    with pytest.raises(EnvWorkerError, match="not started"):
        worker.step_async(torch.zeros(1, dtype=torch.long))
    worker.start()
    try:
        worker.reset_async(0)
        with pytest.raises(EnvWorkerError, match="still in flight"):
            worker.reset_async(0)
        worker.reset_wait()
    finally:
        worker.close()
