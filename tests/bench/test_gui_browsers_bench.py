"""Smoke test of `benchmarks/gui_browsers.py` (1 browser, 10 steps): both sides run, the JSON adds up."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gui_browsers.py"


def _load():
    spec = importlib.util.spec_from_file_location("gui_browsers_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _no_browser() -> str:
    try:
        import miniwob  # noqa: F401
        from embodied_rl.envs.gui.miniwob import find_browser

        find_browser()
    except (ImportError, RuntimeError) as err:
        return f"Chromium/chromedriver (or miniwob/selenium) missing: {err}"
    return ""


NO_BROWSER = _no_browser()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(bool(NO_BROWSER), reason=NO_BROWSER or "ok")
def test_gui_browsers_smoke(tmp_path: Path) -> None:
    bench = _load()
    out = tmp_path / "res"
    code = bench.main(
        ["--browsers", "1", "--steps", "10", "--warmup", "2", "--repeats", "1", "--out", str(out)]
    )
    assert code == 0
    data = json.loads((out / "gui_browsers.json").read_text())
    assert (out / "gui_browsers.md").read_text().count("| 1 |") >= 1
    (row,) = data["summary"]
    assert row["browsers"] == 1
    assert row["raw_steps_per_s"] > 0 and row["ours_steps_per_s"] > 0
    assert row["ratio"] == pytest.approx(row["ours_steps_per_s"] / row["raw_steps_per_s"])
    assert {r["side"] for r in data["runs"]} == {"raw", "ours"}
    assert all(r["env_steps"] == 10 for r in data["runs"])
    assert all(r["invalid_actions"] == 0 for r in data["runs"] if r["side"] == "ours")
    assert data["meta"]["machine"]["miniwob"] and data["meta"]["machine"]["cpu_count"]
