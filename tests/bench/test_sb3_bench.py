"""Smoke test of `embodied-rl bench sb3` (tiny budget) and its bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embodied_rl.bench.sb3 import SETTINGS, summarize


def test_budget_is_whole_rollouts() -> None:
    for s in SETTINGS.values():
        assert s.rollout_size % s.batch_size == 0  # ours needs whole minibatches
        assert s.budget(1.0) % s.rollout_size == 0
        assert s.budget(1e-9) == s.rollout_size  # at least one rollout
        assert abs(s.budget(1.0) - s.total_steps) <= s.rollout_size / 2


def _run(fw: str, seed: int, ret: float, wall: float) -> dict:
    return {
        "framework": fw,
        "env": "E",
        "seed": seed,
        "env_steps": 1000,
        "train_wall_s": wall,
        "eval_returns": [ret, ret],
    }


def test_summarize_verdicts() -> None:
    runs = [
        _run("embodied-rl", 1, 90.0, 1.0),
        _run("embodied-rl", 2, 110.0, 1.0),
        _run("sb3", 1, 105.0, 2.0),
        _run("sb3", 2, 115.0, 2.0),
    ]
    per = summarize(runs, ["E"])["E"]
    assert per["embodied-rl"]["return_mean"] == pytest.approx(100.0)
    assert per["sb3"]["return_mean"] == pytest.approx(110.0)
    assert per["return_tolerance"] == pytest.approx(14.142, abs=1e-3)  # sample std of 90, 110
    assert per["return_ok"]
    assert per["speed_ratio"] == pytest.approx(2.0)
    assert per["speed_ok"]


@pytest.mark.timeout(120)
def test_bench_smoke(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from embodied_rl.cli import main

    out = tmp_path / "res" / "sb3_ppo.md"
    code = main(
        [
            "bench",
            "sb3",
            "--envs",
            "CartPole-v1",
            "--seeds",
            "1",
            "--budget-scale",
            "0.01",
            "--eval-episodes",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    table = out.read_text()
    assert "Produced by: `" in table
    rows = [line for line in table.splitlines() if line.startswith("| CartPole-v1 |")]
    assert any("| embodied-rl |" in r for r in rows) and any("| sb3 |" in r for r in rows)
    assert any("ratio ours/SB3" in r for r in rows)

    data = json.loads(out.with_suffix(".json").read_text())
    frameworks = {r["framework"] for r in data["runs"]}
    assert frameworks == {"embodied-rl", "sb3"}
    steps = {r["env_steps"] for r in data["runs"]}
    assert steps == {data["budgets"]["CartPole-v1"]}  # both sides ran the same budget
    for r in data["runs"]:
        assert len(r["eval_returns"]) == 2 and r["eval_seeds"] == [10_000, 10_001]
        assert r["train_wall_s"] > 0
    assert data["summary"]["CartPole-v1"]["speed_ratio"] > 0
