"""Resume equivalence, NaN-loss stop, Ctrl-C checkpoint."""

from __future__ import annotations

import math

import pytest
import torch

from embodied_rl.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from embodied_rl.config import load_config
from embodied_rl.logging import read_metrics
from embodied_rl.run import build_trainer
from embodied_rl.trainers.base import NonFiniteLossError

SMALL = (
    "env.num_envs=4",
    "algo.num_steps=32",
    "algo.num_minibatches=4",
    "total_env_steps=768",
    "eval.episodes=2",
)


def comparable(rows):
    """Metric rows without timings (which differ between runs)."""
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


@pytest.mark.parametrize("experiment", ["quickstart", "cartpole_grpo"])
def test_resumed_run_equals_uninterrupted_run(make_cfg, experiment, tmp_path):
    extra = ("env.num_envs=8", "total_env_steps=4000") if experiment == "cartpole_grpo" else ()
    overrides = (*SMALL, *extra, "checkpoint.every_updates=2", "checkpoint.keep_last=0")
    full = build_trainer(make_cfg(experiment, *overrides, run="full"))
    full.train()
    full.close()

    part = build_trainer(make_cfg(experiment, *overrides, run="part"))
    part.train(stop_after_updates=3)  # "crash" after update 3: the last checkpoint is update 2
    part.close()
    assert load_checkpoint(latest_checkpoint(part.run_dir)).meta["update"] == 2

    cfg = load_config(part.run_dir / "config.yaml")
    resumed = build_trainer(cfg, run_dir=part.run_dir)
    resumed.restore()
    resumed.train()
    resumed.close()

    full_rows, resumed_rows = read_metrics(full.run_dir), read_metrics(part.run_dir)
    assert [r["step"] for r in resumed_rows] == [r["step"] for r in full_rows]
    assert comparable(resumed_rows) == comparable(full_rows)
    a = load_checkpoint(latest_checkpoint(full.run_dir), restore_rng=False).model_state
    b = load_checkpoint(latest_checkpoint(part.run_dir), restore_rng=False).model_state
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(make_cfg, monkeypatch):
    trainer = build_trainer(
        make_cfg("quickstart", *SMALL, "checkpoint.every_updates=1", "checkpoint.keep_last=0")
    )
    real_loss = trainer.loss

    def poisoned(mb):
        loss, metrics = real_loss(mb)
        return (loss * math.nan if trainer.update == 2 else loss), metrics

    monkeypatch.setattr(trainer, "loss", poisoned)
    with pytest.raises(NonFiniteLossError, match="last good checkpoint: .*step_"):
        trainer.train()
    steps = [load_checkpoint(p, restore_rng=False).meta["update"] for p in list_checkpoints(trainer.run_dir)]
    assert steps == [1, 2]
    good = load_checkpoint(latest_checkpoint(trainer.run_dir), restore_rng=False).model_state
    assert all(torch.isfinite(t).all() for t in good.values())
    assert all(torch.equal(good[k], v) for k, v in trainer.policy.state_dict().items())  # NaN never applied
    trainer.close()


def test_ctrl_c_checkpoints_finished_updates_and_resume_finishes(make_cfg):
    trainer = build_trainer(make_cfg("quickstart", *SMALL))
    real_rollout = trainer.rollout

    def interrupt():
        if trainer.update == 2:
            raise KeyboardInterrupt
        return real_rollout()

    trainer.rollout = interrupt  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    trainer.close()
    payload = load_checkpoint(latest_checkpoint(trainer.run_dir), restore_rng=False)
    assert payload.meta["update"] == 2 and payload.meta["interrupted"] is True

    resumed = build_trainer(load_config(trainer.run_dir / "config.yaml"), run_dir=trainer.run_dir)
    resumed.restore()
    out = resumed.train()
    resumed.close()
    assert out["finished"] and resumed.global_step >= 768


def test_pretrained_warm_start_loads_weights(make_cfg):
    first = build_trainer(make_cfg("quickstart", *SMALL, run="a"))
    first.train()
    first.close()
    ckpt = latest_checkpoint(first.run_dir)
    warm = build_trainer(make_cfg("quickstart", *SMALL, f"policy.pretrained={ckpt}", run="b"))
    assert all(torch.equal(v, first.policy.state_dict()[k]) for k, v in warm.policy.state_dict().items())
    warm.close()
    with pytest.raises(FileNotFoundError, match="never downloads"):
        build_trainer(make_cfg("quickstart", *SMALL, "policy.pretrained=Qwen/Qwen2-VL-2B", run="c"))


def test_a_video_that_cannot_render_does_not_fail_the_run(make_cfg, monkeypatch):
    import embodied_rl.run as run

    def broken_make(*args, **kwargs):
        raise RuntimeError("no OpenGL context")

    monkeypatch.setattr(run, "make", broken_make)
    cfg = make_cfg("quickstart", *SMALL, "log.video=true")
    with pytest.warns(UserWarning, match="no episode video"):
        summary = run.run_training(cfg)
    assert summary.finished and summary.video is None and summary.checkpoint is not None
