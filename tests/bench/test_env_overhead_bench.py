"""Smoke tests of `benchmarks/env_overhead.py`: tiny runs on both sides, the JSON and markdown add up."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "env_overhead.py"
TINY = ["--steps", "5", "--warmup", "1", "--repeats", "1", "--num-envs", "2"]


def _load():
    spec = importlib.util.spec_from_file_location("env_overhead_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _no_maniskill() -> str:
    if importlib.util.find_spec("mani_skill") is None:
        return "mani_skill is not installed"
    from embodied_rl.envs.maniskill.vulkan import vulkan_driver_available

    return "" if vulkan_driver_available() else "no Vulkan driver (make vulkan)"


NO_MANISKILL = _no_maniskill()
NO_MUJOCO = "" if importlib.util.find_spec("mujoco") is not None else "mujoco is not installed"


def _check_outputs(out: Path, cases: list[str], num_envs: int, steps: int) -> dict:
    data = json.loads((out / "env_overhead.json").read_text())
    assert set(data) == {"meta", "summary", "runs", "skipped", "failed"}
    meta = data["meta"]
    assert meta["command"].startswith("python benchmarks/env_overhead.py ")
    assert meta["num_envs"] == num_envs and meta["repeats"] == 1
    machine = meta["machine"]
    assert machine["cpu_count"] and machine["python"] and machine["torch"] and machine["torch_threads"] == 1
    assert data["failed"] == []
    assert [row["case"] for row in data["summary"]] == cases
    for row in data["summary"]:
        assert row["raw_steps_per_s"] > 0 and row["ours_steps_per_s"] > 0
        assert row["ratio"] == pytest.approx(row["ours_steps_per_s"] / row["raw_steps_per_s"])
        assert row["meets_goal"] == (row["ratio"] >= 0.95)
        assert len(row["raw_repeats"]) == len(row["ours_repeats"]) == 1
        assert row["num_envs"] == num_envs and row["vector_steps"] == steps
    assert sorted((r["case"], r["side"]) for r in data["runs"]) == sorted(
        (c, s) for c in cases for s in ("raw", "ours")
    )
    assert all(r["env_steps"] == steps * num_envs and r["wall_s"] > 0 for r in data["runs"])
    md = (out / "env_overhead.md").read_text()
    assert "| case | N |" in md and "ours/raw" in md and meta["command"] in md
    for case in cases:
        assert f"| {case} | {num_envs} | {steps} |" in md
    return data


@pytest.mark.timeout(120)
@pytest.mark.skipif(bool(NO_MUJOCO), reason=NO_MUJOCO or "ok")
def test_env_overhead_halfcheetah_smoke(tmp_path: Path) -> None:
    bench = _load()
    out = tmp_path / "res"
    assert bench.main(["--cases", "halfcheetah", *TINY, "--out", str(out)]) == 0
    data = _check_outputs(out, ["halfcheetah"], num_envs=2, steps=5)
    assert data["skipped"] == []
    assert all(r["action_shape"] == [6] for r in data["runs"])


@pytest.mark.timeout(120)
@pytest.mark.skipif(bool(NO_MUJOCO), reason=NO_MUJOCO or "ok")
def test_env_overhead_reports_skipped_cases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load()
    real = bench.unavailable
    monkeypatch.setattr(
        bench, "unavailable", lambda case: "LIBERO not here" if case.kind == "libero" else real(case)
    )
    out = tmp_path / "res"
    assert bench.main(["--cases", "halfcheetah,libero-rgb", *TINY, "--out", str(out)]) == 0
    data = _check_outputs(out, ["halfcheetah"], num_envs=2, steps=5)
    assert data["skipped"] == [{"case": "libero-rgb", "reason": "LIBERO not here"}]
    assert "libero-rgb: skipped: LIBERO not here" in (out / "env_overhead.md").read_text()


def test_env_overhead_rejects_unknown_cases() -> None:
    bench = _load()
    with pytest.raises(SystemExit):
        bench.parse_args(["--cases", "halfcheetah,nope"])
    args = bench.parse_args([])
    assert args.cases == list(bench.CASES) and args.num_envs == 4 and args.steps is None
    assert args.warmup == 10 and args.repeats == 3 and args.threads == 1


@pytest.mark.sim
@pytest.mark.timeout(180)
@pytest.mark.skipif(bool(NO_MANISKILL), reason=NO_MANISKILL or "ok")
def test_env_overhead_pushcube_state_smoke(tmp_path: Path) -> None:
    bench = _load()
    out = tmp_path / "res"
    args = ["--cases", "pushcube-state", "--steps", "3", "--warmup", "1", "--repeats", "1", "--num-envs", "1"]
    assert bench.main([*args, "--out", str(out)]) == 0
    data = _check_outputs(out, ["pushcube-state"], num_envs=1, steps=3)
    assert all(r["action_shape"] == [7] for r in data["runs"])  # pd_ee_delta_pose on both sides
