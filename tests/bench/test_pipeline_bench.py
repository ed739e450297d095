"""Smoke test of `benchmarks/pipeline.py`: a tiny run of the synthetic pair, the JSON and table add up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pipeline.py"


@pytest.mark.slow
def test_tiny_pipeline_benchmark_writes_consistent_results(tmp_path: Path) -> None:
    placements = ["collocated"] + (["disaggregated"] if {0, 1} <= os.sched_getaffinity(0) else [])
    cmd = [
        sys.executable, str(SCRIPT), "--pairs", "synthetic", "--stages", "2", "--num-envs", "4",
        "--steps", "2", "--rollouts", "1", "--rounds", "2", "--synthetic-work", "1",
        "--synthetic-channels", "4,4,4", "--placements", ",".join(placements), "--out", str(tmp_path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=600, capture_output=True)
    data = json.loads((tmp_path / "pipeline.json").read_text())
    pair = data["pairs"]["synthetic"]
    modes = ["sync", "S=2"] + (["S=2 disaggregated"] if "disaggregated" in placements else [])
    assert list(pair["modes"]) == modes
    assert pair["synthetic_work"] == 1
    assert pair["ceiling"] == pytest.approx(
        (pair["t_sim_ms"] + pair["t_inf_ms"]) / max(pair["t_sim_ms"], pair["t_inf_ms"])
    )
    sync = pair["modes"]["sync"]
    assert sync["speedup"] == pytest.approx(1.0)
    for mode in modes:
        m = pair["modes"][mode]
        assert len(pair["rounds"][mode]) == 2
        assert m["env_steps_per_s"] > 0
        assert m["speedup"] == pytest.approx(m["env_steps_per_s"] / sync["env_steps_per_s"])
        assert m["efficiency"] == pytest.approx(m["speedup"] / pair["ceiling"])
    table = (tmp_path / "pipeline.md").read_text()
    assert "| pair | T_s (ms) |" in table and "T_s, T_i vs sync" in table
    for mode in modes:
        assert f"| {mode} |" in table
