"""Tests for embodied_rl.checkpoint: round trips, retention and crash safety."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import embodied_rl.checkpoint as ckpt_mod
from embodied_rl.checkpoint import (
    CheckpointPayload,
    capture_rng_state,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def _train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor) -> None:
    opt.zero_grad()
    model(x).pow(2).sum().backward()
    opt.step()


def _payload(state: dict[str, torch.Tensor], step: int, update: int = 1) -> CheckpointPayload:
    return CheckpointPayload(
        model_state=state,
        trainer_state={"counters": {"update": update}},
        config_yaml=f"seed: {step}\n",
        policy_info={"name": "mlp", "hidden": [8]},
        meta={"global_step": step, "update": update},
    )


def _draws() -> tuple[torch.Tensor, np.ndarray, float]:
    return torch.rand(3), np.random.rand(3), random.random()


def test_round_trip_restores_model_optimizer_and_scheduler(tmp_path: Path) -> None:
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    x = torch.randn(16, 4)
    for _ in range(3):
        _train_step(model, opt, x)
        sched.step()
    payload = CheckpointPayload(
        model_state=model.state_dict(),
        trainer_state={"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "update": 3},
        config_yaml="algo: ppo\nlr: 0.01\n",
        policy_info={"name": "mlp", "hidden": [8]},
        meta={"global_step": 384, "update": 3, "note": "hi"},
    )
    path = save_checkpoint(tmp_path, payload)
    assert path == tmp_path / "checkpoints" / "step_384"
    assert sorted(p.name for p in path.iterdir()) == [
        "config.yaml",
        "meta.json",
        "model.safetensors",
        "policy.json",
        "trainer_state.pt",
    ]

    loaded = load_checkpoint(path)
    assert loaded.path == path
    assert loaded.config_yaml == payload.config_yaml
    assert loaded.policy_info == {"name": "mlp", "hidden": [8]}
    assert loaded.meta["global_step"] == 384 and loaded.meta["update"] == 3
    assert loaded.meta["note"] == "hi" and "T" in loaded.meta["time"]
    assert loaded.trainer_state["update"] == 3
    assert loaded.model_state.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model_state[key], value)

    fresh = _model()
    fresh.load_state_dict(loaded.model_state)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1.0)
    fresh_opt.load_state_dict(loaded.trainer_state["optimizer"])
    fresh_sched = torch.optim.lr_scheduler.StepLR(fresh_opt, step_size=1, gamma=0.5)
    fresh_sched.load_state_dict(loaded.trainer_state["scheduler"])
    assert fresh_opt.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5**3)

    _train_step(model, opt, x)
    _train_step(fresh, fresh_opt, x)
    for a, b in zip(model.parameters(), fresh.parameters(), strict=True):
        assert torch.equal(a, b)

    # without the saved Adam moments the same step lands elsewhere
    blank = _model()
    blank.load_state_dict(loaded.model_state)
    blank_opt = torch.optim.Adam(blank.parameters(), lr=opt.param_groups[0]["lr"])
    _train_step(blank, blank_opt, x)
    assert not torch.equal(blank[0].weight, model[0].weight)


def test_rng_states_are_restored_on_load(tmp_path: Path) -> None:
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    save_checkpoint(tmp_path, _payload(_model().state_dict(), step=10))
    first = _draws()
    load_checkpoint(tmp_path, restore_rng=True)
    again = _draws()
    assert torch.equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert first[2] == again[2]

    load_checkpoint(tmp_path, restore_rng=False)
    other = _draws()
    assert not torch.equal(first[0], other[0])
    assert first[2] != other[2]


def test_capture_and_restore_rng_state_directly() -> None:
    state = capture_rng_state()
    first = _draws()
    restore_rng_state(state)
    again = _draws()
    assert torch.equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert first[2] == again[2]


def test_tied_and_non_contiguous_tensors_are_saved(tmp_path: Path) -> None:
    shared = torch.randn(3, 5)
    state = {"embed": shared, "head": shared, "transposed": torch.randn(5, 3).t()}
    assert not state["transposed"].is_contiguous()
    save_checkpoint(tmp_path, _payload(state, step=1))
    loaded = load_checkpoint(tmp_path, restore_rng=False).model_state
    for key, value in state.items():
        assert torch.equal(loaded[key], value)


def test_meta_must_name_step_and_update(tmp_path: Path) -> None:
    payload = _payload({"w": torch.zeros(2)}, step=5)
    payload.meta = {"global_step": 5}
    with pytest.raises(ValueError, match="update"):
        save_checkpoint(tmp_path, payload)
    assert list_checkpoints(tmp_path) == []


def test_latest_and_keep_last(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path) is None
    for step in (100, 200, 300):
        save_checkpoint(tmp_path, _payload({"w": torch.full((2,), float(step))}, step), keep_last=2)
    root = tmp_path / "checkpoints"
    assert list_checkpoints(tmp_path) == [root / "step_200", root / "step_300"]
    assert (root / "latest").read_text().strip() == "step_300"
    assert latest_checkpoint(tmp_path) == root / "step_300"

    # unrelated entries and temp dirs of a crashed save are not checkpoints
    (root / ".step_400.tmp-999").mkdir()
    (root / "step_notanumber").mkdir()
    (root / "step_900").write_text("a file, not a dir")
    assert list_checkpoints(tmp_path) == [root / "step_200", root / "step_300"]

    # a run resumed from an earlier step: the newest save is "latest", later steps survive
    save_checkpoint(tmp_path, _payload({"w": torch.full((2,), 250.0)}, 250), keep_last=1)
    assert list_checkpoints(tmp_path) == [root / "step_250", root / "step_300"]
    assert latest_checkpoint(tmp_path) == root / "step_250"
    assert load_checkpoint(tmp_path).model_state["w"].tolist() == [250.0, 250.0]

    # latest pointing at a deleted dir falls back to the highest step
    (root / "latest").write_text("step_7\n")
    assert latest_checkpoint(tmp_path) == root / "step_300"


def test_keep_all_by_default(tmp_path: Path) -> None:
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, _payload({"w": torch.zeros(1)}, step))
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_1", "step_2", "step_3", "step_4"]


def test_load_run_dir_picks_latest(tmp_path: Path) -> None:
    for step in (20, 10):
        save_checkpoint(tmp_path, _payload({"w": torch.full((1,), float(step))}, step))
    # "latest" is the most recent save (step 10), not the highest step
    assert load_checkpoint(tmp_path).meta["global_step"] == 10
    assert load_checkpoint(tmp_path / "checkpoints" / "step_20").meta["global_step"] == 20


def test_load_without_checkpoint_names_the_dir(tmp_path: Path) -> None:
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="empty_run"):
        load_checkpoint(empty)


def _entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_crash_during_model_write_keeps_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = {"w": torch.arange(6.0).reshape(2, 3)}
    save_checkpoint(tmp_path, _payload(good, step=100))

    def broken_save_file(tensors: dict[str, torch.Tensor], filename: Any, **_: Any) -> None:
        Path(filename).write_bytes(b"\x00partial")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod, "save_file", broken_save_file)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, _payload({"w": torch.zeros(2, 3)}, step=200), keep_last=1)

    root = tmp_path / "checkpoints"
    assert _entries(root) == ["latest", "step_100"]  # no step_200, no temp dir
    loaded = load_checkpoint(tmp_path, restore_rng=False)
    assert loaded.meta["global_step"] == 100
    assert torch.equal(loaded.model_state["w"], good["w"])


def test_crash_while_replacing_same_step_restores_old_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = {"w": torch.ones(4)}
    save_checkpoint(tmp_path, _payload(old, step=100))
    real_replace = os.replace

    def failing_replace(src: Any, dst: Any) -> None:
        # the old copy is moved aside first; the move of the new one into place then fails
        if Path(src).name.startswith(".step_100.tmp"):
            raise OSError("rename failed")
        real_replace(src, dst)

    monkeypatch.setattr(ckpt_mod.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        save_checkpoint(tmp_path, _payload({"w": torch.zeros(4)}, step=100))
    monkeypatch.undo()

    assert _entries(tmp_path / "checkpoints") == ["latest", "step_100"]
    assert torch.equal(load_checkpoint(tmp_path, restore_rng=False).model_state["w"], old["w"])


def test_resaving_a_step_replaces_it(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, _payload({"w": torch.ones(2)}, step=7))
    save_checkpoint(tmp_path, _payload({"w": torch.full((2,), 3.0)}, step=7, update=2))
    assert _entries(tmp_path / "checkpoints") == ["latest", "step_7"]
    loaded = load_checkpoint(tmp_path, restore_rng=False)
    assert loaded.model_state["w"].tolist() == [3.0, 3.0]
    assert loaded.meta["update"] == 2
