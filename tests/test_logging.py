"""Tests for embodied_rl.logging: metrics files, TensorBoard, progress bar and tables."""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import pytest
import torch
from rich.console import Console
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from embodied_rl.logging import (
    MetricLogger,
    TrainProgress,
    print_table,
    read_metrics,
    summary_table,
)


def _tb_scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    return [(event.step, event.value) for event in acc.Scalars(tag)]


def test_jsonl_rows(tmp_path: Path) -> None:
    with MetricLogger(tmp_path, tensorboard=False) as logger:
        logger.log({"train/loss": torch.tensor(0.25), "rollout/episodes": 3}, step=128)
        logger.log({"eval/return": float("nan"), "time/sps": float("inf")}, step=256)
        # flushed per call: readable before close
        assert read_metrics(tmp_path)[0] == {"step": 128, "train/loss": 0.25, "rollout/episodes": 3}
    rows = read_metrics(tmp_path)
    assert len(rows) == 2
    assert isinstance(rows[0]["train/loss"], float) and isinstance(rows[0]["rollout/episodes"], int)
    assert rows[1]["step"] == 256
    assert math.isnan(rows[1]["eval/return"]) and rows[1]["time/sps"] == math.inf
    assert not (tmp_path / "tb").exists()


@pytest.mark.parametrize("key", ["loss", "foo/bar", "train/", "Train/loss", "/train"])
def test_keys_must_be_namespaced(tmp_path: Path, key: str) -> None:
    with MetricLogger(tmp_path, tensorboard=False) as logger:
        with pytest.raises(ValueError, match="must be '<namespace>/<name>'") as err:
            logger.log({"train/ok": 1.0, key: 1.0}, step=1)
        assert repr(key) in str(err.value)
    assert read_metrics(tmp_path) == []  # a rejected call writes nothing


def test_non_scalar_tensor_is_rejected(tmp_path: Path) -> None:
    with MetricLogger(tmp_path, tensorboard=False) as logger:
        with pytest.raises(ValueError, match="train/v"):
            logger.log({"train/v": torch.ones(3)}, step=1)


def test_tensorboard_scalars_are_readable(tmp_path: Path) -> None:
    with MetricLogger(tmp_path, jsonl=False) as logger:
        logger.log({"train/loss": 1.5, "charts/lr": torch.tensor(3e-4)}, step=10)
        logger.log({"train/loss": 0.5}, step=20)
        # flushed per call: readable before close
        assert _tb_scalars(tmp_path, "train/loss") == [(10, 1.5), (20, 0.5)]
    assert not (tmp_path / "metrics.jsonl").exists()
    [(step, lr)] = _tb_scalars(tmp_path, "charts/lr")
    assert step == 10 and lr == pytest.approx(3e-4)


def test_reopening_appends(tmp_path: Path) -> None:
    with MetricLogger(tmp_path, tensorboard=False) as logger:
        logger.log({"train/x": 1.0}, step=1)
    with MetricLogger(tmp_path, tensorboard=False) as logger:
        logger.log({"train/x": 2.0}, step=2)
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]


def test_truncate_after_step_drops_later_rows_and_tb_events(tmp_path: Path) -> None:
    with MetricLogger(tmp_path) as logger:
        for step in (10, 20, 30, 40):
            logger.log({"train/x": float(step)}, step=step)
    # TensorBoard reads event files in name order, "<time s>.<host>.<pid>.<per-process counter>":
    # a real resume is a later process; in one process within one second, counter 10 would sort
    # before 9 and the purge would apply to the wrong file. Let the clock tick as a resume's would.
    time.sleep(1.05)
    with MetricLogger(tmp_path, truncate_after_step=20) as logger:
        logger.log({"train/x": 25.0}, step=25)
    assert [(r["step"], r["train/x"]) for r in read_metrics(tmp_path)] == [(10, 10.0), (20, 20.0), (25, 25.0)]
    assert _tb_scalars(tmp_path, "train/x") == [(10, 10.0), (20, 20.0), (25, 25.0)]


def test_line_cut_by_a_crash_does_not_break_the_file(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "train/x": 1.0}\n{"step": 2, "tr')
    assert read_metrics(tmp_path) == [{"step": 1, "train/x": 1.0}]
    with MetricLogger(tmp_path, tensorboard=False) as logger:
        logger.log({"train/x": 3.0}, step=3)
    assert read_metrics(tmp_path) == [{"step": 1, "train/x": 1.0}, {"step": 3, "train/x": 3.0}]


def test_read_metrics_without_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_metrics(tmp_path)


def test_log_after_close_raises(tmp_path: Path) -> None:
    logger = MetricLogger(tmp_path, tensorboard=False)
    logger.close()
    logger.close()  # idempotent
    with pytest.raises(RuntimeError, match="after close"):
        logger.log({"train/x": 1.0}, step=1)


def test_progress_disabled_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with TrainProgress(total=100, description="quiet", enable=False) as progress:
        progress.update(50, **{"return": 1.0})
    assert progress.completed == 50
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_progress_without_terminal_shows_final_state() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=160)
    assert not console.is_terminal
    with TrainProgress(total=1000, description="ppo", console=console) as progress:
        progress.update(250, **{"return": 123.456})
        progress.update(500, **{"return": 200.0, "loss": 0.01234})
    out = buf.getvalue()
    assert "ppo" in out and "500/1000" in out
    assert "return=200" in out and "loss=0.01234" in out
    assert "return=123" not in out  # fields are replaced, not accumulated


def test_progress_default_console_without_tty(capsys: pytest.CaptureFixture[str]) -> None:
    progress = TrainProgress(total=10, description="default")
    progress.update(10, sps=5.0)
    progress.close()
    progress.close()  # idempotent
    assert "default" in capsys.readouterr().out


def test_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [("run_dir", "runs/cartpole"), ("return", "500.0")]
    table = summary_table("Run", rows)
    assert table.title == "Run" and table.row_count == 2
    assert list(table.columns[1].cells) == ["runs/cartpole", "500.0"]
    print_table("Run", rows)
    out = capsys.readouterr().out
    assert "Run" in out and "runs/cartpole" in out and "500.0" in out
