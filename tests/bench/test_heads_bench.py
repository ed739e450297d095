"""Smoke test of `embodied-rl bench heads` (one round, cheap backbone): the table and JSON are written."""

from __future__ import annotations

import json
from pathlib import Path

from embodied_rl.cli import main


def test_bench_heads_writes_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "heads.md"
    code = main(["bench", "heads", "--backbones", "mlp", "--rounds", "1", "--batch", "4", "--out", str(out)])
    assert code == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    heads = {r["head"] for r in rows}
    assert heads == {
        "tokens-parallel",
        "tokens-sequential",
        "flow-ode",
        "flow-sde-one",
        "flow-sde-all",
        "flow-noise",
    }
    for r in rows:
        assert r["act_ms"] > 0 and r["update_ms"] > 0
        assert r["max_abs_ratio_minus_1"] < 1e-4  # the first PPO step's ratio is 1
    assert all("act_overhead_vs_ode" in r for r in rows if r["head"].startswith("flow"))
    assert "| mlp | flow-sde-one |" in out.read_text()
