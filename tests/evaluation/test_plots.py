"""Tests for embodied_rl.evaluation.plots: reading run scalars, learning curves, success-rate bars, CLI."""

from __future__ import annotations

import argparse
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embodied_rl.evaluation.plots import (
    DEFAULT_CURVE_TAGS,
    _format_steps,
    _smooth,
    add_plot_arguments,
    plot_learning_curves,
    plot_success_rates,
    read_scalars,
    run_plot,
)
from embodied_rl.logging import MetricLogger

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STEPS = [1000, 2000, 3000, 4000, 5000]


def _write_run(run_dir: Path, offset: float = 0.0, tensorboard: bool = True) -> Path:
    """A small run: rollout returns every step, eval metrics every other step."""
    with MetricLogger(run_dir, tensorboard=tensorboard) as logger:
        for i, step in enumerate(STEPS):
            metrics = {"rollout/episode_return_mean": 10.0 * i + offset, "train/policy_loss": 0.5 / (i + 1)}
            if i % 2 == 0:
                metrics |= {"eval/success_rate": i / 4, "eval/episode_return_mean": 20.0 * i + offset}
            logger.log(metrics, step=step)
    return run_dir


def _assert_png(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def _assert_svg(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("runs")
    return {"ppo": _write_run(base / "ppo"), "grpo": _write_run(base / "grpo", offset=3.0)}


def test_read_scalars_round_trips_tensorboard(runs: dict[str, Path]) -> None:
    scalars = read_scalars(runs["grpo"])
    assert set(scalars) == {*DEFAULT_CURVE_TAGS, "train/policy_loss"}
    returns = scalars["rollout/episode_return_mean"]
    assert [step for step, _ in returns] == STEPS
    assert [value for _, value in returns] == pytest.approx([3.0, 13.0, 23.0, 33.0, 43.0])
    assert scalars["eval/success_rate"] == [(1000, 0.0), (3000, 0.5), (5000, 1.0)]
    # float32 in TensorBoard
    assert [v for _, v in scalars["train/policy_loss"]] == pytest.approx(
        [0.5 / n for n in range(1, 6)], rel=1e-6
    )


def test_read_scalars_resumed_run_keeps_last_write(tmp_path: Path) -> None:
    with MetricLogger(tmp_path) as logger:
        for step in (10, 20, 30, 40):
            logger.log({"train/x": step}, step=step)
    with MetricLogger(tmp_path, truncate_after_step=20) as logger:  # resume: 30, 40 purged
        logger.log({"train/x": 300}, step=30)
    with MetricLogger(tmp_path) as logger:  # same step logged again
        logger.log({"train/x": 3000}, step=30)
    assert len(list((tmp_path / "tb").iterdir())) == 3
    assert read_scalars(tmp_path) == {"train/x": [(10, 10.0), (20, 20.0), (30, 3000.0)]}


def test_read_scalars_falls_back_to_jsonl(tmp_path: Path) -> None:
    run_dir = _write_run(tmp_path / "run")
    shutil.rmtree(run_dir / "tb")
    scalars = read_scalars(run_dir)
    assert scalars["rollout/episode_return_mean"] == [(s, 10.0 * i) for i, s in enumerate(STEPS)]
    assert scalars["train/policy_loss"][1] == (2000, 0.25)
    # no tb dir at all (tensorboard=False) reads the same
    assert read_scalars(_write_run(tmp_path / "no_tb", tensorboard=False)) == scalars


def test_read_scalars_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_scalars(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        read_scalars(tmp_path)  # exists but holds no metrics


def test_plot_learning_curves_png(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "sub" / "dir" / "curves.png"
    assert plot_learning_curves(runs, out, smooth=2) == out
    width, height = _assert_png(out)
    assert width > 1000 and height > 300  # three subplots side by side


def test_plot_learning_curves_svg(runs: dict[str, Path], tmp_path: Path) -> None:
    out = plot_learning_curves({"ppo": runs["ppo"]}, tmp_path / "curves.svg", tags=["train/policy_loss"])
    root = _assert_svg(out)
    text = " ".join(t for el in root.iter() for t in [el.text] if t)
    assert "train/policy_loss" in text and "ppo" in text


def test_plot_learning_curves_unknown_tag(runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"available tags: .*rollout/episode_return_mean.*train/policy_loss"):
        plot_learning_curves(runs, tmp_path / "c.png", tags=["rollout/nope"])
    assert not (tmp_path / "c.png").exists()
    with pytest.warns(UserWarning, match="rollout/nope"):  # partly known: draws the known ones
        plot_learning_curves(runs, tmp_path / "c.png", tags=["rollout/nope", "train/policy_loss"])


def test_plot_learning_curves_bad_args(runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.png, \.svg"):
        plot_learning_curves(runs, tmp_path / "curves.pdf")
    with pytest.raises(ValueError, match="smooth"):
        plot_learning_curves(runs, tmp_path / "curves.png", smooth=0)
    with pytest.raises(FileNotFoundError):
        plot_learning_curves({"x": tmp_path / "missing"}, tmp_path / "curves.png")


def test_plot_success_rates(tmp_path: Path) -> None:
    rows = [
        ("pick_cube", [(0.5, 0.3, 0.7), (0.9, 0.7, 0.97)]),
        ("push_cube", [None, (0.0, 0.0, 0.28)]),
        ("open_drawer", [(1.0, 0.72, 1.0), (0.2, 0.05, 0.5)]),
    ]
    out = plot_success_rates(rows, ["ppo", "grpo"], tmp_path / "rates.png")
    _assert_png(out)
    _assert_svg(plot_success_rates(rows, ["ppo", "grpo"], tmp_path / "rates.svg"))
    many = [
        (f"task_{i}", [(i / 20, max(0.0, i / 20 - 0.1), min(1.0, i / 20 + 0.1)), None]) for i in range(20)
    ]
    width, height = _assert_png(plot_success_rates(many, ["ppo", "grpo"], tmp_path / "many.png"))
    assert height > width  # horizontal bars, one row per task
    with pytest.raises(ValueError, match="expected one per run"):
        plot_success_rates(rows, ["ppo"], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="suffix"):
        plot_success_rates(rows, ["ppo", "grpo"], tmp_path / "rates.jpg")


def test_run_plot(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_plot_arguments(parser)
    out = tmp_path / "cmp.svg"
    args = parser.parse_args([str(runs["ppo"]), str(runs["grpo"]), "--out", str(out), "--smooth", "2"])
    assert args.tags is None and args.labels is None
    assert run_plot(args) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text()
    assert "ppo" in text and "grpo" in text  # labels default to the directory names

    args = parser.parse_args([str(runs["ppo"]), "--labels", "a", "b", "--out", str(out)])
    assert run_plot(args) == 2
    assert "2 labels for 1 run" in capsys.readouterr().err


def test_run_plot_default_out(runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    add_plot_arguments(parser)
    args = parser.parse_args([str(runs["ppo"]), "--tags", "eval/success_rate", "--labels", "mine"])
    assert run_plot(args) == 0
    _assert_png(tmp_path / "curves.png")


def test_helpers() -> None:
    assert [_format_steps(x) for x in (0, 500, 1e5, 2.5e5, 1.5e6, 2e9)] == [
        "0",
        "500",
        "100k",
        "250k",
        "1.5M",
        "2B",
    ]
    smoothed = _smooth(np.array([1.0, 2.0, 3.0, np.nan, 5.0]), 3)
    assert smoothed == pytest.approx([1.0, 1.5, 2.0, 2.5, 4.0])
