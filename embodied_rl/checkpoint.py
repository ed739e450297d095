"""Atomic, resumable training checkpoints.

A checkpoint is the directory ``<run_dir>/checkpoints/step_<N>/`` (``N`` = global env
step) holding:

- ``model.safetensors``: the policy ``state_dict`` (safetensors, no pickle),
- ``config.yaml``: the run's resolved config, as text,
- ``policy.json``: how to rebuild the policy (given by the caller),
- ``trainer_state.pt``: optimizer / scheduler state, counters and RNG states,
- ``meta.json``: ``{"global_step": N, "update": U, "time": ISO-8601, ...}``.

Everything is written into a hidden temporary sibling (``.step_N.tmp-<pid>``) that is
renamed into place only when complete, so a crash never leaves a half-written
``step_N`` and never touches earlier checkpoints. ``checkpoints/latest`` names the
most recently saved checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

CHECKPOINTS_DIR = "checkpoints"
LATEST_FILE = "latest"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"
POLICY_FILE = "policy.json"
TRAINER_FILE = "trainer_state.pt"
META_FILE = "meta.json"

_STEP_DIR = re.compile(r"^step_(\d+)$")


@dataclass
class CheckpointPayload:
    """Everything needed to resume a run or rebuild its policy.

    Attributes:
        model_state: The policy ``state_dict``.
        trainer_state: Optimizer / scheduler state dicts and counters. ``save_checkpoint``
            adds the RNG states under ``"rng"``; a loaded payload carries them there too.
        config_yaml: The run's resolved config as YAML text.
        policy_info: JSON-able description of how to rebuild the policy.
        meta: Must contain ``global_step`` and ``update``; ``time`` is added on save.
        path: The ``step_N`` directory a loaded payload came from (``None`` before saving).
    """

    model_state: dict[str, torch.Tensor]
    trainer_state: dict[str, Any]
    config_yaml: str
    policy_info: dict[str, Any]
    meta: dict[str, Any]
    path: Path | None = None


def capture_rng_state() -> dict[str, Any]:
    """The global RNG states of torch (CPU and CUDA), numpy and Python's ``random``."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore the RNG states returned by :func:`capture_rng_state`.

    CUDA states are restored for as many devices as both the checkpoint and this
    machine have (a run may resume on a machine with fewer GPUs, or none).
    """
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available():
        for device, cuda_state in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)


def _step_of(path: Path) -> int | None:
    match = _STEP_DIR.match(path.name)
    return int(match.group(1)) if match else None


def _checkpoints_dir(path: Path) -> Path:
    """``<run_dir>/checkpoints``; a path that already is a checkpoints dir is kept."""
    path = Path(path)
    return path if path.name == CHECKPOINTS_DIR else path / CHECKPOINTS_DIR


def list_checkpoints(run_dir: Path) -> list[Path]:
    """The ``step_N`` directories of a run, sorted by ``N`` ascending.

    Temporary directories of saves in progress (or of crashed ones) are hidden
    (``.step_N.tmp-*``) and never listed.
    """
    root = _checkpoints_dir(run_dir)
    if not root.is_dir():
        return []
    found = [(s, p) for p in root.iterdir() if (s := _step_of(p)) is not None and p.is_dir()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The most recently saved checkpoint of a run, or ``None`` when it has none.

    Reads ``checkpoints/latest``; falls back to the highest ``N`` when that file is
    missing or names a checkpoint that no longer exists.
    """
    root = _checkpoints_dir(run_dir)
    with contextlib.suppress(OSError):
        named = root / (root / LATEST_FILE).read_text(encoding="utf-8").strip()
        if _step_of(named) is not None and named.is_dir():
            return named
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # makes the renames durable; directories cannot be opened on Windows, where this is skipped
    with contextlib.suppress(OSError):
        _fsync_file(path)


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def safetensors_ready(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous tensors that share no memory (safetensors refuses shared storage).

    Tied weights (one tensor under two keys) are cloned, like ``safetensors.torch.save_model``
    would dedupe them; loading them back with ``load_state_dict`` restores the tie.
    """
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[str, int]] = set()
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"model_state[{key!r}] is a {type(value).__name__}, not a tensor")
        tensor = value.detach().cpu().contiguous()
        storage = (str(tensor.device), tensor.untyped_storage().data_ptr())
        if storage in seen and tensor.numel() > 0:
            tensor = tensor.clone()
        seen.add(storage)
        out[key] = tensor
    return out


def save_checkpoint(run_dir: Path, payload: CheckpointPayload, keep_last: int = 0) -> Path:
    """Atomically write ``<run_dir>/checkpoints/step_<global_step>``.

    Args:
        run_dir: The run directory.
        payload: What to save. ``payload.meta`` must contain ``global_step`` and ``update``.
            RNG states are captured now unless ``payload.trainer_state`` already has ``"rng"``.
        keep_last: When > 0, keep only this many checkpoints with a step <= the saved one
            (the saved one included) and delete the older ones. Checkpoints with a higher
            step, left over when a run was resumed from an earlier one, are left alone.

    Returns:
        The ``step_N`` directory.

    Raises:
        ValueError: ``meta`` lacks ``global_step``/``update`` or the step is negative.
        Exception: Whatever failed while writing; earlier checkpoints are untouched and
            no temporary files are left behind.
    """
    missing = [k for k in ("global_step", "update") if k not in payload.meta]
    if missing:
        raise ValueError(f"checkpoint meta must contain {missing}")
    step = int(payload.meta["global_step"])
    if step < 0:
        raise ValueError(f"global_step must be >= 0, got {step}")
    root = _checkpoints_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step}"
    tmp = root / f".step_{step}.tmp-{os.getpid()}"
    aside = root / f".step_{step}.old-{os.getpid()}"
    trainer_state = dict(payload.trainer_state)
    trainer_state.setdefault("rng", capture_rng_state())
    meta = {
        **payload.meta,
        "global_step": step,
        "update": int(payload.meta["update"]),
        "time": payload.meta.get("time") or datetime.now(timezone.utc).isoformat(),
    }
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        tensors = safetensors_ready(payload.model_state)
        save_file(tensors, tmp / MODEL_FILE, metadata={"format": "pt"})
        _fsync_file(tmp / MODEL_FILE)
        _write_text(tmp / CONFIG_FILE, payload.config_yaml)
        _write_text(tmp / POLICY_FILE, json.dumps(payload.policy_info, indent=2))
        with open(tmp / TRAINER_FILE, "wb") as f:
            torch.save(trainer_state, f)
            f.flush()
            os.fsync(f.fileno())
        _write_text(tmp / META_FILE, json.dumps(meta, indent=2))
        _fsync_dir(tmp)
        if final.exists():
            # re-saving a step: the old copy stays recoverable until the new one is in place
            os.replace(final, aside)
        os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if aside.exists() and not final.exists():
            os.replace(aside, final)
        raise
    shutil.rmtree(aside, ignore_errors=True)

    latest_tmp = root / f".{LATEST_FILE}.tmp-{os.getpid()}"
    _write_text(latest_tmp, final.name + "\n")
    os.replace(latest_tmp, root / LATEST_FILE)
    _fsync_dir(root)

    if keep_last > 0:
        older = [p for p in list_checkpoints(run_dir) if (_step_of(p) or 0) < step]
        for stale in older[: max(0, len(older) - (keep_last - 1))]:
            shutil.rmtree(stale, ignore_errors=True)
    return final


def load_checkpoint(path: Path, restore_rng: bool = True) -> CheckpointPayload:
    """Load a checkpoint.

    Args:
        path: A ``step_N`` directory, or a run directory (its latest checkpoint is loaded).
        restore_rng: Restore the global RNG states saved with it, so that a resumed run
            draws the same random numbers it would have drawn without stopping.

    Returns:
        The payload; tensors are on the CPU and ``trainer_state["rng"]`` holds the RNG states.

    Raises:
        FileNotFoundError: ``path`` holds no checkpoint.
    """
    path = Path(path)
    ckpt = path if (path / MODEL_FILE).is_file() else latest_checkpoint(path)
    if ckpt is None or not (ckpt / MODEL_FILE).is_file():
        raise FileNotFoundError(
            f"no checkpoint in {path} (expected {MODEL_FILE} or {CHECKPOINTS_DIR}/step_N/ in it)"
        )
    # weights_only=False: trainer_state.pt is our own file and holds numpy/python RNG
    # states that the weights-only unpickler rejects; never load one from an untrusted source.
    trainer_state = torch.load(ckpt / TRAINER_FILE, map_location="cpu", weights_only=False)
    if restore_rng and "rng" in trainer_state:
        restore_rng_state(trainer_state["rng"])
    return CheckpointPayload(
        model_state=load_file(ckpt / MODEL_FILE),
        trainer_state=trainer_state,
        config_yaml=(ckpt / CONFIG_FILE).read_text(encoding="utf-8"),
        policy_info=json.loads((ckpt / POLICY_FILE).read_text(encoding="utf-8")),
        meta=json.loads((ckpt / META_FILE).read_text(encoding="utf-8")),
        path=ckpt,
    )
