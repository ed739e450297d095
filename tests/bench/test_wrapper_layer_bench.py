"""Smoke test of `benchmarks/wrapper_layer.py`: the stub replaces the simulator, rounds are timed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "wrapper_layer.py"


def test_wrapper_layer_times_our_layer_over_the_stub(monkeypatch) -> None:
    spec = importlib.util.spec_from_file_location("wrapper_layer_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls = []
    step = module._StubVectorEnv.step
    monkeypatch.setattr(module._StubVectorEnv, "step", lambda self, a: calls.append(a.shape) or step(self, a))
    us = module.layer_us(num_envs=3, steps=20, rounds=2)
    assert len(us) == 2 and all(u > 0 for u in us)
    # every timed step reached the stub with actions already checked and converted to numpy
    assert calls == [(3, 6)] * 40
