from __future__ import annotations

from pathlib import Path

import pytest

from embodied_rl.config import TrainConfig, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "experiment"


@pytest.fixture
def make_cfg(tmp_path: Path):
    """``make_cfg("quickstart", "algo.lr=1e-3", run="a")`` -> a validated TrainConfig writing into tmp_path."""

    def make(experiment: str, *overrides: str, run: str = "run") -> TrainConfig:
        quiet = ["log.progress=false", "log.video=false", f"run_dir={tmp_path / run}"]
        return load_config(CONFIGS / f"{experiment}.yaml", [*quiet, *overrides])

    return make
